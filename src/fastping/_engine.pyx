# cython: language_level=3, boundscheck=False, wraparound=False
"""The compiled core of fastping: one Engine owns one C engine and its descriptors.

Python calls in per batch of events, never per packet: `run()` releases the
GIL, lets the C loop send, receive, match and time out until it has a batch
of events (or is idle, or a deadline or a wake-up comes), and only then turns
the batch into Results and event tuples.
"""

from cpython.exc cimport PyErr_CheckSignals
from cpython.object cimport PyObject, PyTypeObject
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_SET_ITEM
from libc.errno cimport EACCES, EPERM, EAFNOSUPPORT, ENOENT, ENOSPC
from libc.stdlib cimport malloc, free
from libc.string cimport memchr, memset, memcpy, strerror

from fastping._core cimport *

import os
# The C module itself: socket.py would build its enums on import, 2 ms of a command's start.
import _socket as socket
import time
# The C half of warnings.py (which is 0.8 M instructions of every command's start): its warn()
# is the one warnings.py hands on, honouring the same filters.
import _warnings as warnings
from types import MappingProxyType

from fastping._results import Resources, Result, Tally, Timestamps

REPLY = FP_EVENT_REPLY
TIMEOUT = FP_EVENT_TIMEOUT
ICMP_ERROR = FP_EVENT_ICMP_ERROR
SEND_ERROR = FP_EVENT_SEND_ERROR
DUPLICATE = FP_EVENT_DUPLICATE
HEALTH = FP_EVENT_HEALTH
# The C core's limits, so that Python never writes them again.
TAG_LEN = FP_TAG_LEN  # the smallest payload: a probe's cookie and serial
COOKIE_LEN = FP_COOKIE_LEN
SIPHASH_KEY_LEN = FP_SIPHASH_KEY_LEN
MAX_PAYLOAD = FP_MAX_PAYLOAD  # the largest payload
TIMESTAMP_DATA_LEN = FP_TIMESTAMP_DATA_LEN  # a timestamp request's data: three times
TRACK_MAX_BUCKETS = FP_TRACK_MAX_BUCKETS  # histogram buckets a tracking engine keeps
MAX_TIMEOUTS = FP_MAX_TIMEOUTS  # distinct timeouts an engine's probes may have at once
_TOO_MANY_TIMEOUTS = (f"at most {FP_MAX_TIMEOUTS} distinct timeouts at once (hosts' own, the "
                      "round's, and those of probes still in flight)")

PERMISSION_HELP = (
    "cannot open an ICMP socket: raw sockets need root or CAP_NET_RAW "
    "(e.g. sudo setcap cap_net_raw+ep \"$(readlink -f \"$(which python3)\")\"), "
    "and unprivileged ICMP sockets are not allowed for this user's group "
    "(allow them with: sudo sysctl -w net.ipv4.ping_group_range='0 2147483647')"
)
RAW_PERMISSION_HELP = (
    "cannot open a raw ICMP socket: run as root or grant CAP_NET_RAW "
    "(e.g. sudo setcap cap_net_raw+ep \"$(readlink -f \"$(which python3)\")\"), "
    "or pass privileged=False to use unprivileged ICMP sockets"
)
TIMESTAMP_PERMISSION_HELP = (
    "cannot open a raw ICMP socket: ICMP timestamp requests need one (unprivileged ICMP "
    "sockets carry echo requests only): run as root or grant CAP_NET_RAW "
    "(e.g. sudo setcap cap_net_raw+ep \"$(readlink -f \"$(which python3)\")\")"
)
FWMARK_PERMISSION_HELP = (
    "cannot open an ICMP socket with a fwmark: setting SO_MARK needs root or CAP_NET_ADMIN "
    "(and a raw socket CAP_NET_RAW)"
)

TIMESTAMP_DATAGRAM_HELP = ("ICMP timestamp requests need a raw socket: unprivileged ICMP "
                           "sockets (privileged=False) carry echo requests only")
TIMESTAMP_IPV6_HELP = "ICMP timestamp requests are IPv4 only (ICMPv6 has no such message)"

FORKED_HELP = ("an engine belongs to the process that opened it; open a new one in this "
               "process (close() releases the inherited descriptors)")

DEF EVENT_CAPACITY = 1024
# A signal that lands while the loop sends, not while it waits, interrupts no system call:
# Python only flags it. The loop comes back for the flag at least this often.
DEF SIGNAL_CHECK_NS = 1000000000

cdef extern from "<arpa/inet.h>":
    int inet_pton(int family, const char *text, void *packed)

cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object text)
    void *PyUnicode_DATA(object text)
    Py_ssize_t PyUnicode_GET_LENGTH(object text)
    void PyObject_GC_UnTrack(void *op)
    # (Cython's own declaration takes an object, and the C compiler warns of the cast.)
    object PyType_GenericAlloc(PyTypeObject *type, Py_ssize_t nitems)


# An engine belongs to the process that opened it. A forked child inherits its descriptors
# (the same sockets, epoll set and timerfd as the parent's) and a copy of its memory: used
# there, it would steal the parent's replies and re-arm the parent's timer. Each fork bumps
# this in the child, and an engine opened before it refuses all work there but close().
cdef unsigned long _process_generation = 0


def _after_fork_in_child():
    global _process_generation
    _process_generation += 1


os.register_at_fork(after_in_child=_after_fork_in_child)


cdef object _os_error(int rc, str what):
    cdef int code = -rc
    return OSError(code, f"{what}: {strerror(code).decode()}")


