"""Failover between a trunk's SIP targets through the whole gateway (issue 10 "trunk
security and health"): on 503, on no provisional response within `no_provisional_s`
(not Timer B's 32 s), all targets dead, and OPTIONS marking a target down and up."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from tests.peers.sipp.runner import Sipp, free_udp_port

from .rig import Rig, wait_for

pytestmark = pytest.mark.peer
SCEN = Path(__file__).parent / "scenarios"


def _trunk(first: tuple[str, int], second: tuple[str, int], extra: str = "") -> str:
    return f"""
[[sip.trunks]]
name = "ai"
host = "{first[0]}"
port = {first[1]}
failover = ["{second[0]}:{second[1]}"]
options_interval_s = 0
{extra}
"""


def _ruri_ports(rig: Rig) -> list[int]:
    """The port of each INVITE's Request-URI, in order (retransmissions once)."""
    seen = dict.fromkeys(m.split("\r\n", 1)[0] for m in rig.wire.sent("INVITE "))
    return [int(m[1]) for line in seen if (m := re.match(r"INVITE sip:[^@]+@[^:]+:(\d+)", line))]


async def _answered_via_second(tmp: Path, first_scenario: str, extra: str) -> tuple[Rig, float]:
    one = Sipp(tmp / "sipp1", first_scenario, timeout_s=20)
    two = Sipp(tmp / "sipp2", "uas_answer.xml", timeout_s=20)
    try:
        async with Rig(tmp, one.address, trunks=_trunk(one.address, two.address, extra)) as rig:
            call = rig.pbx.place_call("2001", caller="5551234")
            await wait_for(lambda: call.state == "answered", 10, "CONNECT at the PBX")
            setup = rig.tap.first("SETUP", "from_pbx").at
            connect = rig.tap.first("CONNECT", "to_pbx").at
            rig.pbx.hangup(call, 16)
            await wait_for(rig.idle, 10, "every channel idle: " + rig.describe())
            res = await asyncio.get_running_loop().run_in_executor(None, two.wait, 10)
            assert res.ok(), res.errors + res.messages[-3000:]
            assert _ruri_ports(rig) == [one.port, two.port], _ruri_ports(rig)
            return rig, connect - setup
    finally:
        one.kill()
        two.kill()


def test_503_from_the_first_target_fails_over_to_the_second(tmp_path: Path) -> None:
    """Target 1 answers 503: the INVITE goes to target 2 (Request-URI ports in order), the
    PBX gets CONNECT and never hears of the 503; target 1 is reported down (CTI)."""
    rig, _ = asyncio.run(_answered_via_second(tmp_path, "uas_503.xml", ""))
    assert "DISCONNECT" not in rig.tap.names("to_pbx"), rig.tap.describe()  # 503 not relayed
    assert rig.tap.first("DISCONNECT", "from_pbx").cause == 16  # the PBX's own hang-up
    states = rig.cti("trunk.state")
    assert states and states[0]["up"] is False and states[0]["why"] == "INVITE 503", states


def test_silent_first_target_fails_over_within_no_provisional_s(tmp_path: Path) -> None:
    """The first target never answers: after no_provisional_s = 1 s the call goes to the
    second, and the PBX is connected about a second after its SETUP, not after Timer B."""
    rig, took = asyncio.run(_answered_via_second(tmp_path, "uas_silent.xml",
                                                 "no_provisional_s = 1.0"))
    assert 0.9 < took < 4.0, took
    assert rig.tap.names("to_pbx")[:2] == ["CALL_PROCEEDING", "ALERTING"] or \
        rig.tap.names("to_pbx")[:2] == ["CALL_PROCEEDING", "CONNECT"], rig.tap.describe()


def test_all_targets_dead_clears_the_pbx_with_the_rfc3398_cause(tmp_path: Path) -> None:
    """Both targets dead (nothing listens): each gets no provisional in 0.5 s; the PBX gets
    CALL PROCEEDING, then DISCONNECT with cause 102 (408, RFC 3398 s8.2.6.1), and the
    clearing completes; CTI call.ended says 102."""
    async def body() -> Rig:
        dead1, dead2 = ("127.0.0.1", free_udp_port()), ("127.0.0.1", free_udp_port())
        async with Rig(tmp_path, dead1,
                       trunks=_trunk(dead1, dead2, "no_provisional_s = 0.5")) as rig:
            call = rig.pbx.place_call("2001")
            await wait_for(lambda: call.state == "gone", 10, "the call refused at the PBX")
            await wait_for(rig.idle, 10, "every channel idle: " + rig.describe())
            assert _ruri_ports(rig) == [dead1[1], dead2[1]]
            return rig
    rig = asyncio.run(body())
    t = rig.tap
    assert t.names()[:2] == ["SETUP", "CALL_PROCEEDING"], t.describe()
    assert t.first("DISCONNECT", "to_pbx").cause == 102
    assert t.names()[-2:] == ["RELEASE", "RELEASE_COMPLETE"], t.describe()
    assert rig.cti("call.ended")[0]["cause"] == 102


def test_options_marks_a_target_down_and_up_and_calls_follow(tmp_path: Path) -> None:
    """OPTIONS every second: the silent primary is marked down (timeout -> 408), so a call
    goes straight to the second target; when the primary answers OPTIONS it is up again
    (CTI trunk.state down, then up) and the next call goes to it."""
    async def body() -> tuple[Rig, list[int], list[int]]:
        p1 = free_udp_port()
        two = Sipp(tmp_path / "sipp2", str(SCEN / "uas_answer_options.xml"), timeout_s=30,
                   calls=1000)
        one: Sipp | None = None
        try:
            trunks = _trunk(("127.0.0.1", p1), two.address,
                            "no_provisional_s = 1.0").replace("options_interval_s = 0",
                                                              "options_interval_s = 1")
            async with Rig(tmp_path, ("127.0.0.1", p1), trunks=trunks) as rig:
                await wait_for(lambda: any(not s["up"] for s in rig.cti("trunk.state")), 10,
                               "the primary marked down")
                call = rig.pbx.place_call("2001")
                await wait_for(lambda: call.state == "answered", 10, "CONNECT via the second")
                rig.pbx.hangup(call, 16)
                await wait_for(rig.idle, 10, "idle")
                first = _ruri_ports(rig)
                one = Sipp(tmp_path / "sipp1", str(SCEN / "uas_answer_options.xml"), port=p1,
                           timeout_s=30, calls=1000)
                await wait_for(lambda: rig.cti("trunk.state")[-1]["up"], 10, "primary up")
                call = rig.pbx.place_call("2001")
                await wait_for(lambda: call.state == "answered", 10, "CONNECT via the primary")
                rig.pbx.hangup(call, 16)
                await wait_for(rig.idle, 10, "idle")
                return rig, first, _ruri_ports(rig)[len(first):]
        finally:
            two.kill()
            if one is not None:
                one.kill()
    rig, first, second = asyncio.run(body())
    assert len(first) == 1 and first[0] != second[0], (first, second)
    states = [(s["target"][1], s["up"], s["why"]) for s in rig.cti("trunk.state")]
    assert states[0][1] is False and states[0][2] == "OPTIONS 408", states
    assert states[-1][1] is True and states[-1][2] == "OPTIONS 200", states
    assert second == [states[0][0]]  # back to the primary
