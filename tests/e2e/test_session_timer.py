"""Session timers (RFC 4028) mid-call through the whole gateway: refreshes keep the call
and its B-channel up past the interval, and a missing refresh clears the PBX side with
cause 102 (recovery on timer expiry).  The trunk's Min-SE is lowered (config allows it)
so the intervals are seconds, not RFC 4028's 90 s minimum."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.peers.sipp.runner import Sipp

from .rig import Rig, wait_for

pytestmark = pytest.mark.peer
SCEN = Path(__file__).parent / "scenarios"


async def _sip_call(tmp: Path, scenario: str, min_se: int) -> Rig:
    async with Rig(tmp, ("127.0.0.1", 9), extra_trunk=f"min_se_s = {min_se}") as rig:
        uac = Sipp(tmp / "sipp", scenario, remote=rig.sip_address, service="3001",
                   timeout_s=20)
        try:
            res = await asyncio.get_running_loop().run_in_executor(None, uac.wait, 20)
            assert res.ok(), res.errors + res.messages[-3000:]
            await wait_for(rig.idle, 10, "every channel idle: " + rig.describe())
        finally:
            uac.kill()
        return rig


def _held(rig: Rig) -> float:
    """Seconds from CONNECT to the first clearing message on the span."""
    t = rig.tap
    connect = t.first("CONNECT", "from_pbx")
    clear = next(s for s in t.calls() if s.name in ("DISCONNECT", "RELEASE"))
    return clear.at - connect.at


def test_peer_refreshes_by_update_keep_the_call_and_channel(tmp_path: Path) -> None:
    """sipp asks for a 2 s session it refreshes (refresher=uac) and sends UPDATE with
    Session-Expires every second: each 200 carries Session-Expires: 2;refresher=uac
    (sipp checks), the PBX call stays connected for 3 s (past the 2 s interval) and
    ends only with sipp's BYE (cause 16)."""
    rig = asyncio.run(_sip_call(tmp_path, str(SCEN / "uac_timer_refresh.xml"), 1))
    assert len(set(rig.wire.received("UPDATE "))) == 3  # (retransmissions once)
    assert _held(rig) > 2.8, rig.tap.describe()
    assert rig.tap.first("DISCONNECT", "to_pbx").cause == 16
    assert rig.cti("call.ended")[0]["cause"] == 16


def test_gateway_refreshes_by_reinvite_when_the_peer_lacks_update(tmp_path: Path) -> None:
    """sipp (no UPDATE in Allow) makes the gateway the refresher of a 4 s session: the
    gateway re-INVITEs with Session-Expires: 4;refresher=uas before it runs out (sipp
    checks), the PBX side is untouched by it, and sipp's BYE clears with cause 16."""
    rig = asyncio.run(_sip_call(tmp_path, "uac_timer_reinvite.xml", 2))
    reinv = [m for m in rig.wire.sent("INVITE ")]
    assert len(reinv) == 1 and "Session-Expires: 4;refresher=uas" in reinv[0], reinv
    names = rig.tap.names()
    assert names.count("CONNECT") == 1 and names.count("DISCONNECT") == 1, rig.tap.describe()
    assert rig.tap.first("DISCONNECT", "to_pbx").cause == 16


def test_session_expiry_without_refresh_clears_the_pbx_with_cause_102(tmp_path: Path) -> None:
    """sipp is the refresher of a 3 s session and never refreshes: the gateway sends BYE
    with Reason: Q.850;cause=102 (sipp checks) and the PBX gets DISCONNECT cause 102."""
    rig = asyncio.run(_sip_call(tmp_path, "uac_timer_expire.xml", 2))
    disc = rig.tap.first("DISCONNECT", "to_pbx")
    assert disc.cause == 102, rig.tap.describe()
    assert 1.5 < _held(rig) < 3.5
    assert rig.cti("call.ended")[0]["cause"] == 102