cdef uint64_t _nanoseconds(double seconds) except? 0:
    # Checked here too, as C would take a truncated 0 for "none" or reject it with EINVAL.
    if not seconds >= 1e-9:
        raise ValueError(f"a timeout must be at least 1 ns, not {seconds!r}")
    return <uint64_t>(seconds * 1e9)


cdef object _seconds(double microseconds):
    return None if microseconds != microseconds else microseconds / 1e6


# What run() reports, and how: Results, Statuses and Events are made here, in one place,
# with no Python function called per probe. An ICMP error's status by family and type.
cdef type _result_type = Result
cdef type _timestamps_type = Timestamps
cdef type _tally_type = Tally
cdef type _event_type = None  # _load_records() sets it, _healths and the statuses
cdef dict _error_statuses = None
cdef tuple _healths = None  # by fp_health
# (Looked up once: an attribute lookup per Result is a tenth of its cost.)
cdef object _status_ok = None, _status_timeout = None
cdef object _status_icmp_error = None, _status_send_error = None
# What a closed engine holds.
cdef object _resources_none = Resources._make((0,) * len(Resources._fields))


cdef int _load_records() except -1:
    """Looks up Status, Event and Health when first needed (fastping._engine_records makes
    them): a quiet round of the command uses none, and making them, enum included, is 11 M
    instructions of its start. Called before a batch is read, never while: a Ctrl-C during
    the import ends the run as at its wait, not with a batch half delivered."""
    global _event_type, _healths
    global _error_statuses, _status_ok, _status_timeout, _status_icmp_error, _status_send_error
    from fastping._results import Event, Health, Status

    _event_type = Event
    _healths = (Health.UNKNOWN, Health.UP, Health.DOWN)
    _error_statuses = {
        AF_INET: {3: Status.UNREACHABLE, 11: Status.TTL_EXCEEDED},
        AF_INET6: {1: Status.UNREACHABLE, 2: Status.UNREACHABLE, 3: Status.TTL_EXCEEDED},
    }
    _status_ok, _status_timeout = Status.OK, Status.TIMEOUT
    _status_icmp_error, _status_send_error = Status.ICMP_ERROR, Status.SEND_ERROR
    return 0


# _monitor_records.HostState, a tracked host's state: looked up at the first track_summary(), when the
# monitor (the only tracker) is loaded, so that a plain ping loads neither it nor dataclasses.
cdef object _host_state_type = None


cdef object _address_text(int family, const uint8_t *address):
    # Most events carry no such address: answer those without touching Python objects.
    if family == AF_INET:
        return socket.inet_ntop(socket.AF_INET, address[:4])
    if family == AF_INET6:
        return socket.inet_ntop(socket.AF_INET6, address[:16])
    return None


cdef object _router(const fp_event *event):
    return _address_text(event.from_family, event.from_)


include "_exposition.pxi"
include "_fping_text.pxi"


