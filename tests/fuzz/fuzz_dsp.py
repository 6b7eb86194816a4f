"""Fuzz the DSP kernels: `python -m tests.fuzz dsp` (FUZZ_SECONDS=60 by default).

Each input is random: a G.711 call with a random shape and random samples
or codes (checked against audioop and the module's own tables), or a random
stream of blocks of random length, level and content (noise, clipped
square waves, DTMF, tones, silence, NaN now and then) fed to every detector
and meter.  Properties: outputs have the right shape and dtype, equal
audioop, and detectors either accept a block or refuse it with
TypeError/ValueError (non-finite floats) and keep working afterwards.
"""

from __future__ import annotations

import os
import random
import time
import traceback
import warnings

import numpy as np

from dsp import g711
from dsp.answer_tone import AnswerToneDetector, answer_tone
from dsp.dtmf import DIGITS, DtmfDetector, dtmf_tone
from dsp.levels import ActiveSpeechLevel, PowerMeter
from dsp.tones import CallProgressDetector

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop


def _g711_case(rnd: random.Random, rng: np.random.Generator) -> None:
    shape = tuple(rnd.randint(0, 7) for _ in range(rnd.randint(0, 3)))
    x = rng.integers(-32768, 32768, size=shape).astype(np.int16)
    c = rng.integers(0, 256, size=shape).astype(np.uint8)
    flat_x, flat_c = x.tobytes(), c.tobytes()
    pairs = [
        (g711.ulaw_encode(x), audioop.lin2ulaw(flat_x, 2)),
        (g711.alaw_encode(x), audioop.lin2alaw(flat_x, 2)),
        (g711.ulaw_decode(c), audioop.ulaw2lin(flat_c, 2)),
        (g711.alaw_decode(c), audioop.alaw2lin(flat_c, 2)),
    ]
    for ours, ref in pairs:
        assert ours.shape == shape, (ours.shape, shape)
        assert ours.tobytes() == ref
    assert g711.ulaw_to_alaw(c).shape == shape and g711.alaw_to_ulaw(c).shape == shape


def _block(rnd: random.Random, rng: np.random.Generator, channels: int, pos: int) -> np.ndarray:
    n = rnd.choice([0, 1, 7, 40, 80, 159, 160, 161, 320, 1000])
    kind = rnd.randrange(6)
    if kind == 0:
        x = rng.normal(0, 10 ** rnd.uniform(0, 4.5), (channels, n))
    elif kind == 1:
        x = np.sign(rng.normal(0, 1, (channels, n))) * 32767.0
    elif kind == 2:
        x = np.stack([dtmf_tone(rnd.choice(DIGITS), n, rnd.uniform(-40, 3), rnd.uniform(-10, 10), start=pos)
                      for _ in range(channels)])  # fmt: skip
    elif kind == 3:
        x = np.stack([answer_tone(n, rnd.uniform(-40, 0), rnd.random() < 0.5)] * channels)
    elif kind == 4:
        x = np.zeros((channels, n))
    else:
        f = rnd.uniform(50, 3900)
        x = np.stack([np.sin(2 * np.pi * f * (pos + np.arange(n)) / 8000) * 10 ** rnd.uniform(1, 4.5)] * channels)
    if rnd.random() < 0.5:
        return np.clip(np.rint(x), -32768, 32767).astype(np.int16)
    if rnd.random() < 0.05 and x.size:
        x.flat[rnd.randrange(x.size)] = rnd.choice([np.nan, np.inf, -np.inf])
    return x.astype(rnd.choice([np.float32, np.float64]))


def _stream_case(rnd: random.Random, rng: np.random.Generator) -> None:
    c = rnd.randint(1, 5)
    dets = [DtmfDetector(c), AnswerToneDetector(c), CallProgressDetector(c, rnd.choice(["us", "uk", "de", "fr"])),
            PowerMeter(c), ActiveSpeechLevel(c)]  # fmt: skip
    pos = 0
    for _ in range(rnd.randint(1, 40)):
        b = _block(rnd, rng, c, pos)
        finite = b.dtype == np.int16 or bool(np.isfinite(b).all())
        for d in dets:
            try:
                d.process(b)
            except ValueError:
                assert not finite, "ValueError on a finite block"
            else:
                assert finite, "non-finite block accepted"
        if finite:
            pos += b.shape[1]
        if rnd.random() < 0.05:
            for d in dets:
                d.reset(rnd.randrange(c) if rnd.random() < 0.5 else None)


def run(budget: float) -> tuple[int, int]:
    rnd = random.Random(int(os.environ.get("FUZZ_SEED", "0")) or None)
    rng = np.random.default_rng(rnd.randrange(1 << 30))
    tried = failed = 0
    end = time.monotonic() + budget
    while time.monotonic() < end:
        case = _g711_case if rnd.random() < 0.5 else _stream_case
        tried += 1
        try:
            case(rnd, rng)
        except Exception:
            failed += 1
            if failed <= 3:
                print(f"failure in {case.__name__}:")
                traceback.print_exc()
    return tried, failed
