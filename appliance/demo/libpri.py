"""libpri 1.6 (Debian libpri1.4 / libpri-dev) as a real ISDN peer, loaded with ctypes.

`LibPri(node, switch)` creates one libpri D-channel with `pri_new_cb` over one
end of an AF_UNIX SOCK_SEQPACKET socketpair (message boundaries = HDLC
frames).  The other end, `LibPri.wire`, carries bare LAPD frames (address,
control, information; no FCS): libpri writes frames with 2 trailing
placeholder FCS octets, which the write callback strips, and wants 2 trailing
octets on read, which the read callback appends.  Whatever sits on the far
end of `wire` (our `appliance.isdn.q921.Lapd`, another `LibPri`, a lossy
pipe in a test) exchanges plain frames with it.

Time: libpri's scheduler runs on wall time (`gettimeofday`); this build does
not export `pri_schedule_run_tv`, so libpri's timers cannot be injected.
`next_timer()` reports when libpri's next timer is due in wall-clock seconds
(`time.time()`), `run_timers()` runs the due ones, and `set_timer()` shortens
T200/T203/... so interop tests stay quick.  Interop tests therefore run on the
wall clock (and give our own stack `now=time.time()` to share that clock);
protocol tests of our own code use injected time and never this module.

Events: `poll()` feeds every frame waiting on the socket to
`pri_check_event`, runs due timers, and returns `Event`s decoded from the
`pri_event` union (layouts in `tests.peers.libpri.abi`, checked against
libpri.h by a compiled C program in the tests).  Call handles (`q931_call *`)
are ints.
"""

from __future__ import annotations

import ctypes as C
import select
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from . import libpri_abi as abi

LIB = C.CDLL("libpri.so.1.4")


class Node(IntEnum):
    NETWORK = 1
    CPE = 2


class Switch(IntEnum):
    """PRI_SWITCH_* (same values as appliance.isdn.q931.Variant)."""

    NI2 = 1
    DMS100 = 2
    LUCENT5E = 3
    ATT4ESS = 4
    EUROISDN_E1 = 5
    EUROISDN_T1 = 6
    NI1 = 7
    QSIG = 10


class Ev(IntEnum):
    """PRI_EVENT_*."""

    DCHAN_UP = 1
    DCHAN_DOWN = 2
    RESTART = 3
    CONFIG_ERR = 4
    RING = 5
    HANGUP = 6
    RINGING = 7
    ANSWER = 8
    HANGUP_ACK = 9
    RESTART_ACK = 10
    FACILITY = 11
    INFO_RECEIVED = 12
    PROCEEDING = 13
    SETUP_ACK = 14
    HANGUP_REQ = 15
    NOTIFY = 16
    PROGRESS = 17
    KEYPAD_DIGIT = 18
    SERVICE = 19
    SERVICE_ACK = 20
    HOLD = 21
    HOLD_ACK = 22
    HOLD_REJ = 23
    RETRIEVE = 24
    RETRIEVE_ACK = 25
    RETRIEVE_REJ = 26
    CONNECT_ACK = 27


# Which member of the pri_event union libpri fills for each event (libpri pri.c/q931.c).
EVENT_VIEW: dict[int, str] = {
    Ev.DCHAN_UP: "gen", Ev.DCHAN_DOWN: "gen", Ev.RESTART: "restart", Ev.CONFIG_ERR: "err",
    Ev.RING: "ring", Ev.HANGUP: "hangup", Ev.RINGING: "ringing", Ev.ANSWER: "answer",
    Ev.HANGUP_ACK: "hangup", Ev.RESTART_ACK: "restartack", Ev.FACILITY: "facility",
    Ev.INFO_RECEIVED: "ring", Ev.PROCEEDING: "proceeding", Ev.SETUP_ACK: "setup_ack",
    Ev.HANGUP_REQ: "hangup", Ev.NOTIFY: "notify", Ev.PROGRESS: "proceeding",
    Ev.KEYPAD_DIGIT: "digit", Ev.SERVICE: "service", Ev.SERVICE_ACK: "service_ack",
    Ev.HOLD: "hold", Ev.HOLD_ACK: "hold_ack", Ev.HOLD_REJ: "hold_rej",
    Ev.RETRIEVE: "retrieve", Ev.RETRIEVE_ACK: "retrieve_ack",
    Ev.RETRIEVE_REJ: "retrieve_rej", Ev.CONNECT_ACK: "connect_ack",
}