cdef class Engine:
    """One epoll descriptor, one timerfd, one ICMP socket per family in use.

    Not thread-safe, except `wake()`, which any thread may call.
    """

    cdef fp_engine *_engine      # owned; NULL once closed
    cdef fp_event *_events       # the batch buffer fp_engine_run fills
    cdef uint32_t _event_capacity
    cdef bint _running           # a thread is inside run() without the GIL
    cdef bint _in_run            # a thread is inside run(), with or without the GIL
    cdef bint _tracking          # track() was called: events carry the host's health
    cdef bint _icmp_timestamp    # it sends ICMP timestamp requests: replies carry times
    cdef bint _marked            # its sockets get a fwmark (SO_MARK), which needs CAP_NET_ADMIN
    cdef bint _close_pending     # close() came during run(): run() closes as it returns
    cdef unsigned long _generation  # _process_generation of the process that opened it
    # The one host table: each host's name (as the caller will know it) and index, in the
    # order added, and by index the name and address text that its Results carry. Kept
    # here, beside the C engine, so that adding or removing a host changes both at once:
    # no Python runs in between, so not even a Ctrl-C can leave them disagreeing.
    cdef dict _by_name
    cdef object _hosts_view
    cdef list _names
    cdef list _address_texts
    cdef unsigned long _hosts_version  # bumped by every change of the table

    def __cinit__(self):
        # Before anything can fail, so __dealloc__ always sees a valid state.
        self._engine = NULL
        self._events = NULL
        self._event_capacity = 0
        self._running = False
        self._in_run = False
        self._close_pending = False
        self._generation = _process_generation
        self._by_name = {}
        self._hosts_view = MappingProxyType(self._by_name)
        self._names = []
        self._address_texts = []
        self._hosts_version = 0

    def __init__(self, *, double timeout, int payload_size, ttl=None, tos=None,
                 privileged=None, bytes source4=None, bytes source6=None, str interface=None,
                 bint icmp_timestamp=False, bint dont_fragment=False, fwmark=None,
                 bint random_payload=False, bint receive_tos=False,
                 bint receive_destination=False, unsigned int out_interface=0):
        cdef fp_config config
        memset(&config, 0, sizeof(config))
        if icmp_timestamp and privileged is False:
            raise ValueError(TIMESTAMP_DATAGRAM_HELP)
        config.icmp_timestamp = icmp_timestamp
        self._icmp_timestamp = icmp_timestamp
        config.timeout_ns = <uint64_t>(timeout * 1e9)
        config.payload_len = payload_size
        config.ttl = -1 if ttl is None else ttl
        config.tos = -1 if tos is None else tos
        config.dont_fragment = dont_fragment
        config.random_payload = random_payload
        config.receive_tos = receive_tos
        config.receive_destination = receive_destination
        config.out_interface = out_interface
        config.fwmark = 0 if fwmark is None else fwmark
        self._marked = config.fwmark != 0
        config.privilege = (FP_PRIVILEGE_AUTO if privileged is None else
                            FP_PRIVILEGE_RAW if privileged else FP_PRIVILEGE_DATAGRAM)
        if source4 is not None:
            config.source4.sin_family = AF_INET
            memcpy(&config.source4.sin_addr, <const char *>source4, 4)
        if source6 is not None:
            config.source6.sin6_family = AF_INET6
            memcpy(&config.source6.sin6_addr, <const char *>source6, 16)
        if interface:
            encoded = interface.encode()
            if len(encoded) >= <Py_ssize_t>sizeof(config.interface):
                raise ValueError(f"interface name too long: {interface!r}")
            memcpy(config.interface, <const char *>encoded, len(encoded))
        self._events = <fp_event *>malloc(EVENT_CAPACITY * sizeof(fp_event))
        if self._events == NULL:
            raise MemoryError()
        self._event_capacity = EVENT_CAPACITY
        cdef int rc = fp_engine_open(&self._engine, &config)
        if rc < 0:
            raise _os_error(rc, "cannot open the engine")

    def __dealloc__(self):
        # A safety net only: close() is the way to release an engine.
        if self._engine != NULL:
            warnings.warn("unclosed fastping engine: call close() or use 'with'",
                          ResourceWarning, stacklevel=2)
            fp_engine_close(self._engine)
            self._engine = NULL
        free(self._events)
        self._events = NULL

    cdef fp_engine *_live(self) except NULL:
        self._require_open()
        if self._running:
            raise RuntimeError("the engine is running in another thread")
        return self._engine

    def close(self):
        """Close every descriptor. Idempotent: a second call does nothing.

        During a run() (from a signal handler, a callback or another thread), the run
        is woken and closes the engine as it returns, so that the loop never runs on a
        freed engine: close() then returns at once, and `closed` is already True. In a
        forked child, it releases the child's copies of the descriptors and nothing else.
        """
        if self._engine == NULL:
            return
        if self._generation != _process_generation:
            # No run of ours is in progress in this process, whatever the copied flags say;
            # closing our copies of the descriptors leaves the parent's untouched.
            self._close_now()
        elif self._in_run:
            self._close_pending = True
            fp_engine_wake(self._engine)
        else:
            self._close_now()

    cdef void _close_now(self) noexcept:
        fp_engine_close(self._engine)
        self._engine = NULL
        self._close_pending = False

    @property
    def closed(self):
        return self._engine == NULL or self._close_pending

    @property
    def forked(self):
        """True in a forked child of the process that opened this engine."""
        return self._generation != _process_generation

    def add_host(self, str name not None, int family, bytes packed not None,
                 unsigned int scope_id, str address not None, bint listed=True):
        """Add a host under its name, by packed address; returns its index.

        A name already in the table keeps its host: its index is returned and nothing
        is added. Outcomes become Results carrying the name and the address text. An
        unlisted host (a probe on demand) is left out of the table, so that its name
        may be a listed host's too: it is known by its index alone (remove_unlisted).
        """
        existing = self._by_name.get(name) if listed else None
        if existing is not None:
            return existing
        cdef fp_engine *engine = self._live()
        cdef sockaddr_in v4
        cdef sockaddr_in6 v6
        cdef int rc
        if family == AF_INET and len(packed) == 4:
            memset(&v4, 0, sizeof(v4))
            v4.sin_family = AF_INET
            memcpy(&v4.sin_addr, <const char *>packed, 4)
            rc = fp_engine_add_host(engine, <sockaddr *>&v4, sizeof(v4))
        elif family == AF_INET6 and len(packed) == 16:
            memset(&v6, 0, sizeof(v6))
            v6.sin6_family = AF_INET6
            memcpy(&v6.sin6_addr, <const char *>packed, 16)
            v6.sin6_scope_id = scope_id
            rc = fp_engine_add_host(engine, <sockaddr *>&v6, sizeof(v6))
        else:
            raise ValueError("packed address does not match its family")
        if rc == -EPERM and self._icmp_timestamp:
            raise PermissionError(-rc, TIMESTAMP_PERMISSION_HELP)
        if rc == -EPERM and self._marked:
            raise PermissionError(-rc, FWMARK_PERMISSION_HELP)
        if rc == -EACCES or rc == -EPERM:
            raise PermissionError(-rc, RAW_PERMISSION_HELP if rc == -EPERM else PERMISSION_HELP)
        if rc == -EAFNOSUPPORT and self._icmp_timestamp and family == AF_INET6:
            raise ValueError(f"{name}: {TIMESTAMP_IPV6_HELP}")
        if rc == -EAFNOSUPPORT:
            raise OSError(-rc, f"address family {family} is not supported on this system")
        if rc < 0:
            raise _os_error(rc, "cannot add host")
        while len(self._names) <= rc:
            self._names.append(None)
            self._address_texts.append(None)
        self._names[rc] = name
        self._address_texts[rc] = address
        if listed:
            self._by_name[name] = rc
            self._hosts_version += 1
        return rc

    def add_ipv4_literals(self, list names not None, Py_ssize_t start, Py_ssize_t stop):
        """Adds names[start:stop] as listed hosts, in order, for as long as each is an IPv4
        address in dotted-quad form (then its own address text: inet_pton takes no other
        spelling); returns where it stopped, the first other name's position or stop. A name
        already in the table is passed over, as add_host passes it. One call for a sweep's
        worth of literals: no Python object is made per host but its table entries."""
        cdef fp_engine *engine = self._live()
        cdef sockaddr_in v4
        cdef Py_ssize_t position = start, length
        cdef const char *text
        cdef int rc
        memset(&v4, 0, sizeof(v4))
        v4.sin_family = AF_INET
        stop = min(stop, len(names))
        while position < stop:
            name = names[position]
            # (An ASCII str's characters are its bytes, NUL-terminated; a NUL inside would
            # hide the rest from inet_pton.)
            if type(name) is not str or not PyUnicode_IS_ASCII(name):
                break
            length = PyUnicode_GET_LENGTH(name)
            text = <const char *>PyUnicode_DATA(name)
            if length > 15 or memchr(text, 0, length) != NULL \
                    or inet_pton(AF_INET, text, &v4.sin_addr) != 1:
                break
            if name not in self._by_name:
                rc = fp_engine_add_host(engine, <sockaddr *>&v4, sizeof(v4))
                if rc < 0:  # add_host says why
                    break
                while len(self._names) <= rc:
                    self._names.append(None)
                    self._address_texts.append(None)
                self._names[rc] = name
                self._address_texts[rc] = name
                self._by_name[name] = rc
                self._hosts_version += 1
            position += 1
        return position

    def remove_unlisted(self, unsigned int index):
        """Remove a host added unlisted; its probes in flight are forgotten."""
        if index >= len(self._names) or self._names[index] is None:
            raise ValueError(f"no host {index}")
        name = self._names[index]
        if self._by_name.get(name) == index:
            raise ValueError(f"host {index} is listed: remove_host({name!r})")
        cdef int rc = fp_engine_remove_host(self._live(), index)
        if rc < 0:
            raise _os_error(rc, f"cannot remove host {index}")
        self._names[index] = self._address_texts[index] = None

    def set_host_reporting(self, unsigned int index, bint report_outcomes):
        """Whether the host's every outcome is an event even while tracking health."""
        cdef int rc = fp_engine_set_host_reporting(self._live(), index, report_outcomes)
        if rc < 0:
            raise _os_error(rc, f"no host {index}")

    def remove_host(self, str name not None):
        """Remove the host of that name; KeyError if there is none."""
        cdef fp_engine *engine = self._live()
        cdef int index = self._by_name[name]
        cdef int rc = fp_engine_remove_host(engine, index)
        if rc < 0:
            raise _os_error(rc, f"cannot remove host {name!r}")
        del self._by_name[name]
        self._names[index] = self._address_texts[index] = None
        self._hosts_version += 1

    @property
    def hosts(self):
        """The host table, read-only and live: {name: index}, in the order added."""
        return self._hosts_view

    @property
    def hosts_version(self):
        """A number that changes whenever a host is added to or removed from the table."""
        return self._hosts_version

    def address_text(self, unsigned int index):
        """The address text a host's Results carry."""
        return self._address_texts[index]

    def schedule(self, unsigned int index, double delay=0.0, double period=0.0):
        """Send a probe to the host after delay seconds, then every period (if > 0)."""
        cdef fp_engine *engine = self._live()
        cdef uint64_t deadline = fp_monotonic_ns() + <uint64_t>(delay * 1e9)
        cdef int rc = fp_engine_schedule(engine, index, deadline, <uint64_t>(period * 1e9))
        if rc < 0:
            raise _os_error(rc, f"cannot schedule host {index}")

    def schedule_now(self, indexes):
        """Send one probe to each host, as soon as the engine safely can, in this order."""
        cdef fp_engine *engine = self._live()
        cdef uint64_t now = fp_monotonic_ns()
        cdef unsigned int index
        cdef int rc
        for index in indexes:
            rc = fp_engine_schedule(engine, index, now, 0)
            if rc < 0:
                raise _os_error(rc, f"cannot schedule host {index}")

    def set_send_slack(self, double slack):
        """Let sends go up to slack seconds early, so that nearby ones share a wake-up."""
        fp_engine_set_send_slack(self._live(), <uint64_t>(max(slack, 0.0) * 1e9))

    def set_send_gap(self, double gap):
        """Keep at least gap seconds between two sends (0: as fast as is safe)."""
        fp_engine_set_send_gap(self._live(), <uint64_t>(max(gap, 0.0) * 1e9))

    def cancel_all(self):
        """Forget every pending send and outstanding probe."""
        cdef int rc = fp_engine_cancel_all(self._live())
        if rc < 0:
            raise _os_error(rc, "cannot disarm the timer")

    def set_timeout(self, double timeout):
        """The timeout (seconds) of probes sent from now on to hosts without one of their own."""
        cdef int rc = fp_engine_set_timeout(self._live(), _nanoseconds(timeout))
        if rc == -ENOSPC:
            raise ValueError(_TOO_MANY_TIMEOUTS)
        if rc < 0:
            raise _os_error(rc, "cannot set the timeout")

    def set_ttl(self, ttl):
        """The TTL / hop limit (1-255) of probes sent from now on; None for the system's."""
        if ttl is not None and not 1 <= ttl <= 255:
            raise ValueError(f"ttl must be from 1 to 255 or None, not {ttl!r}")
        cdef int rc = fp_engine_set_ttl(self._live(), -1 if ttl is None else ttl)
        if rc < 0:
            raise _os_error(rc, "cannot set the TTL")

    def set_host_timeout(self, unsigned int index, timeout):
        """The host's own timeout (seconds) from its next probe on; None to follow the engine's."""
        cdef uint64_t ns = 0 if timeout is None else _nanoseconds(timeout)
        cdef int rc = fp_engine_set_host_timeout(self._live(), index, ns)
        if rc == -ENOSPC:
            raise ValueError(_TOO_MANY_TIMEOUTS)
        if rc < 0:
            raise _os_error(rc, f"cannot set the timeout of host {index}")

    def reserve(self, unsigned int replies_in_flight):
        """Size the receive buffers for this many replies arriving at once."""
        cdef int rc = fp_engine_reserve(self._live(), replies_in_flight)
        if rc < 0:
            raise _os_error(rc, "cannot size the receive buffer")

    def wake(self):
        """Make a run() in progress (or the next one) return "woken". Any thread.

        Does nothing once closed, or in a forked child (whose timerfd is the parent's).
        """
        if self._engine != NULL and self._generation == _process_generation:
            fp_engine_wake(self._engine)

    def run(self, timeout=None, bint until_idle=True, bint prompt=False, dict results=None,
            list replies=None, rtts=None):
        """Run the loop without the GIL; return (status, events).

        Returns when the event buffer is full, when nothing is scheduled or
        outstanding (if until_idle), as soon as any event is ready rather than
        wait for more (if prompt), after timeout seconds, or when woken.
        timeout=0 only handles what is ready now, for callers polling
        fileno(). status is one of "idle", "full", "deadline", "woken",
        "events", or "closed" when close() was called meanwhile (the engine is closed
        then). Signals are handled while waiting: KeyboardInterrupt propagates from
        here, and a close() called by their handlers is carried out before it does.
        Each event is an Event (kind, host name, result, health, previous, host index):
        see fastping._results. Events of hosts removed meanwhile are dropped.
        With results (a dict), a probe's outcome is not an event: its Result is stored
        there under the host's index, and a reply's is also appended to replies (if a
        list). With rtts (a writable buffer of doubles, such as an array('d')) instead,
        only a probe's RTT is kept: a reply's in seconds (as its Result's rtt), NaN for any
        other outcome, at the host's index (if the buffer reaches it); no Python object is
        made for it.
        """
        cdef double[::1] column = rtts
        self._live()
        self._in_run = True
        try:
            return self._run(timeout, until_idle, prompt, results, replies,
                             &column[0] if column is not None and column.shape[0] else NULL,
                             column.shape[0] if column is not None else -1)
        finally:
            self._in_run = False
            if self._close_pending:
                self._close_now()

    cdef tuple _run(self, timeout, bint until_idle, bint prompt, dict results, list replies,
                    double *rtts, Py_ssize_t rtts_length):
        # (rtts_length: -1 without an rtts buffer)
        # Between two calls of the C loop, Python runs (signal handlers, other threads),
        # and may have called close(): the engine is looked up afresh each time, never kept.
        cdef fp_engine *engine
        cdef uint64_t until = 0
        cdef int flags = ((FP_RUN_RETURN_WHEN_IDLE if until_idle else 0) |
                          (FP_RUN_RETURN_EVENTS if prompt else 0))
        cdef uint32_t count = 0
        cdef int rc
        cdef uint32_t i
        cdef const fp_event *event
        cdef uint64_t handled = 0
        cdef uint64_t step_until
        if timeout is not None:
            until = fp_monotonic_ns() + <uint64_t>(max(<double>timeout, 0.0) * 1e9)
            if until == 0:
                until = 1
        events = []
        while True:
            PyErr_CheckSignals()
            if self._close_pending:
                return "closed", events
            engine = self._engine
            step_until = fp_monotonic_ns() + SIGNAL_CHECK_NS
            if until != 0 and until < step_until:
                step_until = until
            self._running = True
            with nogil:
                rc = fp_engine_run(engine, step_until, flags, self._events, self._event_capacity,
                                   &count)
            self._running = False
            handled += count
            if count and rtts_length < 0 and _event_type is None:
                _load_records()
            for i in range(count):
                event = &self._events[i]
                if rtts_length >= 0 and event.kind <= FP_EVENT_SEND_ERROR:
                    if event.host < rtts_length and event.host < len(self._names) \
                            and self._names[event.host] is not None:
                        rtts[event.host] = (event.rtt_ns / 1e9 if event.kind == FP_EVENT_REPLY
                                            else NAN)
                    continue
                if results is not None and event.kind <= FP_EVENT_SEND_ERROR:
                    result = self._result(event, event.kind)
                    if result is not None:
                        results[event.host] = result
                        if replies is not None and event.kind == FP_EVENT_REPLY:
                            replies.append(result)
                    continue
                name = self._names[event.host] if event.host < len(self._names) else None
                if name is None:
                    continue  # removed since: nobody to tell
                item = _untracked(_event_type, (
                    event.kind, name,
                    self._result(event, event.cause if event.kind == FP_EVENT_HEALTH
                                 else event.kind),
                    _healths[event.health] if self._tracking else None,
                    _healths[event.previous_health] if event.kind == FP_EVENT_HEALTH else None,
                    event.host,
                ))
                events.append(item)
            if rc == FP_RUN_INTERRUPTED:
                PyErr_CheckSignals()  # its handlers may raise, or close()
                if not handled and not self._close_pending:
                    continue
                rc = FP_RUN_FULL
            if self._close_pending:
                return "closed", events
            if rc < 0:
                raise _os_error(rc, "engine loop failed")
            if rc == FP_RUN_DEADLINE and step_until != until:
                continue  # only the signal check's deadline: the caller's is still ahead
            return ("idle", "full", "deadline", "woken", "interrupted", "events")[rc], events

    cdef object _result(self, const fp_event *event, int kind):
        """The outcome of the given kind as a Result; None if it is no outcome, or its host is gone."""
        name = self._names[event.host] if event.host < len(self._names) else None
        if name is None or kind < FP_EVENT_REPLY or kind > FP_EVENT_SEND_ERROR:
            return None
        address = self._address_texts[event.host]
        if kind == FP_EVENT_REPLY:
            stamps = (_untracked(_timestamps_type, (event.times[0], event.times[1],
                                                    event.times[2], event.times[3]))
                      if self._icmp_timestamp else None)
            values = (name, address, _status_ok, event.rtt_ns / 1e9,
                      event.ttl if event.ttl else None, event.seq, None, None, None, None,
                      stamps, event.tos if event.tos >= 0 else None,
                      _address_text(event.to_family, event.to))
        elif kind == FP_EVENT_TIMEOUT:
            values = (name, address, _status_timeout, None, None, event.seq, None, None, None,
                      None, None, None, None)
        elif kind == FP_EVENT_ICMP_ERROR:
            # The reporter's family is the probe's: each socket carries one family.
            status = _error_statuses.get(event.from_family, {}).get(event.icmp_type,
                                                                   _status_icmp_error)
            values = (name, address, status, event.rtt_ns / 1e9, None, event.seq,
                      event.icmp_type, event.icmp_code, _router(event), None, None, None, None)
        else:
            values = (name, address, _status_send_error, None, None, event.seq, None, None,
                      None, event.error, None, None, None)
        return _untracked(_result_type, values)

    def fileno(self):
        """The epoll descriptor: readable when run(timeout=0) has work to do. Owned here."""
        return fp_engine_fileno(self._require_open())

    def track(self, unsigned int down_after, unsigned int up_after, unsigned int window,
              bint report_outcomes, buckets=(), bint spans=False):
        """Keep every host's health and rolling statistics from now on.

        Health changes become HEALTH events; other outcomes are events only
        if report_outcomes. buckets (seconds, increasing) also keeps a
        histogram of every host's RTTs; spans, each host's least and greatest
        RTT since the last track_mark().
        """
        cdef fp_track_config config
        memset(&config, 0, sizeof(config))
        config.down_after = down_after
        config.up_after = up_after
        config.window = window
        config.spans = spans
        if len(buckets) > FP_TRACK_MAX_BUCKETS:
            raise ValueError(f"at most {FP_TRACK_MAX_BUCKETS} histogram buckets")
        config.buckets = len(buckets)
        for i, bound in enumerate(buckets):
            config.bucket_bounds_ns[i] = <uint64_t>(bound * 1e9)
        cdef int rc = fp_engine_track(self._live(), &config, report_outcomes)
        if rc < 0:
            raise _os_error(rc, "cannot start tracking")
        self._tracking = True

    def track_summary(self, unsigned int index):
        """A tracked host's health and statistics, as a monitor.HostState (RTTs in seconds,
        None when none; since on the wall clock; loss over the window)."""
        global _host_state_type
        cdef fp_track_summary s
        cdef int rc = fp_engine_track_summary(self._live(), index, &s)
        if rc < 0:
            raise _os_error(rc, f"no summary for host {index}")
        if _host_state_type is None:
            from fastping._monitor_records import HostState
            _host_state_type = HostState
            if _event_type is None:
                _load_records()
        return _host_state_type(
            host=self._names[index], address=self._address_texts[index],
            health=_healths[s.health], since=_clock_offset() + s.since_ns / 1e9,
            streak=s.streak,
            sent=s.sent, received=s.received, lost=s.lost, duplicates=s.duplicates,
            send_errors=s.send_errors, last_rtt=_seconds(s.last_rtt_us),
            last_ttl=None if s.last_ttl < 0 else s.last_ttl, jitter=s.jitter_us / 1e6,
            window_probes=s.window_probes, window_replies=s.window_replies,
            loss=1 - <double>s.window_replies / s.window_probes if s.window_probes else 0.0,
            min=_seconds(s.min_us), avg=_seconds(s.avg_us), max=_seconds(s.max_us),
            stddev=_seconds(s.stddev_us), p50=_seconds(s.p50_us), p90=_seconds(s.p90_us),
            p99=_seconds(s.p99_us),
            lifetime_min=s.rtt_min_ns / 1e9 if s.received else None,
            lifetime_avg=s.rtt_sum_ns / 1e9 / s.received if s.received else None,
            lifetime_max=s.rtt_max_ns / 1e9 if s.received else None,
            ups=s.ups, downs=s.downs,
        )

    def track_tally(self, unsigned int index):
        """A tracked host's counts since it was added, a Tally (no window to sort: cheap)."""
        return _tally(self._live(), index)

    def track_tallies(self):
        """Every listed host's track_tally(), {name: Tally} in the order added, in one call:
        a command's summaries read 100,000 of them."""
        cdef fp_engine *engine = self._live()
        return {name: _tally(engine, index) for name, index in self._by_name.items()}

    def track_answered(self):
        """How many listed hosts have had a reply since they were added: track_tallies()'s
        count of those whose received is not 0, with no Tally made."""
        cdef fp_engine *engine = self._live()
        cdef fp_track_summary s
        cdef Py_ssize_t answered = 0
        for index in self._by_name.values():
            if fp_engine_track_summary(engine, index, &s) == 0 and s.received:
                answered += 1
        return answered

    def track_mark(self):
        """Start every host's span afresh (an engine tracking with spans)."""
        cdef int rc = fp_engine_track_mark(self._live())
        if rc < 0:
            raise _os_error(rc, "cannot mark spans")

    def track_copy(self, const uint32_t[:] indexes not None):
        """The tracked hosts of these indexes, in this order, copied now: a TrackCopy.
        KeyError if one of them is not a host (any more)."""
        cdef TrackCopy copy = TrackCopy()
        cdef fp_engine *engine = self._live()
        cdef int rc = fp_engine_track_copy(
            engine, &indexes[0] if indexes.shape[0] else NULL, indexes.shape[0], &copy._copy)
        if rc == -ENOENT:
            raise KeyError("a host to copy is gone")
        if rc < 0:
            raise _os_error(rc, "cannot copy the hosts' tracks")
        copy._clock_offset = _clock_offset()
        return copy

    def track_histogram(self, unsigned int index):
        """A tracked host's RTT histogram: (cumulative counts per bound, sum in seconds, count)."""
        cdef uint64_t counts[FP_TRACK_MAX_BUCKETS + 1]
        cdef uint64_t sum_ns = 0
        cdef int buckets = fp_engine_track_histogram(self._live(), index, counts, &sum_ns)
        if buckets < 0:
            raise _os_error(buckets, f"no histogram for host {index}")
        cumulative = []
        cdef uint64_t running = 0
        cdef int i
        for i in range(buckets):
            running += counts[i]
            cumulative.append(running)
        total = running + (counts[buckets] if buckets else 0)
        return tuple(cumulative), sum_ns / 1e9, total

    def counters(self):
        """What the engine has seen, a Counters: sent, replies, timeouts, drops by reason."""
        cdef fp_counters c
        fp_engine_counters(self._require_open(), &c)
        from fastping._results import Counters

        return Counters(
            sent=c.sent, replies=c.replies, timeouts=c.timeouts, icmp_errors=c.icmp_errors,
            send_errors=c.send_errors, duplicates=c.duplicates, late=c.late,
            foreign=c.foreign, malformed=c.malformed, unverified=c.unverified,
        )

    def resources(self):
        """What the engine holds right now, a Resources: descriptors, timers, probes, tables.

        All zero once closed: a closed engine holds nothing.
        """
        cdef fp_resources r
        if self._engine == NULL:
            return _resources_none
        fp_engine_resources(self._engine, &r)
        return Resources(
            descriptors=r.descriptors, timer_armed=r.timer_armed, scheduled=r.scheduled,
            outstanding=r.outstanding, hosts=r.hosts, host_capacity=r.host_capacity,
            ring_capacity=r.ring_capacity, host_bytes=r.host_bytes, table_bytes=r.table_bytes,
        )

    cdef fp_engine *_require_open(self) except NULL:
        if self._engine == NULL or self._close_pending:
            raise ValueError("the engine is closed")
        if self._generation != _process_generation:
            raise RuntimeError(f"this engine was opened before this process forked: {FORKED_HELP}")
        return self._engine

    def identifier(self, int family):
        """The ICMP identifier of the family's socket, or None if it is not open."""
        cdef int ident = fp_engine_identifier(self._require_open(), family)
        return None if ident < 0 else ident

    def is_raw(self, int family):
        """True for a raw socket, False for a datagram one, None if not open."""
        cdef int raw = fp_engine_is_raw(self._require_open(), family)
        return None if raw < 0 else bool(raw)


