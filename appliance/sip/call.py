"""One SIP call (dialog) on sippy's UA, and the handle the gateway core drives it with.

What, with the clauses followed:
- outgoing: INVITE to the trunk's targets in health order, failing over on
  408, 503 or no provisional response in `no_provisional_s`; 422 retried once
  with the peer's Min-SE (RFC 4028 s8.1); PRACK for each new reliable 18x
  (RFC 3262 s4); CANCEL with Reason before answer, BYE with Reason after
  (RFC 3326 s2).
- incoming: 18x, reliable when the peer supports 100rel (RSeq, Require,
  retransmitted until PRACK, RFC 3262 s3), 2xx with the session timer's
  Session-Expires and Require: timer (RFC 4028 s9), failures with an RFC 6432
  Reason header.
- both: re-INVITE and UPDATE (RFC 3311) from the peer answered (SDP answer per
  RFC 3264, session timer refreshed); our refresh by UPDATE or re-INVITE at half
  the interval, BYE when the peer's refresh does not come (RFC 4028 s10); DTMF
  in INFO (application/dtmf-relay) reported; hold by re-INVITE with sendonly.

How: every method of `_Call` runs in the sippy thread; `SipCallHandle`'s
public methods hand work to it.  Timers are sippy Timeouts driven by the
sans-I/O timers of `appliance.sip.reliable`.
"""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING, Any, Literal

from sippy.CCEvents import (
    CCEventConnect,
    CCEventDisconnect,
    CCEventFail,
    CCEventInfo,
    CCEventPreConnect,
    CCEventRedirect,
    CCEventRing,
    CCEventTry,
    CCEventUpdate,
)
from sippy.MsgBody import MsgBody
from sippy.SipCallId import SipCallId
from sippy.SipFrom import SipFrom
from sippy.Time.Timeout import Timeout
from sippy.UA import UA

from appliance.interwork.causes import cause_for_status, status_for_cause
from appliance.interwork.facts import CallFacts, CauseFact
from appliance.interwork.sipheaders import (
    HeaderError,
    identity_headers,
    parse_reason,
    reason_header,
    redirection_headers,
    uui_header,
)
from appliance.sip import events as ev
from appliance.sip import sdp as sdpmod
from appliance.sip.call_timers import SessionTimers
from appliance.sip.handle import SipCallHandle
from appliance.sip.health import should_fail_over
from appliance.sip.msg import ALLOW, body_text, contact, header, status_text, values
from appliance.sip.reliable import (
    PrackState,
    ReliableProvisional,
    SessionParams,
    SessionTimer,
    has_option,
    parse_session_expires,
)

if TYPE_CHECKING:
    from appliance.sip.endpoint import SipEndpoint
    from appliance.sip.trunks import TrunkSpec

log = logging.getLogger("tdmgw.sip")


class GwUA(UA):  # type: ignore[misc]
    """sippy's UA with the methods it does not handle routed to the call."""

    call: _Call | None = None

    def recvRequest(self, req: Any, sip_t: Any) -> Any:
        call = self.call
        if call is not None:
            call.last_req = req
            method = req.getMethod()
            if method in ("PRACK", "UPDATE", "INFO", "OPTIONS"):
                return call.in_dialog(req)
            if method == "INVITE" and self.isConnected():
                call.peer_refreshed()
        return super().recvRequest(req, sip_t)

    def recvResponse(self, resp: Any, tr: Any) -> Any:
        call = self.call
        if call is not None and call.ua is self:
            call.on_response(resp)
        return super().recvResponse(resp, tr)

    def sendUasResponse(self, scode: int, reason: str, body: Any = None, contacts: Any = None,
                        extra_headers: Any = None, ack_wait: bool = False) -> None:
        call = self.call
        if call is not None and 200 <= scode < 300:
            extra = list(extra_headers or ()) + call.session_headers()
            extra_headers = tuple(extra) if extra else None
        super().sendUasResponse(scode, reason, body, contacts, extra_headers, ack_wait)


