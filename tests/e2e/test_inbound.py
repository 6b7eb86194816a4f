"""PBX to SIP: libpri places a call on the virtual span, sipp answers (issue 10 items 2, 3)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.peers.sipp.runner import Sipp

from .rig import Rig, wait_for

pytestmark = pytest.mark.peer


def test_pbx_call_answered_by_sip_and_cleared_with_reason(tmp_path: Path) -> None:
    async def body() -> None:
        uas = Sipp(tmp_path / "sipp", "uas_answer.xml", extra=["-rtp_echo"], timeout_s=30)
        try:
            async with Rig(tmp_path, uas.address) as rig:
                call = rig.pbx.place_call("2001", caller="5551234")
                await wait_for(lambda: call.state == "answered", 10, "answer at the PBX")
                await asyncio.sleep(1.0)
                freq, level = rig.pbx.measure(call.channel or 0)
                rig.pbx.hangup(call, 16)
                await wait_for(lambda: call.state == "gone", 10, "release at the PBX")
                await wait_for(rig.idle, 5, "every channel idle: " + rig.describe())
                res = await asyncio.get_running_loop().run_in_executor(None, uas.wait, 10)
                assert res.ok(), res.stderr + res.errors + res.messages[-3000:]
                # the PBX's 1004 Hz at -10 dBm0 crossed the span, RTP to sipp and back
                # (sipp -rtp_echo) through the echo canceller: frequency and level kept
                assert abs(freq - 1004) < 8, freq
                # -10 +- 1.5 unloaded; at load 8-13 on this shared machine -16 was seen (the
                # virtual span slips blocks, and the PBX's own tone looped back by sipp is
                # predictable from the far-end signal, which the canceller takes in part)
                assert abs(level + 10) < 7, level
        finally:
            uas.kill()

    asyncio.run(body())
