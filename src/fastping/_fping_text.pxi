# fping's -C summary lines (`name : 0.04 0.05 -`), written here for a quiet -C: each target's
# RTTs come from the rounds' columns of doubles that Engine.run fills (its rtts), and become
# text with no Python object made per target or per probe. Made in Python (a Result and a
# list per target, an f-string per RTT, a line per target), 10,000 targets cost the command
# some 20,000 instructions each, against fping's 9,000 for its whole run.

from cpython.bytes cimport PyBytes_AS_STRING
from cpython.dict cimport PyDict_Next
from cpython.tuple cimport PyTuple_Check, PyTuple_GET_ITEM, PyTuple_GET_SIZE
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.math cimport NAN, fabs, floor
from libc.stdio cimport snprintf
from libc.string cimport strlen

DEF RTT_TEXT_MAX = 24  # bytes an RTT's text may take ("%.3e" of any double), with its '\0'


cdef Py_ssize_t _fping_ms(double seconds, char *out) noexcept nogil:
    """An RTT (seconds, a double as Result.rtt holds it) in ms as fping's sprint_tm writes it
    (cli.fping_formats.ms: the same arithmetic and steps, and printf's rounding, which is
    Python's format's: the exact binary value to the nearest, ties to even); its length."""
    cdef double milliseconds = seconds * 1000
    cdef const char *style
    cdef int decimals
    cdef double scaled, whole
    cdef uint64_t digits, unit
    cdef char reversed_digits[24]
    cdef Py_ssize_t count = 0, length = 0
    if milliseconds < 1:
        style, decimals, scaled = "%.3f", 3, milliseconds * 1000
    elif milliseconds < 10:
        style, decimals, scaled = "%.2f", 2, milliseconds * 100
    elif milliseconds < 100:
        style, decimals, scaled = "%.1f", 1, milliseconds * 10
    elif milliseconds < 1e6:
        style, decimals, scaled = "%.0f", 0, milliseconds
    else:
        return snprintf(out, RTT_TEXT_MAX, "%.3e", milliseconds)
    # scaled (below 1e6) is off the exact product by half an ulp at most, 6e-11: rounded
    # as printf would but where that could put it on the other side of a half (printf's
    # own digits then; snprintf is most of the cost of a line).
    whole = floor(scaled)
    if fabs(scaled - whole - 0.5) < 1e-6:
        return snprintf(out, RTT_TEXT_MAX, style, milliseconds)
    digits = <uint64_t>whole + (scaled - whole > 0.5)
    # Least significant first, to the point and at least one digit before it.
    while count < (decimals + 2 if decimals else 1) or digits:
        if count == decimals and decimals:
            reversed_digits[count] = b"."
            count += 1
            continue
        unit = digits % 10
        reversed_digits[count] = <char>(48 + unit)
        digits //= 10
        count += 1
    while count:
        count -= 1
        out[length] = reversed_digits[count]
        length += 1
    return length


cdef class _TextBuffer:
    """Bytes written at the end of a buffer that grows as needed (_exposition.pxi's _room)."""
    cdef _Buffer buffer

    def __cinit__(self):
        self.buffer.data = <char *>malloc(65536)
        if self.buffer.data == NULL:
            raise MemoryError()
        self.buffer.capacity = 65536

    def __dealloc__(self):
        free(self.buffer.data)

    cdef char *room(self, Py_ssize_t needed) except NULL:
        """Where the next needed bytes go (the caller adds what it wrote to buffer.length)."""
        cdef char *out = _room(&self.buffer, needed)
        if out == NULL:
            raise MemoryError()
        return out


cdef Py_ssize_t _padded_name(_TextBuffer text, name, Py_ssize_t width,
                             Py_ssize_t more) except -1:
    """Writes name (a str) padded to width bytes, as printf's %-*s, with room for more bytes
    after it; how many bytes it wrote (the caller adds them to the buffer's length)."""
    if type(name) is not str:
        raise TypeError(f"a name shown is a str, not {type(name).__name__}")
    if not PyUnicode_IS_ASCII(name):  # its bytes as C's strlen counts them
        name = name.encode("utf-8", "surrogateescape")
    cdef const char *name_bytes = (<const char *>PyUnicode_DATA(name) if type(name) is str
                                   else PyBytes_AS_STRING(name))
    cdef Py_ssize_t length = len(name)
    cdef char *out = text.room(max(width, length) + more)
    memcpy(out, name_bytes, length)
    while length < width:
        out[length] = b" "
        length += 1
    return length


