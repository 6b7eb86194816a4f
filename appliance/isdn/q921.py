"""Q.921 LAPD data link, sans-I/O: one point-to-point link (PRI, SAPI 0, TEI 0, modulo 128).

ITU-T Q.921 (09/97) clause 5 and the SDL of Annex B: states 4 (TEI assigned),
5 (awaiting establishment), 6 (awaiting release), 7 (multiple frame
established), 8 (timer recovery); T200, T203, N200, k (5.9).  The state table
`TABLE` maps (state, input) to a handler; an input with no entry for the
current state is a defined protocol outcome (`MdlError` "unexpected ..."),
never a silent pass.

Use::

    link = Lapd(Side.USER, now=t)
    link.establish(t)                     # or wait for the peer's SABME
    events = link.receive(frame, t)       # LinkUp, LinkDown, DataIndication, MdlError
    link.send_data(q931_bytes, t)
    wire_out = link.frames_to_send()      # bytes to give the HDLC driver
    deadline = link.get_timer()           # call handle_timer(now) at/after it

Every method takes `now` (seconds, any monotonic clock) and returns the
events it caused; frames accumulate until `frames_to_send()` drains them.

Choices where Q.921 leaves room: `keep_up` (default) re-establishes the link
whenever it drops, as a PRI D-channel should (retrying every
`retry_interval`); a peer's SABME in states 7/8, and our own error-driven
re-establishment, give `LinkUp(reestablished=True)` whenever I frames had
flowed on the link (not only when some were lost, as Q.921 would), so that
Q.931 can resynchronise its calls (Q.931 5.8.9 / 5.8.10), with the number of
discarded I frames; FRMR is never sent (LAPD, 5.8.5), received FRMR re-establishes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from .errors import Q921Error
from .q921_events import (
    DataIndication,
    Event,
    Input,
    LapdConfig,
    LinkDown,
    LinkUp,
    MdlError,
    State,
    UnitDataIndication,
)
from .q921_frames import (
    MODULO,
    SUPERVISORY,
    Frame,
    FrameRejected,
    FrameType,
    Side,
    decode,
    peek_address,
)

__all__ = [
    "TABLE", "DataIndication", "Event", "Input", "Lapd", "LapdConfig", "LinkDown", "LinkUp",
    "MdlError", "Side", "State", "UnitDataIndication",
]


Handler = Callable[["Lapd", Frame | None], None]

S4, S5, S6, S7, S8 = (State.TEI_ASSIGNED, State.AWAITING_ESTABLISHMENT,
                      State.AWAITING_RELEASE, State.MULTIPLE_FRAME_ESTABLISHED,
                      State.TIMER_RECOVERY)
F = FrameType


class Lapd:
    """One LAPD data link entity (see the module docstring)."""

    def __init__(self, side: Side, now: float = 0.0, config: LapdConfig | None = None) -> None:
        self.side = side
        self.config = config or LapdConfig()
        self.state = State.TEI_ASSIGNED
        self.now = now
        self.vs = self.va = self.vr = 0
        self.rc = 0
        self.peer_busy = False
        self.reject_exception = False
        self.ack_pending = False
        self.own_busy = False
        self.layer3_initiated = False
        self.l3_up = False
        self._sent: dict[int, bytes] = {}
        self._queue: deque[bytes] = deque()
        self._out: list[bytes] = []
        self._events: list[Event] = []
        self.t200: float | None = None
        self.t203: float | None = None
        self.retry: float | None = None
        self.stats = {"tx": 0, "rx": 0, "retransmitted": 0, "discarded_rx": 0}

    # ------------------------------------------------------------ public API
    @property
    def is_up(self) -> bool:
        """True when I frames can flow (states 7 and 8)."""
        return self.state in (S7, S8)

    def establish(self, now: float) -> list[Event]:
        """DL-ESTABLISH-REQUEST."""
        return self._run(Input.ESTABLISH_REQ, None, now)

    def release(self, now: float) -> list[Event]:
        """DL-RELEASE-REQUEST (also turns `keep_up` re-establishment off until establish())."""
        self._keep = False
        return self._run(Input.RELEASE_REQ, None, now)

    def send_data(self, payload: bytes, now: float) -> list[Event]:
        """DL-DATA-REQUEST: queue a Q.931 message for acknowledged transfer."""
        if not payload or len(payload) > self.config.n201:
            raise ValueError(f"I frame information must be 1..{self.config.n201} octets")
        self._pending_payload = payload
        return self._run(Input.DATA_REQ, None, now)

    def set_receiver_busy(self, busy: bool, now: float) -> list[Event]:
        """Own receiver busy (5.6.3): RNR while busy (I frames are then not
        accepted, the peer repeats them later), RR when clear again."""
        return self._run(Input.SET_BUSY if busy else Input.CLEAR_BUSY, None, now)

    def send_unit_data(self, payload: bytes, now: float) -> list[Event]:
        """DL-UNIT-DATA-REQUEST: send a UI command frame."""
        self._pending_payload = payload
        return self._run(Input.UNIT_DATA_REQ, None, now)

    def receive(self, data: bytes, now: float) -> list[Event]:
        """A frame from the HDLC driver (FCS already checked and removed)."""
        self.now = now
        try:
            sapi, _, tei = peek_address(data)
        except Q921Error:
            self.stats["discarded_rx"] += 1
            return []
        if sapi != self.config.sapi or tei != self.config.tei:
            self.stats["discarded_rx"] += 1
            return []
        self.stats["rx"] += 1
        try:
            frame = decode(data, self.side, n201=self.config.n201)
        except FrameRejected as e:
            self._rejected = e
            return self._run(Input.FRAME_ERROR, None, now)
        except Q921Error:
            self.stats["discarded_rx"] += 1
            return []
        return self._run(frame.type, frame, now)

    def handle_timer(self, now: float) -> list[Event]:
        """Fire every timer due at `now`."""
        events: list[Event] = []
        for _ in range(4):
            if self.t200 is not None and now >= self.t200:
                self.t200 = None
                events += self._run(Input.T200, None, now)
            elif self.t203 is not None and now >= self.t203:
                self.t203 = None
                events += self._run(Input.T203, None, now)
            elif self.retry is not None and now >= self.retry:
                self.retry = None
                events += self._run(Input.RETRY, None, now)
            else:
                break
        return events

    def get_timer(self) -> float | None:
        """The earliest deadline at which `handle_timer` must be called, or None."""
        ts = [t for t in (self.t200, self.t203, self.retry) if t is not None]
        return min(ts) if ts else None

    def frames_to_send(self) -> list[bytes]:
        """Drain the frames to transmit, in order."""
        out, self._out = self._out, []
        return out

    # ------------------------------------------------------------ dispatch
    _keep = True
    _pending_payload = b""
    _rejected: FrameRejected | None = None

    def _run(self, inp: int, frame: Frame | None, now: float) -> list[Event]:
        self.now = now
        handler = TABLE.get((self.state, inp))
        if handler is None:
            name = F(inp).name if inp < 100 else Input(inp).name
            self._emit(MdlError("unexpected", f"{name} in state {self.state.name}"))
        else:
            handler(self, frame)
        if self.state in (S7, S8):
            self._push_i_queue()
            if self.ack_pending:
                self._send_s(F.RNR if self.own_busy else F.RR, command=False, pf=False)
        events, self._events = self._events, []
        return events

    def _emit(self, ev: Event) -> None:
        if isinstance(ev, LinkUp):
            self.l3_up = True
        elif isinstance(ev, LinkDown):
            self.l3_up = False
        self._events.append(ev)

    # ------------------------------------------------------------ sending
    def _send(self, frame: Frame) -> None:
        self._out.append(frame.encode(self.side))
        self.stats["tx"] += 1

    def _send_u(self, ft: FrameType, command: bool, pf: bool, info: bytes = b"") -> None:
        self._send(Frame(ft, command, pf, info=info, sapi=self.config.sapi, tei=self.config.tei))

    def _send_s(self, ft: FrameType, command: bool, pf: bool) -> None:
        self._send(Frame(ft, command, pf, nr=self.vr, sapi=self.config.sapi, tei=self.config.tei))
        self.ack_pending = False

    def _send_i(self, ns: int, pf: bool) -> None:
        self._send(Frame(F.I, True, pf, ns, self.vr, self._sent[ns], self.config.sapi,
                         self.config.tei))
        self.ack_pending = False

    def _push_i_queue(self) -> None:
        """I frame queue processing (5.6.1): send while the window k allows, in state 7."""
        if self.state is not S7 or self.peer_busy:
            return
        while (self.vs - self.va) % MODULO < self.config.k:
            if self.vs in self._sent:
                self.stats["retransmitted"] += 1
            elif self._queue:
                self._sent[self.vs] = self._queue.popleft()
            else:
                break
            self._send_i(self.vs, False)
            self.vs = (self.vs + 1) % MODULO
            if self.t200 is None:
                self.t203 = None
                self._start_t200()

    # ------------------------------------------------------------ timers
    def _start_t200(self) -> None:
        self.t200 = self.now + self.config.t200

    def _start_t203(self) -> None:
        self.t203 = self.now + self.config.t203

    def _retry_later(self) -> None:
        if self.config.keep_up and self._keep:
            self.retry = self.now + (self.config.retry_interval or self.config.t200)

    # ------------------------------------------------------------ procedures
    def _clear_exceptions(self) -> None:
        self.peer_busy = self.reject_exception = self.ack_pending = False

    def _discard_i_queue(self) -> int:
        n = len(self._queue) + sum(1 for ns in self._sent
                                   if (ns - self.va) % MODULO < (self.vs - self.va) % MODULO)
        self._queue.clear()
        self._sent.clear()
        return n

    def _establish_data_link(self) -> None:
        """Establish data link procedure (Annex B): SABME P=1, T200, RC=0."""
        self._clear_exceptions()
        self.rc = 0
        self._send_u(F.SABME, True, True)
        self.t203 = None
        self.retry = None
        self._start_t200()
        self.state = S5

    def _reset_variables(self) -> None:
        self.vs = self.va = self.vr = 0

    def _enquiry(self, command: bool, pf: bool) -> None:
        """Transmit enquiry (command, P=1) or enquiry response (response, F=1): RR, or RNR if busy."""
        self._send_s(F.RNR if self.own_busy else F.RR, command=command, pf=pf)

    def _nr_valid(self, nr: int) -> bool:
        return (nr - self.va) % MODULO <= (self.vs - self.va) % MODULO

    def _ack_to(self, nr: int) -> None:
        while self.va != nr:
            self._sent.pop(self.va, None)
            self.va = (self.va + 1) % MODULO

    def _nr_error_recovery(self, nr: int) -> None:
        self._emit(MdlError("J", f"N(R)={nr} outside V(A)={self.va}..V(S)={self.vs}"))
        self._reestablish("N(R) sequence error")

    def _reestablish(self, why: str) -> None:
        """Re-establishment after an error (5.7): not layer 3 initiated."""
        self.layer3_initiated = False
        self._reason = why
        self._establish_data_link()

    _reason = ""

    def _invoke_retransmission(self, nr: int) -> None:
        """Go back to N(R): frames from N(R) to V(S)-1 are sent again (5.6.4)."""
        self.vs = nr

    def _check_i_frame_nr(self, nr: int, recovery: bool) -> bool:
        if not self._nr_valid(nr):
            self._nr_error_recovery(nr)
            return False
        if recovery:
            self._ack_to(nr)
            return True
        if self.peer_busy:
            self._ack_to(nr)
        elif nr == self.vs:
            self._ack_to(nr)
            self.t200 = None
            self._start_t203()
        elif nr != self.va:
            self._ack_to(nr)
            self._start_t200()
        return True

    def _receive_i_info(self, fr: Frame) -> None:
        if self.own_busy:
            # 5.6.3: discard; the peer repeats the frame after our RR
            self.stats["discarded_rx"] += 1
            if fr.pf:
                self._send_s(F.RNR, command=False, pf=True)
            return
        if fr.ns == self.vr:
            self.vr = (self.vr + 1) % MODULO
            self.reject_exception = False
            self._emit(DataIndication(fr.info))
            if fr.pf:
                self._send_s(F.RR, command=False, pf=True)
            else:
                self.ack_pending = True
        else:
            self.stats["discarded_rx"] += 1
            if self.reject_exception:
                if fr.pf:
                    self._send_s(F.RR, command=False, pf=True)
            else:
                self.reject_exception = True
                self._send_s(F.REJ, command=False, pf=fr.pf)

    # ------------------------------------------------------------ handlers
    # State 4: TEI assigned
    def _s4_establish_req(self, _: Frame | None) -> None:
        self._keep = True
        self._discard_i_queue()
        self.layer3_initiated = True
        self.retry = None
        self._establish_data_link()

    def _s4_retry(self, _: Frame | None) -> None:
        self.layer3_initiated = False
        self._establish_data_link()

    def _s4_release_req(self, _: Frame | None) -> None:
        self.retry = None
        self._emit(LinkDown("released", local=True))

    def _down_data_req(self, _: Frame | None) -> None:
        raise Q921Error(f"DL-DATA-REQUEST with the link in state {self.state.name}")

    def _s4_sabme(self, fr: Frame | None) -> None:
        assert fr is not None
        self._send_u(F.UA, False, fr.pf)
        self._clear_exceptions()
        self._reset_variables()
        self._discard_i_queue()
        self.retry = None
        self.state = S7
        self._start_t203()
        self._emit(LinkUp("remote"))

    def _reply_dm(self, fr: Frame | None) -> None:
        assert fr is not None
        self._send_u(F.DM, False, fr.pf)

    def _reply_ua(self, fr: Frame | None) -> None:
        assert fr is not None
        self._send_u(F.UA, False, fr.pf)

    def _s4_dm(self, fr: Frame | None) -> None:
        assert fr is not None
        if not fr.pf and self.config.keep_up and self._keep:
            self.layer3_initiated = False
            self.retry = None
            self._establish_data_link()

    def _unsolicited_ua(self, fr: Frame | None) -> None:
        assert fr is not None
        self._emit(MdlError("C" if fr.pf else "D", "unsolicited UA"))

    def _s4_numbered(self, fr: Frame | None) -> None:
        assert fr is not None
        if fr.command and fr.pf:
            self._send_u(F.DM, False, True)

    def _ignore(self, _: Frame | None) -> None:
        pass

    def _unit_data(self, fr: Frame | None) -> None:
        assert fr is not None
        self._emit(UnitDataIndication(fr.info))

    def _send_ui(self, _: Frame | None) -> None:
        self._send_u(F.UI, True, False, self._pending_payload)

    def _frame_error(self, _: Frame | None) -> None:
        e = self._rejected
        assert e is not None
        self._emit(MdlError(chr(e.code), str(e)))
        if self.state in (S7, S8):
            self._reestablish(f"frame error {chr(e.code)}")

    def _busy_flag(self, _: Frame | None) -> None:
        self.own_busy = True

    def _clear_busy_flag(self, _: Frame | None) -> None:
        self.own_busy = False

    def _s78_set_busy(self, _: Frame | None) -> None:
        if not self.own_busy:
            self.own_busy = True
            self._send_s(F.RNR, command=False, pf=False)

    def _s78_clear_busy(self, _: Frame | None) -> None:
        if self.own_busy:
            self.own_busy = False
            self._send_s(F.RR, command=False, pf=False)

    # State 5: awaiting establishment
    def _s5_establish_req(self, _: Frame | None) -> None:
        self._discard_i_queue()
        self.layer3_initiated = True
        self._keep = True

    def _s5_release_req(self, _: Frame | None) -> None:
        self._discard_i_queue()
        self.rc = 0
        self._send_u(F.DISC, True, True)
        self._start_t200()
        self.state = S6

    def _queue_data(self, _: Frame | None) -> None:
        self._queue.append(self._pending_payload)

    def _s5_ua(self, fr: Frame | None) -> None:
        assert fr is not None
        if not fr.pf:
            self._emit(MdlError("D", "UA F=0 while awaiting establishment"))
            return
        discarded = 0
        if self.layer3_initiated:
            ev = LinkUp("local")
        else:
            if self.vs != self.va:
                discarded = self._discard_i_queue()
            ev = LinkUp("local", reestablished=self.l3_up, discarded=discarded)
        self._sent.clear()
        self.t200 = None
        self._start_t203()
        self._reset_variables()
        self.rc = 0
        self.state = S7
        self.layer3_initiated = False
        self._emit(ev)

    def _s5_dm(self, fr: Frame | None) -> None:
        assert fr is not None
        if not fr.pf:
            return
        n = self._discard_i_queue()
        self.t200 = None
        self.state = S4
        if self.l3_up or self.layer3_initiated:
            self._emit(LinkDown("peer refused establishment (DM)", discarded=n))
        self.layer3_initiated = False
        self._retry_later()

    def _s5_t200(self, _: Frame | None) -> None:
        if self.rc >= self.config.n200:
            n = self._discard_i_queue()
            self.state = S4
            self._emit(MdlError("G", "SABME unanswered N200 times"))
            if self.l3_up or self.layer3_initiated:
                self._emit(LinkDown("establishment failed (N200 SABME)", discarded=n))
            self._retry_later()
        else:
            self.rc += 1
            self._send_u(F.SABME, True, True)
            self._start_t200()

    # State 6: awaiting release
    def _s6_ua_dm(self, fr: Frame | None) -> None:
        assert fr is not None
        if not fr.pf:
            if fr.type is F.UA:
                self._emit(MdlError("D", "UA F=0 while awaiting release"))
            return
        self.t200 = None
        self.state = S4
        self._emit(LinkDown("released", local=True))

    def _s6_t200(self, _: Frame | None) -> None:
        if self.rc >= self.config.n200:
            self.state = S4
            self._emit(MdlError("H", "DISC unanswered N200 times"))
            self._emit(LinkDown("released (DISC unanswered)", local=True))
        else:
            self.rc += 1
            self._send_u(F.DISC, True, True)
            self._start_t200()

    def _s6_establish_req(self, _: Frame | None) -> None:
        self._keep = True
        self.layer3_initiated = True
        self._establish_data_link()

    # States 7 and 8: established / timer recovery
    def _s78_establish_req(self, _: Frame | None) -> None:
        self._discard_i_queue()
        self.layer3_initiated = True
        self._establish_data_link()

    def _s78_release_req(self, _: Frame | None) -> None:
        self._discard_i_queue()
        self.rc = 0
        self._send_u(F.DISC, True, True)
        self.t203 = None
        self._start_t200()
        self.state = S6

    def _s78_sabme(self, fr: Frame | None) -> None:
        assert fr is not None
        self._send_u(F.UA, False, fr.pf)
        self._clear_exceptions()
        self._emit(MdlError("F", "peer re-established the link (SABME)"))
        # Nothing exchanged since establishment (e.g. the tail of a SABME
        # collision): layer 3 has nothing to resynchronise.
        used = bool(self.vs or self.va or self.vr or self._queue)
        n = self._discard_i_queue() if self.vs != self.va else 0
        self._sent.clear()
        self._reset_variables()
        self.t200 = None
        self._start_t203()
        self.state = S7
        if used:
            self._emit(LinkUp("remote", reestablished=True, discarded=n))

    def _s78_disc(self, fr: Frame | None) -> None:
        assert fr is not None
        n = self._discard_i_queue()
        self._send_u(F.UA, False, fr.pf)
        self.t200 = self.t203 = None
        self.state = S4
        self._emit(LinkDown("peer released the link (DISC)", discarded=n))
        self._retry_later()

    def _s78_dm(self, fr: Frame | None) -> None:
        assert fr is not None
        if fr.pf:
            self._emit(MdlError("B", "unsolicited DM F=1"))
            if self.state is S7:
                return
        else:
            self._emit(MdlError("E", "DM F=0: peer asks for re-establishment"))
        self._reestablish("DM received")

    def _s78_frmr(self, _: Frame | None) -> None:
        self._emit(MdlError("K", "FRMR received"))
        self._reestablish("FRMR received")

    def _s78_data_req(self, _: Frame | None) -> None:
        self._queue.append(self._pending_payload)

    def _s7_t200(self, _: Frame | None) -> None:
        self.rc = 0
        self._timer_recovery_poll()
        self.state = S8

    def _timer_recovery_poll(self) -> None:
        last = (self.vs - 1) % MODULO
        if self.vs != self.va and not self.peer_busy and last in self._sent:
            self.stats["retransmitted"] += 1
            self._send_i(last, True)
        else:
            self._enquiry(command=True, pf=True)
        self.rc += 1
        self._start_t200()

    def _s7_t203(self, _: Frame | None) -> None:
        self.rc = 0
        self._enquiry(command=True, pf=True)
        self.rc = 1
        self._start_t200()
        self.state = S8

    def _s8_t200(self, _: Frame | None) -> None:
        if self.rc >= self.config.n200:
            self._emit(MdlError("I", "no response to enquiry N200 times"))
            self._reestablish("timer recovery failed")
            return
        self._timer_recovery_poll()

    def _s78_supervisory(self, fr: Frame | None) -> None:
        assert fr is not None
        self.peer_busy = fr.type is F.RNR
        if fr.command and fr.pf:
            self._enquiry(command=False, pf=True)
        recovery = self.state is S8
        if not fr.command and fr.pf:
            if not recovery:
                self._emit(MdlError("A", f"unsolicited {fr.type.name} F=1"))
            else:
                if not self._nr_valid(fr.nr):
                    self._nr_error_recovery(fr.nr)
                    return
                self._ack_to(fr.nr)
                self.t200 = None
                self.state = S7
                if fr.type is F.RNR:
                    self._start_t200()
                else:
                    self._start_t203()
                self._invoke_retransmission(fr.nr)
                return
        if not self._nr_valid(fr.nr):
            self._nr_error_recovery(fr.nr)
            return
        if recovery:
            self._ack_to(fr.nr)
            return
        if fr.type is F.RNR:
            self._ack_to(fr.nr)
            self.t203 = None
            self._start_t200()
        elif fr.type is F.REJ:
            self._ack_to(fr.nr)
            self.t200 = None
            self._start_t203()
            self._invoke_retransmission(fr.nr)
        else:
            self._check_i_frame_nr(fr.nr, recovery=False)

    def _s78_i(self, fr: Frame | None) -> None:
        assert fr is not None
        self._receive_i_info(fr)
        self._check_i_frame_nr(fr.nr, recovery=self.state is S8)


_ALL_FRAMES = (F.I, F.RR, F.RNR, F.REJ, F.SABME, F.DM, F.UI, F.DISC, F.UA, F.FRMR, F.XID)

TABLE: dict[tuple[State, int], Handler] = {
    # state 4: TEI assigned (link down)
    (S4, Input.ESTABLISH_REQ): Lapd._s4_establish_req,
    (S4, Input.RELEASE_REQ): Lapd._s4_release_req,
    (S4, Input.DATA_REQ): Lapd._down_data_req,
    (S4, Input.UNIT_DATA_REQ): Lapd._send_ui,
    (S4, Input.RETRY): Lapd._s4_retry,
    (S4, Input.FRAME_ERROR): Lapd._frame_error,
    (S4, F.SABME): Lapd._s4_sabme,
    (S4, F.DISC): Lapd._reply_dm,
    (S4, F.UA): Lapd._unsolicited_ua,
    (S4, F.DM): Lapd._s4_dm,
    (S4, F.I): Lapd._s4_numbered,
    (S4, F.RR): Lapd._s4_numbered,
    (S4, F.RNR): Lapd._s4_numbered,
    (S4, F.REJ): Lapd._s4_numbered,
    (S4, F.UI): Lapd._unit_data,
    (S4, F.FRMR): Lapd._ignore,
    (S4, F.XID): Lapd._ignore,
    # state 5: awaiting establishment
    (S5, Input.ESTABLISH_REQ): Lapd._s5_establish_req,
    (S5, Input.RELEASE_REQ): Lapd._s5_release_req,
    (S5, Input.DATA_REQ): Lapd._queue_data,
    (S5, Input.UNIT_DATA_REQ): Lapd._send_ui,
    (S5, Input.T200): Lapd._s5_t200,
    (S5, Input.FRAME_ERROR): Lapd._frame_error,
    (S5, F.SABME): Lapd._reply_ua,
    (S5, F.DISC): Lapd._reply_dm,
    (S5, F.UA): Lapd._s5_ua,
    (S5, F.DM): Lapd._s5_dm,
    (S5, F.I): Lapd._ignore,
    (S5, F.RR): Lapd._ignore,
    (S5, F.RNR): Lapd._ignore,
    (S5, F.REJ): Lapd._ignore,
    (S5, F.UI): Lapd._unit_data,
    (S5, F.FRMR): Lapd._ignore,
    (S5, F.XID): Lapd._ignore,
    # state 6: awaiting release
    (S6, Input.ESTABLISH_REQ): Lapd._s6_establish_req,
    (S6, Input.RELEASE_REQ): Lapd._ignore,
    (S6, Input.DATA_REQ): Lapd._down_data_req,
    (S6, Input.UNIT_DATA_REQ): Lapd._send_ui,
    (S6, Input.T200): Lapd._s6_t200,
    (S6, Input.FRAME_ERROR): Lapd._frame_error,
    (S6, F.SABME): Lapd._reply_dm,
    (S6, F.DISC): Lapd._reply_ua,
    (S6, F.UA): Lapd._s6_ua_dm,
    (S6, F.DM): Lapd._s6_ua_dm,
    (S6, F.I): Lapd._ignore,
    (S6, F.RR): Lapd._ignore,
    (S6, F.RNR): Lapd._ignore,
    (S6, F.REJ): Lapd._ignore,
    (S6, F.UI): Lapd._unit_data,
    (S6, F.FRMR): Lapd._ignore,
    (S6, F.XID): Lapd._ignore,
}
for _s in (S7, S8):
    TABLE.update({
        (_s, Input.ESTABLISH_REQ): Lapd._s78_establish_req,
        (_s, Input.RELEASE_REQ): Lapd._s78_release_req,
        (_s, Input.DATA_REQ): Lapd._s78_data_req,
        (_s, Input.UNIT_DATA_REQ): Lapd._send_ui,
        (_s, Input.FRAME_ERROR): Lapd._frame_error,
        (_s, F.SABME): Lapd._s78_sabme,
        (_s, F.DISC): Lapd._s78_disc,
        (_s, F.UA): Lapd._unsolicited_ua,
        (_s, F.DM): Lapd._s78_dm,
        (_s, F.FRMR): Lapd._s78_frmr,
        (_s, F.I): Lapd._s78_i,
        (_s, F.UI): Lapd._unit_data,
        (_s, F.XID): Lapd._ignore,
    })
    for _t in SUPERVISORY:
        TABLE[(_s, _t)] = Lapd._s78_supervisory
for _s in (S4, S5, S6):
    TABLE[(_s, Input.SET_BUSY)] = Lapd._busy_flag
    TABLE[(_s, Input.CLEAR_BUSY)] = Lapd._clear_busy_flag
for _s in (S7, S8):
    TABLE[(_s, Input.SET_BUSY)] = Lapd._s78_set_busy
    TABLE[(_s, Input.CLEAR_BUSY)] = Lapd._s78_clear_busy
for _s in (S4, S5, S6, S7, S8):
    TABLE.setdefault((_s, Input.RETRY), Lapd._ignore)
    TABLE.setdefault((_s, Input.T203), Lapd._ignore)
    TABLE.setdefault((_s, Input.T200), Lapd._ignore)
TABLE[(S7, Input.T200)] = Lapd._s7_t200
TABLE[(S7, Input.T203)] = Lapd._s7_t203
TABLE[(S8, Input.T200)] = Lapd._s8_t200