SUBCMD_VIEW: dict[int, str] = {1: "redirecting", 2: "connected_line", 3: "rerouting",
                               17: "transfer", 23: "mcid_req", 24: "mcid_rsp", 25: "display"}

# PRI_TIMER_* indices (enum PRI_TIMERS_AND_COUNTERS in libpri.h).
TIMER_INDEX = {name: i for i, name in enumerate(
    ["N200", "N201", "N202", "K", "T200", "T201", "T202", "T203", "T300", "T301", "T302", "T303", "T304", "T305", "T306", "T307", "T308", "T309", "T310", "T313", "T314", "T316", "T317", "T318", "T319", "T320", "T321", "T322"])}

# Layer-1 / presentation / plan constants callers use most.
PRI_TRANS_CAP_SPEECH, PRI_TRANS_CAP_DIGITAL, PRI_TRANS_CAP_3_1K_AUDIO = 0x00, 0x08, 0x10
PRI_LAYER_1_ULAW, PRI_LAYER_1_ALAW = 0x22, 0x23
PRES_ALLOWED_USER_NUMBER_NOT_SCREENED, PRES_ALLOWED_NETWORK_NUMBER = 0x00, 0x03
PRES_PROHIB_USER_NUMBER_NOT_SCREENED = 0x20
PRI_NATIONAL_ISDN, PRI_LOCAL_ISDN, PRI_INTERNATIONAL_ISDN, PRI_PRIVATE, PRI_UNKNOWN = (
    0x21, 0x41, 0x11, 0x49, 0x00)
PRI_PROG_INBAND_AVAILABLE = 1 << 3

IO_CB = C.CFUNCTYPE(C.c_int, C.c_void_p, C.c_void_p, C.c_int)
MSG_CB = C.CFUNCTYPE(None, C.c_void_p, C.c_char_p)

