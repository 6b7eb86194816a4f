"""pjsua2 as a SIP/RTP far end, in a process of its own (a pjsua2 abort must not take pytest down).

    python -m tests.appliance.media.pjsua2_peer SIP_URI WAV SECONDS TONE_HZ

places the call, sends TONE_HZ while it lasts, records what it receives into
WAV, and prints one JSON line: {"media_up": bool, "state": ...}.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from typing import Any

import pjsua2 as pj


class Call(pj.Call):  # type: ignore[misc]
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


def main(uri: str, wav: str, seconds: float, hz: int) -> dict[str, Any]:
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
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
    ep.libStart()
    ep.audDevManager().setNullDev()
    for c in ep.codecEnum2():
        ep.codecSetPriority(c.codecId, 255 if c.codecId.startswith("PCMU/") else 0)
    acfg = pj.AccountConfig()
    acfg.idUri = "sip:pjsua2@127.0.0.1"
    acc = pj.Account()
    acc.create(acfg)
    call = Call(acc, wav, hz)
    call.makeCall(uri, pj.CallOpParam(True))
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        ep.libHandleEvents(10)
    out = {"media_up": call.media_up}
    if call.isActive():
        call.hangup(pj.CallOpParam(True))
    for _ in range(30):
        ep.libHandleEvents(10)
    call.keep.clear()
    ep.hangupAllCalls()
    for _ in range(10):
        ep.libHandleEvents(10)
    del call  # a pjsua2 Call outliving the library aborts in its destructor
    gc.collect()
    ep.libDestroy()
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]))), flush=True)
