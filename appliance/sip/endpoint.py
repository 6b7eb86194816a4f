"""The gateway's SIP endpoint: trunks, security, health, registration and calls.

What: `SipEndpoint` listens on UDP (sippy's transaction layer, RFC 3261 s17),
refuses INVITEs from anyone but a configured peer or a digest-authenticated
account (403, or a 401 challenge; logged with the source, rate-limited),
answers OPTIONS (RFC 3261 s11), refuses unsupported Require option tags with
420 and Unsupported (s8.2.2.3), session intervals below our Min-SE with 422
(RFC 4028 s8), pings each trunk target with OPTIONS and keeps its up/down
state, registers where a trunk asks for it (RFC 3261 s10.2, digest with
sippy's code), and hands each accepted INVITE to the core as `IncomingCall`.
Outgoing calls go through `place_call`.

How: everything SIP runs in the `SippyThread`; events reach the core through
`loop.call_soon_threadsafe(on_event, event)` (or a plain call when no loop is
given, for tests and tools).  Protocol decisions live in the sans-I/O modules
(`security`, `health`, `register`, `reliable`, `sdp`); this module is glue.

Limits: UDP only (sippy has no TCP/TLS); one local socket; no DNS SRV/NAPTR
(targets are host:port); Record-Route from a peer is honoured by sippy's UA.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from appliance.interwork.facts import CallFacts, Presentation, Screening
from appliance.interwork.sipheaders import (
    HeaderError,
    parse_identity,
    parse_redirection,
    parse_uui,
    party_from_user,
)
from appliance.sip import events as ev
from appliance.sip import sdp as sdpmod
from appliance.sip.handle import SipCallHandle
from appliance.sip.health import TrunkHealth
from appliance.sip.register import RegistrationTimer, RegState
from appliance.sip.reliable import check_require, has_option, uas_negotiate
from appliance.sip.runtime import SippyThread, transaction_manager_class
from appliance.sip.security import Gatekeeper, RateLimitedLog
from appliance.sip.trunks import EndpointSettings, TrunkSpec

log = logging.getLogger("tdmgw.sip")
wire = logging.getLogger("tdmgw.sip.wire")


class _WireLog:
    """sippy's `_sip_logger`: every datagram in and out, at DEBUG on tdmgw.sip.wire."""

    def __init__(self, trace: Callable[[str], None] | None = None) -> None:
        self.trace = trace

    def write(self, *args: Any, ltime: Any = None, call_id: Any = None) -> None:
        text = "".join(str(a) for a in args)
        if self.trace is not None:
            self.trace(text)
        if wire.isEnabledFor(logging.DEBUG):
            wire.debug("%s", text)


