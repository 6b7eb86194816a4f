"""`SpanEngine.receive_batch` (the bulk path of the media process) against `receive_rtp` per packet:
the same audio toward the PBX, jitter buffer statistics, counters and RFC 3550 reception state,
under loss, reordering, duplicates (also inside one batch), late packets, talkspurt markers,
other sources, comfort noise, events and wrong payload types."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.media import rtp
from appliance.media.cn import CnGenerator
from appliance.media.engine import SpanEngine
from appliance.media.stream import Stream, StreamSpec
from dsp import g711

PEER = ("192.0.2.10", 4000)
OTHER = ("192.0.2.99", 4000)
B = 40


def _engine(now: list[float]) -> tuple[SpanEngine, list[Stream]]:
    e = SpanEngine("s", 3, "alaw", B, echo=False, dtmf=False, clock=lambda: now[0])
    sts = []
    for ch, pt in enumerate((20, 10, 20)):
        s = Stream(StreamSpec(f"c{ch}", "s", ch, remote=PEER, codec="PCMA", payload_type=8, ptime_ms=pt), 0.0)
        s.cn = CnGenerator(seed=ch)  # the same noise in both runs
        e.open(s)
        sts.append(s)
    return e, sts


def _traffic(seed: int, blocks: int) -> list[list[tuple[int, bytes, tuple[str, int], float]]]:
    """Per block: (channel, datagram, source, arrival) with every kind of trouble."""
    rng = np.random.default_rng(seed)
    senders = [rtp.RtpSender(8, ssrc=100 + c, seq=65530, ts=2**32 - 500) for c in range(3)]
    per_block: list[list[tuple[int, bytes, tuple[str, int], float]]] = [[] for _ in range(blocks + 20)]
    for c, p in enumerate((160, 80, 160)):
        for i in range(blocks * B // p):
            pay = g711.alaw_encode((np.sin(np.arange(p) * 0.3 + i) * 3000).astype(np.int16)).tobytes()
            if i % 37 == 5:
                senders[c].talkspurt()
            if i % 53 == 7:  # comfort noise instead of audio
                d = rtp.encode(rtp.RtpPacket(13, senders[c].seq, senders[c].ts, senders[c].ssrc, bytes([40])))
                senders[c].seq = (senders[c].seq + 1) & 0xFFFF
                senders[c].skip(p)
            else:
                d = senders[c].packet(pay, p)
            due = (i + 1) * p // B
            r = rng.random()
            k = due + (int(rng.integers(1, 12)) if r < 0.1 else 0)  # reordered / late
            if r > 0.97:
                continue  # lost
            at = k * B / 8000.0 + float(rng.random()) * 0.004
            per_block[k].append((c, d, PEER, at))
            if r > 0.93:
                per_block[k].append((c, d, PEER, at))  # duplicate in the same batch
            elif r > 0.90:
                per_block[min(k + 3, len(per_block) - 1)].append((c, d, PEER, at + 0.015))
            if r < 0.06:
                per_block[k].append((c, d, OTHER, at))  # not the latched source
            if r < 0.04:
                per_block[k].append((c, d[:1] + bytes([d[1] ^ 1]) + d[2:], PEER, at))  # wrong payload type
    for b in per_block:
        b.sort(key=lambda x: x[3])
    for k in range(100, 112):  # a 60 ms stall: one drain gets several packets of every stream
        per_block[112] = per_block[k] + per_block[112]
        per_block[k] = []
    return per_block


def _run(batch: bool, traffic: list[list[tuple[int, bytes, tuple[str, int], float]]]) -> list[object]:
    now = [0.0]
    e, sts = _engine(now)
    written: list[np.ndarray] = []
    rx = np.full((3, B), 0xD5, np.uint8)
    for k, pk in enumerate(traffic):
        now[0] = k * B / 8000.0 + 0.0045
        items = [(sts[c], d, a, t) for c, d, a, t in pk]
        e.t_now = now[0]
        if batch:
            e.receive_batch(items)
        else:
            for s, d, a, t in items:
                e.receive_rtp(s, d, a, t)
        now[0] = (k + 1) * B / 8000.0
        e.tick(rx, now[0], written.append)
    out: list[object] = [np.concatenate(written, axis=1)]
    for s in sts:
        src = s.source
        assert src is not None
        out += [dict(s.counters.__dict__), e.jb.stats(s.row).as_dict(), src.seq.received, src.seq.extended_max,
                src.cumulative_lost, round(src.jitter, 9), s.latched, s.cn_active,
                {k: v for k, v in s.latency.raw().items() if k.startswith("rtp_")}]
    return out


def _check(seed: int) -> None:
    traffic = _traffic(seed, 320)
    a, b = _run(False, traffic), _run(True, traffic)
    assert np.array_equal(a[0], b[0])  # type: ignore[arg-type]
    assert a[1:] == b[1:]
    tot: dict[str, int] = {}
    for c in range(3):
        for d in (a[1 + 9 * c], a[2 + 9 * c]):
            for k, v in d.items():  # type: ignore[attr-defined]
                tot[k] = tot.get(k, 0) + v
    assert tot["dropped_address"] > 0 and tot["dropped_payload_type"] > 0 and tot["cn_rx"] > 0
    assert tot["duplicate"] > 0 and tot["reordered"] > 0 and tot["late"] > 0


def test_batch_is_receive_rtp_per_packet() -> None:
    _check(1)


@settings(max_examples=5, deadline=None)
@given(st.integers(2, 10_000))
def test_batch_is_receive_rtp_per_packet_any_traffic(seed: int) -> None:
    _check(seed)
