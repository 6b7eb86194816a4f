"""The endpoint driven from an asyncio loop, as the gateway core does."""

from __future__ import annotations

import asyncio
import ipaddress
import threading
from pathlib import Path

from appliance.sip import events as ev
from appliance.sip.endpoint import SipEndpoint
from appliance.sip.sdp import LocalMedia
from appliance.sip.trunks import EndpointSettings, TrunkSpec
from tests.peers.sipp.runner import Sipp


def test_events_arrive_on_the_loop_thread(tmp_path: Path) -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        q: asyncio.Queue[ev.SipEvent] = asyncio.Queue()
        threads: set[int] = set()

        def on_event(e: ev.SipEvent) -> None:
            threads.add(threading.get_ident())
            q.put_nowait(e)

        settings = EndpointSettings(trunks=(TrunkSpec(
            "ai", (("127.0.0.1", 9),), options_interval_s=0,
            trusted_networks=(ipaddress.ip_network("127.0.0.1/32"),)),))
        sip = SipEndpoint(settings, loop, on_event)
        addr = await loop.run_in_executor(None, sip.start)
        sipp = Sipp(tmp_path, "uac_call.xml", remote=addr)
        seen = []
        try:
            while True:
                e = await asyncio.wait_for(q.get(), 10)
                seen.append(type(e).__name__)
                if isinstance(e, ev.IncomingCall):
                    e.call.provisional(180)
                    e.call.answer(LocalMedia("127.0.0.1", 40000))
                if isinstance(e, ev.Hangup):
                    break
        finally:
            await loop.run_in_executor(None, sip.close)
        r = await loop.run_in_executor(None, sipp.wait, 10)
        assert r.rc == 0, r.errors
        assert threads == {threading.get_ident()}
        return seen

    assert asyncio.run(main()) == ["IncomingCall", "Hangup"]
