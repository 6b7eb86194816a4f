"""pjsua2 (pjproject) as an independent SIP peer, each run in a process of its own
(a pjsua2 abort must not take pytest down).  One module for every test that uses it.

    python -m tests.peers.pjsua2_peer call SIP_URI SECONDS [HEADERS_JSON]
    python -m tests.peers.pjsua2_peer answer SECONDS
    python -m tests.peers.pjsua2_peer media SIP_URI WAV SECONDS TONE_HZ

`call` places a call (with the extra headers of HEADERS_JSON, a list of
[name, value], sent through pjsua2's CallOpParam.txOption.headers) and hangs up
after SECONDS of being connected.  `answer` prints "PORT <n>" first, then answers
the first INVITE (180, then 200) and waits for the far end to hang up; what it
reports of the INVITE is what pjsua2's API gives an application (a voice AI built
on it): `CallInfo.remoteUri` / `remoteContact` as pjsip parsed them, and the whole
message (`SipRxData.wholeMsg`) for the other headers.  Both end with one JSON
line (states, status codes, the codec, the INVITE).  `media` places a call with
PCMU only, sends TONE_HZ while it lasts, records what it receives into WAV, and
prints {"media_up": bool}.

Limits: this pjsua2 build handles at most 4 calls at once; each mode handles one.
"""

from __future__ import annotations

import gc
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
        self.remote_uri = ""
        self.remote_contact = ""

    def onCallState(self, prm: Any) -> None:
        ci = self.getInfo()
        self.states.append(ci.stateText)
        self.last_status = ci.lastStatusCode
        if not self.remote_uri:
            self.remote_uri, self.remote_contact = ci.remoteUri, ci.remoteContact
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED and self.connected_at is None:
            self.connected_at = time.monotonic()

    def onCallMediaState(self, prm: Any) -> None:
        try:
            si = self.getStreamInfo(0)
            self.codec = si.codecName
        except pj.Error:
            pass


class ToneCall(pj.Call):  # type: ignore[misc]
    """Sends a tone and records what it hears, once media is up."""

    def __init__(self, acc: Any, wav: str, hz: int) -> None:
        super().__init__(acc)
        self.wav = wav
        self.hz = hz
        self.keep: list[Any] = []
        self.media_up = False

    def onCallMediaState(self, prm: Any) -> None:
        ci = self.getInfo()
        for i, mi in enumerate(ci.media):
            if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                am = self.getAudioMedia(i)
                tone = pj.ToneGenerator()
                tone.createToneGenerator(8000, 1)
                td = pj.ToneDesc()
                td.freq1, td.freq2, td.on_msec, td.off_msec, td.volume = self.hz, 0, 30000, 0, 0
                tv = pj.ToneDescVector()
                tv.append(td)
                tone.play(tv, True)
                tone.startTransmit(am)
                rec = pj.AudioMediaRecorder()
                rec.createRecorder(self.wav)
                am.startTransmit(rec)
                self.keep += [tone, rec]
                self.media_up = True


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


def _endpoint() -> tuple[Any, int]:
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
    tc = pj.TransportConfig()
    tc.port = 0
    tc.boundAddress = "127.0.0.1"
    tid = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
    ep.libStart()
    ep.audDevManager().setNullDev()
    return ep, tid


def _account() -> Account:
    acfg = pj.AccountConfig()
    acfg.idUri = "sip:pjsua2@127.0.0.1"
    acc = Account()
    acc.create(acfg)
    return acc


def _call_op(headers: list[list[str]]) -> Any:
    op = pj.CallOpParam(True)
    vec = pj.SipHeaderVector()
    for name, value in headers:
        h = pj.SipHeader()
        h.hName, h.hValue = name, value
        vec.append(h)
    op.txOption.headers = vec
    return op


def call(uri: str, seconds: float, headers: list[list[str]] | None = None) -> dict[str, Any]:
    ep, _ = _endpoint()
    acc = _account()
    c = Call(acc)
    c.makeCall(uri, _call_op(headers or []))
    out: dict[str, Any] = {}
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        ep.libHandleEvents(10)
        if c.connected_at is not None and time.monotonic() - c.connected_at > seconds:
            try:
                c.hangup(pj.CallOpParam(True))
            except pj.Error as exc:
                out["hangup_error"] = exc.info()
            break
        if c.states and c.states[-1] == "DISCONNECTED":
            break
    for _ in range(50):
        ep.libHandleEvents(10)
    out.update({"states": c.states, "status": c.last_status, "codec": c.codec})
    _KEEP.extend([ep, acc, c])
    return out


def answer(seconds: float) -> dict[str, Any]:
    ep, tid = _endpoint()
    acc = _account()
    port = ep.transportGetInfo(tid).localName.rsplit(":", 1)[1]
    print(f"PORT {port}", flush=True)
    deadline = time.monotonic() + seconds
    answered = False
    while time.monotonic() < deadline:
        ep.libHandleEvents(10)
        c = acc.incoming
        if c is not None and not answered and c.states:
            op = pj.CallOpParam()
            op.statusCode = 200
            c.answer(op)
            answered = True
        if c is not None and c.states and c.states[-1] == "DISCONNECTED":
            break
    for _ in range(30):
        ep.libHandleEvents(10)
    c = acc.incoming
    _KEEP.extend([ep, acc, c])
    return {"states": c.states if c else [], "status": c.last_status if c else 0,
            "codec": c.codec if c else "", "invite": acc.invite,
            "remote_uri": c.remote_uri if c else "",
            "remote_contact": c.remote_contact if c else ""}


def media(uri: str, wav: str, seconds: float, hz: int) -> dict[str, Any]:
    ep, _ = _endpoint()
    for cod in ep.codecEnum2():
        ep.codecSetPriority(cod.codecId, 255 if cod.codecId.startswith("PCMU/") else 0)
    acfg = pj.AccountConfig()
    acfg.idUri = "sip:pjsua2@127.0.0.1"
    acc = pj.Account()
    acc.create(acfg)
    c = ToneCall(acc, wav, hz)
    c.makeCall(uri, pj.CallOpParam(True))
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        ep.libHandleEvents(10)
    out = {"media_up": c.media_up}
    if c.isActive():
        c.hangup(pj.CallOpParam(True))
    for _ in range(30):
        ep.libHandleEvents(10)
    c.keep.clear()
    ep.hangupAllCalls()
    for _ in range(10):
        ep.libHandleEvents(10)
    del c  # a pjsua2 Call outliving the library aborts in its destructor
    gc.collect()
    ep.libDestroy()
    return out


_KEEP: list[Any] = []  # freed by os._exit, never by pjsua2's destructors


def cli(argv: list[str]) -> None:
    """Run one mode, print its JSON line, and leave (see the module docstring)."""
    mode, args = argv[0], argv[1:]
    if mode == "media":
        print(json.dumps(media(args[0], args[1], float(args[2]), int(args[3]))), flush=True)
        return
    if mode == "call":
        headers = json.loads(args[2]) if len(args) > 2 else []
        result = call(args[0], float(args[1]), headers)
    elif mode == "answer":
        result = answer(float(args[0]))
    else:
        raise SystemExit(f"unknown mode {mode!r}: call, answer or media")
    # Print, then leave without running pjsua2's destructors: a Call object
    # outliving its call trips an assertion in pjsua_call_set_user_data.
    print(json.dumps(result), flush=True)
    os._exit(0)


if __name__ == "__main__":
    cli(sys.argv[1:])
