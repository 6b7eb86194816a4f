"""Refusals through the whole gateway (issue 10 "bad input", RFC 3398 s8.2.6.1): an INVITE
from an unknown address never reaches the PBX; SIP failures reach the PBX as the mapped
Q.850 cause in a DISCONNECT, with the clearing completed and the channel idle."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from tests.peers.sipp.runner import Sipp

from .rig import Rig, wait_for

pytestmark = pytest.mark.peer


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.getMessage()}")


def test_invite_from_an_unknown_address_is_403_logged_and_no_setup(tmp_path: Path) -> None:
    """The trunk trusts only 10.9.9.9 and takes no digest: sipp's INVITE from 127.0.0.1
    gets 403 (sipp expects it), a warning names the source and the reason, CTI gets
    sip.refused, and nothing crosses the span."""
    async def body() -> tuple[Rig, list[str]]:
        logs = _Lines()
        logging.getLogger("tdmgw.sip").addHandler(logs)
        try:
            async with Rig(tmp_path, ("127.0.0.1", 9),
                           extra_trunk='trusted_networks = ["10.9.9.9/32"]') as rig:
                uac = Sipp(tmp_path / "sipp", "uac_refused.xml", remote=rig.sip_address,
                           service="3001", timeout_s=20)
                try:
                    res = await asyncio.get_running_loop().run_in_executor(None, uac.wait, 20)
                    assert res.ok(), res.errors + res.messages[-3000:]
                finally:
                    uac.kill()
                await asyncio.sleep(0.3)
                return rig, logs.lines
        finally:
            logging.getLogger("tdmgw.sip").removeHandler(logs)
    rig, lines = asyncio.run(body())
    assert rig.tap.names() == [], rig.tap.describe()
    assert rig.cti("call.started") == []
    refused = rig.cti("sip.refused")
    assert len(refused) == 1 and refused[0]["status"] == 403, refused
    assert refused[0]["source"][0] == "127.0.0.1"
    warn = [line for line in lines if line.startswith("WARNING") and "refused with 403" in line]
    assert warn and "127.0.0.1" in warn[0] and "not a trusted peer" in warn[0], lines


@pytest.mark.parametrize(("scenario", "cause"), [
    ("uas_486.xml", 17),  # Reason: Q.850;cause=17 from sipp (RFC 3326), 486 -> 17 anyway
    ("uas_503.xml", 41),  # no alternative target: 503 -> 41 temporary failure (s8.2.6.1)
])
def test_sip_failure_reaches_the_pbx_as_the_mapped_cause(tmp_path: Path, scenario: str,
                                                        cause: int) -> None:
    async def body() -> Rig:
        uas = Sipp(tmp_path / "sipp", scenario, timeout_s=20)
        try:
            async with Rig(tmp_path, uas.address) as rig:
                call = rig.pbx.place_call("2001", caller="5551234")
                await wait_for(lambda: call.state == "gone", 10, "the call refused at the PBX")
                await wait_for(rig.idle, 10, "every channel idle: " + rig.describe())
                assert call.cause == cause
                return rig
        finally:
            uas.kill()
    rig = asyncio.run(body())
    t = rig.tap
    assert t.names()[:2] == ["SETUP", "CALL_PROCEEDING"], t.describe()
    assert t.first("DISCONNECT", "to_pbx").cause == cause, t.describe()
    assert t.names()[-2:] == ["RELEASE", "RELEASE_COMPLETE"], t.describe()
    ended = rig.cti("call.ended")
    assert len(ended) == 1 and ended[0]["cause"] == cause and ended[0]["answered"] is False
