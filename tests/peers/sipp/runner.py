"""Run sipp scenarios on loopback with free ports, and read what they saw.

sipp has no "bind to port 0", so a free UDP port is found by binding one and
closing it (loopback only; a race with another test is retried by the caller
seeing sipp fail to bind).  Each run gets its own directory (sipp writes its
logs next to the scenario) and returns sipp's exit code (0: every call
succeeded), stdout/stderr and the message trace (-trace_msg) for byte checks.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

SIPP = shutil.which("sipp") or "/usr/bin/sipp"
SCENARIOS = Path(__file__).parent


def free_udp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def free_media_port(host: str = "127.0.0.1", tries: int = 64) -> int:
    """An even port p with p..p+3 free: sipp's -mp (audio echo at p and RTCP at p+1, video
    echo at p+2, p+3).  Without one every sipp binds 6000, so two sipps running at once
    (pytest -n 2) take each other's RTP."""
    for _ in range(tries):
        base = free_udp_port(host) & ~1
        socks = []
        try:
            for q in range(base, base + 4):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind((host, q))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise OSError("no block of 4 free UDP ports for sipp's media")


@dataclass
class SippResult:
    rc: int
    stdout: str
    stderr: str
    messages: str
    errors: str

    def ok(self) -> bool:
        return self.rc == 0


class Sipp:
    """One sipp process (UAC or UAS) on 127.0.0.1."""

    def __init__(self, workdir: Path, scenario: str, *, remote: tuple[str, int] | None = None,
                 calls: int = 1, rate: float | None = None, port: int | None = None,
                 service: str = "1000", timeout_s: float = 20.0, extra: list[str] | None = None,
                 keys: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_udp_port()
        self.name = Path(scenario).stem
        builtin = scenario in ("uac", "uas")
        args = [SIPP]
        if builtin:
            args += ["-sn", scenario]
        else:
            src = SCENARIOS / scenario
            dst = workdir / src.name
            shutil.copyfile(src, dst)
            args += ["-sf", str(dst)]
        args += ["-i", "127.0.0.1", "-p", str(self.port), "-m", str(calls), "-s", service,
                 "-nostdin", "-timeout", f"{int(timeout_s)}s", "-timeout_error",
                 "-trace_msg", "-trace_err", "-message_file", str(workdir / f"{self.name}.msg"),
                 "-error_file", str(workdir / f"{self.name}.err"), "-nd"]
        if rate is not None:
            args += ["-r", str(rate)]
        for k, v in (keys or {}).items():
            args += ["-key", k, v]
        args += extra or []
        if "-mp" not in args:
            self.media_port = free_media_port()
            args += ["-mp", str(self.media_port)]
        if remote is not None:
            args.append(f"{remote[0]}:{remote[1]}")
        self.args = args
        self.proc = subprocess.Popen(args, cwd=workdir, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                                     errors="replace")

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def wait(self, timeout: float = 30.0) -> SippResult:
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        def read(name: str) -> str:
            p = self.workdir / name
            return p.read_text(errors="replace") if p.exists() else ""
        return SippResult(self.proc.returncode, out, err, read(f"{self.name}.msg"),
                          read(f"{self.name}.err"))

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
