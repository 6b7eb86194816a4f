"""Subprocess helpers for the daemon tests: processes with watched stderr, a notify socket."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def config_text(run: Path, *, extra: str = "", status_ms: int = 100,
                heartbeat_ms: int = 1500) -> str:
    return f"""
[health]
listen = "127.0.0.1:0"

[sip]
bind = "127.0.0.1"
port = 0

[logging]
level = "info"
journald = false

[runtime]
dir = "{run}"
status_interval_ms = {status_ms}
heartbeat_timeout_ms = {heartbeat_ms}
{extra}
"""


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.upper().startswith("TDMGW_") and k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
    env.update(PYTHONUNBUFFERED="1", PYTHONPATH=str(REPO), **extra)
    return env


class Proc:
    """A tdmgw process whose stderr lines are collected by a thread."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "appliance.cli", *args], cwd=REPO, env=env or clean_env(),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)
        self.lines: list[str] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        self.proc.stdout.close()

    def wait_for(self, pattern: str, timeout: float = 20.0, start: int = 0) -> str:
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines[start:]:
                    if rx.search(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._more()):
                    raise AssertionError(f"no line matching {pattern!r}; output:\n"
                                         + "\n".join(self.lines[-40:]))
                self._cond.wait(min(left, 0.1))

    def _more(self) -> bool:
        return False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)


class NotifySocket:
    """A unix datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self._stop = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._cond:
                self.messages.append((time.monotonic(), data.decode()))
                self._cond.notify_all()

    def wait_for(self, needle: str, timeout: float = 20.0, after: int = 0) -> int:
        """Index of the first message (from `after`) containing the `needle` line."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i, (_, text) in enumerate(self.messages[after:], start=after):
                    if needle in text.splitlines():
                        return i
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {needle!r}; got {self.messages}")
                self._cond.wait(min(left, 0.1))

    def times(self, needle: str) -> list[float]:
        with self._cond:
            return [t for t, text in self.messages if needle in text.splitlines()]

    def close(self) -> None:
        self._stop = True
        self._thread.join(1)
        self.sock.close()
