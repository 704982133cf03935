# The exporter's /metrics, written here: the exposition text straight from the hosts' tracks.
#
# A scrape of 100,000 hosts is some 400 MB of text in 4 million lines. Made of one Python
# object per sample (prometheus_client's way) it took 3.8 s at 10,000 hosts and gigabytes at
# 20,000. Here the exporter prepares, once per target set, what does not change between
# scrapes (each family's HELP and TYPE lines, rendered by prometheus_client itself; each
# host's escaped label pairs; the bucket bounds' text); a scrape copies the hosts' tracks on
# the engine's thread (Engine.track_copy: a memcpy, milliseconds), summarises the copy away
# from it, and writes the text from the copy in chunks of about a megabyte, so that what a
# scrape holds is the copy and one chunk, never the whole text. Numbers are written as
# prometheus_client writes them (floatToGoString): Python's repr, and Go's switch to an
# exponent from 1e6 on. repr itself is shortest.c's (Ryu), as Python's own dtoa took half
# the time of a scrape.

from array import array

from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.math cimport fabs, signbit, INFINITY, NAN
from libc.stdlib cimport realloc
from libc.string cimport memmove


cdef bint _shortest_ready = False


cdef _shortest_tables():
    """shortest.c's tables of 125-bit powers of five and of their inverses, exactly: made
    before the first number is written (6 M instructions, 2 ms: not at every command's
    start, which writes none)."""
    global _shortest_ready
    if _shortest_ready:
        return
    pow5, inverses = array("Q"), array("Q")
    for table, count, inverse in ((pow5, FP_SHORTEST_POW5, False),
                                  (inverses, FP_SHORTEST_POW5_INV, True)):
        for i in range(count):
            power = 5 ** i
            bits = power.bit_length()
            if inverse:
                entry = (1 << (bits - 1 + FP_SHORTEST_BITS)) // power + 1
            elif bits > FP_SHORTEST_BITS:
                entry = power >> (bits - FP_SHORTEST_BITS)
            else:
                entry = power << (FP_SHORTEST_BITS - bits)
            table.extend((entry & 0xFFFFFFFFFFFFFFFF, entry >> 64))
    cdef const uint64_t[:] pow5_view = pow5, inverses_view = inverses
    fp_shortest_init(&pow5_view[0], &inverses_view[0])
    _shortest_ready = True


def shortest_repr(double value):
    """repr(value), as the exposition writes it (shortest.c): for tests."""
    cdef char text[FP_SHORTEST_MAX]
    _shortest_tables()
    cdef size_t length = fp_shortest(value, text)
    return text[:length].decode()

# What a host's sample shows, by code: the exporter's families name them (EXPOSITION_FIELDS).
cdef enum _Field:
    F_REQUESTS,  # probes sent, less those whose send failed (smokeping_prober's requests)
    F_LOST, F_DUPLICATES, F_SEND_ERRORS,
    F_TTL,       # the last reply's TTL, 0 before any
    F_UP, F_SINCE, F_WINDOW_PROBES, F_WINDOW_LOSS, F_MIN, F_AVG, F_MAX, F_STDDEV,
    F_P50, F_P90, F_P99, F_LAST_RTT, F_JITTER,
    F_BUCKET,   # the cumulative count of the bucket whose index is the sample's argument
    F_REPLIES,  # every reply the histogram counted: its +Inf bucket and _count
    F_RTT_SUM,  # the histogram's _sum, seconds
    F_CHANGES,  # health changes: to up (argument 0), to down (1)
    F_COUNT_    # how many there are

EXPOSITION_FIELDS = MappingProxyType({
    "requests": F_REQUESTS, "lost": F_LOST, "duplicates": F_DUPLICATES,
    "send_errors": F_SEND_ERRORS, "ttl": F_TTL,
    "up": F_UP, "since": F_SINCE, "window_probes": F_WINDOW_PROBES, "loss": F_WINDOW_LOSS,
    "min": F_MIN, "avg": F_AVG, "max": F_MAX, "stddev": F_STDDEV, "p50": F_P50, "p90": F_P90,
    "p99": F_P99, "last_rtt": F_LAST_RTT, "jitter": F_JITTER, "bucket": F_BUCKET,
    "replies": F_REPLIES, "rtt_sum": F_RTT_SUM, "changes": F_CHANGES,
})

