"""CANCEL through the whole gateway, both ways (issue 10 Tests; RFC 3261 s9, RFC 3326,
RFC 3398 s7.2.3 / s8.2.2, Q.931 5.3): what libpri saw on the D-channel, what sipp saw,
the CTI events, and every B-channel idle at the end."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.peers.sipp.runner import Sipp

from .rig import Rig, wait_for

pytestmark = pytest.mark.peer
SCEN = Path(__file__).parent / "scenarios"


async def _sip_cancels(tmp: Path, reason: str) -> tuple[Rig, int | None]:
    async with Rig(tmp, ("127.0.0.1", 9)) as rig:
        rig.pbx.policy = "alert"  # CALL PROCEEDING, ALERTING with PI 8 (ringback in band)
        calls: list[object] = []
        rig.pbx.on_event = lambda c, e: calls.append(c) if e.name == "PRI_EVENT_RING" else None
        uac = Sipp(tmp / "sipp", str(SCEN / "uac_cancel_early.xml"), remote=rig.sip_address,
                   service="3001", timeout_s=20, keys={"reason": reason})
        try:
            res = await asyncio.get_running_loop().run_in_executor(None, uac.wait, 20)
            assert res.ok(), res.errors + res.messages[-3000:]
            await wait_for(rig.idle, 10, "every channel idle: " + rig.describe())
        finally:
            uac.kill()
        assert calls, "no SETUP reached the PBX"
        return rig, calls[0].cause  # type: ignore[attr-defined]


@pytest.mark.parametrize(("reason", "cause"), [
    ('Reason: Q.850;cause=21;text="Call rejected"', 21),
    ("Subject: no Reason header", 16),
])
def test_sip_cancel_while_the_pbx_rings(tmp_path: Path, reason: str, cause: int) -> None:
    """sipp CANCELs while the PBX alerts: sipp gets 200 (CANCEL) and 487 (INVITE); the
    PBX gets DISCONNECT with the Reason's cause (or 16, RFC 3398), then RELEASE /
    RELEASE COMPLETE; CTI call.ended carries the same cause."""
    rig, pbx_cause = asyncio.run(_sip_cancels(tmp_path, reason))
    t = rig.tap
    names = t.names()
    assert names[:3] == ["SETUP", "CALL_PROCEEDING", "ALERTING"], t.describe()
    assert 8 in t.first("ALERTING", "from_pbx").progress
    disc = t.first("DISCONNECT", "to_pbx")
    assert disc.cause == cause, t.describe()
    assert "RELEASE" in names and "RELEASE_COMPLETE" in names, t.describe()
    assert names.index("DISCONNECT") < names.index("RELEASE") < names.index("RELEASE_COMPLETE")
    assert pbx_cause == cause
    ended = rig.cti("call.ended")
    assert len(ended) == 1 and ended[0]["cause"] == cause, ended
    assert ended[0]["answered"] is False
    assert rig.cti("call.answered") == []


def test_pbx_hangs_up_while_sip_rings_sends_cancel_with_reason(tmp_path: Path) -> None:
    """The PBX clears while sipp sends 180: ALERTING reached the PBX, the gateway CANCELs
    with Reason: Q.850;cause=16 (sipp's scenario checks it, RFC 3326), sipp answers
    200 / 487, the PBX's DISCONNECT is answered with RELEASE and the channel is idle."""
    async def body() -> Rig:
        uas = Sipp(tmp_path / "sipp", "uas_ring_cancel.xml", timeout_s=30)
        try:
            async with Rig(tmp_path, uas.address) as rig:
                call = rig.pbx.place_call("2001", caller="5551234")
                await wait_for(lambda: call.state == "ringing", 10, "ALERTING at the PBX")
                rig.pbx.hangup(call, 16)
                await wait_for(lambda: call.state == "gone", 10, "release at the PBX")
                res = await asyncio.get_running_loop().run_in_executor(None, uas.wait, 15)
                assert res.ok(), res.errors + res.messages[-3000:]
                assert "CANCEL sip:" in res.messages
                await wait_for(rig.idle, 10, "every channel idle: " + rig.describe())
                return rig
        finally:
            uas.kill()
    rig = asyncio.run(body())
    t = rig.tap
    assert t.names("to_pbx")[:2] == ["CALL_PROCEEDING", "ALERTING"], t.describe()
    assert t.first("DISCONNECT", "from_pbx").cause == 16
    assert t.first("RELEASE", "to_pbx") is not None
    assert t.names()[-1] == "RELEASE_COMPLETE", t.describe()
    ended = rig.cti("call.ended")
    assert len(ended) == 1 and ended[0]["cause"] == 16 and ended[0]["answered"] is False
