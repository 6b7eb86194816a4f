"""A SETUP with mandatory information missing or wrong, sent by the far end of the span
with our own Q.921/Q.931 codecs (libpri cannot send one): the gateway refuses it with
RELEASE COMPLETE and the Q.931 5.8.6 cause, sends no INVITE, and logs why."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from appliance.isdn.q931 import MessageType
from appliance.isdn.q931.ies import BearerCapability, Cause, ChannelId
from appliance.isdn.q931.messages import message
from appliance.isdn.q931.numbers import CalledPartyNumber
from tests.peers.sipp.runner import Sipp

from .rig import Rig, wait_for

pytestmark = pytest.mark.peer

SPEECH = BearerCapability(transfer_capability=0, transfer_rate=0x10, layer1=0x22)  # u-law
CHANNEL_1 = ChannelId(channels=(1,), exclusive=True)
CALLED = CalledPartyNumber("2001", type_of_number=0, plan=1)
SETUP = MessageType.SETUP


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.name} {record.getMessage()}")


CASES = {
    # Q.931 5.8.6.1: mandatory IE missing -> RELEASE COMPLETE, cause 96
    "no bearer capability": (message(SETUP, 5, False, CHANNEL_1, CALLED).encode(), (96,)),
    # channel identification octet 3.2 says "more follows" but the IE ends there:
    # content error in a mandatory IE -> cause 100 (5.8.6.2)
    "truncated channel identification": (
        message(SETUP, 6, False, SPEECH).encode() + bytes([0x18, 0x02, 0xA9, 0x03])
        + CALLED.encode(), (100,)),
    # the same channel identification IE out of order (after the called number): skipped
    # as not understood (5.8.5.1), so the mandatory IE is missing: 96
    "channel identification out of sequence": (
        message(SETUP, 8, False, SPEECH, CALLED).encode() + bytes([0x18, 0x02, 0xA9, 0x03]),
        (96, 100)),
    # a channel this T1 does not have (30): 82 "identified channel does not exist" (or 100)
    "channel 30 on a T1": (message(SETUP, 7, False, SPEECH, ChannelId(channels=(30,)),
                                   CALLED).encode(), (82, 100)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_setup_is_refused_with_release_complete(tmp_path: Path, case: str) -> None:
    data, causes = CASES[case]
    async def body() -> tuple[Rig, list[str]]:
        uas = Sipp(tmp_path / "sipp", "uas_answer.xml", timeout_s=20)
        logs = _Lines()
        logging.getLogger("tdmgw").addHandler(logs)
        try:
            async with Rig(tmp_path, uas.address, far="codec") as rig:
                rig.pbx.send(data)
                await wait_for(lambda: "RELEASE_COMPLETE" in rig.pbx.names(), 5,
                               f"RELEASE COMPLETE, got {rig.pbx.names()}")
                await asyncio.sleep(0.5)  # an INVITE, if one went, has reached sipp by now
                return rig, logs.lines
        finally:
            logging.getLogger("tdmgw").removeHandler(logs)
            uas.kill()
    rig, lines = asyncio.run(body())
    rc = rig.pbx.last("RELEASE_COMPLETE")
    assert rig.pbx.names() == ["RELEASE_COMPLETE"], rig.pbx.names()
    assert rc.call_ref == data[3] and rc.call_ref_flag  # answered on the SETUP's reference
    cause = rc.get(Cause)
    assert cause is not None and cause.value in causes, (cause, causes)
    assert rig.wire.sent("INVITE ") == []
    assert rig.cti("call.started") == []
    warn = [ln for ln in lines if ln.startswith("WARNING") and f"cause {cause.value}" in ln]
    assert warn, lines
