"""More call facts end to end (issue 11): History-Info, Reason in CANCEL and responses,
restricted presentation, with libpri as the PBX and sipp as the SIP peer.

The INVITE sipp receives is read from its -trace_msg log and checked byte for byte;
the ISDN side is read from libpri's event fields.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from appliance.demo.libpri import PRI_NATIONAL_ISDN
from tests.peers.sipp.runner import Sipp

from .rig import Rig, wait_for
from .test_facts import invite_headers

pytestmark = pytest.mark.peer
SCEN = Path(__file__).parent / "scenarios"
HISTORY_INFO = 'redirection = "history-info"'


async def pbx_to_sip(tmp: Path, extra_trunk: str = "", **setup: Any) -> dict[str, list[str]]:
    uas = Sipp(tmp / "sipp", "uas_answer.xml", timeout_s=30)
    try:
        async with Rig(tmp, uas.address, extra_trunk=extra_trunk) as rig:
            call = rig.pbx.place_call("2001", **setup)
            await wait_for(lambda: call.state == "answered", 10, "answer at the PBX")
            rig.pbx.hangup(call, 16)
            await wait_for(rig.idle, 10, "every channel idle")
            res = await asyncio.get_running_loop().run_in_executor(None, uas.wait, 10)
            assert res.ok(), res.errors + res.messages[-2000:]
            return invite_headers(res.messages)
    finally:
        uas.kill()


def test_redirecting_to_history_info(tmp_path: Path) -> None:
    # reason 1 = call forwarding busy -> RFC 4458 cause=486 on the retargeted entry
    h = asyncio.run(pbx_to_sip(tmp_path, HISTORY_INFO, caller="2125551234",
                               callerplan=PRI_NATIONAL_ISDN,
                               redirecting=("2125550001", PRI_NATIONAL_ISDN, 0, 1)))
    assert "diversion" not in h
    assert h["history-info"] == ["<sip:+12125550001@127.0.0.1;user=phone>;index=1,"
                                 "<sip:2001@127.0.0.1;cause=486>;index=1.1;mp=1"]
