"""appliance.gateway.media: how spans are shared out over media processes, the restart
back-off and the RTP port pool (the process life cycle itself: tests/e2e/test_scale.py)."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from appliance.gateway.media import (
    BACKOFF_S,
    MediaPlane,
    MediaSlot,
    PortPool,
    process_count,
    share_out,
)
from drivers.span import SpanParams, SpanType, VirtualParams


def spans(n: int) -> list[SpanParams]:
    return [SpanParams(name=f"span{i}", number=i, driver="virtual", type=SpanType.E1,
                       switchtype="euroisdn_e1",
                       virtual=VirtualParams(f"/nonexistent/d{i}", ("127.0.0.1", 1),
                                             ("127.0.0.1", 2)))
            for i in range(1, n + 1)]


@pytest.mark.parametrize(("setting", "n", "cores", "want"), [
    (0, 1, 2, 1), (0, 4, 2, 1), (0, 5, 2, 2), (0, 8, 2, 2), (0, 11, 2, 2), (0, 16, 8, 4),
    (0, 8, 1, 1), (3, 8, 2, 3), (4, 2, 2, 2), (1, 8, 8, 1), (0, 0, 2, 0)])
def test_process_count(setting: int, n: int, cores: int, want: int) -> None:
    assert process_count(setting, n, cores) == want


def test_share_out_is_contiguous_and_even() -> None:
    sp = spans(11)
    chunks = share_out(sp, 3)
    assert [len(c) for c in chunks] == [4, 4, 3]
    assert [p for c in chunks for p in c] == sp
    assert [len(c) for c in share_out(spans(2), 5)] == [1, 1]


def test_plane_maps_spans_to_slots() -> None:
    plane = MediaPlane("/nonexistent", spans(8), 2, on_event=lambda e: None)
    assert [s.names for s in plane.slots] == [[f"span{i}" for i in range(1, 5)],
                                              [f"span{i}" for i in range(5, 9)]]
    assert plane.by_span["span6"] is plane.slots[1]
    assert not plane.is_up("span1")  # not started
    assert plane.slots[1].path.endswith("media1.sock")


def test_requests_for_a_process_that_is_down_fail_cleanly() -> None:
    asyncio.run(_down())


async def _down() -> None:
    from appliance.media.control import MediaError
    from appliance.media.stream import StreamSpec

    plane = MediaPlane("/nonexistent", spans(2), 1, on_event=lambda e: None)
    with pytest.raises(MediaError, match="stopped"):
        await plane.open_stream(StreamSpec("c1", "span1", 0))
    with pytest.raises(MediaError, match="no stream"):
        await plane.close("c1")
    with pytest.raises(MediaError, match="no media process hosts span nope"):
        await plane.open_stream(StreamSpec("c2", "nope", 0))
    await plane.send_frame("span1", b"\x00\x01")  # layer 1 down: dropped and counted
    assert plane.slots[0].dropped_frames == 1


def test_restart_back_off_doubles_while_it_keeps_dying() -> None:
    plane = MediaPlane("/nonexistent", spans(1), 1, on_event=lambda e: None)
    slot: MediaSlot = plane.slots[0]
    now = time.monotonic()
    slot.deaths.append(now)
    assert plane.restart_delay(slot) == BACKOFF_S[0]
    slot.deaths.extend([now, now])
    assert plane.restart_delay(slot) == BACKOFF_S[0] * 4
    slot.deaths.extend([now] * 5)
    assert plane.restart_delay(slot) == BACKOFF_S[1]
    slot.deaths.clear()
    slot.deaths.extend([now - 120.0, now])  # an old death does not count
    assert plane.restart_delay(slot) == BACKOFF_S[0]


def test_port_pool_skips_pairs_in_use_and_takes_them_back() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        base = probe.getsockname()[1] & ~1
    # a block of 3 pairs at `base` (even); hold the RTCP port of the first pair
    held = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        held.bind(("127.0.0.1", base + 1))
    except OSError:
        held.close()
        pytest.skip("port taken meanwhile")
    try:
        pool = PortPool("127.0.0.1", base, base + 6)
        assert len(pool) == 3
        first = pool.take()
        assert first == base + 2  # base's pair is half taken: skipped, kept for later
        second = pool.take()
        assert second == base + 4
        assert pool.take() is None  # only the held pair is left
        assert first is not None
        pool.give_back(first)
        assert pool.take() == first
    finally:
        held.close()