_P, _I, _S, _V = C.c_void_p, C.c_int, C.c_char_p, None
_SIGS: dict[str, tuple[Any, list[Any]]] = {
    "pri_new_cb": (_P, [_I, _I, _I, IO_CB, IO_CB, _P]),
    "pri_check_event": (C.POINTER(abi.PriEvent), [_P]),
    "pri_schedule_next": (C.POINTER(abi.Timeval), [_P]),
    "pri_schedule_run": (C.POINTER(abi.PriEvent), [_P]),
    "pri_set_debug": (_V, [_P, _I]),
    "pri_facility_enable": (_V, [_P]),
    "pri_set_overlapdial": (_V, [_P, _I]),
    "pri_set_timer": (_I, [_P, _I, _I]),
    "pri_get_timer": (_I, [_P, _I]),
    "pri_set_message": (_V, [MSG_CB]),
    "pri_set_error": (_V, [MSG_CB]),
    "pri_event2str": (_S, [_I]),
    "pri_get_version": (_S, []),
    "pri_new_call": (_P, [_P]),
    "pri_destroycall": (_V, [_P, _P]),
    "pri_sr_new": (_P, []),
    "pri_sr_free": (_V, [_P]),
    "pri_sr_set_channel": (_I, [_P, _I, _I, _I]),
    "pri_sr_set_bearer": (_I, [_P, _I, _I]),
    "pri_sr_set_called": (_I, [_P, _S, _I, _I]),
    "pri_sr_set_caller": (_I, [_P, _S, _S, _I, _I]),
    "pri_sr_set_redirecting": (_I, [_P, _S, _I, _I, _I]),
    "pri_sr_set_useruser": (_V, [_P, _S]),
    "pri_sr_set_keypad_digits": (_V, [_P, _S]),
    "pri_sr_set_reversecharge": (_V, [_P, _I]),
    "pri_sr_set_redirecting_parties": (_V, [_P, C.POINTER(abi.PartyRedirecting)]),
    "pri_sr_set_caller_party": (_V, [_P, C.POINTER(abi.PartyId)]),
    "pri_setup": (_I, [_P, _P, _P]),
    "pri_answer": (_I, [_P, _P, _I, _I]),
    "pri_hangup": (_I, [_P, _P, _I]),
    "pri_acknowledge": (_I, [_P, _P, _I, _I]),
    "pri_proceeding": (_I, [_P, _P, _I, _I]),
    "pri_progress": (_I, [_P, _P, _I, _I]),
    "pri_progress_with_cause": (_I, [_P, _P, _I, _I, _I]),
    "pri_need_more_info": (_I, [_P, _P, _I, _I]),
    "pri_setup_ack": (_I, [_P, _P, _I, _I, _I]),
    "pri_information": (_I, [_P, _P, C.c_char]),
    "pri_keypad_facility": (_I, [_P, _P, _S]),
    "pri_notify": (_I, [_P, _P, _I, _I]),
    "pri_connect_ack": (_I, [_P, _P, _I]),
    "pri_connect_ack_enable": (_V, [_P, _I]),
    "pri_restart": (_I, [_P]),
    "pri_reset": (_I, [_P, _I]),
    "pri_maintenance_service": (_I, [_P, _I, _I, _I]),
    "pri_set_service_message_support": (_I, [_P, _I]),
    "pri_set_nsf": (_V, [_P, _I]),
    "pri_persistent_layer2_option": (_V, [_P, _I]),
    "pri_hangup_fix_enable": (_V, [_P, _I]),
    "pri_set_inbanddisconnect": (_V, [_P, C.c_uint]),
    "pri_display_options_send": (_V, [_P, C.c_ulong]),
    "pri_display_options_receive": (_V, [_P, C.c_ulong]),
    "pri_date_time_send_option": (_V, [_P, _I]),
    "pri_hold_enable": (_V, [_P, _I]),
    "pri_dump_info_str": (C.c_void_p, [_P]),
}
for _name, (_res, _args) in _SIGS.items():
    _fn = getattr(LIB, _name)
    _fn.restype = _res
    _fn.argtypes = _args

_libc = C.CDLL(None)
_libc.free.argtypes = [C.c_void_p]
_libc.free.restype = None

VERSION: str = (LIB.pri_get_version() or b"").decode()

# libpri's message/error hooks are process-global: route them by `struct pri *`.
_LOGS: dict[int, list[str]] = {}
_ORPHAN_LOG: list[str] = []
_ABANDONED: list[LibPri] = []


def _log(pri: int | None, text: bytes | None) -> None:
    line = (text or b"").decode("latin-1")
    _LOGS.get(pri or 0, _ORPHAN_LOG).append(line)


_MSG_HOOK = MSG_CB(_log)
LIB.pri_set_message(_MSG_HOOK)
LIB.pri_set_error(_MSG_HOOK)


def to_py(obj: Any) -> Any:
    """ctypes value -> plain Python (dicts, str for char arrays, int for pointers)."""
    if isinstance(obj, bytes):
        return obj.decode("latin-1")
    if isinstance(obj, C.Array):
        return bytes(obj)
    if isinstance(obj, C.Structure | C.Union):
        return {name.rstrip("_"): to_py(getattr(obj, name)) for name, *_ in obj._fields_}
    return obj


