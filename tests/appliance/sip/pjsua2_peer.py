"""pjsua2 (pjproject) as a second, independent SIP peer, in a process of its own.

    python -m tests.appliance.sip.pjsua2_peer call SIP_URI SECONDS
    python -m tests.appliance.sip.pjsua2_peer answer SECONDS

`call` places a call and hangs up after SECONDS of being connected; `answer`
prints "PORT <n>" first, then answers the first INVITE (180, then 200) and waits
for the far end to hang up.  Both end with one JSON line describing what
pjsua2 saw (states, status codes, the INVITE it received, the codec).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import pjsua2 as pj


class Call(pj.Call):  # type: ignore[misc]
    def __init__(self, acc: Any, call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(acc, call_id)
        self.states: list[str] = []
        self.codec = ""
        self.last_status = 0
        self.connected_at: float | None = None

    def onCallState(self, prm: Any) -> None:
        ci = self.getInfo()
        self.states.append(ci.stateText)
        self.last_status = ci.lastStatusCode
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED and self.connected_at is None:
            self.connected_at = time.monotonic()

    def onCallMediaState(self, prm: Any) -> None:
        try:
            si = self.getStreamInfo(0)
            self.codec = si.codecName
        except pj.Error:
            pass


class Account(pj.Account):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.incoming: Call | None = None
        self.invite = ""

    def onIncomingCall(self, prm: Any) -> None:
        call = Call(self, prm.callId)
        self.invite = prm.rdata.wholeMsg
        op = pj.CallOpParam()
        op.statusCode = 180
        call.answer(op)
        self.incoming = call


def _endpoint() -> Any:
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.logConfig.level = 0
    cfg.logConfig.consoleLevel = 0
    cfg.medConfig.clockRate = 8000
    cfg.medConfig.sndClockRate = 8000
    ep.libInit(cfg)
    return ep


def main(mode: str, args: list[str]) -> dict[str, Any]:
    ep = _endpoint()
    tc = pj.TransportConfig()
    tc.port = 0
    tc.boundAddress = "127.0.0.1"
    tid = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
    ep.libStart()
    ep.audDevManager().setNullDev()
    acfg = pj.AccountConfig()
    acfg.idUri = "sip:pjsua2@127.0.0.1"
    acc = Account()
    acc.create(acfg)
    out: dict[str, Any] = {}
    if mode == "call":
        uri, seconds = args[0], float(args[1])
        call = Call(acc)
        call.makeCall(uri, pj.CallOpParam(True))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            ep.libHandleEvents(10)
            if call.connected_at is not None and time.monotonic() - call.connected_at > seconds:
                try:
                    call.hangup(pj.CallOpParam(True))
                except pj.Error as exc:
                    out["hangup_error"] = exc.info()
                break
            if call.states and call.states[-1] == "DISCONNECTED":
                break
        for _ in range(50):
            ep.libHandleEvents(10)
        out.update({"states": call.states, "status": call.last_status, "codec": call.codec})
    else:
        port = ep.transportGetInfo(tid).localName.rsplit(":", 1)[1]
        print(f"PORT {port}", flush=True)
        deadline = time.monotonic() + float(args[0])
        answered = False
        while time.monotonic() < deadline:
            ep.libHandleEvents(10)
            call = acc.incoming
            if call is not None and not answered and call.states:
                op = pj.CallOpParam()
                op.statusCode = 200
                call.answer(op)
                answered = True
            if call is not None and call.states and call.states[-1] == "DISCONNECTED":
                break
        for _ in range(30):
            ep.libHandleEvents(10)
        call = acc.incoming
        out = {"states": call.states if call else [], "status": call.last_status if call else 0,
               "codec": call.codec if call else "", "invite": acc.invite}
    _KEEP.extend([ep, acc, acc.incoming, locals().get("call")])
    return out


_KEEP: list[Any] = []  # freed by os._exit, never by pjsua2's destructors

if __name__ == "__main__":
    # Print, then leave without running pjsua2's destructors: a Call object
    # outliving its call trips an assertion in pjsua_call_set_user_data.
    print(json.dumps(main(sys.argv[1], sys.argv[2:])), flush=True)
    os._exit(0)