class _TryEvent(CCEventTry):  # type: ignore[misc]
    """CCEventTry that writes our mapped From (identity) before the INVITE goes out."""

    from_value: str | None = None

    def onUacSetupComplete(self, uac: Any) -> None:
        if self.from_value:
            lfrom = SipFrom(self.from_value)
            lfrom.parse()
            lfrom.setTag(uac.lTag)
            uac.lUri = lfrom


class _Call(SessionTimers):
    """A call's state, owned by the sippy thread."""

    def __init__(self, endpoint: SipEndpoint, trunk: TrunkSpec,
                 direction: Literal["in", "out"]) -> None:
        self.endpoint = endpoint
        self.trunk = trunk
        self.direction: Literal["in", "out"] = direction
        self.handle = SipCallHandle(self)
        self.ua: GwUA | None = None
        self.call_id = ""
        self.local: sdpmod.LocalMedia | None = None
        self.local_sdp: str | None = None
        self.remote_sdp: str | None = None
        self.answered = False
        self.ended = False
        self.last_req: Any = None
        self.last_resp: Any = None
        self.peer_100rel = False
        self.peer_timer = False
        self.peer_allow: set[str] = set()
        self.rel = ReliableProvisional()
        self.rel_data: Any = None
        self.rel_timer: Any = None
        self.sip_t: Any = None
        self.invite_cseq = 0
        self.prack = PrackState()
        self.session: SessionParams | None = None
        self.st: SessionTimer | None = None
        self.st_timer: Any = None
        self.version = 1
        # outgoing
        self.targets: list[tuple[str, int]] = []
        self.tried: list[tuple[str, int]] = []
        self.target: tuple[str, int] | None = None
        self.request_user = ""
        self.facts = CallFacts()
        self.extra: list[tuple[str, str]] = []
        self.se_interval = trunk.session_expires_s
        self.got_response = False
        self.noprov_timer: Any = None
        self.retried_422 = False

    # ------------------------------------------------------------ helpers

    def emit(self, event: Any) -> None:
        self.endpoint.emit(event)

    def _cancel(self, attr: str) -> None:
        t = getattr(self, attr)
        if t is not None:
            t.cancel()
            setattr(self, attr, None)

    def _reason(self, cause: CauseFact | None) -> list[Any]:
        if cause is None or not self.trunk.policy.send_reason:
            return []
        return [header("Reason", reason_header(cause))]

    def _sdp_for(self, sdp: str | sdpmod.LocalMedia | None, *, answer: bool) -> str | None:
        if sdp is None or isinstance(sdp, str):
            return sdp
        self.local = sdp
        if answer and self.remote_sdp is not None:
            text, _ = sdpmod.answer(self.remote_sdp, sdp)
            return text
        return sdpmod.offer(sdp)

    def finish(self) -> None:
        for attr in ("rel_timer", "st_timer", "noprov_timer"):
            self._cancel(attr)
        self.rel.finish()
        self.endpoint.forget(self)

    # ------------------------------------------------------------ incoming

    def accept_invite(self, req: Any, sip_t: Any, session: SessionParams | None) -> Any:
        """Run the new INVITE through a fresh UA; returns what sippy's req_cb expects."""
        self.call_id = str(req.getHFBody("call-id"))
        self.invite_cseq = req.getHFBody("cseq").getCSeqNum()
        supported = values(req, "supported") + values(req, "require")
        self.peer_100rel = has_option(supported, "100rel") and self.trunk.rel100 != "off"
        self.peer_timer = has_option(supported, "timer")
        self.peer_allow = {a.strip().upper() for v in values(req, "allow") for a in v.split(",")}
        self.session = session
        self.remote_sdp = body_text(req)
        self.sip_t = sip_t
        ua = GwUA(self.endpoint.global_config, event_cb=self.on_ua_event)
        ua.call = self
        ua.local_ua = self.endpoint.server_hf
        ua.lContact = contact(str(req.getRURI().username or ""))
        self.ua = ua
        return ua.recvRequest(req, sip_t)

    def send_provisional(self, status: int, sdp: str | sdpmod.LocalMedia | None,
                         reliable: bool | None) -> None:
        if self.ua is None or self.answered or self.ended:
            return
        text = self._sdp_for(sdp, answer=True)
        if text is not None:
            self.local_sdp = text
        reliable = self.peer_100rel if reliable is None else (reliable and self.peer_100rel)
        if reliable and self.rel.busy:
            reliable = False  # RFC 3262 s3: one unacknowledged reliable 18x at a time
        reason = {180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
                  183: "Session Progress"}.get(status, "Session Progress")
        body = MsgBody(text, mtype="application/sdp") if text else None
        event = CCEventRing((status, reason, body))
        if reliable:
            rseq = self.rel.send(time.monotonic())
            event.extra_headers = (header("Require", "100rel"), header("RSeq", str(rseq)))
        self.ua.recvEvent(event)
        if reliable:
            self.rel_data = (self.sip_t.userv, self.sip_t.data, self.sip_t.address)
            self._arm_rel()

    def _arm_rel(self) -> None:
        self._cancel("rel_timer")
        at = self.rel.get_timer()
        if at is not None:
            self.rel_timer = Timeout(self._rel_fire, max(0.0, at - time.monotonic()))

    def _rel_fire(self) -> None:
        self.rel_timer = None
        action = self.rel.handle_timer(time.monotonic())
        if action == "retransmit" and self.rel_data is not None and not self.answered:
            userv, data, address = self.rel_data
            self.endpoint.tm.transmitData(userv, data, address)
        elif action == "give_up" and not self.answered and not self.ended:
            log.warning("call %s: no PRACK for the reliable provisional, refusing with 504",
                        self.call_id)
            self.send_reject(504, CauseFact(102))
            return
        self._arm_rel()

    def send_answer(self, sdp: str | sdpmod.LocalMedia) -> None:
        if self.ua is None or self.answered or self.ended:
            return
        if isinstance(sdp, sdpmod.LocalMedia) and self.local is not None and \
                self.local_sdp is not None and \
                (sdp.address, sdp.port) == (self.local.address, self.local.port):
            # The session was answered in a 18x, PRACK or UPDATE already: the 2xx repeats
            # that last answer (RFC 3261 s13.2.1, RFC 3264 s8: no new version, no change).
            text: str | None = self.local_sdp
        else:
            text = self._sdp_for(sdp, answer=True)
        self.local_sdp = text
        self.rel.finish()
        self._cancel("rel_timer")
        self.answered = True
        body = MsgBody(text, mtype="application/sdp") if text else None
        self.ua.recvEvent(CCEventConnect((200, "OK", body)))
        self._start_session_timer(we_refresh=self.session is not None
                                  and self.session.refresher == "uas")

    def send_reject(self, status: int | None, cause: CauseFact | None) -> None:
        if self.ua is None or self.answered or self.ended:
            return
        if status is None:
            status = status_for_cause(cause.value) if cause is not None else 480
        self.ended = True
        self.emit(ev.Hangup(self.handle, cause, "local", f"{status} {status_text(status)}"))
        event = CCEventFail((status, status_text(status)))
        eh = self._reason(cause)
        if eh:
            event.extra_headers = tuple(eh)
        self.ua.recvEvent(event)
        self.finish()

    def session_headers(self) -> list[Any]:
        if self.session is None:
            return []
        out = [header("Session-Expires", f"{self.session.interval};refresher={self.session.refresher}")]
        if self.peer_timer:
            out.append(header("Require", "timer"))
        return out

    # ------------------------------------------------------------ in dialog

    def in_dialog(self, req: Any) -> Any:
        """PRACK, UPDATE, INFO and OPTIONS inside the dialog (early or confirmed)."""
        method = req.getMethod()
        server = self.endpoint.server_hf
        if method == "PRACK":
            racks = values(req, "rack")
            if racks and self.rel.prack(racks[0], self.invite_cseq):
                self._cancel("rel_timer")
                offer = body_text(req)
                if offer is None:
                    return (req.genResponse(200, "OK", server=server), None, None)
                # RFC 3262 s5: a PRACK may carry a new offer (ours was answered already):
                # answered in its 200 like an UPDATE's, or refused without touching media
                return self._offer_in_200(req, offer)
            return (req.genResponse(481, "Call/Transaction Does Not Exist", server=server), None, None)
        if method == "OPTIONS":
            resp = req.genResponse(200, "OK", server=server)
            resp.appendHeader(header("Allow", ALLOW))
            return (resp, None, None)
        if method == "INFO":
            self._info(req)
            return (req.genResponse(200, "OK", server=server), None, None)
        # UPDATE (RFC 3311): a session refresh, possibly with a new offer.
        body: Any = None
        offer = body_text(req)
        if offer is not None:
            refused = self._refuse_offer(req)
            if refused is not None:
                return refused
            assert self.local is not None
            try:
                answer_text, remote = sdpmod.answer(offer, self._next_local())
            except sdpmod.SdpError as exc:
                return (req.genResponse(exc.status, "Not Acceptable Here", server=server), None, None)
            self.remote_sdp = offer
            self.local_sdp = answer_text
            body = MsgBody(answer_text, mtype="application/sdp")
            self.emit(ev.MediaChanged(self.handle, remote, offer))
        se = values(req, "session-expires")
        if se and self.st is not None:
            try:
                params = parse_session_expires(se[0])
            except ValueError:
                return (req.genResponse(400, "Bad Session-Expires", server=server), None, None)
            if params.interval < self.trunk.min_se_s:
                resp = req.genResponse(422, "Session Interval Too Small", server=server)
                resp.appendHeader(header("Min-SE", str(self.trunk.min_se_s)))
                return (resp, None, None)
            self.session = params
            self.st.params = params
            self.st.we_refresh = (params.refresher == "uas") == (self.direction == "in")
        self.peer_refreshed()
        resp = req.genResponse(200, "OK", body=body, server=server)
        for h in self.session_headers():
            resp.appendHeader(h)
        return (resp, None, None)

    def _refuse_offer(self, req: Any) -> Any:
        """None when an offer in this PRACK/UPDATE can be answered now, else the response.

        RFC 3311 s5.2: an offer while our own is unanswered is glare (491); we cannot
        answer before our media exists (no SDP sent yet: the media plane has not given a
        port), so 500 with Retry-After, as for an offer that comes too early."""
        server = self.endpoint.server_hf
        if self.direction == "out" and self.remote_sdp is None:
            return (req.genResponse(491, "Request Pending", server=server), None, None)
        if self.local is None:
            resp = req.genResponse(500, "Server Internal Error", server=server)
            resp.appendHeader(header("Retry-After", "1"))
            resp.appendHeader(header("Warning", '399 tdmgw "no local media yet to answer with"'))
            return (resp, None, None)
        return None

    def _offer_in_200(self, req: Any, offer: str) -> Any:
        """Answer an offer in a PRACK in its 200 (RFC 3262 s5, RFC 3264)."""
        server = self.endpoint.server_hf
        refused = self._refuse_offer(req)
        if refused is not None:
            return refused
        try:
            answer_text, remote = sdpmod.answer(offer, self._next_local())
        except sdpmod.SdpError as exc:
            return (req.genResponse(exc.status, "Not Acceptable Here", server=server), None, None)
        self.remote_sdp = offer
        self.local_sdp = answer_text
        self.emit(ev.MediaChanged(self.handle, remote, offer))
        return (req.genResponse(200, "OK", body=MsgBody(answer_text, mtype="application/sdp"),
                                server=server), None, None)

    def _info(self, req: Any) -> None:
        text = body_text(req) or ""
        ctype = str(values(req, "content-type")[0]) if values(req, "content-type") else ""
        digit = None
        duration = 100
        m = re.search(r"Signal\s*=\s*([0-9A-Da-d*#])", text)
        if m:
            digit = m.group(1).upper()
            d = re.search(r"Duration\s*=\s*(\d+)", text)
            duration = int(d.group(1)) if d else duration
        elif "dtmf" in ctype.lower() and text.strip()[:1] in "0123456789*#ABCDabcd":
            digit = text.strip()[0].upper()
        if digit:
            self.emit(ev.DtmfInfo(self.handle, digit, duration))

    # ------------------------------------------------------------ outgoing

    def start_outgoing(self, request_user: str, facts: CallFacts, local_sdp: str,
                       extra: list[tuple[str, str]], targets: list[tuple[str, int]]) -> None:
        self.request_user = request_user
        self.facts = facts
        self.local_sdp = local_sdp
        self.extra = extra
        self.targets = targets
        self.call_id = self.call_id or str(SipCallId())
        if not self._next_target():
            self._fail_over_or_fail(503, "No target on the trunk")

    def _next_target(self) -> bool:
        remaining = [t for t in self.targets if t not in self.tried]
        if not remaining:
            return False
        self._attempt(remaining[0])
        return True

    def _attempt(self, target: tuple[str, int]) -> None:
        self.tried.append(target)
        self.target = target
        self.got_response = False
        policy = self.trunk.policy
        ua = GwUA(self.endpoint.global_config, event_cb=self.on_ua_event, nh_address=target,
                  username=self.trunk.username, password=self.trunk.password)
        ua.call = self
        ua.local_ua = self.endpoint.user_agent_hf
        ua.lContact = contact("tdmgw")
        self.ua = ua
        heads: list[tuple[str, str]] = []
        from_value: str | None = None
        try:
            for name, value in identity_headers(self.facts.calling, self.facts.calling_name, policy):
                if name == "From":
                    from_value = value
                else:
                    heads.append((name, value))
            heads += redirection_headers(self.facts.redirection, self.facts.called, policy)
            if self.facts.uui is not None and policy.send_uui:
                heads.append(("User-to-User", uui_header(self.facts.uui)))
        except (HeaderError, ValueError) as exc:
            log.warning("call %s: facts not mapped to headers: %s", self.call_id, exc)
        supported = ["100rel"] if self.trunk.rel100 != "off" else []
        if self.trunk.session_expires_s > 0:
            supported.append("timer")
            heads.append(("Session-Expires", str(self.se_interval)))
            heads.append(("Min-SE", str(self.trunk.min_se_s)))
        if supported:
            heads.append(("Supported", ", ".join(supported)))
        if self.trunk.rel100 == "required":
            heads.append(("Require", "100rel"))
        heads.append(("Allow", ALLOW))
        heads += self.extra
        body = MsgBody(self.local_sdp, mtype="application/sdp") if self.local_sdp else None
        event = _TryEvent((SipCallId(self.call_id), "tdmgw", self.request_user, body, None, None))
        event.from_value = from_value
        event.extra_headers = tuple(header(n, v) for n, v in heads)
        if self.trunk.no_provisional_s > 0:
            self.noprov_timer = Timeout(self._no_provisional, self.trunk.no_provisional_s)
        ua.recvEvent(event)

    def _no_provisional(self) -> None:
        self.noprov_timer = None
        if self.got_response or self.answered or self.ended or self.ua is None:
            return
        target = self.target
        log.warning("call %s: no provisional response from %s:%s in %.1f s, failing over",
                    self.call_id, *(target or ("?", 0)), self.trunk.no_provisional_s)
        old = self.ua
        self.ua = None
        old.call = None
        old.recvEvent(CCEventDisconnect())  # sippy CANCELs if a 1xx comes late
        if target is not None:
            self.endpoint.call_result(self.trunk.name, target, 408)
        self._fail_over_or_fail(408, "No provisional response")

    def _fail_over_or_fail(self, status: int, reason: str, cause: CauseFact | None = None) -> None:
        if not self.ended and self._next_target():
            return
        self.ended = True
        self.emit(ev.Failed(self.handle, status, reason,
                            cause or CauseFact(cause_for_status(status) if status >= 300 else 41),
                            tuple(self.tried)))
        self.finish()

    def on_response(self, resp: Any) -> None:
        """Every response to our INVITE, before sippy's UA state machine sees it."""
        self.last_resp = resp
        cseq, method = resp.getHFBody("cseq").getCSeq()
        if method != "INVITE":
            return
        code = resp.getSCode()[0]
        self.got_response = True
        self._cancel("noprov_timer")
        if 100 < code < 200 and has_option(values(resp, "require"), "100rel"):
            rseq = values(resp, "rseq")
            tag = resp.getHFBody("to").getTag()
            if rseq and rseq[0].strip().isdigit() and tag is not None \
                    and self.prack.needs_prack(tag, int(rseq[0])):
                self._send_prack(resp, int(rseq[0]), cseq)
        if 200 <= code < 300:
            self.peer_allow = {a.strip().upper() for v in values(resp, "allow") for a in v.split(",")}

    def _send_prack(self, resp: Any, rseq: int, cseq: int) -> None:
        assert self.ua is not None
        req = self.ua.genRequest("PRACK", extra_headers=[header("RAck", f"{rseq} {cseq} INVITE")])
        req.getHFBody("to").setTag(resp.getHFBody("to").getTag())
        if resp.countHFs("contact") > 0:
            req.setRURI(resp.getHFBody("contact").getUrl().getCopy())
        self.ua.newTransaction(req)

    # ------------------------------------------------------------ sippy UA events

    def on_ua_event(self, event: Any, ua: Any) -> None:
        if ua is not self.ua:
            return
        try:
            self._ua_event(event)
        except Exception:
            log.exception("call %s: handling %s failed", self.call_id, event)

    def _ua_event(self, event: Any) -> None:
        if isinstance(event, CCEventTry):
            return
        if isinstance(event, CCEventRing):
            code, reason, body = ((*tuple(event.getData()), None, None, None))[:3]
            if self.direction == "out" and code is not None and code > 100:
                text = body_text(body) if body is not None else None
                remote = self._remote(text)
                reliable = self.last_resp is not None and has_option(
                    values(self.last_resp, "require"), "100rel")
                self.emit(ev.Provisional(self.handle, code, reason, remote, text, reliable))
            return
        if isinstance(event, (CCEventConnect, CCEventPreConnect)):
            data = event.getData()
            code, body = data[0], (data[2] if len(data) > 2 else None)
            if self.direction == "in":
                return  # the ACK of our 200
            text = body_text(body) if body is not None else None
            remote = self._remote(text)
            if not self.answered:
                self.answered = True
                if text is not None:
                    self.remote_sdp = text
                if self.target is not None:
                    self.endpoint.call_result(self.trunk.name, self.target, 200)
                self._outgoing_session(self.last_resp)
                self.emit(ev.Answered(self.handle, remote, text, self.target))
            elif text is not None and remote is not None and code == 200:
                self.remote_sdp = text
                self.emit(ev.MediaChanged(self.handle, remote, text))
            return
        if isinstance(event, CCEventUpdate):
            self._peer_reinvite(event)
            return
        if isinstance(event, CCEventInfo):
            return  # INFO is handled in in_dialog before sippy sees it
        if isinstance(event, (CCEventFail, CCEventRedirect)):
            self._ua_failed(event)
            return
        if isinstance(event, CCEventDisconnect):
            if self.ended:
                return
            self.ended = True
            cause = None
            # A CANCEL never reaches recvRequest (the transaction layer takes it), so
            # sippy hands its Reason on the event; a BYE's is on the last request.
            reasons = [str(r) for r in [getattr(event, "reason_rfc3326", None)] if r]
            if not reasons and self.last_req is not None:
                reasons = values(self.last_req, "reason")
            try:
                cause = parse_reason(reasons)
            except HeaderError:
                cause = None
            why = "CANCEL" if not self.answered else "BYE"
            # RFC 3326: the Reason's cause; without one a caller's CANCEL or BYE is a
            # normal clearing (cause 16) toward the PBX.
            self.emit(ev.Hangup(self.handle, cause or CauseFact(16), "remote", why))
            self.finish()

    def _ua_failed(self, event: Any) -> None:
        data = event.getData()
        code, reason = int(data[0]), str(data[1])
        if self.direction == "in":
            if not self.ended:
                self.ended = True
                self.emit(ev.Hangup(self.handle, CauseFact(cause_for_status(max(code, 300))),
                                    "remote", f"{code} {reason}"))
                self.finish()
            return
        if self.ended:
            return
        cause = None
        if self.last_resp is not None and self.last_resp.getSCode()[0] == code:
            try:
                cause = parse_reason(values(self.last_resp, "reason"))
            except HeaderError:
                cause = None
        if self.target is not None:
            self.endpoint.call_result(self.trunk.name, self.target, code)
        if code == 422 and not self.retried_422 and self.last_resp is not None:
            mins = values(self.last_resp, "min-se")
            if mins and mins[0].split(";")[0].strip().isdigit():
                self.retried_422 = True
                self.se_interval = int(mins[0].split(";")[0])
                assert self.target is not None
                self.tried.remove(self.target)
                self._attempt(self.target)
                return
        if should_fail_over(code):
            self._fail_over_or_fail(code, reason, cause)
            return
        self.ended = True
        self.emit(ev.Failed(self.handle, code, reason, cause or CauseFact(cause_for_status(
            code if code >= 300 else 500)), tuple(self.tried)))
        self.finish()

    def _outgoing_session(self, resp: Any) -> None:
        if resp is None:
            return
        se = values(resp, "session-expires")
        if not se:
            return
        try:
            self.session = parse_session_expires(se[0])
        except ValueError:
            return
        self.peer_timer = True
        self._start_session_timer(we_refresh=self.session.refresher == "uac")

    def _peer_reinvite(self, event: Any) -> None:
        """A re-INVITE from the peer: answer it from our media, report the new remote media."""
        assert self.ua is not None
        body = event.getData()
        offer = body_text(body) if body is not None else None
        self.peer_refreshed()
        if offer is None or self.local is None:
            self.ua.recvEvent(CCEventConnect((200, "OK", MsgBody(self.local_sdp, mtype="application/sdp")
                                              if self.local_sdp else None)))
            return
        try:
            answer_text, remote = sdpmod.answer(offer, self._next_local())
        except sdpmod.SdpError as exc:
            self.ua.recvEvent(CCEventFail((exc.status, "Not Acceptable Here")))
            return
        self.remote_sdp = offer
        self.local_sdp = answer_text
        self.ua.recvEvent(CCEventConnect((200, "OK", MsgBody(answer_text, mtype="application/sdp"))))
        self.emit(ev.MediaChanged(self.handle, remote, offer))

    def _next_local(self) -> sdpmod.LocalMedia:
        assert self.local is not None
        self.version += 1
        from dataclasses import replace
        self.local = replace(self.local, version=self.version)
        return self.local

    def send_reinvite(self, local: sdpmod.LocalMedia | None, direction: sdpmod.Direction) -> None:
        if self.ua is None or not self.ua.isConnected() or self.ended:
            return
        if local is not None:
            self.local = local
        if self.local is None:
            log.warning("call %s: re-INVITE needs our media address", self.call_id)
            return
        text = sdpmod.offer(self._next_local(), direction)
        self.local_sdp = text
        self.ua.recvEvent(CCEventUpdate(MsgBody(text, mtype="application/sdp")))

    def _remote(self, text: str | None) -> sdpmod.RemoteMedia | None:
        if text is None:
            return None
        try:
            return sdpmod.remote_media(text)
        except sdpmod.SdpError as exc:
            log.warning("call %s: unusable SDP from the peer: %s", self.call_id, exc)
            return None

    # ------------------------------------------------------------ ending

    def _bye(self, cause: CauseFact | None, why: str = "BYE") -> None:
        if self.ended:
            return
        self.ended = True
        self.emit(ev.Hangup(self.handle, cause, "local", why if self.answered else "CANCEL"))
        if self.ua is not None:
            event = CCEventDisconnect()
            eh = self._reason(cause)
            if eh:
                event.extra_headers = tuple(eh)
            self.ua.recvEvent(event)
        self.finish()

    def local_hangup(self, cause: CauseFact | None) -> None:
        if self.ended or self.ua is None:
            return
        if self.direction == "in" and not self.answered:
            self.send_reject(None, cause)
            return
        self._bye(cause)