cdef object _tally(fp_engine *engine, uint32_t index):
    # Made as Results are (_untracked): Tally's generated __new__ was half the cost of a
    # tally, and its fields are numbers.
    cdef fp_track_summary s
    cdef int rc = fp_engine_track_summary(engine, index, &s)
    if rc < 0:
        raise _os_error(rc, f"no tally for host {index}")
    cdef bint replied = s.received != 0
    cdef bint span = s.span_max_ns != 0
    return _untracked(_tally_type, (
        s.sent, s.received, s.duplicates, s.icmp_errors, s.send_errors,
        s.rtt_sum_ns / 1e9, s.rtt_squares_ns2 / 1e18,
        s.rtt_min_ns / 1e9 if replied else None, s.rtt_max_ns / 1e9 if replied else None,
        s.span_min_ns / 1e9 if span else None, s.span_max_ns / 1e9 if span else None))


def new_untracked(type cls, tuple values):
    """cls (a tuple subclass) holding values, unknown to the garbage collector (_untracked)."""
    _check_tuple_type(cls)
    return _untracked(cls, values)


cdef _check_tuple_type(type cls):
    # Once, where a type comes in from Python, not for every tuple made (_untracked).
    if not issubclass(cls, tuple):
        raise TypeError(f"{cls.__name__} is not a tuple type")


