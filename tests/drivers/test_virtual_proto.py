"""Virtual span wire format, playout buffer and frame clock (sans-I/O, injected time)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from drivers.span import Law, SpanType
from drivers.virtual_proto import (
    HEADER_SIZE,
    FrameClock,
    Packet,
    PlayoutBuffer,
    ProtocolError,
    TimeslotMap,
    decode_packet,
)

IDLE = Law.ULAW.idle


def frames(seq: int, n: int = 8, ts: int = 24) -> np.ndarray:
    """Frames whose every octet is (frame index mod 251): easy to check what came out."""
    idx = (np.arange(seq, seq + n) % 251).astype(np.uint8)
    return np.repeat(idx[:, None], ts, axis=1)


def test_header_layout_is_the_documented_one() -> None:
    p = Packet(0x01020304, np.arange(48, dtype=np.uint8).reshape(2, 24), flags=0)
    raw = p.encode()
    assert raw[:HEADER_SIZE] == bytes([1, 0, 0, 2, 1, 2, 3, 4])
    assert raw[HEADER_SIZE:] == bytes(range(48))  # frame-major: frame 0 TS1..24, then frame 1
    back = decode_packet(raw, 24)
    assert back.sequence == 0x01020304 and back.frames.shape == (2, 24)
    assert np.array_equal(back.frames, p.frames)


@pytest.mark.parametrize(("raw", "why"), [
    (b"\x01\x00\x00", "shorter"), (bytes([2, 0, 0, 1, 0, 0, 0, 0]) + bytes(24), "version"),
    (bytes([1, 0, 0, 0, 0, 0, 0, 0]), "frame count"), (bytes([1, 0, 0, 1, 0, 0, 0, 0]) + bytes(23), "need"),
])
def test_bad_packets_raise_protocol_error(raw: bytes, why: str) -> None:
    with pytest.raises(ProtocolError, match=why):
        decode_packet(raw, 24)


@given(st.binary(max_size=600), st.sampled_from([24, 32]))
def test_decoder_never_raises_anything_else(raw: bytes, ts: int) -> None:
    try:
        p = decode_packet(raw, ts)
    except ProtocolError:
        return
    assert Packet(p.sequence, p.frames, p.flags).encode() == raw


def test_timeslot_map_e1_and_t1() -> None:
    e1 = TimeslotMap(SpanType.E1, SpanType.E1.default_bchannels, Law.ALAW.idle)
    block = np.arange(30 * 4, dtype=np.uint8).reshape(30, 4)
    fr = e1.to_frames(block)
    assert fr.shape == (4, 32)
    assert (fr[:, 0] == 0xD5).all() and (fr[:, 16] == 0xD5).all()  # TS0 framing, TS16 D-channel
    assert fr[0, 1] == block[0, 0] and fr[0, 17] == block[15, 0] and fr[3, 31] == block[29, 3]
    assert np.array_equal(e1.from_frames(fr), block)
    t1 = TimeslotMap(SpanType.T1, (1, 2, 23), IDLE)
    fr = t1.to_frames(np.array([[1], [2], [3]], dtype=np.uint8))
    assert fr[0, 0] == 1 and fr[0, 1] == 2 and fr[0, 22] == 3 and fr[0, 23] == IDLE


def test_in_order_stream_plays_after_target_without_counts() -> None:
    pb = PlayoutBuffer(24, IDLE, target=32)
    out = []
    for k in range(0, 800, 8):
        pb.push(Packet(k, frames(k)))
        if k >= 32:
            out.append(pb.pull(8))
    played = np.concatenate(out)[:, 0]
    assert list(played[:16]) == [x % 251 for x in range(16)]
    assert pb.stats.lost_frames == pb.stats.slips == pb.stats.reordered_packets == 0
    assert 24 <= pb.depth <= 40


def test_loss_is_filled_with_idle_and_counted() -> None:
    pb = PlayoutBuffer(24, IDLE, target=32)
    for k in range(0, 40, 8):
        pb.push(Packet(k, frames(k)))
    got = [pb.pull(8)]
    for k in range(40, 200, 8):
        if k != 48:
            pb.push(Packet(k, frames(k)))
        got.append(pb.pull(8))
    col = np.concatenate(got)[:, 0]
    assert (col[48:56] == IDLE).all() and col[56] == 56 and col[47] == 47
    assert pb.stats.lost_frames == 8 and pb.stats.slips == 0


def test_reordering_within_the_buffer_loses_nothing() -> None:
    pb = PlayoutBuffer(24, IDLE, target=32)
    order = [0, 8, 16, 24, 40, 32, 48, 64, 56, 72, 80, 88, 96]
    got = []
    for i, k in enumerate(order):
        pb.push(Packet(k, frames(k)))
        if i >= 4:
            got.append(pb.pull(8))
    col = np.concatenate(got)[:, 0]
    assert list(col) == [x % 251 for x in range(len(col))]
    assert pb.stats.reordered_packets == 2 and pb.stats.lost_frames == 0
    pb.push(Packet(16, frames(16)))  # long after its slot
    assert pb.stats.late_frames == 8


def test_overflow_and_underflow_are_slips() -> None:
    pb = PlayoutBuffer(24, IDLE, target=32, high_water=48)
    for k in range(0, 80, 8):  # 80 frames arrive, nothing played: 32 too many
        pb.push(Packet(k, frames(k)))
    assert pb.stats.overflow_slips == 32 and pb.depth == 48
    pb.pull(48)
    assert pb.stats.underflow_slips == 0
    pb.pull(8)  # nothing left: one slip, then idle while it re-primes
    assert pb.stats.underflow_slips == 1
    assert (pb.pull(8) == IDLE).all() and pb.stats.underflow_slips == 1


def test_stalled_sender_resumes_with_a_jump() -> None:
    pb = PlayoutBuffer(24, IDLE, target=32)
    for k in range(0, 64, 8):
        pb.push(Packet(k, frames(k)))
        pb.pull(8)
    pb.pull(400)  # 50 ms stall: underflow, one slip
    assert pb.stats.underflow_slips == 1
    for k in range(1000, 1040, 8):  # the sender skipped what it did not send
        pb.push(Packet(k, frames(k)))
    assert pb.stats.lost_frames == 1000 - 64 and not pb.priming  # all 64 sent were played first
    assert pb.pull(1)[0, 0] == 1000 % 251


def test_restarted_sender_resyncs_and_sequence_wraps() -> None:
    pb = PlayoutBuffer(24, IDLE, target=16)
    base = (1 << 32) - 24
    for i in range(6):
        k = (base + 8 * i) % (1 << 32)
        pb.push(Packet(k, frames(base + 8 * i)))
    assert pb.depth == 48 - 0 and pb.stats.resyncs == 0 and pb.stats.reordered_packets == 0
    pb.push(Packet(77_000_000, frames(0)))
    assert pb.stats.resyncs == 1


def test_free_running_clock_keeps_8000_per_second() -> None:
    c = FrameClock(now=100.0)
    total = sum(c.due(100.0 + t / 1000 + 0.0003) for t in range(1, 1001))
    assert total in (8002, 8003)
    assert c.due(101.0003 + 0.5) == 0 and c.skipped == 4000  # stalled caller: skip, not burst


def test_line_clock_follows_buffer_fill() -> None:
    c = FrameClock(now=0.0)
    c.steer(depth=48, target=32)
    assert c.rate > 8000
    c.steer(depth=16, target=32)
    assert c.rate < 8000
    c.steer(depth=32, target=32)
    assert c.rate == 8000


@st.composite
def impaired_stream(draw: st.DrawFn) -> list[tuple[str, int]]:
    """A sender's packets with loss, duplication, reordering and stalls, mixed with pulls.

    Packets carry the sender's unbounded frame counter; the wire sequence is it mod 2**32.
    """
    ops: list[tuple[str, int]] = []
    seq = draw(st.integers(0, (1 << 32) - 1))
    for _ in range(draw(st.integers(1, 120))):
        kind = draw(st.sampled_from(["send", "send", "send", "lose", "dup", "swap", "pull", "stall",
                                     "jump"]))
        if kind == "pull":
            ops.append(("pull", draw(st.integers(1, 24))))
        elif kind == "stall":
            ops.append(("pull", draw(st.integers(40, 400))))
        elif kind == "jump":
            seq += draw(st.integers(8, 20000))
        elif kind == "lose":
            seq += 8
        elif kind == "dup":
            ops.append(("send", seq - 8))
        elif kind == "swap":
            ops += [("send", seq + 8), ("send", seq)]
            seq += 16
        else:
            ops.append(("send", seq))
            seq += 8
        if draw(st.booleans()):
            ops.append(("pull", 8))
    return ops


TAG_MOD = (1 << 24) - 1


def tagged(counter: int) -> np.ndarray:
    """8 frames whose first three octets are the frame counter mod 2**24 - 1, big-endian (never
    all 0xFF, the idle code): wide enough that a forward jump (up to max_gap frames, 10 s) is never
    mistaken for a step back."""
    idx = np.arange(counter, counter + 8) % TAG_MOD
    fr = np.zeros((8, 24), dtype=np.uint8)
    fr[:, 0], fr[:, 1], fr[:, 2] = idx >> 16, (idx >> 8) & 0xFF, idx & 0xFF
    return fr


# found by hypothesis in CI: an underflow then a 30,000-frame jump is a loss (within max_gap),
# a forward step that the earlier 16-bit tags took for a step back
_STALL_THEN_JUMP = [("pull", 1), *(("send", 8 * i) for i in range(5)), ("pull", 40),
                    *(("send", 8 * i) for i in range(5, 15)), ("pull", 8), ("send", 120), ("pull", 8),
                    ("send", 128), ("pull", 8), ("pull", 1), ("pull", 8), ("send", 136), ("send", 144),
                    ("pull", 80), *(("send", 30152 + 8 * i) for i in range(10)), ("pull", 8)]


@settings(max_examples=100)
@given(impaired_stream())
@example(_STALL_THEN_JUMP)
def test_playout_never_reorders_duplicates_or_crashes(ops: list[tuple[str, int]]) -> None:
    """Whatever arrives, what plays is in order, never twice, and every frame is accounted for."""
    pb = PlayoutBuffer(24, 0xFF, target=32)
    played: list[int] = []
    pulled = 0
    for op, arg in ops:
        if op == "send":
            pb.push(Packet(arg % (1 << 32), tagged(arg)))
        else:
            out = pb.pull(arg)
            pulled += arg
            assert out.shape == (arg, 24)
            real = ~((out[:, 0] == 0xFF) & (out[:, 1] == 0xFF) & (out[:, 2] == 0xFF))
            o = out[real].astype(int)
            played += [int(v) for v in (o[:, 0] << 16 | o[:, 1] << 8 | o[:, 2])]
    # in order (modulo the tag wrap and resyncs), and no frame twice in a row
    steps = [(b - a) % TAG_MOD for a, b in itertools.pairwise(played)]
    assert all(s != 0 for s in steps)
    assert sum(1 for s in steps if s > TAG_MOD // 2) <= pb.stats.resyncs + pb.stats.overflow_slips
    assert len(played) <= pb.stats.frames and len(played) <= pulled
