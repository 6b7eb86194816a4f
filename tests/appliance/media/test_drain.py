"""The media process's socket drain (MediaServer._drain): every datagram is read, with its
kernel arrival time; a packet that arrived since the previous drain ends the socket's
reads (no recvmsg only to hear EAGAIN), one that was already there at the previous drain's
poll (it waited behind another) does not."""

from __future__ import annotations

import socket
import time

from appliance.media import rtp
from appliance.media.process import MediaServer
from appliance.media.stream import StreamSpec
from tests.appliance.media.test_process import span_params


def _server_with_call() -> tuple[MediaServer, int]:
    srv = MediaServer([(span_params(), {"clock": True})], port_min=32000, port_max=33000,
                      host="127.0.0.1", echo=False)
    r = srv._open(StreamSpec("c1", "s1", 0, remote=("127.0.0.1", 9), local_host="127.0.0.1"))
    return srv, int(r["local_port"])


def _burst(port: int, n: int) -> None:
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    snd = rtp.RtpSender(0, ssrc=9)
    for _ in range(n):
        peer.sendto(snd.packet(b"\xff" * 160, 160), ("127.0.0.1", port))
    peer.close()
    time.sleep(0.05)  # loopback delivery: the datagrams are queued (kernel time, not protocol time)


def test_a_burst_that_waited_is_read_at_once() -> None:
    srv, port = _server_with_call()
    h = srv.groups[0]
    st = srv.calls["c1"].stream
    _burst(port, 5)
    # the block comes well after the burst (on a loaded machine loopback delivery can be left
    # to ksoftirqd and lag the sends): every datagram waited, so one drain reads them all
    srv._drain(h, time.monotonic() + 1.0)
    assert st.counters.rx_packets == 5
    srv._close("c1")


def test_fresh_packets_are_read_one_per_block_and_none_is_lost() -> None:
    srv, port = _server_with_call()
    h = srv.groups[0]
    st = srv.calls["c1"].stream
    _burst(port, 3)
    # as if the group's first block came right after they arrived: one read, the packet being
    # fresh; at the next drain the two left behind were there at the previous poll, so they
    # are a backlog and both are read
    t = time.monotonic() - 0.049
    got = []
    for k in range(5):
        srv._drain(h, t + k * 0.001)
        got.append(st.counters.rx_packets)
    assert got == [1, 3, 3, 3, 3]
    srv._close("c1")


def test_a_packet_after_the_previous_poll_is_read_alone_however_late_the_block() -> None:
    srv, port = _server_with_call()
    h = srv.groups[0]
    st = srv.calls["c1"].stream
    srv._drain(h, time.monotonic() - 0.04)  # the previous drain: nothing waiting
    _burst(port, 2)
    # this block runs 40 ms after the previous one (a late block): both packets arrived after
    # that drain's poll, so the first ends the socket's reads and the second waits a block
    srv._drain(h, time.monotonic())
    assert st.counters.rx_packets == 1
    srv._drain(h, time.monotonic())
    assert st.counters.rx_packets == 2
    srv._close("c1")