cdef object _untracked(type cls, tuple values):
    """cls (a tuple subclass) holding values, unknown to the cyclic garbage collector.

    For results, events and host entries, whose fields are strings, bytes, numbers,
    None, enum members and such tuples: they can be in no reference cycle. A
    round of 100,000 hosts makes 100,000 results; tracked, they would set off
    full collections that walk every object of the program, and those cost a
    round about 8% of its time (adding the hosts, a third of its time).
    """
    # What tuple.__new__(cls, values) does (tuple_subtype_new), without its Python call:
    # a third of the cost of adding a host, and of making a Result. cls is a tuple type
    # (_check_tuple_type, or one of this module's own).
    cdef Py_ssize_t i, count = len(values)
    result = PyType_GenericAlloc(<PyTypeObject *>cls, count)
    for i in range(count):
        item = values[i]
        Py_INCREF(item)
        PyTuple_SET_ITEM(result, i, item)
    PyObject_GC_UnTrack(<PyObject *>result)
    return result


def monotonic_ns():
    """The engine's clock (CLOCK_MONOTONIC), in nanoseconds."""
    return fp_monotonic_ns()


# ---- the packet functions, exposed for tests and fuzzing ----------------------

def checksum(const unsigned char[:] data not None):
    """RFC 1071 checksum of data."""
    return fp_checksum(&data[0] if data.shape[0] else NULL, data.shape[0])


