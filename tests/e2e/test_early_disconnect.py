"""DISCONNECT with progress indicator 8 from the PBX (an announcement: "the number you
have dialled...") on a SIP-to-PBX call (Q.931 5.4, RFC 3398 s7.2.4.1 note): the SIP
caller gets 183 with SDP and the audio keeps flowing, until the caller CANCELs (RELEASE to
the PBX) or the early-disconnect timer ends it (RELEASE, and the mapped final status with
the PBX's cause).  libpri's DISCONNECT carries no progress indicator, so the PBX here is
our own Q.931 codec (`CodecPbx`)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from appliance.gateway import bridge
from appliance.isdn.q931 import MessageType
from appliance.isdn.q931.ies import Cause, ChannelId, ProgressIndicator
from appliance.isdn.q931.messages import message
from tests.peers.sipp.runner import Sipp

from .rig import DEFAULT_ROUTES, Rig, wait_for

pytestmark = pytest.mark.peer
SCEN = Path(__file__).parent / "scenarios"
M = MessageType


async def _announce(rig: Rig) -> int:
    """Play the PBX: CALL PROCEEDING on the offered channel, then DISCONNECT cause 17 with
    PI 8 (in-band information: the announcement follows).  Returns the call reference."""
    pbx = rig.pbx
    await wait_for(lambda: "SETUP" in pbx.names(), 10, "SETUP at the PBX")
    setup = pbx.last("SETUP")
    chan = setup.get(ChannelId)
    assert chan is not None and chan.channels
    cr = setup.call_ref
    pbx.send(message(M.CALL_PROCEEDING, cr, True, ChannelId(channels=chan.channels)))
    pbx.send(message(M.DISCONNECT, cr, True, Cause(17, location=1),
                     ProgressIndicator(description=8, location=1)))
    return cr


async def _flowing(rig: Rig) -> tuple[int, int]:
    """tx packets toward SIP now and 0.4 s later: the stream is still running."""
    media = rig.part.media
    assert media is not None
    cid = next(iter(rig.part.calls))
    a = (await media.stats(cid))["counters"]["tx_packets"]
    await asyncio.sleep(0.4)
    b = (await media.stats(cid))["counters"]["tx_packets"]
    return a, b


def _run(tmp: Path, scenario: str, keys: dict[str, str] | None = None,
         routes: str | None = None) -> tuple[Rig, Any]:
    async def body() -> tuple[Rig, Any]:
        async with Rig(tmp, ("127.0.0.1", 9), far="codec", routes=routes) as rig:
            uac = Sipp(tmp / "sipp", str(SCEN / scenario), remote=rig.sip_address,
                       service="3001", timeout_s=20, keys=keys)
            try:
                cr = await _announce(rig)
                await wait_for(lambda: bool(rig.wire.sent("SIP/2.0 183")), 5, "183")
                await asyncio.sleep(0.2)
                state = next(iter(rig.part.calls.values())).bridge.state
                flow = await _flowing(rig)
                await wait_for(lambda: "RELEASE" in rig.pbx.names(), 10, "RELEASE at the PBX")
                rig.pbx.send(message(M.RELEASE_COMPLETE, cr, True))
                res = await asyncio.get_running_loop().run_in_executor(None, uac.wait, 20)
                assert res.ok(), res.errors + res.messages[-3000:]
                await wait_for(rig.idle, 10, "every channel idle: " + rig.describe())
            finally:
                uac.kill()
            return rig, (state, flow)
    return asyncio.run(body())


def test_announcement_kept_until_the_caller_cancels(tmp_path: Path) -> None:
    """183 with SDP goes to sipp, the bridge waits in early-disconnect with the stream
    running (packets still sent 0.4 s apart), sipp's CANCEL (1 s after the 183) makes the
    gateway send RELEASE (not a second DISCONNECT); sipp gets 487; CTI cause 17."""
    rig, (state, (a, b)) = _run(tmp_path, "uac_cancel_early.xml",
                                {"reason": "Subject: caller gave up"})
    assert state == bridge.State.EARLY_DISCONNECT
    assert b > a, (a, b)
    sent = rig.wire.sent("SIP/2.0 183")
    assert sent and "m=audio " in sent[0]
    assert rig.pbx.names() == ["SETUP", "RELEASE"], rig.pbx.names()
    assert rig.cti("call.ended")[0]["cause"] == 17


def test_announcement_ended_by_the_timer_maps_the_cause(tmp_path: Path) -> None:
    """With the early-disconnect timer at 1.5 s (`routes.early_disconnect_s`) and a caller
    that waits: the gateway sends RELEASE to the PBX and 486 with Reason: Q.850;cause=17 to
    sipp (sipp checks), RFC 3398 s8.2.6.1."""
    routes = "[routes]\nearly_disconnect_s = 1.5\n" + DEFAULT_ROUTES
    rig, (state, (a, b)) = _run(tmp_path, "uac_early_final.xml", routes=routes)
    assert state == bridge.State.EARLY_DISCONNECT and b > a
    assert rig.pbx.names() == ["SETUP", "RELEASE"], rig.pbx.names()
    final = [m for m in rig.wire.sent("SIP/2.0 486")]
    assert final and "Reason: Q.850;cause=17" in final[0]
    assert rig.cti("call.ended")[0]["cause"] == 17
