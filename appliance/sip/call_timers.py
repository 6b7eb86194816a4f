"""RFC 4028 session timers of one SIP call: starting the call's timer, refreshing by
UPDATE or re-INVITE at half the interval (s10; UPDATE when the peer allows it and the
trunk says so, re-INVITE otherwise or after a 405/501), 422 answered with the peer's
Min-SE, and BYE when the refresh fails (408, 481: the dialog is gone, RFC 5057) or the
peer's refresh does not come.  A mixin of `appliance.sip.call._Call`: it runs in the
sippy thread, with sippy Timeouts driven by the sans-I/O `SessionTimer`."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any, Literal

from sippy.MsgBody import MsgBody
from sippy.Time.Timeout import Timeout

from appliance.interwork.facts import CauseFact
from appliance.sip.msg import header, values
from appliance.sip.reliable import SessionParams, SessionTimer, parse_session_expires

if TYPE_CHECKING:
    from appliance.sip.trunks import TrunkSpec

log = logging.getLogger("tdmgw.sip")


class SessionTimers:
    """The session-timer half of a call; `_Call` holds the state named below."""

    if TYPE_CHECKING:
        session: SessionParams | None
        st: SessionTimer | None
        st_timer: Any
        ua: Any
        ended: bool
        direction: Literal["in", "out"]
        trunk: TrunkSpec
        peer_allow: set[str]
        local_sdp: str | None
        call_id: str

        def _cancel(self, attr: str) -> None: ...

        def _bye(self, cause: CauseFact | None, why: str = "BYE") -> None: ...

    def peer_refreshed(self) -> None:
        if self.st is not None:
            self.st.refreshed(time.monotonic())
            self._arm_st()

    def _start_session_timer(self, we_refresh: bool) -> None:
        if self.session is None:
            return
        self.st = SessionTimer(self.session, we_refresh, time.monotonic())
        self._arm_st()

    def _arm_st(self) -> None:
        self._cancel("st_timer")
        if self.st is not None and not self.ended:
            self.st_timer = Timeout(self._st_fire, max(0.0, self.st.get_timer() - time.monotonic()))

    def _st_fire(self) -> None:
        self.st_timer = None
        if self.st is None or self.ended or self.ua is None:
            return
        action = self.st.handle_timer(time.monotonic())
        if action == "refresh":
            self.refresh_session()
        elif action == "expire":
            log.info("call %s: session timer expired (RFC 4028 s10), sending BYE", self.call_id)
            self._bye(CauseFact(102), "session timer expired")
            return
        self._arm_st()

    def refresh_session(self) -> None:
        """RFC 4028 s10: UPDATE when the peer allows it (and we are set so), else re-INVITE."""
        assert self.ua is not None and self.session is not None
        role = "uac" if self.direction == "out" else "uas"
        eh = [header("Session-Expires", f"{self.session.interval};refresher={role}"),
              header("Supported", "timer")]
        use_update = self.trunk.session_refresh == "update" and (
            not self.peer_allow or "UPDATE" in self.peer_allow)
        if use_update:
            req = self.ua.genRequest("UPDATE", extra_headers=eh)
        else:
            body = MsgBody(self.local_sdp, mtype="application/sdp") if self.local_sdp else None
            req = self.ua.genRequest("INVITE", body, extra_headers=eh)
            self.ua.reqs.pop(req.getHFBody("cseq").getCSeqNum(), None)
        self.ua.newTransaction(req, resp_cb=self._refresh_resp)

    def _refresh_resp(self, resp: Any) -> None:
        code = resp.getSCode()[0]
        if code < 200 or self.ended:
            return
        if code < 300:
            se = values(resp, "session-expires")
            if se and self.st is not None:
                with contextlib.suppress(ValueError):
                    self.st.params = parse_session_expires(se[0])
            if self.st is not None:
                self.st.refreshed(time.monotonic())
                self._arm_st()
            return
        if code == 422 and self.session is not None:
            mins = values(resp, "min-se")
            if mins and mins[0].split(";")[0].strip().isdigit():
                self.session = SessionParams(int(mins[0].split(";")[0]), self.session.refresher)
                if self.st is not None:
                    self.st.params = self.session
                self.refresh_session()
                return
        if code in (405, 501) and self.trunk.session_refresh == "update":
            self.peer_allow.discard("UPDATE")
            self.peer_allow.add("INVITE")
            self.refresh_session()
            return
        if code in (408, 481):
            # RFC 4028 s10 / RFC 5057: the dialog is gone.
            self._bye(CauseFact(102 if code == 408 else 41), f"session refresh got {code}")