def _subcommands(ptr: Any) -> list[dict[str, Any]]:
    if not ptr:
        return []
    subs = ptr.contents
    out = []
    for i in range(min(subs.counter_subcmd, abi.PRI_MAX_SUBCOMMANDS)):
        sc = subs.subcmd[i]
        view = SUBCMD_VIEW.get(sc.cmd)
        out.append({"cmd": sc.cmd, view or "raw": to_py(getattr(sc.u, view)) if view else None})
    return out


@dataclass
class Event:
    """A decoded pri_event: `e`, `name`, the fields of its union view, `subcmds`."""

    e: int
    name: str
    fields: dict[str, Any] = field(default_factory=dict)
    subcmds: list[dict[str, Any]] = field(default_factory=list)

    def __getattr__(self, key: str) -> Any:
        try:
            return self.__dict__["fields"][key]
        except KeyError:
            raise AttributeError(key) from None


def decode_event(ptr: Any) -> Event | None:
    if not ptr:
        return None
    ev = ptr.contents
    e = ev.e
    view = EVENT_VIEW.get(e)
    name = (LIB.pri_event2str(e) or b"?").decode()
    if view is None:
        return Event(e, name)
    s = getattr(ev, view)
    fields: dict[str, Any] = {}
    subcmds: list[dict[str, Any]] = []
    for fname, *_ in s._fields_:
        if fname == "subcmds":
            subcmds = _subcommands(s.subcmds)
        else:
            fields[fname.rstrip("_")] = to_py(getattr(s, fname))
    return Event(Ev(e) if e in Ev._value2member_map_ else e, name, fields, subcmds)


def _b(s: str | None) -> bytes | None:
    return None if s is None else s.encode("latin-1")


def party_id(number: str | None = None, *, plan: int = PRI_UNKNOWN,
             presentation: int = PRES_ALLOWED_USER_NUMBER_NOT_SCREENED, name: str | None = None,
             name_presentation: int | None = None, char_set: int = 1) -> abi.PartyId:
    """A `struct pri_party_id` (libpri.h): number with its plan (type of number << 4 |
    numbering plan, e.g. PRI_NATIONAL_ISDN) and presentation (presentation | screening),
    and a name with its own presentation (default: the number's); None leaves a part
    not valid.  `char_set` 1 is ISO 8859-1 (PRI_CHAR_SET_ISO8859_1)."""
    pid = abi.PartyId()
    if number is not None:
        pid.number.valid = 1
        pid.number.plan = plan
        pid.number.presentation = presentation
        pid.number.str = number.encode("latin-1")
    if name is not None:
        pid.name.valid = 1
        pid.name.presentation = presentation if name_presentation is None else name_presentation
        pid.name.char_set = char_set
        pid.name.str = name.encode("latin-1")
    return pid


def redirecting_parties(from_: abi.PartyId, *, reason: int = 0,
                        orig_called: abi.PartyId | None = None, orig_reason: int = 0,
                        count: int = 1, to: abi.PartyId | None = None) -> abi.PartyRedirecting:
    """A `struct pri_party_redirecting` for `LibPri.setup(redirecting_parties=...)`:
    who redirected (`from_`) and why (PRI_REDIR_*), whom the caller first dialled
    (`orig_called`) and why that party redirected, and how many times (`count`)."""
    r = abi.PartyRedirecting()
    r.from_ = from_
    if to is not None:
        r.to = to
    if orig_called is not None:
        r.orig_called = orig_called
    r.count = count
    r.reason = reason
    r.orig_reason = orig_reason
    return r


