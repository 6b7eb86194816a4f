"""`SpanEngine.receive_batch` against `receive_rtp` per packet, compared after every drain.

Two identical engines get the same drains: one through `receive_batch` (its bulk path for
rows with one datagram, its serial path for rows with several), the other through
`receive_rtp` for each datagram in order.  After each drain every piece of receive state
must be equal: the jitter buffer's rings, cursors, statistics and adaptation state, the
RFC 3550 A.1 sequence state and A.8 jitter, the stream counters, latency samples and the
pending latency queues, and the engine's events.  The traffic has every case the bulk path
must hand over: loss, reordering inside and across drains, duplicates, late packets, two
packets of one stream in one drain, talkspurt markers, an SSRC change, RFC 3389 comfort
noise, RFC 4733 events, other source addresses and a wrong payload type.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as hst

from appliance.media import rtp
from appliance.media.cn import CnGenerator
from appliance.media.engine import SpanEngine
from appliance.media.stream import Stream, StreamSpec
from dsp import g711

PEER = ("192.0.2.10", 4000)
OTHER = ("192.0.2.99", 4000)
B = 40
ROWS = 8
PTIMES = (20, 20, 10, 20, 30, 20, 10, 20)
Drain = list[tuple[int, bytes, tuple[str, int], float]]


def _engine(now: list[float]) -> tuple[SpanEngine, list[Stream]]:
    e = SpanEngine("s", ROWS, "alaw", B, echo=False, dtmf=False, clock=lambda: now[0])
    sts = []
    for ch, pt in enumerate(PTIMES):
        codec, ptype = ("PCMU", 0) if ch % 3 == 1 else ("PCMA", 8)
        s = Stream(StreamSpec(f"c{ch}", "s", ch, remote=PEER, codec=codec, payload_type=ptype, ptime_ms=pt), 0.0)
        s.cn = CnGenerator(seed=ch)  # the same noise in both engines
        e.open(s)
        sts.append(s)
    return e, sts


def _traffic(seed: int, blocks: int) -> list[Drain]:
    rng = np.random.default_rng(seed)
    drains: list[Drain] = [[] for _ in range(blocks + 16)]
    for c, pt in enumerate(PTIMES):
        n = pt * 8
        law = g711.ulaw_encode if c % 3 == 1 else g711.alaw_encode
        ptype = 0 if c % 3 == 1 else 8
        snd = rtp.RtpSender(ptype, ssrc=1000 + c, seq=int(rng.integers(0, 65536)),
                            ts=int(rng.integers(0, 2**32)))
        for i in range(blocks * B // n):
            r = float(rng.random())
            if i == blocks * B // n // 2 and c % 4 == 2:
                snd = rtp.RtpSender(ptype, ssrc=5000 + c)  # the far end restarted: another source
            if r < 0.03:
                snd.talkspurt()
            pay = law((np.sin(np.arange(n) * 0.2 + i) * 2500).astype(np.int16)).tobytes()
            if r > 0.985:  # comfort noise
                d = rtp.encode(rtp.RtpPacket(13, snd.seq, snd.ts, snd.ssrc, bytes([45])))
                snd.seq = (snd.seq + 1) & 0xFFFF
                snd.skip(n)
            elif 0.96 < r <= 0.97:  # an RFC 4733 event packet at this timestamp
                d = rtp.encode(rtp.RtpPacket(101, snd.seq, snd.ts, snd.ssrc, bytes([5, 0x0A, 0, 160]),
                                             marker=True))
                snd.seq = (snd.seq + 1) & 0xFFFF
                snd.skip(n)
            else:
                d = snd.packet(pay, n)
            due = (i + 1) * n // B
            k = due
            if r < 0.08:
                k += int(rng.integers(1, 14))  # reordered, or late when far enough
            if 0.95 < r <= 0.955:
                continue  # lost
            k = min(k, len(drains) - 1)
            at = k * B / 8000.0 + float(rng.random()) * 0.004
            drains[k].append((c, d, PEER, at))
            q = float(rng.random())
            if q < 0.03:
                drains[k].append((c, d, PEER, at))  # duplicate in the same drain
            elif q < 0.06:
                drains[min(k + int(rng.integers(1, 6)), len(drains) - 1)].append((c, d, PEER, at + 0.01))
            elif q < 0.08:
                drains[k].append((c, d, OTHER, at))  # not the latched address
            elif q < 0.09:
                drains[k].append((c, d[:1] + bytes([d[1] ^ 0x21]) + d[2:], PEER, at))  # wrong payload type
    for dr in drains:
        order = rng.permutation(len(dr))  # reordering inside a drain too
        dr[:] = [dr[i] for i in order]
    for k in range(60, 66):  # a stall: one drain with several packets of every stream
        drains[66] = drains[k] + drains[66]
        drains[k] = []
    return drains


def _state(e: SpanEngine, sts: list[Stream]) -> list[Any]:
    jb = e.jb
    out: list[Any] = [jb.audio.tobytes(), jb.valid.tobytes(), jb.cursor.tolist(), sorted(jb._adjusting),
                      {k: list(q) for k, q in e._pending_lat.items()}, list(e.events), e._cn_on.tolist()]
    for s in sts:
        c = jb.chans[s.row]
        assert c is not None
        out.append((jb.stats(s.row).as_dict(), c.started, c.target, c.hi_end, c.window, c.wofs,
                    c.spread_peak, c.settled, c.pending, c.since_trickle, c.n_put))
        src = s.source
        if src is None:
            out.append(None)
        else:
            sq = src.seq
            out.append((src.ssrc, sq.base_seq, sq.max_seq, sq.bad_seq, sq.cycles, sq.received, sq.probation,
                        src.jitter, src._transit))
        out.append((dict(s.counters.__dict__), s.latched, s.remote_ssrc, s.last_rx, s.cn_active,
                    {k: v for k, v in s.latency.raw().items() if k.startswith("rtp_")}))
    return out


def _compare(seed: int, blocks: int = 200) -> dict[str, int]:
    traffic = _traffic(seed, blocks)
    now = [0.0]
    ea, sa = _engine(now)
    eb, sb = _engine(now)
    rx = np.full((ROWS, B), 0xD5, np.uint8)
    for k, dr in enumerate(traffic):
        now[0] = k * B / 8000.0 + 0.0045
        ea.t_now = eb.t_now = now[0]
        for s, d, a, t in [(sa[c], d, a, t) for c, d, a, t in dr]:
            ea.receive_rtp(s, d, a, t)
        eb.receive_batch([(sb[c], d, a, t) for c, d, a, t in dr])
        assert _state(ea, sa) == _state(eb, sb), f"drain {k}"
        now[0] = (k + 1) * B / 8000.0
        outa: list[np.ndarray] = []
        outb: list[np.ndarray] = []
        ea.tick(rx, now[0], outa.append)
        eb.tick(rx, now[0], outb.append)
        assert all(np.array_equal(x, y) for x, y in zip(outa, outb, strict=True)), f"block {k}"
    tot: dict[str, int] = {}
    for s in sa:
        for d in (s.counters.__dict__, ea.jb.stats(s.row).as_dict()):
            for key, v in d.items():
                tot[key] = tot.get(key, 0) + v
    return tot


def test_bulk_and_serial_receive_equal_receive_rtp_after_every_drain() -> None:
    tot = _compare(7)
    # the traffic reached every path
    for key in ("dropped_address", "dropped_payload_type", "cn_rx", "events_rx", "ssrc_changes",
                "duplicate", "reordered", "late", "rx_packets"):
        assert tot[key] > 0, key


@settings(max_examples=8, deadline=None)
@given(hst.integers(0, 2**31))
def test_receive_batch_is_receive_rtp_per_packet_any_traffic(seed: int) -> None:
    _compare(seed, blocks=120)