class SipEndpoint:
    """The SIP side of the gateway, driven from the core's asyncio loop."""

    def __init__(self, settings: EndpointSettings, loop: asyncio.AbstractEventLoop | None,
                 on_event: Callable[[ev.SipEvent], None], *,
                 trace: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.loop = loop
        self.on_event = on_event
        self.trace = trace
        self.runtime = SippyThread.instance()
        self.gate = Gatekeeper([t.inbound_peer() for t in settings.trunks], realm=settings.realm)
        self.refusals = RateLimitedLog()
        self.bad_log = RateLimitedLog()
        self.calls: dict[str, Any] = {}
        self.health: dict[str, TrunkHealth] = {}
        self.registrations: dict[str, RegistrationTimer] = {}
        self.reg_last: dict[str, Any] = {}
        self.address: tuple[str, int] = (settings.bind, settings.port)
        self.tm: Any = None
        self.global_config: dict[str, Any] = {}
        self.server_hf: Any = None
        self.user_agent_hf: Any = None
        self._tick: Any = None
        self._closed = threading.Event()
        self.counters = {"invites_in": 0, "refused": 0, "bad_input": 0, "calls_out": 0}

    # ------------------------------------------------------------ life cycle

    def start(self) -> tuple[str, int]:
        """Bind and start (blocks until the socket is bound); returns (address, port)."""
        self.address = self.runtime.call_sync(self._setup)
        return self.address

    def _setup(self) -> tuple[str, int]:
        from sippy.SipConf import SipConf
        from sippy.Time.Timeout import Timeout

        SipConf.my_uaname = self.settings.user_agent
        self.server_hf = self.settings.user_agent
        self.user_agent_hf = self.settings.user_agent
        self.global_config = {"_sip_address": self.settings.bind, "_sip_port": self.settings.port,
                              "_sip_logger": _WireLog(self.trace)}
        tm = transaction_manager_class()(self.global_config, self._req_cb)
        tm.bad_input = self._bad_input
        # RFC 3581 rport is always honoured (responses go to the source port); this
        # also sends in-dialog requests to the source when a peer's Contact is private.
        tm.nat_traversal = self.settings.nat_contact
        self.global_config["_sip_tm"] = tm
        self.tm = tm
        server = next(iter(tm.l4r.cache_l2s.values()))
        host, port = server.uopts.laddress
        self.global_config["_sip_port"] = port
        now = time.monotonic()
        for t in self.settings.trunks:
            self.health[t.name] = TrunkHealth.of(t.name, list(t.targets), t.options_interval_s, now)
            if t.register:
                self.registrations[t.name] = RegistrationTimer(expires=t.register_expires_s)
        self._tick = Timeout(self._housekeeping, 0.25, -1)
        self._housekeeping()
        return (str(host), int(port))

    def close(self) -> None:
        """Stop pinging and registering, end the calls' timers, close the socket."""
        if self.tm is None or self._closed.is_set():
            return
        self._closed.set()
        try:
            self.runtime.call_sync(self._teardown)
        except Exception:
            log.exception("SIP endpoint teardown failed")

    def _teardown(self) -> None:
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None
        for call in list(self.calls.values()):
            call.finish()
        self.tm.shutdown()

    def emit(self, event: ev.SipEvent) -> None:
        if self.loop is None:
            self.on_event(event)
        elif not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.on_event, event)

    def forget(self, call: Any) -> None:
        cid = call.call_id
        if self.calls.get(cid) is call:
            del self.calls[cid]

    # ------------------------------------------------------------ outgoing calls

    def place_call(self, trunk: str, request_uri_user: str, facts: CallFacts,
                   sdp_offer: str | sdpmod.LocalMedia,
                   extra_headers: tuple[tuple[str, str], ...] = ()) -> SipCallHandle:
        """INVITE `request_uri_user` on `trunk`'s targets (failover in health order).

        Returns at once (the INVITE goes out from the sippy thread); the outcome
        arrives as Provisional/Answered/Failed events.  A bad SDP offer raises
        SdpError here, an unknown trunk KeyError.
        """
        from sippy.SipCallId import SipCallId

        from appliance.sip.call import _Call  # already imported by the sippy thread

        spec = self.settings.trunk(trunk)
        call = _Call(self, spec, "out")
        text = sdp_offer if isinstance(sdp_offer, str) else sdpmod.offer(sdp_offer)
        if isinstance(sdp_offer, str):
            sdpmod.remote_media(sdp_offer)  # the same checks a peer would make
        else:
            call.local = sdp_offer
        call.call_id = str(SipCallId())
        self.runtime.call(self._place, call, request_uri_user, facts, text, list(extra_headers))
        return call.handle

    def _place(self, call: Any, user: str, facts: CallFacts, text: str,
               extra: list[tuple[str, str]]) -> None:
        self.counters["calls_out"] += 1
        self.calls[call.call_id] = call
        try:
            call.start_outgoing(user, facts, text, extra, self.health[call.trunk.name].order())
        except Exception as exc:
            # Never leave the core waiting: whatever broke, the call failed.
            log.exception("call %s: INVITE not sent", call.call_id)
            if not call.ended:
                call.ended = True
                self.emit(ev.Failed(call.handle, 500, f"INVITE not sent: {exc}", None,
                                    tuple(call.tried)))
                call.finish()

    def call_result(self, trunk: str, target: tuple[str, int], status: int) -> None:
        changed = self.health[trunk].call_result(target[0], target[1], status)
        if changed is not None:
            self.emit(ev.TrunkStatus(trunk, target, changed, f"INVITE {status}"))

    # ------------------------------------------------------------ incoming requests

    def _req_cb(self, req: Any, sip_t: Any) -> Any:
        from appliance.sip.msg import values

        method = req.getMethod()
        to_tag = req.getHFBody("to").getTag()
        call_id = str(req.getHFBody("call-id"))
        server = self.server_hf
        if to_tag is not None:
            call = self.calls.get(call_id)
            if call is not None and call.ua is not None:
                if method in ("PRACK", "UPDATE", "INFO", "OPTIONS"):
                    call.last_req = req
                    return call.in_dialog(req)
                return call.ua.recvRequest(req, sip_t)
            if method == "OPTIONS":
                return self._options_reply(req)
            return (req.genResponse(481, "Call/Transaction Does Not Exist", server=server), None, None)
        if method == "OPTIONS":
            return self._options_reply(req)
        if method == "INVITE":
            return self._new_invite(req, sip_t, values)
        if method == "REGISTER":
            return self._refuse(req, 405, "Method Not Allowed", "REGISTER: not a registrar",
                                allow=True)
        if method in ("BYE", "PRACK", "UPDATE", "INFO", "NOTIFY", "REFER", "MESSAGE", "SUBSCRIBE"):
            return (req.genResponse(481, "Call/Transaction Does Not Exist", server=server), None, None)
        return self._refuse(req, 501, "Not Implemented", f"method {method} not implemented", allow=True)

    def _options_reply(self, req: Any) -> Any:
        from appliance.sip.msg import ALLOW, header

        resp = req.genResponse(200, "OK", server=self.server_hf)
        resp.appendHeader(header("Allow", ALLOW))
        resp.appendHeader(header("Accept", "application/sdp"))
        resp.appendHeader(header("Supported", "100rel, timer"))
        return (resp, None, None)

    def _refuse(self, req: Any, status: int, reason: str, why: str, *, allow: bool = False,
                extra: list[tuple[str, str]] | None = None) -> Any:
        from appliance.sip.msg import ALLOW, header

        resp = req.genResponse(status, reason, server=self.server_hf)
        if allow:
            resp.appendHeader(header("Allow", ALLOW))
        for name, value in extra or []:
            resp.appendHeader(header(name, value))
        return (resp, None, None)

    def _security_refusal(self, req: Any, status: int, reason: str, why: str,
                          extra: list[tuple[str, str]] | None = None) -> Any:
        source = tuple(req.getSource())
        self.counters["refused"] += 1
        ok, dropped = self.refusals.allow(str(source[0]), time.monotonic())
        if ok:
            more = f" ({dropped} more refused since the last line)" if dropped else ""
            log.warning("SIP %s from %s:%s refused with %d: %s (R-URI %s)%s", req.getMethod(),
                        source[0], source[1], status, why, str(req.getRURI())[:80], more)
        self.emit(ev.Refused((str(source[0]), int(source[1])), req.getMethod(), status, why))
        return self._refuse(req, status, reason, why, extra=extra)

    def _new_invite(self, req: Any, sip_t: Any, values: Callable[[Any, str], list[str]]) -> Any:
        from appliance.sip.call import _Call
        from appliance.sip.msg import all_headers, body_text

        self.counters["invites_in"] += 1
        source = tuple(req.getSource())
        auth = values(req, "authorization") or values(req, "proxy-authorization")
        verdict = self.gate.check(str(source[0]), "INVITE", auth[0] if auth else None,
                                  time.monotonic())
        if not verdict.accepted:
            extra = [("WWW-Authenticate", verdict.challenge)] if verdict.challenge else None
            if verdict.status == 401 and auth == [] and verdict.challenge:
                # A challenge is the normal first answer to a digest peer; log at debug only.
                log.debug("INVITE from %s:%s challenged", *source)
                return self._refuse(req, 401, "Unauthorized", verdict.why, extra=extra)
            return self._security_refusal(req, verdict.status, verdict.reason, verdict.why, extra)
        assert verdict.trunk is not None
        spec = self.settings.trunk(verdict.trunk)
        unsupported = check_require(values(req, "require"))
        if unsupported:
            return self._refuse(req, 420, "Bad Extension", "unsupported Require",
                                extra=[("Unsupported", ", ".join(unsupported))])
        supported = values(req, "supported") + values(req, "require")
        se = values(req, "session-expires")
        mse = values(req, "min-se")
        session = None
        if spec.session_expires_s > 0:
            try:
                status, session = uas_negotiate(se[0] if se else None, mse[0] if mse else None,
                                                has_option(supported, "timer"),
                                                spec.session_expires_s, spec.min_se_s)
            except ValueError as exc:
                return self._bad(req, f"Session-Expires: {exc}")
            if status == 422:
                return self._refuse(req, 422, "Session Interval Too Small", "small interval",
                                    extra=[("Min-SE", str(spec.min_se_s))])
        offer = body_text(req)
        remote = None
        if offer is not None:
            try:
                remote = sdpmod.remote_media(offer)
            except sdpmod.SdpError as exc:
                return self._refuse(req, exc.status, "Not Acceptable Here", str(exc))
        try:
            facts = self._facts(req, spec, values)
        except (HeaderError, ValueError) as exc:
            return self._bad(req, str(exc))
        call = _Call(self, spec, "in")
        rval = call.accept_invite(req, sip_t, session)
        self.calls[call.call_id] = call
        user = str(req.getRURI().username or "")
        self.emit(ev.IncomingCall(call.handle, spec.name, user, facts, offer, remote,
                                  (str(source[0]), int(source[1])), all_headers(req)))
        return rval

    def _bad(self, req: Any, why: str) -> Any:
        source = req.getSource()
        self._bad_input(f"{source[0]}:{source[1]}", why)
        return self._refuse(req, 400, "Bad Request", why,
                            extra=[("Warning", f'399 tdmgw "{why[:100]}"'.replace("\r\n", " "))])

    def _bad_input(self, source: str, why: str) -> None:
        self.counters["bad_input"] += 1
        ok, dropped = self.bad_log.allow(source.rsplit(":", 1)[0], time.monotonic())
        if ok:
            more = f" ({dropped} more since the last line)" if dropped else ""
            log.warning("bad SIP input from %s: %s%s", source, why, more)

    def _facts(self, req: Any, spec: TrunkSpec, values: Callable[[Any, str], list[str]]) -> CallFacts:
        """Call facts from the INVITE; a header that does not map is logged and left out
        (the call itself is fine), its raw value kept in `extra` for CTI."""
        policy = spec.policy
        extra: dict[str, str] = {}
        froms = values(req, "from")
        calling = name = None
        try:
            calling, name = parse_identity(froms[0] if froms else "",
                                           values(req, "p-asserted-identity"),
                                           next(iter(values(req, "privacy")), None), policy)
        except (HeaderError, ValueError) as exc:
            log.info("INVITE %s: calling party not mapped: %s", req.getHFBody("call-id"), exc)
            extra["from"] = froms[0] if froms else ""
        user = str(req.getRURI().username or "")
        called = None
        try:
            called = party_from_user(user, policy, presentation=Presentation.ALLOWED,
                                     screening=Screening.NETWORK_PROVIDED) if user else None
        except (HeaderError, ValueError):
            extra["request_user"] = user
        redir = uui = None
        try:
            redir = parse_redirection(values(req, "diversion"), values(req, "history-info"), policy)
        except (HeaderError, ValueError) as exc:
            log.info("INVITE %s: redirection not mapped: %s", req.getHFBody("call-id"), exc)
        try:
            uui = parse_uui(values(req, "user-to-user"), policy)
        except (HeaderError, ValueError) as exc:
            log.info("INVITE %s: User-to-User not mapped: %s", req.getHFBody("call-id"), exc)
        return CallFacts(calling=calling, calling_name=name, called=called, redirection=redir,
                         uui=uui, extra=extra)

    # ------------------------------------------------------------ health and registration

    def _housekeeping(self) -> None:
        now = time.monotonic()
        for trunk in self.settings.trunks:
            for target in self.health[trunk.name].due(now):
                self._ping(trunk, (target.host, target.port))
            reg = self.registrations.get(trunk.name)
            if reg is not None and reg.handle_timer(now):
                self._register(trunk, reg, None, self.reg_last.get(trunk.name))

    def _dialogless(self, method: str, trunk: TrunkSpec, target: tuple[str, int], user: str,
                    expires: int | None = None) -> Any:
        from sippy.SipAddress import SipAddress
        from sippy.SipCallId import SipCallId
        from sippy.SipContact import SipContact
        from sippy.SipExpires import SipExpires
        from sippy.SipFrom import SipFrom
        from sippy.SipRequest import SipRequest
        from sippy.SipTo import SipTo
        from sippy.SipURL import SipURL

        host, port = target
        ruri = SipURL(host=host, port=port)
        aor = SipURL(username=user or None, host=host, port=port)
        fr0m = SipFrom(address=SipAddress(url=aor.getCopy(), hadbrace=True))
        fr0m.genTag()
        to = SipTo(address=SipAddress(url=aor.getCopy(), hadbrace=True))
        contact = SipContact()
        contact.getUrl().username = user or None
        req = SipRequest(method=method, ruri=ruri, fr0m=fr0m, to=to, callid=SipCallId(),
                         cseq=1, contact=contact, target=(target, "udp"), user_agent=self.settings.user_agent,
                         expires=SipExpires(number=expires) if expires is not None else None)
        return req

    def _ping(self, trunk: TrunkSpec, target: tuple[str, int]) -> None:
        """One OPTIONS; no final answer within min(5 s, interval) counts as 408 (not
        Timer F's 32 s), so a dead target is seen within one interval."""
        from sippy.Time.Timeout import Timeout

        req = self._dialogless("OPTIONS", trunk, target, "")
        state: dict[str, Any] = {"done": False}

        def finish(code: int) -> None:
            if state["done"]:
                return
            state["done"] = True
            if state.get("timer") is not None:
                state["timer"].cancel()
            changed = self.health[trunk.name].result(target[0], target[1], code, time.monotonic())
            if changed is not None:
                log.info("trunk %s target %s:%s is %s (OPTIONS %d)", trunk.name, target[0],
                         target[1], "up" if changed else "down", code)
                self.emit(ev.TrunkStatus(trunk.name, target, changed, f"OPTIONS {code}"))

        def done(resp: Any, _t: Any = None) -> None:
            code = resp.getSCode()[0]
            if code >= 200:
                finish(code)

        try:
            self.tm.newTransaction(req, resp_cb=done)
        except Exception:
            log.exception("OPTIONS to %s:%s not sent", *target)
            finish(503)
            return
        wait = min(5.0, trunk.options_interval_s) if trunk.options_interval_s > 0 else 5.0
        state["timer"] = Timeout(lambda: finish(408), wait)

    def _register(self, trunk: TrunkSpec, reg: RegistrationTimer, challenge: Any,
                  prev: Any = None) -> None:
        from sippy.SipHeader import SipHeader

        target = trunk.targets[0]
        req = self._dialogless("REGISTER", trunk, target, trunk.username or "",
                               expires=reg.expires)
        if prev is not None:
            # RFC 3261 s10.2.4: same Call-ID, CSeq up by one, for every REGISTER of a binding.
            req.getHF("call-id").body = prev.getHFBCopy("call-id")
            req.getHFBody("cseq").cseq = prev.getHFBody("cseq").getCSeqNum() + 1
            req.getHFBody("from").setTag(prev.getHFBody("from").getTag())
        if challenge is not None:
            _hf_name, ch = challenge
            _supported, qop = ch.supportedAlgorithm()
            auth = ch.genAuthHF(trunk.username, trunk.password, "REGISTER", str(req.getRURI()),
                                None, qop)
            req.appendHeader(SipHeader(body=auth))
        self.reg_last[trunk.name] = req

        def done(resp: Any, _t: Any = None) -> None:
            code = resp.getSCode()[0]
            if code < 200:
                return
            now = time.monotonic()
            if code in (401, 407) and challenge is None and trunk.password is not None:
                name = "www-authenticate" if code == 401 else "proxy-authenticate"
                chs = resp.getHFBodys(name)
                if chs:
                    self._register(trunk, reg, (name, chs[0]), req)
                    return
            if code == 423 and resp.countHFs("min-expires") and challenge is None:
                # RFC 3261 s10.2.8: ask again with the registrar's minimum.
                try:
                    reg.expires = max(reg.expires, int(str(resp.getHFBody("min-expires")).strip()))
                except ValueError:
                    pass
                else:
                    self._register(trunk, reg, None, req)
                    return
            granted = None
            if 200 <= code < 300:
                for c in resp.getHFBodys("contact"):
                    exp = c.getUri().getParam("expires")
                    if exp and str(exp).isdigit():
                        granted = int(exp)
                        break
                if granted is None and resp.countHFs("expires"):
                    granted = resp.getHFBody("expires").getNum()
            state = reg.on_response(code, granted, now)
            registered = state is RegState.REGISTERED
            log.info("trunk %s registration: %d, %s%s", trunk.name, code, state.value,
                     f", expires {reg.granted} s" if registered else "")
            self.emit(ev.RegistrationStatus(trunk.name, registered, code,
                                            reg.granted if registered else 0))

        self.tm.newTransaction(req, resp_cb=done)