class LibPri:
    """One libpri D-channel (PRI, TEI 0) over a SOCK_SEQPACKET socketpair.

    `wire` is the far end of the socketpair: frames written there reach
    libpri on `poll()`; frames libpri sends appear there (and in `sent`).
    """

    def __init__(self, node: Node, switch: Switch, *, debug: int = 0,
                 timers: dict[str, int] | None = None, facility: bool = True) -> None:
        self.node, self.switch = node, switch
        self.sock, self.wire = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.setblocking(False)
        self.wire.setblocking(False)
        self.sent: list[bytes] = []
        self.received: list[bytes] = []
        self._pending: bytes | None = None
        self._backlog: deque[bytes] = deque()
        self._closed = False
        self._read_cb = IO_CB(self._read)
        self._write_cb = IO_CB(self._write)
        self.pri: int = LIB.pri_new_cb(self.sock.fileno(), int(node), int(switch),
                                       self._read_cb, self._write_cb, None)
        if not self.pri:
            raise RuntimeError("pri_new_cb failed")
        self.log: list[str] = []
        _LOGS[self.pri] = self.log
        if debug:
            self.set_debug(debug)
        if facility:
            LIB.pri_facility_enable(self.pri)
        for name, value in (timers or {}).items():
            self.set_timer(name, value)

    # -- I/O callbacks (called by libpri inside pri_check_event / timers / requests)
    def _read(self, pri: int, buf: int, buflen: int) -> int:
        data = self._pending
        self._pending = None
        if data is None:
            return -1
        framed = data + b"\x00\x00"
        n = min(len(framed), buflen)
        C.memmove(buf, framed, n)
        return n

    def _write(self, pri: int, buf: int, buflen: int) -> int:
        frame = C.string_at(buf, buflen)[:-2]
        self.sent.append(frame)
        self._backlog.append(frame)
        self.flush()
        return buflen

    def flush(self) -> None:
        """Put libpri's frames on the socket (toward `wire`); a full socket keeps
        them queued here for the next poll() rather than losing them."""
        while self._backlog and not self._closed:
            try:
                self.sock.send(self._backlog[0])
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._backlog.clear()
                return
            self._backlog.popleft()

    # -- driving
    def feed(self, frame: bytes) -> list[Event]:
        """Give libpri one frame directly (bypassing the socket); return its events."""
        self.received.append(frame)
        self._pending = frame
        ev = decode_event(LIB.pri_check_event(self.pri))
        self._pending = None
        return [ev] if ev else []

    def poll(self) -> list[Event]:
        """Deliver every frame waiting on the socket, then run due timers."""
        self.flush()
        events: list[Event] = []
        while True:
            try:
                frame = self.sock.recv(4096)
            except BlockingIOError:
                break
            events += self.feed(frame)
        events += self.run_timers()
        return events

    def next_timer(self) -> float | None:
        """Wall-clock time (time.time() seconds) of libpri's next timer, or None."""
        tv = LIB.pri_schedule_next(self.pri)
        if not tv:
            return None
        return float(tv.contents.tv_sec + tv.contents.tv_usec / 1e6)

    def run_timers(self) -> list[Event]:
        events: list[Event] = []
        for _ in range(100):
            due = self.next_timer()
            if due is None or due > time.time():
                break
            ev = decode_event(LIB.pri_schedule_run(self.pri))
            if ev:
                events.append(ev)
        return events

    def close(self) -> None:
        """Stop using this instance: a peer restart is `close()` then a new `LibPri`.

        libpri 1.6 has no call that frees a whole PRI controller
        (`pri_link_destroy` is for BRI TEI links and crashes on a PRI master
        with calls), so the old `struct pri` is abandoned, never called again,
        and kept referenced (with its callbacks) in `_ABANDONED`.
        """
        if self._closed:
            return
        self._closed = True
        self.sock.close()
        self.wire.close()
        _ABANDONED.append(self)

    # -- configuration
    def set_debug(self, flags: int) -> None:
        LIB.pri_set_debug(self.pri, flags)

    def set_timer(self, name: str, value: int) -> None:
        if LIB.pri_set_timer(self.pri, TIMER_INDEX[name], value) != 0:
            raise ValueError(f"pri_set_timer {name}={value} refused")

    def get_timer(self, name: str) -> int:
        return int(LIB.pri_get_timer(self.pri, TIMER_INDEX[name]))

    def set_overlapdial(self, on: bool) -> None:
        LIB.pri_set_overlapdial(self.pri, int(on))

    def set_service_message_support(self, on: bool) -> None:
        LIB.pri_set_service_message_support(self.pri, int(on))

    def persistent_layer2(self, option: int) -> None:
        LIB.pri_persistent_layer2_option(self.pri, option)

    def info(self) -> str:
        p = LIB.pri_dump_info_str(self.pri)
        if not p:
            return ""
        text = C.string_at(p).decode("latin-1")
        _libc.free(p)
        return text

    # -- calls
    def new_call(self) -> int:
        c = LIB.pri_new_call(self.pri)
        if not c:
            raise RuntimeError("pri_new_call failed (D-channel down?)")
        return int(c)

    def setup(self, call: int, *, called: str, channel: int = 1, exclusive: bool = True,
              calledplan: int = PRI_UNKNOWN, complete: bool = True, caller: str | None = None,
              callername: str | None = None, callerplan: int = PRI_UNKNOWN,
              callerpres: int = PRES_ALLOWED_USER_NUMBER_NOT_SCREENED,
              transmode: int = PRI_TRANS_CAP_SPEECH, userl1: int = PRI_LAYER_1_ULAW,
              redirecting: tuple[str, int, int, int] | None = None,
              useruser: str | None = None, keypad: str | None = None,
              nonisdn: bool = False, caller_party: abi.PartyId | None = None,
              redirecting_parties: abi.PartyRedirecting | None = None) -> None:
        """pri_sr_new / pri_sr_set_* / pri_setup / pri_sr_free in one call.

        `caller_party` (pri_sr_set_caller_party, see `party_id`) replaces `caller`
        and `callername` when given, and sets the name's presentation of its own;
        `redirecting_parties` (pri_sr_set_redirecting_parties, see
        `redirecting_parties`) replaces `redirecting`, adding the original called
        number, its reason and the count.  libpri copies both structures.

        libpri keeps some of the strings by pointer until pri_setup (user-user
        for one), so every string passed is held in `keep` until then.
        """
        keep: list[C.Array[C.c_char]] = []

        def s(text: str) -> C.Array[C.c_char]:
            buf = C.create_string_buffer(text.encode("latin-1"))
            keep.append(buf)
            return buf

        sr = LIB.pri_sr_new()
        try:
            LIB.pri_sr_set_channel(sr, channel, int(exclusive), int(nonisdn))
            LIB.pri_sr_set_bearer(sr, transmode, userl1)
            LIB.pri_sr_set_called(sr, s(called), calledplan, int(complete))
            if caller is not None or callername is not None:
                LIB.pri_sr_set_caller(sr, s(caller or ""),
                                      None if callername is None else s(callername),
                                      callerplan, callerpres)
            if caller_party is not None:
                LIB.pri_sr_set_caller_party(sr, C.byref(caller_party))
            if redirecting_parties is not None:
                LIB.pri_sr_set_redirecting_parties(sr, C.byref(redirecting_parties))
            elif redirecting is not None:
                num, plan, pres, reason = redirecting
                LIB.pri_sr_set_redirecting(sr, s(num), plan, pres, reason)
            if useruser is not None:
                LIB.pri_sr_set_useruser(sr, s(useruser))
            if keypad is not None:
                LIB.pri_sr_set_keypad_digits(sr, s(keypad))
            if LIB.pri_setup(self.pri, call, sr) != 0:
                raise RuntimeError("pri_setup failed")
        finally:
            LIB.pri_sr_free(sr)
            keep.clear()

    def answer(self, call: int, channel: int, nonisdn: bool = False) -> int:
        return int(LIB.pri_answer(self.pri, call, channel, int(nonisdn)))

    def hangup(self, call: int, cause: int = 16) -> int:
        return int(LIB.pri_hangup(self.pri, call, cause))

    def acknowledge(self, call: int, channel: int, info: int = 0) -> int:
        return int(LIB.pri_acknowledge(self.pri, call, channel, info))

    def proceeding(self, call: int, channel: int, info: int = 0) -> int:
        return int(LIB.pri_proceeding(self.pri, call, channel, info))

    def progress(self, call: int, channel: int, info: int = 1) -> int:
        return int(LIB.pri_progress(self.pri, call, channel, info))

    def progress_with_cause(self, call: int, channel: int, info: int, cause: int) -> int:
        return int(LIB.pri_progress_with_cause(self.pri, call, channel, info, cause))

    def need_more_info(self, call: int, channel: int, nonisdn: bool = False) -> int:
        return int(LIB.pri_need_more_info(self.pri, call, channel, int(nonisdn)))

    def setup_ack(self, call: int, channel: int, nonisdn: bool = False,
                  inband: bool = False) -> int:
        return int(LIB.pri_setup_ack(self.pri, call, channel, int(nonisdn), int(inband)))

    def information(self, call: int, digit: str) -> int:
        return int(LIB.pri_information(self.pri, call, digit.encode("ascii")))

    def keypad_facility(self, call: int, digits: str) -> int:
        return int(LIB.pri_keypad_facility(self.pri, call, _b(digits)))

    def notify(self, call: int, channel: int, info: int) -> int:
        return int(LIB.pri_notify(self.pri, call, channel, info))

    def connect_ack(self, call: int, channel: int) -> int:
        return int(LIB.pri_connect_ack(self.pri, call, channel))

    def destroycall(self, call: int) -> None:
        LIB.pri_destroycall(self.pri, call)

    def restart(self) -> int:
        """RESTART the whole interface (restart indicator class 7)."""
        return int(LIB.pri_restart(self.pri))

    def reset(self, channel: int) -> int:
        """RESTART one channel (restart indicator class 0)."""
        return int(LIB.pri_reset(self.pri, channel))

    def maintenance_service(self, span: int, channel: int, changestatus: int) -> int:
        """Send SERVICE (needs set_service_message_support(True))."""
        return int(LIB.pri_maintenance_service(self.pri, span, channel, changestatus))


