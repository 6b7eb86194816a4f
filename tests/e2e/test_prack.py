"""100rel/PRACK (RFC 3262) both ways through the whole gateway, with early media."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.peers.sipp.runner import Sipp

from .rig import Rig, wait_for
from .rtp_pcap import tone_pcap

pytestmark = pytest.mark.peer
SCEN = Path(__file__).parent / "scenarios"


def test_reliable_183_with_sdp_is_progress_pi8_with_early_audio(tmp_path: Path) -> None:
    """sipp (UAS) sends a reliable 183 with SDP: the gateway PRACKs it (RAck checked by
    sipp), the PBX gets PROGRESS with progress indicator 8 before CONNECT, and while the
    call is still unanswered the PBX hears sipp's early media, a 700 Hz -12 dBm0 tone."""
    async def body() -> tuple[Rig, list[Any]]:
        (tmp_path / "sipp").mkdir()
        tone_pcap(tmp_path / "sipp" / "tone.pcap", 700, -12, 2.0)
        uas = Sipp(tmp_path / "sipp", str(SCEN / "uas_prack_early.xml"), timeout_s=30)
        try:
            async with Rig(tmp_path, uas.address) as rig:
                rig.pbx.tone_hz = 0  # the PBX is silent: what it hears is sipp's
                call = rig.pbx.place_call("2001", caller="5551234")
                await wait_for(lambda: any(s.name == "PROGRESS" for s in rig.tap.calls()), 10,
                               "PROGRESS at the PBX")
                assert call.channel is not None
                await asyncio.sleep(1.0)  # of sipp's 1.5 s of early media
                heard: list[Any] = [(call.state, *rig.pbx.measure(call.channel, 4000))]
                st = await rig.part.media.stats(next(iter(rig.part.calls)))
                heard.append({k: st.get(k) for k in ("counters", "rx", "jitter_buffer")})
                await wait_for(lambda: call.state == "answered", 10, "CONNECT at the PBX")
                rig.pbx.hangup(call, 16)
                await wait_for(rig.idle, 10, "every channel idle: " + rig.describe())
                res = await asyncio.get_running_loop().run_in_executor(None, uas.wait, 10)
                assert res.ok(), res.errors + res.messages[-3000:]
                return rig, heard
        finally:
            uas.kill()
    rig, heard = asyncio.run(body())
    assert heard[0][0] != "answered"  # measured before the 200 OK
    t = rig.tap
    names = t.names("to_pbx")
    assert "PROGRESS" in names and names.index("PROGRESS") < names.index("CONNECT"), t.describe()
    assert t.first("PROGRESS", "to_pbx").progress == (8,)
    _, freq, level = heard[0]  # heard[1]: the stream's statistics, for the message
    # sipp's tone, not the PBX's (silent) nor ringback; the bounds are wide because on
    # this shared 2-core machine (load 4-8 while the suites run) the media process misses
    # blocks and sipp's pcap pacing jitters (11 ms seen): 718 Hz / -16 dBm0 was measured
    # once at load 7.6, 700 Hz / -12 dBm0 unloaded
    assert abs(freq - 700) < 25 and abs(level + 12) < 5, heard
    prack = rig.wire.sent("PRACK ")
    assert len(prack) == 1 and "\nRAck: 7 " in prack[0].replace("\r\n", "\n"), prack
    assert rig.cti("call.ended")[0]["cause"] == 16


def test_uac_requiring_100rel_gets_reliable_183_retransmitted_until_prack(tmp_path: Path) -> None:
    """sipp INVITEs with Require: 100rel; the PBX alerts with PI 8: the gateway's 183 (with
    SDP) carries Require: 100rel and RSeq and is retransmitted, unchanged, until sipp's
    late PRACK (1.3 s: again at 0.5 s, RFC 3262 s3, T1 doubling); PRACK gets 200;
    then the PBX answers and the 200 OK follows."""
    async def body() -> Rig:
        async with Rig(tmp_path, ("127.0.0.1", 9)) as rig:
            rig.pbx.policy = None
            calls: list[Any] = []

            def on_event(call: Any, ev: Any) -> None:
                if ev.name == "PRI_EVENT_RING":
                    calls.append(call)
                    rig.pbx.pri.proceeding(call.handle, call.channel, 0)
                    rig.pbx.pri.acknowledge(call.handle, call.channel, 1)
            rig.pbx.on_event = on_event
            uac = Sipp(tmp_path / "sipp", str(SCEN / "uac_prack_required.xml"),
                       remote=rig.sip_address, service="3001", timeout_s=20)
            try:
                await wait_for(lambda: bool(rig.wire.received("PRACK ")), 10, "PRACK")
                rig.pbx.answer(calls[0])
                res = await asyncio.get_running_loop().run_in_executor(None, uac.wait, 20)
                assert res.ok(), res.errors + res.messages[-3000:]
                await wait_for(rig.idle, 10, "every channel idle: " + rig.describe())
            finally:
                uac.kill()
            return rig
    rig = asyncio.run(body())
    sent = [m.replace("\r\n", "\n") for m in rig.wire.sent("SIP/2.0 183")]
    assert len(sent) >= 2, len(sent)  # first + the retransmission at T1 (next at 3*T1)
    assert len(set(sent)) == 1  # the same message, the same RSeq
    assert "\nRequire: 100rel\n" in sent[0] and "\nRSeq: " in sent[0]
    assert "m=audio " in sent[0]
    ok = [m for m in rig.wire.sent("SIP/2.0 200") if "PRACK" in m]
    assert len(ok) == 1
    assert rig.tap.first("CONNECT", "from_pbx") is not None
    assert rig.cti("call.ended")[0]["cause"] == 16


def test_offers_in_prack_and_update_before_answer_repoint_the_media(tmp_path: Path) -> None:
    """Through the gateway: the PBX alerts with PI 8 (reliable 183 with our answer), sipp's
    PRACK and then an UPDATE carry new offers (ports 6010, 6020): each is answered in its
    200 (sipp checks), the bridge re-points the stream each time (CTI call.media_changed)
    and keeps the B-channel, then the PBX answers and the call ends with sipp's BYE."""
    async def body() -> Rig:
        async with Rig(tmp_path, ("127.0.0.1", 9)) as rig:
            rig.pbx.policy = None
            calls: list[Any] = []

            def on_event(call: Any, ev: Any) -> None:
                if ev.name == "PRI_EVENT_RING":
                    calls.append(call)
                    rig.pbx.pri.proceeding(call.handle, call.channel, 0)
                    rig.pbx.pri.acknowledge(call.handle, call.channel, 1)
            rig.pbx.on_event = on_event
            uac = Sipp(tmp_path / "sipp", "uac_early_offers.xml", remote=rig.sip_address,
                       service="3001", timeout_s=20)
            try:
                await wait_for(lambda: len(rig.cti("call.media_changed")) >= 2, 10,
                               "both offers taken")
                rig.pbx.answer(calls[0])
                res = await asyncio.get_running_loop().run_in_executor(None, uac.wait, 20)
                assert res.ok(), res.errors + res.messages[-3000:]
                await wait_for(rig.idle, 10, "every channel idle: " + rig.describe())
            finally:
                uac.kill()
            return rig
    rig = asyncio.run(body())
    assert len(rig.cti("call.media_changed")) == 2
    assert rig.tap.names().count("SETUP") == 1 and rig.tap.names().count("DISCONNECT") == 1
    assert rig.tap.first("DISCONNECT", "to_pbx").cause == 16