# One group's hosts, as a chunk's C loop reads them (ExpositionChunks).
cdef struct _Hosts:
    const fp_track_copy *copy
    const fp_track_summary *summaries
    double clock_offset   # TrackCopy._clock_offset
    const char *text      # HostLabels' text and pair starts
    const uint32_t *starts
    uint32_t count
    uint32_t pairs


cdef struct _Sample:
    const char *name       # the sample's name
    Py_ssize_t name_len
    const char *extra      # the family's own label pair (le="0.1"), or empty
    Py_ssize_t extra_len
    uint32_t position      # its sorted place among the host's pairs
    int field
    int argument


cdef struct _Buffer:
    char *data
    size_t length
    size_t capacity


# The wall clock less the engine's (monotonic) one, in seconds: what turns a host's since_ns
# into a timestamp. Kept from one reading to the next unless the wall clock moved by more than
# a millisecond meanwhile (a step), so that a host's timestamp reads the same every time,
# to the last digit, by whichever way it is read (track_summary, a scrape). A reading
# interrupted between its two clocks (over 100 µs: a busy machine) changes nothing.
cdef double _kept_clock_offset = 0.0
cdef bint _clock_offset_kept = False


cdef double _clock_offset():
    global _kept_clock_offset, _clock_offset_kept
    cdef uint64_t before, after
    cdef double wall
    for _ in range(3):
        before = fp_monotonic_ns()
        wall = time.time()
        after = fp_monotonic_ns()
        if after - before < 100000 or not _clock_offset_kept:
            wall -= (before + (after - before) // 2) / 1e9
            if fabs(wall - _kept_clock_offset) > 1e-3 or not _clock_offset_kept:
                _kept_clock_offset = wall
                _clock_offset_kept = after - before < 100000
            break
    return _kept_clock_offset


cdef inline double _window_loss(const fp_track_summary *s) noexcept nogil:
    return 1 - <double>s.window_replies / s.window_probes if s.window_probes else NAN


cdef class HostLabels:
    """Every host's label pairs (``name="escaped value"``, in the order given: sorted by
    name), joined by commas, and where each pair starts: made once per target set, so that
    a scrape copies each host's labels as one piece, with a family's own label (le,
    quantile, to) put in its sorted place. Written here, not in Python: 100,000 hosts'
    pairs took 1-2.7 s made a Python string a pair, the first scrape after a (re)load."""

    cdef bytes _text
    cdef uint32_t *_starts  # per host, pairs + 1: where each pair starts, then the end
    cdef uint32_t _hosts
    cdef uint32_t _pairs

    def __cinit__(self):
        self._starts = NULL

    def __dealloc__(self):
        free(self._starts)

    def __init__(self, list columns not None, Py_ssize_t hosts):
        """columns: one a label, in the order rendered, each (name, values): values a str
        every host has, or a list of hosts strs, one a host."""
        cdef Py_ssize_t pairs = len(columns), h, p, length
        cdef const char *value
        cdef _Buffer buffer
        if not 0 <= hosts < 0xFFFFFFFF or pairs > 0xFFFF:
            raise ValueError(f"{hosts} hosts of {pairs} labels")
        prefixes, values = [], []  # each label's name=" and its value or values
        for name, texts in columns:
            if not isinstance(texts, str) and len(<list?>texts) != hosts:
                raise ValueError(f"label {name}: {len(texts)} values for {hosts} hosts")
            prefixes.append((<str?>name).encode() + b'="')
            values.append(texts)
        cdef uint32_t *starts = <uint32_t *>malloc((hosts * (pairs + 1) + 1) * sizeof(uint32_t))
        if starts == NULL:
            raise MemoryError()
        free(self._starts)
        self._starts = starts
        buffer.capacity = 64 * (hosts + 1) * (pairs + 1)
        buffer.length = 0
        buffer.data = <char *>malloc(buffer.capacity)
        if buffer.data == NULL:
            raise MemoryError()
        try:
            for h in range(hosts):
                for p in range(pairs):
                    starts[h * (pairs + 1) + p] = <uint32_t>buffer.length
                    texts = values[p]
                    value = PyUnicode_AsUTF8AndSize(
                        <str?>(texts if isinstance(texts, str) else (<list>texts)[h]), &length)
                    prefix = <bytes>prefixes[p]
                    _append(&buffer, prefix, len(prefix), False)
                    _append(&buffer, value, length, True)
                    _append(&buffer, b'",' if p + 1 < pairs else b'"', 2 if p + 1 < pairs else 1,
                            False)
                starts[h * (pairs + 1) + pairs] = <uint32_t>buffer.length
                if buffer.length >= 0xFFFFFFFF:
                    raise ValueError("label text over 4 GB")
            self._text = PyBytes_FromStringAndSize(buffer.data, buffer.length)
        finally:
            free(buffer.data)
        self._hosts = <uint32_t>hosts
        self._pairs = <uint32_t>pairs

    @property
    def hosts(self):
        return self._hosts


cdef int _append(_Buffer *buffer, const char *text, Py_ssize_t length,
                 bint escaped) except -1:
    """text added to the buffer, escaped as a label value if asked (\\, \\n, \\")."""
    cdef char *out = _room(buffer, 2 * length if escaped else length)
    cdef Py_ssize_t i
    if out == NULL:
        raise MemoryError()
    if not escaped:
        memcpy(out, text, length)
        buffer.length += length
        return 0
    for i in range(length):
        if text[i] == b"\\" or text[i] == b"\n" or text[i] == b'"':
            out[0] = b"\\"
            out[1] = b"n" if text[i] == b"\n" else text[i]
            out += 2
        else:
            out[0] = text[i]
            out += 1
    buffer.length = out - buffer.data
    return 0


cdef class TrackCopy:
    """Some hosts' tracking state copied at one instant (Engine.track_copy), in the order
    asked for, then summarised once (summarize()) and rendered by as many scrapes as
    share it. Holds only C memory; nothing of it refers to the engine."""

    cdef fp_track_copy _copy
    cdef fp_track_summary *_summaries  # one a host, once summarize() has run
    cdef double _clock_offset          # _clock_offset() when copied

    def __cinit__(self):
        memset(&self._copy, 0, sizeof(self._copy))
        self._summaries = NULL

    def __dealloc__(self):
        fp_track_copy_free(&self._copy)
        free(self._summaries)

    @property
    def hosts(self):
        return self._copy.hosts

    def summarize(self):
        """Every host's statistics, for renders (about 1 µs a host, without the GIL)."""
        if self._summaries != NULL:
            return
        cdef uint32_t i, hosts = self._copy.hosts
        cdef fp_track_summary *summaries = <fp_track_summary *>malloc(
            (hosts if hosts else 1) * sizeof(fp_track_summary))
        cdef float *scratch = <float *>malloc(
            (self._copy.config.window if self._copy.config.window else 1) * sizeof(float))
        if summaries == NULL or scratch == NULL:
            free(summaries)
            free(scratch)
            raise MemoryError()
        with nogil:
            for i in range(hosts):
                fp_track_copy_summarize(&self._copy, i, scratch, &summaries[i])
        free(scratch)
        self._summaries = summaries
        fp_track_copy_drop_samples(&self._copy)  # 17 MB at 100,000 hosts, no longer read

    cdef _Hosts view(self, HostLabels labels):
        """What a chunk's C loop reads of these hosts and their labels."""
        return _Hosts(&self._copy, self._summaries, self._clock_offset, labels._text,
                      labels._starts, labels._hosts, labels._pairs)


cdef double _value(const _Hosts *hosts, uint32_t host, int field, int argument) noexcept nogil:
    """A host's field as a sample shows it; NaN where the host has none (no sample)."""
    cdef const fp_track_summary *s = &hosts.summaries[host]
    cdef const uint64_t *counts
    cdef uint64_t running = 0
    cdef uint32_t i
    if field == F_REQUESTS:
        return s.sent - s.send_errors
    if field == F_LOST:
        return s.lost
    if field == F_DUPLICATES:
        return s.duplicates
    if field == F_SEND_ERRORS:
        return s.send_errors
    if field == F_TTL:
        return s.last_ttl if s.last_ttl > 0 else 0
    if field == F_UP:
        return (NAN if s.health == FP_HEALTH_UNKNOWN else
                1.0 if s.health == FP_HEALTH_UP else 0.0)
    if field == F_SINCE:
        return hosts.clock_offset + s.since_ns / 1e9
    if field == F_WINDOW_PROBES:
        return s.window_probes
    if field == F_WINDOW_LOSS:
        return _window_loss(s)
    if field == F_MIN:
        return s.min_us / 1e6
    if field == F_AVG:
        return s.avg_us / 1e6
    if field == F_MAX:
        return s.max_us / 1e6
    if field == F_STDDEV:
        return s.stddev_us / 1e6
    if field == F_P50:
        return s.p50_us / 1e6
    if field == F_P90:
        return s.p90_us / 1e6
    if field == F_P99:
        return s.p99_us / 1e6
    if field == F_LAST_RTT:
        return s.last_rtt_us / 1e6
    if field == F_JITTER:
        return s.jitter_us / 1e6
    if field == F_RTT_SUM:
        return s.rtt_sum_ns / 1e9
    if field == F_CHANGES:
        return s.downs if argument else s.ups
    counts = fp_track_copy_histogram(hosts.copy, host)
    if counts == NULL:
        return 0.0
    if field == F_BUCKET:
        for i in range(<uint32_t>argument + 1):
            running += counts[i]
        return running
    for i in range(hosts.copy.config.buckets + 1):  # F_REPLIES
        running += counts[i]
    return running


cdef Py_ssize_t _go_float(double value, char *out) noexcept nogil:
    """value as prometheus_client's floatToGoString writes it; out has room for
    FP_SHORTEST_MAX + 8 bytes."""
    cdef Py_ssize_t length, dot, kept, exponent
    if value != value:
        memcpy(out, b"NaN", 3)
        return 3
    if value == INFINITY or value == -INFINITY:
        memcpy(out, b"+Inf" if value > 0 else b"-Inf", 4)
        return 4
    if 0 <= value < 1e6 and value == <uint32_t>value and not signbit(value):
        return _whole(<uint32_t>value, out)
    length = fp_shortest(value, out)
    if value <= 0:
        return length
    dot = 0
    while dot < length and out[dot] != b".":
        dot += 1
    if dot == length or dot <= 6:
        return length
    # Go writes 1234567.5 as 1.2345675e+06: the digits with the point after the first one,
    # trailing zeros and points dropped (Python's rstrip('0.')), and the exponent, of two
    # digits at least (a positional repr is below 1e16: at most two).
    kept = length - 1  # the digits without the point
    memmove(out + dot, out + dot + 1, length - dot - 1)
    while kept > 1 and out[kept - 1] == b"0":
        kept -= 1
    memmove(out + 2, out + 1, kept - 1)
    out[1] = b"."
    kept += 1
    while kept > 0 and (out[kept - 1] == b"0" or out[kept - 1] == b"."):
        kept -= 1
    exponent = dot - 1
    out[kept] = b"e"
    out[kept + 1] = b"+"
    out[kept + 2] = <char>(48 + exponent // 10)
    out[kept + 3] = <char>(48 + exponent % 10)
    return kept + 4


cdef inline Py_ssize_t _digits(unsigned long long value, char *out) noexcept nogil:
    """value in decimal, as %llu writes it, without printf (most of the cost of a line of
    counts, here and in _fping_text.pxi)."""
    cdef char digits[24]
    cdef Py_ssize_t count = 0, i
    while True:
        digits[count] = <char>(48 + value % 10)
        count += 1
        value //= 10
        if value == 0:
            break
    for i in range(count):
        out[i] = digits[count - 1 - i]
    return count


cdef inline Py_ssize_t _whole(uint32_t value, char *out) noexcept nogil:
    """A whole number under 1e6 as repr writes it (123.0): most samples are counts (a
    histogram's buckets), written this way in a third less time than by fp_shortest."""
    cdef Py_ssize_t count = _digits(value, out)
    out[count] = b"."
    out[count + 1] = b"0"
    return count + 2


def go_float(double value):
    """value as the exposition writes it (prometheus_client's floatToGoString): for tests."""
    cdef char text[FP_SHORTEST_MAX + 8]
    _shortest_tables()
    return text[:_go_float(value, text)].decode()


cdef class ExpositionChunks:
    """The text of some families with one series a host (or several), over the hosts of
    some groups (each a TrackCopy and the HostLabels of its hosts), as an iterator of
    chunks of about chunk_size bytes.

    families: [(header, [(name, extra, position, field, argument), ...]), ...], where
    header is the family's HELP and TYPE lines, and each tuple a sample every host has
    (unless its field is NaN for the host): name, the family's own label pair (b"" for
    none) and its place among the host's pairs, the field (EXPOSITION_FIELDS) and its
    argument.
    """

    cdef list _groups        # [(TrackCopy, HostLabels)]
    cdef list _keep          # the bytes the C arrays below point into
    cdef list _headers
    cdef _Sample *_samples
    cdef Py_ssize_t *_first  # per family, its first sample; then the end
    cdef Py_ssize_t _families
    cdef Py_ssize_t _family  # where the next chunk starts: this family,
    cdef Py_ssize_t _group   # this group,
    cdef uint32_t _host      # this host
    cdef bint _headed        # the family's header is written
    cdef size_t _chunk_size
    cdef _Buffer _buffer

    def __cinit__(self):
        self._samples = NULL
        self._first = NULL
        self._buffer.data = NULL

    def __dealloc__(self):
        free(self._samples)
        free(self._first)
        free(self._buffer.data)

    def __init__(self, list groups not None, list families not None,
                 size_t chunk_size=1 << 20):
        cdef TrackCopy copy
        cdef HostLabels labels
        cdef uint32_t pairs = 0, buckets = 0
        _shortest_tables()  # (its chunks write numbers)
        for f, (copy, labels) in enumerate(groups):
            if copy._summaries == NULL:
                raise ValueError("summarize() the copy first")
            if copy._copy.hosts != labels._hosts:
                raise ValueError(f"{copy._copy.hosts} hosts copied, {labels._hosts} labelled")
            if f and (labels._pairs != pairs or copy._copy.config.buckets != buckets):
                raise ValueError("groups with different label pairs or buckets")
            pairs, buckets = labels._pairs, copy._copy.config.buckets
        self._groups = groups
        self._keep, self._headers = [], []
        cdef Py_ssize_t count = sum(len(samples) for _, samples in families), i = 0
        self._families = len(families)
        self._samples = <_Sample *>malloc((count if count else 1) * sizeof(_Sample))
        self._first = <Py_ssize_t *>malloc((self._families + 1) * sizeof(Py_ssize_t))
        self._buffer.capacity = chunk_size + 4096
        self._buffer.data = <char *>malloc(self._buffer.capacity)
        if self._samples == NULL or self._first == NULL or self._buffer.data == NULL:
            raise MemoryError()
        for f, (header, samples) in enumerate(families):
            self._headers.append(<bytes?>header)
            self._first[f] = i
            for name, extra, position, field, argument in samples:
                if not 0 <= field < F_COUNT_:
                    raise ValueError(f"no field {field}")
                if field == F_CHANGES and not 0 <= argument < 2:
                    raise ValueError(f"changes: kind 0 or 1, not {argument}")
                if field == F_BUCKET and groups and not 0 <= argument < buckets:
                    raise ValueError(f"no bucket {argument}")
                if position > pairs:
                    raise ValueError(f"label position {position} past {pairs} pairs")
                self._keep += [<bytes?>name, <bytes?>extra]
                self._samples[i] = _Sample(name, len(name), extra, len(extra), position,
                                           field, argument)
                i += 1
        self._first[self._families] = i
        self._chunk_size = chunk_size
        self._family = self._group = 0
        self._host = 0
        self._headed = False

    def __iter__(self):
        return self

    cdef char *_room(self, size_t length) except NULL:
        cdef char *room = _room(&self._buffer, length)
        if room == NULL:
            raise MemoryError()
        return room

    def __next__(self):
        cdef TrackCopy copy
        cdef HostLabels labels
        cdef _Hosts hosts
        cdef uint32_t host
        cdef int rc = 0
        cdef Py_ssize_t first, end
        if self._family >= self._families:
            raise StopIteration
        self._buffer.length = 0
        while self._family < self._families and self._buffer.length < self._chunk_size:
            if not self._headed:
                header = self._headers[self._family]
                memcpy(self._room(len(header)), <const char *>header, len(header))
                self._buffer.length += len(header)
                self._headed = True
            first, end = self._first[self._family], self._first[self._family + 1]
            while self._group < len(self._groups) and self._buffer.length < self._chunk_size:
                copy, labels = self._groups[self._group]
                hosts = copy.view(labels)
                host = self._host
                # Without the GIL: the Monitors' loops run on meanwhile (they need it for
                # their batches), and a scrape of 100,000 hosts does not wait for them.
                with nogil:
                    while host < hosts.count and self._buffer.length < self._chunk_size:
                        rc = _host_lines(&self._buffer, self._samples, first, end, &hosts, host)
                        if rc < 0:
                            break
                        host += 1
                self._host = host
                if rc < 0:
                    raise MemoryError()
                if self._host >= hosts.count:
                    self._group += 1
                    self._host = 0
            if self._group >= len(self._groups):
                self._family += 1
                self._group = 0
                self._headed = False
        return PyBytes_FromStringAndSize(self._buffer.data, self._buffer.length)


cdef char *_room(_Buffer *buffer, size_t length) noexcept nogil:
    """Where the next length bytes go, the buffer grown if need be; NULL without memory."""
    cdef size_t capacity = buffer.capacity
    cdef char *larger
    if buffer.length + length > capacity:
        while buffer.length + length > capacity:
            capacity *= 2
        larger = <char *>realloc(buffer.data, capacity)
        if larger == NULL:
            return NULL
        buffer.data, buffer.capacity = larger, capacity
    return buffer.data + buffer.length


cdef int _host_lines(_Buffer *buffer, const _Sample *samples, Py_ssize_t first,
                     Py_ssize_t end, const _Hosts *hosts, uint32_t host) noexcept nogil:
    """A host's lines of one family (its samples first to end); -1 without memory."""
    cdef const char *text = hosts.text
    cdef uint32_t pairs = hosts.pairs
    cdef const uint32_t *starts = &hosts.starts[host * (pairs + 1)]
    cdef uint32_t begin = starts[0], stop = starts[pairs], cut
    cdef const _Sample *sample
    cdef Py_ssize_t i
    cdef double value
    cdef char *out
    cdef char *line
    for i in range(first, end):
        sample = &samples[i]
        value = _value(hosts, host, sample.field, sample.argument)
        if value != value:
            continue
        out = line = _room(buffer, sample.name_len + (stop - begin) + sample.extra_len
                           + FP_SHORTEST_MAX + 16)
        if out == NULL:
            return -1
        memcpy(out, sample.name, sample.name_len)
        out += sample.name_len
        if sample.extra_len == 0:
            if stop > begin:
                out[0] = b"{"
                memcpy(out + 1, text + begin, stop - begin)
                out += 1 + stop - begin
                out[0] = b"}"
                out += 1
        else:
            out[0] = b"{"
            out += 1
            if sample.position < pairs:
                # The pairs before it (with their comma), it, a comma, the pairs after.
                cut = starts[sample.position]
                memcpy(out, text + begin, cut - begin)
                out += cut - begin
                memcpy(out, sample.extra, sample.extra_len)
                out += sample.extra_len
                out[0] = b","
                memcpy(out + 1, text + cut, stop - cut)
                out += 1 + stop - cut
            else:
                memcpy(out, text + begin, stop - begin)
                out += stop - begin
                if stop > begin:
                    out[0] = b","
                    out += 1
                memcpy(out, sample.extra, sample.extra_len)
                out += sample.extra_len
            out[0] = b"}"
            out += 1
        out[0] = b" "
        out += 1 + _go_float(value, out + 1)
        out[0] = b"\n"
        buffer.length += out + 1 - line
    return 0