Deliver = Callable[[bytes], None]


def relay(a: LibPri, b: LibPri, *, tap: Callable[[str, bytes], None] | None = None,
          drop: Callable[[str, bytes], bool] | None = None, max_wait: float = 0.0,
          until: Callable[[list[tuple[str, Event]]], bool] | None = None,
          ) -> list[tuple[str, Event]]:
    """Move frames between two libpri instances until both are idle.

    Frames from `a` go to `b` (direction "a>b") and back ("b>a"); `tap`
    sees every frame, `drop` may discard one.  Waits on the sockets and
    libpri's timers up to `max_wait` seconds of wall time for more traffic,
    returning early once `until(events)` is true.  Returns (side, event) pairs.
    """
    out: list[tuple[str, Event]] = []
    deadline = time.time() + max_wait
    while True:
        moved = False
        for src, dst, tag in ((a, b, "a>b"), (b, a, "b>a")):
            while True:
                try:
                    frame = src.wire.recv(4096)
                except BlockingIOError:
                    break
                moved = True
                if tap:
                    tap(tag, frame)
                if drop and drop(tag, frame):
                    continue
                dst.wire.send(frame)
        for side, p in (("a", a), ("b", b)):
            out += [(side, ev) for ev in p.poll()]
        if until is not None and until(out):
            return out
        if moved:
            continue
        now = time.time()
        if now >= deadline:
            return out
        timers = [t for t in (a.next_timer(), b.next_timer()) if t is not None]
        wait = min([deadline, *timers]) - now
        select.select([a.wire, b.wire], [], [], max(0.0, min(wait, 0.05)))
