"""Debian's baresip as a SIP peer (the voice AI in the end-to-end tests): loopback only,
configured from a directory of its own, auto-answering, playing a WAV file as its audio
source (`aufile`) and recording what it hears (`sndfile` writes the decoded far-end audio
and its own sent audio as WAV files), with no sound card (`aubridge` as the null player).

`Baresip(workdir, wav)` writes `config` and `accounts` there and starts
`baresip -f workdir -n 127.0.0.1`; `address` is its SIP address; `stop()` ends it and returns
its output; `recordings()` lists the WAV files sndfile wrote (`dump-...-dec.wav` is what
baresip heard, `-enc.wav` what it sent).
"""

from __future__ import annotations

import shutil
import subprocess
import time
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

from tests.peers.sipp.runner import free_udp_port

BARESIP = shutil.which("baresip") or "/usr/bin/baresip"
MODULES = "/usr/lib/baresip/modules"


def write_tone(path: Path, freq: float, dbfs: float, seconds: float) -> Path:
    """An 8 kHz 16-bit mono WAV of one sine; `dbfs` is the peak level re full scale."""
    t = np.arange(int(8000 * seconds)) / 8000.0
    pcm = (32767 * 10 ** (dbfs / 20) * np.sin(2 * np.pi * freq * t)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(pcm.tobytes())
    return path


def read_wav(path: Path) -> npt.NDArray[np.float64]:
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2, path
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
        if w.getnchannels() > 1:
            x = x.reshape(-1, w.getnchannels())[:, 0]
        return x


class Baresip:
    def __init__(self, workdir: Path, source_wav: Path, *, user: str = "2001",
                 rtp_ports: tuple[int, int] = (30000, 30998)) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_udp_port()
        (workdir / "config").write_text(f"""poll_method		epoll
sip_listen		127.0.0.1:{self.port}
module_path		{MODULES}
module			g711.so
module			aufile.so
module			aubridge.so
module			sndfile.so
module_app		account.so
module_app		menu.so
audio_player		aubridge,nowhere
audio_alert		aubridge,nowhere
audio_source		aufile,{source_wav}
ausrc_srate		8000
ausrc_channels		1
auplay_srate		8000
auplay_channels		1
snd_path		{workdir}
rtp_ports		{rtp_ports[0]}-{rtp_ports[1]}
""")
        (workdir / "accounts").write_text(f"<sip:{user}@127.0.0.1>;regint=0;answermode=auto\n")
        self.proc = subprocess.Popen([BARESIP, "-f", str(workdir), "-n", "127.0.0.1"], cwd=workdir,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, errors="replace")
        self._ready()

    def _ready(self, timeout: float = 10.0) -> None:
        assert self.proc.stdout is not None
        end = time.monotonic() + timeout
        self.lines: list[str] = []
        while time.monotonic() < end:
            line = self.proc.stdout.readline()
            if not line and self.proc.poll() is not None:
                break
            self.lines.append(line)
            if "baresip is ready" in line:
                return
        self.proc.kill()
        raise RuntimeError("baresip did not start: " + "".join(self.lines))

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                out, _ = self.proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                out, _ = self.proc.communicate()
        else:
            out, _ = self.proc.communicate()
        return "".join(self.lines) + (out or "")

    def recordings(self) -> list[Path]:
        return sorted(self.workdir.glob("dump-*.wav"))
