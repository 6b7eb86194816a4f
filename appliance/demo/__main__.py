"""The embedded default's far ends: `python -m appliance.demo --embedded` (tdmgw run starts it).

It plugs `pbx.SimulatedPbx` (libpri, network side) into the far end of the
embedded virtual span and starts the voice-AI stand-in (`voiceai`, pjsua2) on
the SIP trunk the embedded configuration points at.  Then, on a loop:

- every `PBX_EVERY_S` the PBX calls 2001 (routed to the voice AI) from
  212-555-1234 "Demo Caller", holds the answered call for `HOLD_S` while it
  sends a 1004 Hz tone and listens, logs what it heard (frequency, level)
  and hangs up;
- every 15 s the voice AI calls 3001 through the gateway; the PBX answers,
  and the voice AI hangs up after 6 s.

The gateway's own log says the rest: numbers, routes, levels, echo figures
and latency per call; `/healthz` counts the completed calls.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import subprocess
import sys

from appliance.config.embedded import embedded_runtime_dir, load_embedded
from appliance.core.spans import span_params
from appliance.demo.libpri import PRI_NATIONAL_ISDN
from appliance.demo.pbx import SimulatedPbx
from drivers.span import Side, SpanParams, VirtualParams

log = logging.getLogger("tdmgw.demo")
PBX_EVERY_S = 12.0
HOLD_S = 6.0
VOICE_AI = ("127.0.0.1", 5070)


async def pbx_loop(pbx: SimulatedPbx, stop: asyncio.Event) -> None:
    n = 0
    while not stop.is_set():
        if not pbx.up:
            await asyncio.sleep(0.5)
            continue
        await asyncio.sleep(2.0)  # let the link start's channel restarts finish
        n += 1
        try:
            call = pbx.place_call("2001", caller="2125551234", callername="Demo Caller",
                                  callerplan=PRI_NATIONAL_ISDN)
        except RuntimeError as exc:
            log.warning("PBX: %s", exc)
            await asyncio.sleep(PBX_EVERY_S)
            continue
        log.info("PBX: call %d: 2125551234 \"Demo Caller\" -> 2001 on B-channel %s", n,
                 call.channel)
        for _ in range(int(10 / 0.05)):
            if call.state in ("answered", "gone"):
                break
            await asyncio.sleep(0.05)
        if call.state == "answered":
            await asyncio.sleep(HOLD_S)
            if call.state == "answered" and call.channel is not None:
                freq, level = pbx.measure(call.channel)
                log.info("PBX: call %d answered; heard %.0f Hz at %.1f dBm0 from the voice AI",
                         n, freq, level)
            pbx.hangup(call, 16)
        else:
            log.info("PBX: call %d not answered (%s, cause %s)", n, call.state, call.cause)
            pbx.hangup(call, 16)
        await asyncio.sleep(max(0.0, PBX_EVERY_S - HOLD_S - 2.0))


def far_params(gw: SpanParams) -> SpanParams:
    v = gw.virtual
    assert v is not None
    return SpanParams(name="pbx", number=gw.number, driver="virtual", type=gw.type,
                      side=Side.NETWORK, bchannels=gw.bchannels, dchannel=gw.dchannel,
                      block_samples=gw.block_samples,
                      virtual=VirtualParams(v.dchannel_socket, v.bchannel_remote,
                                            v.bchannel_local, v.frames_per_packet, v.playout_ms))


async def run() -> None:
    cfg = load_embedded(embedded_runtime_dir()).config
    gw = span_params(cfg.spans[0])
    pbx = SimulatedPbx(far_params(gw))
    pbx.policy = "answer"

    def on_event(call: object, ev: object) -> None:
        name = getattr(ev, "name", "")
        if name == "PRI_EVENT_RING":
            log.info("PBX: incoming call %s -> %s on B-channel %s, answered",
                     getattr(ev, "callingnum", "?") or "(none)", getattr(ev, "callednum", "?"),
                     getattr(call, "channel", "?"))

    pbx.on_event = on_event
    sip = f"sip:3001@{cfg.sip.bind}:{cfg.sip.port}"
    ai = subprocess.Popen([sys.executable, "-m", "appliance.demo.voiceai", "--bind",
                           f"{VOICE_AI[0]}:{VOICE_AI[1]}", "--call", sip, "--every", "15"])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await pbx.start()
    log.info("demo: simulated PBX (libpri, network side) on %s; voice AI stand-in on %s:%d",
             gw.virtual.dchannel_socket if gw.virtual else "?", *VOICE_AI)
    task = asyncio.create_task(pbx_loop(pbx, stop))
    await stop.wait()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await pbx.stop()
    ai.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        ai.wait(3)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m appliance.demo")
    ap.add_argument("--embedded", action="store_true", required=True,
                    help="the far ends of the embedded default configuration")
    ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


if __name__ == "__main__":
    main()
