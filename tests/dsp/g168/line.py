"""The line the echo canceller sits on: hybrid echo path, ERL, near end, G.711.

``Line(model, erl_db, delay)`` puts a G.168 Annex D impulse response (see
``models``) after a pure delay of ``delay`` samples and scales it so that the
echo of a voice-band signal is ``erl_db`` below it (ERL as G.168 3.12 defines
it, measured on band-limited noise).  ``run`` builds Rin and Sin for a set of
cases at once, shaped (cases, samples) as the canceller takes them; with
``g711`` both Rin (towards the line) and Sin (from the line) go through
mu-law (``dsp.g711``), as on a real T1/E1 span.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import signal as sps

from dsp.g711 import ulaw_decode, ulaw_encode
from tests.dsp.g168.models import model
from tests.dsp.g168.signals import FS

FloatArray = npt.NDArray[np.float64]
Int16Array = npt.NDArray[np.int16]


def saturate(x: FloatArray) -> Int16Array:
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def ulaw_loop(x: Int16Array) -> Int16Array:
    """Encode to mu-law and back (dsp.g711, tested against audioop and spandsp)."""
    return ulaw_decode(ulaw_encode(np.ascontiguousarray(x, dtype=np.int16)))


@dataclass(frozen=True)
class Line:
    """A hybrid: G.168 Annex D model ``model`` at ``erl_db`` after ``delay`` samples."""

    model: str = "d2"
    erl_db: float = 6.0
    delay: int = 0

    def impulse_response(self) -> FloatArray:
        h = model(self.model)
        rng = np.random.default_rng(12345)
        probe = sps.sosfilt(sps.butter(6, [300, 3400], btype="bandpass", fs=FS, output="sos"),
                            rng.standard_normal(16000))
        gain = np.sqrt(np.mean(np.convolve(probe, h)[: len(probe)] ** 2) / np.mean(probe**2))
        h = h / gain * 10.0 ** (-self.erl_db / 20.0)
        return np.concatenate([np.zeros(self.delay), h])

    def echo(self, rin: npt.NDArray[np.generic]) -> FloatArray:
        h = self.impulse_response()
        return np.asarray(sps.lfilter(h, [1.0], np.asarray(rin, dtype=np.float64)))


@dataclass
class Run:
    """Signals of one simulated run, all shaped (cases, samples)."""

    rin: Int16Array
    sin: Int16Array
    echo: FloatArray
    near: FloatArray


def run(lines: list[Line], far: FloatArray, near: FloatArray | list[FloatArray],
        g711: bool = False) -> Run:
    """Rin/Sin for each line: far end ``far`` (1-D or per case), near end ``near`` (per case or one)."""
    cases = len(lines)
    far2 = np.broadcast_to(np.asarray(far, dtype=np.float64), (cases, np.shape(far)[-1]))
    rin = saturate(far2)
    if g711:
        rin = ulaw_loop(rin)
    echo = np.stack([ln.echo(rin[i]) for i, ln in enumerate(lines)])
    near2 = np.broadcast_to(np.asarray(near, dtype=np.float64), echo.shape)
    sin = saturate(echo + near2)
    if g711:
        sin = ulaw_loop(sin)
    return Run(rin=rin, sin=sin, echo=echo, near=np.array(near2))