def fping_rtt_lines(dict shown not None, indexes not None, Py_ssize_t width,
                    list columns not None):
    """fping's -C summary line of each target of shown ({key: the name shown}, in order),
    as cli.fping_formats.rtts_line writes it, its name padded to width bytes: one RTT a
    column (a round), read at the target's index in indexes (a mapping of keys), "-" where
    it is NaN (a probe lost); a target without an index has none. The text, a newline after
    each line."""
    cdef Py_ssize_t rounds = len(columns), round_number, index, written
    cdef Py_ssize_t position = 0
    cdef PyObject *key_item
    cdef PyObject *name_item
    cdef char *out
    cdef double rtt
    cdef double[::1] view
    cdef _TextBuffer text = _TextBuffer()
    # Each column's doubles, looked up once (held by a view: none can be resized meanwhile).
    views = [memoryview(column) for column in columns]
    cdef const double **starts = <const double **>malloc((rounds or 1) * sizeof(double *))
    cdef Py_ssize_t *lengths = <Py_ssize_t *>malloc((rounds or 1) * sizeof(Py_ssize_t))
    try:
        if starts == NULL or lengths == NULL:
            raise MemoryError()
        for round_number in range(rounds):
            view = views[round_number]
            lengths[round_number] = view.shape[0]
            starts[round_number] = &view[0] if view.shape[0] else NULL
        while PyDict_Next(shown, &position, &key_item, &name_item):
            key = <object>key_item
            try:
                index = indexes[key]
            except KeyError:  # (never probed: a Ctrl-C came before it was added)
                index = -1
            written = _padded_name(text, <object>name_item, width, 3 + rounds * RTT_TEXT_MAX)
            out = text.buffer.data + text.buffer.length
            memcpy(out + written, b" :", 2)
            written += 2
            for round_number in range(rounds if index >= 0 else 0):
                rtt = (starts[round_number][index] if index < lengths[round_number]
                       else NAN)
                out[written] = b" "
                if rtt != rtt:
                    out[written + 1] = b"-"
                    written += 2
                else:
                    written += 1 + _fping_ms(rtt, out + written + 1)
            out[written] = b"\n"
            text.buffer.length += written + 1
        return PyUnicode_DecodeUTF8(text.buffer.data, text.buffer.length, "surrogateescape")
    finally:
        free(starts)
        free(lengths)


cdef Py_ssize_t _write_text(char *out, const char *text) noexcept nogil:
    cdef Py_ssize_t length = strlen(text)
    memcpy(out, text, length)
    return length


cdef Py_ssize_t _write_count(char *out, long long number) noexcept nogil:
    """number in decimal, as %lld."""
    cdef unsigned long long magnitude = <unsigned long long>number
    if number >= 0:
        return _digits(magnitude, out)
    out[0] = b"-"  # (the magnitude in unsigned arithmetic: the least long long has no opposite)
    return 1 + _digits(0 - magnitude, out + 1)


def fping_summary_lines(dict shown not None, dict tallies not None, Py_ssize_t width,
                        outage_period=None):
    """fping's -c/-l summary line of each target of shown ({key: the name shown}, in order),
    as cli.fping_formats wrote it, its name padded to width bytes, from its Tally in tallies
    (none: nothing sent); with outage_period (seconds, -o), the outage. The text, a newline
    after each line."""
    cdef Py_ssize_t position = 0, written
    cdef PyObject *key_item
    cdef PyObject *name_item
    cdef long long sent, received
    cdef double period = -1.0 if outage_period is None else outage_period
    cdef double outage
    cdef char *out
    cdef _TextBuffer text = _TextBuffer()
    while PyDict_Next(shown, &position, &key_item, &name_item):
        tally = tallies.get(<object>key_item)  # (a Tally is a tuple: its fields by position)
        if tally is not None and not (PyTuple_Check(tally) and PyTuple_GET_SIZE(tally) >= 9):
            raise TypeError(f"a tally is a Tally, not {type(tally).__name__}")
        written = _padded_name(text, <object>name_item, width, 256)
        out = text.buffer.data + text.buffer.length
        sent = 0 if tally is None else <object>PyTuple_GET_ITEM(tally, 0)
        received = 0 if tally is None else <object>PyTuple_GET_ITEM(tally, 1)
        if received <= sent:
            written += _write_text(out + written, " : xmt/rcv/%loss = ")
            written += _write_count(out + written, sent)
            out[written] = b"/"
            written += 1 + _write_count(out + written + 1, received)
            out[written] = b"/"
            written += 1 + _write_count(out + written + 1,
                                        (sent - received) * 100 // sent if sent else 0)
            out[written] = b"%"
            written += 1
            if period >= 0:
                written += _write_text(out + written, ", outage(ms) = ")
                outage = (sent - received) * period * 1000
                if outage < 9e18:
                    written += _write_count(out + written, <long long>outage)
                else:  # (beyond a long long: Python's int of it, 27 digits at most)
                    digits = str(int(outage)).encode()
                    memcpy(out + written, <const char *>digits, len(digits))
                    written += len(digits)
        else:
            if not sent:
                raise ZeroDivisionError("replies counted, none sent")
            written += _write_text(out + written, " : xmt/rcv/%return = ")
            written += _write_count(out + written, sent)
            out[written] = b"/"
            written += 1 + _write_count(out + written + 1, received)
            out[written] = b"/"
            written += 1 + _write_count(out + written + 1, received * 100 // sent)
            out[written] = b"%"
            written += 1
        least = None if tally is None else <object>PyTuple_GET_ITEM(tally, 7)
        most = None if tally is None else <object>PyTuple_GET_ITEM(tally, 8)
        if received and least is not None and most is not None:
            written += _write_text(out + written, ", min/avg/max = ")
            written += _fping_ms(least, out + written)
            out[written] = b"/"
            written += 1 + _fping_ms(<double><object>PyTuple_GET_ITEM(tally, 5) / received,
                                     out + written + 1)
            out[written] = b"/"
            written += 1 + _fping_ms(most, out + written + 1)
        out[written] = b"\n"
        text.buffer.length += written + 1
    return PyUnicode_DecodeUTF8(text.buffer.data, text.buffer.length, "surrogateescape")
