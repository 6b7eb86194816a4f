"""Datagrams between the processes: codec round trip, fuzzing, a sender that never blocks."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.cti.process import EventHub
from appliance.events import (
    DatagramReceiver,
    DatagramSender,
    Event,
    EventBus,
    Heartbeat,
    Status,
    WireError,
    decode,
    encode,
)

MESSAGES = [
    Event(1, 1700000000.5, "call.ended", {"call": "c-1", "cause": 16}),
    Status(7, 1700000000.0, {"spans": [{"name": "span1", "state": "up"}]}),
    Heartbeat("cti", 1234, 1700000001.0, {"events": {"received": 3}}),
]


@pytest.mark.parametrize("msg", MESSAGES)
def test_round_trip(msg: Event | Status | Heartbeat) -> None:
    assert decode(encode(msg)) == msg


@pytest.mark.parametrize("data", [
    b"", b"\xff", b"[]", b'{"v": 2, "t": "event"}', b'{"v": 1, "t": "nope"}',
    b'{"v": 1, "t": "event", "seq": -1, "ts": 1, "kind": "x", "data": {}}',
    b'{"v": 1, "t": "event", "seq": true, "ts": 1, "kind": "x", "data": {}}',
    b'{"v": 1, "t": "heartbeat", "process": "cti", "pid": 0, "ts": 1, "info": {}}',
    b'{"v": 1, "t": "status", "seq": 1, "ts": NaN, "snapshot": {}}',
])
def test_malformed_raise_wire_error(data: bytes) -> None:
    with pytest.raises(WireError):
        decode(data)


@given(st.binary(max_size=300))
def test_fuzz_decode_raises_only_wire_error(data: bytes) -> None:
    with contextlib.suppress(WireError):
        decode(data)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c,
                                                                         max_size=3),
                    max_leaves=10))
def test_fuzz_json_documents(doc: object) -> None:
    import json

    with contextlib.suppress(WireError):
        decode(json.dumps({"v": 1, "t": "event", "seq": 1, "ts": 0, "kind": "k", "data": doc})
               .encode())


def test_sender_never_blocks_on_a_peer_that_does_not_read(tmp_path: Path) -> None:
    """A bound socket nobody reads (a stopped process): sends return at once, drops counted."""
    path = tmp_path / "peer.sock"
    peer = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    peer.bind(str(path))
    sender = DatagramSender(path, backlog=16)
    payload = Event(1, 0.0, "x", {"pad": "x" * 1000})
    t0 = time.monotonic()
    for _ in range(2000):
        sender.send(payload)
    elapsed = time.monotonic() - t0
    assert sender.stats.dropped > 0
    assert sender.stats.sent + sender.stats.dropped + len(sender.backlog) == 2000
    assert len(sender.backlog) == 16
    assert elapsed < 5  # generous: a blocking send would never return at all
    got = 0
    peer.setblocking(False)
    while True:
        try:
            peer.recv(70000)
            got += 1
        except BlockingIOError:
            break
    assert got == sender.stats.sent
    sender.flush()
    assert len(sender.backlog) < 16
    sender.close()
    peer.close()


def test_keep_latest_sender_keeps_only_the_newest(tmp_path: Path) -> None:
    sender = DatagramSender(tmp_path / "absent.sock", backlog=1, keep_latest=True)
    for i in range(5):
        sender.send(Status(i, 0.0, {}))
    assert len(sender.backlog) == 1 and decode(sender.backlog[0]).seq == 4  # type: ignore[union-attr]
    assert sender.stats.undeliverable == 5
    sender.close()


def test_receiver_delivers_and_counts_malformed(tmp_path: Path) -> None:
    async def go() -> tuple[list[object], int]:
        got: list[object] = []
        rx = DatagramReceiver(tmp_path / "rx.sock", got.append)
        rx.open()
        tx = DatagramSender(tmp_path / "rx.sock", backlog=8)
        bus = EventBus(tx)
        bus.publish("call.started", call="c-1")
        tx.send_bytes(b"garbage")
        bus.publish("call.ended", call="c-1", cause=16)
        await asyncio.sleep(0.05)
        rx.close()
        tx.close()
        return got, rx.malformed

    got, malformed = asyncio.run(go())
    assert [e.kind for e in got] == ["call.started", "call.ended"]  # type: ignore[attr-defined]
    assert [e.seq for e in got] == [1, 2]  # type: ignore[attr-defined]
    assert malformed == 1


def test_receiver_refuses_to_steal_a_live_socket(tmp_path: Path) -> None:
    path = tmp_path / "live.sock"
    live = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    live.bind(str(path))

    async def go() -> None:
        DatagramReceiver(path, lambda m: None).open()

    with pytest.raises(FileExistsError, match="already receiving"):
        asyncio.run(go())
    live.close()

    async def stale() -> None:  # the owner is gone: the path is reused
        rx = DatagramReceiver(path, lambda m: None)
        rx.open()
        rx.close()

    asyncio.run(stale())


def test_event_hub_counts_gaps_and_slow_subscribers() -> None:
    async def go() -> EventHub:
        hub = EventHub()
        sub = hub.subscribe(queue_size=2)
        for seq in (1, 2, 5, 6):
            hub.publish(Event(seq, 0.0, "k"))
        assert sub.queue.qsize() == 2 and sub.dropped == 2
        return hub

    hub = asyncio.run(go())
    assert hub.received == 4 and hub.lost == 2 and hub.last_seq == 6
