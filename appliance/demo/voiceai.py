"""The voice-AI stand-in of the embedded default: a pjsua2 SIP endpoint in a process of its own.

    python -m appliance.demo.voiceai --bind 127.0.0.1:5070 [--call sip:3001@127.0.0.1:5060 --every 15]

It answers every INVITE (180, then 200 half a second later), plays a prompt
to the caller (a short chime of three tones written to a WAV file at start:
no speech ships with tdmgw, so the prompt is tonal), and repeats back every
DTMF digit it receives (RFC 4733 in, RFC 4733 out with `dialDtmf`).  With
`--call` it also places a call every `--every` seconds and hangs up after
`--hold` seconds.  Each call ends with one log line (who called, codec,
duration, digits heard).

Limits: the PyPI pjsua2 wheel handles at most 4 calls at once; more are
refused with 486 here.  Media runs on pjsua2's null sound device.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
import wave
from typing import Any

import numpy as np

log = logging.getLogger("tdmgw.demo.voiceai")
MAX_CALLS = 4


def write_prompt(path: str) -> None:
    """A 1.5 s chime (523, 659, 784 Hz, -12 dBm0-ish) as 8 kHz 16-bit mono WAV."""
    t = np.arange(4000) / 8000.0
    parts = [np.sin(2 * np.pi * f * t) * np.minimum(1.0, (0.5 - t) * 8) for f in (523, 659, 784)]
    pcm = (np.concatenate(parts) * 6000).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(pcm.tobytes())


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - a process of its own
    import pjsua2 as pj

    ap = argparse.ArgumentParser(prog="python -m appliance.demo.voiceai")
    ap.add_argument("--bind", default="127.0.0.1:5070")
    ap.add_argument("--call", default=None, help="SIP URI to call on a loop")
    ap.add_argument("--every", type=float, default=15.0)
    ap.add_argument("--hold", type=float, default=6.0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    host, _, port = args.bind.rpartition(":")
    prompt = os.path.join(tempfile.mkdtemp(prefix="tdmgw-voiceai-"), "prompt.wav")
    write_prompt(prompt)

    class Call(pj.Call):  # type: ignore[misc]
        def __init__(self, acc: Any, call_id: int = pj.PJSUA_INVALID_ID) -> None:
            super().__init__(acc, call_id)
            self.player: Any = None
            self.digits = ""
            self.started = time.monotonic()
            self.connected: float | None = None
            self.done = False
            self.peer = ""

        def onCallState(self, prm: Any) -> None:
            ci = self.getInfo()
            self.peer = ci.remoteUri
            if ci.state == pj.PJSIP_INV_STATE_CONFIRMED and self.connected is None:
                self.connected = time.monotonic()
            if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
                self.done = True
                held = time.monotonic() - (self.connected or time.monotonic())
                log.info("voice AI: call with %s ended (%s %d), %.1f s connected, digits %r",
                         ci.remoteUri, ci.lastReason, ci.lastStatusCode, held, self.digits)

        def onCallMediaState(self, prm: Any) -> None:
            ci = self.getInfo()
            for i, mi in enumerate(ci.media):
                if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                    am = self.getAudioMedia(i)
                    if self.player is None:
                        self.player = pj.AudioMediaPlayer()
                        self.player.createPlayer(prompt, 0)
                    self.player.startTransmit(am)

        def onDtmfDigit(self, prm: Any) -> None:
            self.digits += prm.digit
            try:
                self.dialDtmf(prm.digit)  # repeat it back
            except pj.Error as exc:
                log.warning("voice AI: could not repeat %s: %s", prm.digit, exc.info())

    class Account(pj.Account):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[Call] = []
            self.to_answer: list[tuple[Call, float]] = []

        def onIncomingCall(self, prm: Any) -> None:
            call = Call(self, prm.callId)
            op = pj.CallOpParam()
            live = [c for c in self.calls if not c.done]
            if len(live) >= MAX_CALLS:
                op.statusCode = 486
                call.answer(op)
                return
            op.statusCode = 180
            call.answer(op)
            self.calls.append(call)
            self.to_answer.append((call, time.monotonic() + 0.5))

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.uaConfig.maxCalls = MAX_CALLS
    cfg.logConfig.level = 0
    cfg.logConfig.consoleLevel = 0
    cfg.medConfig.clockRate = 8000
    cfg.medConfig.sndClockRate = 8000
    ep.libInit(cfg)
    tc = pj.TransportConfig()
    tc.port = int(port)
    tc.boundAddress = host
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
    ep.libStart()
    ep.audDevManager().setNullDev()
    acfg = pj.AccountConfig()
    acfg.idUri = f"\"Voice AI\" <sip:+15550100@{host}:{port}>"
    acc = Account()
    acc.create(acfg)
    log.info("voice AI stand-in listening on %s:%s (pjsua2, at most %d calls)", host, port,
             MAX_CALLS)
    next_call = time.monotonic() + 5.0
    outgoing: list[Call] = []
    keep: list[Any] = [ep, acc]
    while True:
        ep.libHandleEvents(10)
        now = time.monotonic()
        for call, at in list(acc.to_answer):
            if now >= at:
                acc.to_answer.remove((call, at))
                if not call.done:
                    op = pj.CallOpParam()
                    op.statusCode = 200
                    call.answer(op)
        if args.call and now >= next_call:
            next_call = now + args.every
            if len([c for c in acc.calls + outgoing if not c.done]) < MAX_CALLS:
                c = Call(acc)
                try:
                    c.makeCall(args.call, pj.CallOpParam(True))
                    outgoing.append(c)
                    log.info("voice AI: calling %s", args.call)
                except pj.Error as exc:
                    log.warning("voice AI: call failed: %s", exc.info())
        for c in outgoing:
            if not c.done and c.connected is not None and now - c.connected > args.hold:
                try:
                    c.hangup(pj.CallOpParam(True))
                except pj.Error:
                    c.done = True
        keep.extend(c for c in acc.calls + outgoing if c.done)  # never freed by pjsua2 dtor
        acc.calls = [c for c in acc.calls if not c.done]
        outgoing = [c for c in outgoing if not c.done]


if __name__ == "__main__":  # pragma: no cover
    main()
