"""RTP port pairs for new streams (MediaServer._bind_pair): even ports of the range, taken in
turn from the pair after the last one given out, busy pairs skipped, wrapping at the end of
the range; a full range is a clear error."""

from __future__ import annotations

import socket

import pytest

from appliance.media.process import MediaServer
from appliance.media.stream import StreamSpec
from tests.appliance.media.test_process import span_params

LO, HI = 36100, 36110  # five pairs: 36100, 36102, ... 36108


def test_pairs_in_turn_busy_ones_skipped_wrapping_and_a_full_range() -> None:
    srv = MediaServer([(span_params(channels=8), {"clock": True})], port_min=LO, port_max=HI,
                      host="127.0.0.1", echo=False)
    busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    busy.bind(("127.0.0.1", LO + 3))  # the RTCP port of the second pair: that pair is busy
    try:
        ports = [srv._open(StreamSpec(f"c{i}", "s1", i, remote=("127.0.0.1", 9), local_host="127.0.0.1"))
                 ["local_port"] for i in range(4)]
        assert ports == [LO, LO + 4, LO + 6, LO + 8]
        with pytest.raises(OSError, match="no free RTP port pair"):
            srv._open(StreamSpec("c9", "s1", 9, remote=("127.0.0.1", 9), local_host="127.0.0.1"))
        assert "c9" not in srv.calls
        srv._close("c1")  # frees LO + 4; the next search starts after LO + 8 and wraps
        r = srv._open(StreamSpec("c5", "s1", 5, remote=("127.0.0.1", 9), local_host="127.0.0.1"))
        assert r["local_port"] == LO + 4
    finally:
        busy.close()
        for cid in list(srv.calls):
            srv._close(cid)