def build_echo(bint ipv6, unsigned int ident, unsigned long long serial, bytes cookie,
               unsigned int payload_size):
    """An echo request as the engine sends it."""
    if len(cookie) != FP_COOKIE_LEN:
        raise ValueError(f"cookie must be {FP_COOKIE_LEN} bytes")
    if ident > 0xFFFF:
        raise ValueError("ident must be a 16-bit value")
    if payload_size < FP_TAG_LEN or payload_size > FP_MAX_PAYLOAD:
        raise ValueError(f"payload_size must be between {FP_TAG_LEN} and {FP_MAX_PAYLOAD}")
    buf = bytearray(FP_ICMP_HEADER_LEN + payload_size)
    cdef unsigned char[:] view = buf
    cdef size_t n = fp_build_echo(&view[0], view.shape[0], ipv6, <uint16_t>ident, serial,
                                  <const uint8_t *><const char *>cookie, payload_size)
    return bytes(buf[:n])


def build_timestamp(unsigned int ident, unsigned long long serial, bytes cookie):
    """A timestamp request as the engine sends it."""
    if len(cookie) != FP_COOKIE_LEN:
        raise ValueError(f"cookie must be {FP_COOKIE_LEN} bytes")
    if ident > 0xFFFF:
        raise ValueError("ident must be a 16-bit value")
    cdef uint8_t buf[FP_ICMP_HEADER_LEN + FP_TIMESTAMP_DATA_LEN]
    cdef size_t n = fp_build_timestamp(buf, sizeof(buf), <uint16_t>ident, serial,
                                       <const uint8_t *><const char *>cookie)
    return bytes(buf[:n])


