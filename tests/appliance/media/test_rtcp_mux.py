"""rtcp-mux (RFC 5761): RTCP sent from and to the RTP port, told apart from RTP on arrival (s4)."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from appliance.media import rtcp
from appliance.media.control import MediaClient
from appliance.media.process import MediaServer
from appliance.media.stream import SpecError, StreamSpec
from tests.appliance.media.farends import ToneFarEnd
from tests.appliance.media.test_engine import PEER, Harness
from tests.appliance.media.test_process import _with_server, span_params


def _far_report(ssrc: int = 77) -> bytes:
    far = rtcp.RtcpSession(ssrc, b"far", 0.0)
    return far.report(1.0)


def test_rtcp_on_the_rtp_port_is_rtcp() -> None:
    hs = Harness(rtcp_mux=True)
    hs.run(8, lambda k, prev: np.zeros(40), lambda i: [hs.peer.packet(bytes([0xFF]) * 160, 160)])
    c = hs.st.counters
    rx0 = c.rx_packets
    hs.e.receive_rtp(hs.st, _far_report(), PEER, hs.now)
    assert c.rtcp_rx == 1 and c.rx_packets == rx0 and c.dropped_payload_type == 0
    assert hs.st.rtcp_addr == PEER  # reports go to the RTP address
    hs2 = Harness()  # without rtcp-mux the same datagram on the RTP port is not RTCP
    hs2.e.receive_rtp(hs2.st, _far_report(), PEER, 0.0)
    assert hs2.st.counters.rtcp_rx == 0 and hs2.st.rtcp_addr == (PEER[0], PEER[1] + 1)


def test_rtcp_mux_refuses_payload_types_that_clash() -> None:
    with pytest.raises(SpecError):
        StreamSpec("c", "s", 0, rtcp_mux=True, payload_type=72)
    with pytest.raises(SpecError):
        StreamSpec("c", "s", 0, rtcp_mux=True, event_pt=77)


def test_media_process_sends_rtcp_from_the_rtp_port(tmp_path: Path) -> None:
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.settimeout(3.0)
    far = ToneFarEnd(span_params(), freqs=(1000.0, 0.0), dbm0=-10.0)

    async def body(client: MediaClient, srv: MediaServer, events: list[dict[str, Any]]) -> Any:
        r = await client.open_stream(StreamSpec("c0", "s1", 0, remote=peer.getsockname(), local_host="127.0.0.1",
                                                rtcp_mux=True, echo_canceller=False))
        await asyncio.sleep(0.3)
        await client.close("c0")
        return r["local_port"]

    port = asyncio.run(_with_server(tmp_path, far, body))
    got = []
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        try:
            data, src = peer.recvfrom(2048)
        except TimeoutError:
            break
        if 192 <= data[1] <= 223:
            got.append((data, src))
            if any(isinstance(p, rtcp.Goodbye) for p in rtcp.decode_compound(data)):
                break
    peer.close()
    assert got, "no RTCP on the RTP port"
    assert all(src == ("127.0.0.1", port) for _d, src in got)  # from our RTP port
    assert any(isinstance(p, rtcp.Goodbye) for p in rtcp.decode_compound(got[-1][0]))  # the BYE at close
    srs = [p for d, _s in got for p in rtcp.decode_compound(d) if isinstance(p, rtcp.SenderReport)]
    assert srs  # we sent RTP, so the reports are SRs, and their NTP timestamps are wallclock
    assert all(abs((sr.ntp_timestamp >> 32) - rtcp.NTP_EPOCH_OFFSET - time.time()) < 30 for sr in srs)