def siphash24(bytes key, const unsigned char[:] data not None):
    """SipHash-2-4 of data under a 16-byte key, as an integer."""
    if len(key) != FP_SIPHASH_KEY_LEN:
        raise ValueError(f"key must be {FP_SIPHASH_KEY_LEN} bytes")
    return fp_siphash24(<const uint8_t *><const char *>key,
                        &data[0] if data.shape[0] else NULL, data.shape[0])


def probe_cookie(bytes key, unsigned long long serial, bytes address):
    """The cookie of the probe with this serial to this address (4 or 16 bytes)."""
    if len(key) != FP_SIPHASH_KEY_LEN:
        raise ValueError(f"key must be {FP_SIPHASH_KEY_LEN} bytes")
    if len(address) not in (4, 16):
        raise ValueError("address must be 4 or 16 bytes")
    cdef uint8_t cookie[FP_COOKIE_LEN]
    fp_probe_cookie(<const uint8_t *><const char *>key, serial,
                    <const uint8_t *><const char *>address, len(address), cookie)
    return bytes(cookie[:FP_COOKIE_LEN])


def parse(str layer, const unsigned char[:] data not None):
    """Parse a packet as the engine does.

    layer is "ipv4" (IP header + ICMP, raw sockets), "icmp4" (datagram sockets)
    or "icmp6". Returns (kind, type, code, ttl, ident, seq, payload, quoted_dst,
    quoted_type, times) where kind is -1 malformed, 0 other, 1 echo reply, 2 error
    quoting an echo or timestamp request (quoted_type says which), 3 timestamp reply
    (times: its originate, receive and transmit fields).
    """
    cdef fp_packet packet
    cdef int kind
    cdef const uint8_t *start = &data[0] if data.shape[0] else NULL
    memset(&packet, 0, sizeof(packet))
    if layer == "ipv4":
        kind = fp_parse_ipv4(start, data.shape[0], &packet)
    elif layer == "icmp4":
        kind = fp_parse_icmp4(start, data.shape[0], 1, &packet)
    elif layer == "icmp6":
        kind = fp_parse_icmp6(start, data.shape[0], &packet)
    else:
        raise ValueError(f"unknown layer {layer!r}")
    if kind <= 0:
        return (kind, None, None, None, None, None, None, None, None, None)
    payload = bytes((<const char *>packet.payload)[:packet.payload_len]) if packet.payload_len else b""
    return (kind, packet.type, packet.code, packet.ttl, packet.ident, packet.seq, payload,
            bytes(packet.quoted_dst[:16]) if kind == 2 else None,
            packet.quoted_type if kind == 2 else None,
            (packet.times[0], packet.times[1], packet.times[2]) if kind == 3 else None)
