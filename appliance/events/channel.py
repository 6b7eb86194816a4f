"""Unix datagram channels between the processes: a sender that never blocks, a receiver.

The core must never wait for the console or CTI processes.  A sender
therefore uses a non-blocking socket: when the peer's receive queue is full
(the peer is slow or stopped) the message goes to a bounded backlog that is
retried on a short timer, and when the backlog is full the message is
dropped and counted.  For status snapshots only the newest matters, so that
sender keeps just the latest one.  A missing peer (not started, restarting)
is the same case: nothing blocks, messages wait in the backlog or are counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import stat
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..logs import get_logger
from .wire import MAX_DATAGRAM, Message, WireError, decode, encode

log = get_logger("events")

RETRY_S = 0.02
"""How soon a sender retries its backlog after the peer could not take a message."""
ABSENT_RETRY_S = 0.5
"""How soon it retries when there was no peer socket at all."""


@dataclass
class SenderStats:
    sent: int = 0
    dropped: int = 0
    """Messages lost because the backlog was full (or replaced, for keep_latest)."""
    undeliverable: int = 0
    """Send attempts that found no peer socket (the peer is not running)."""
    oversize: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"sent": self.sent, "dropped": self.dropped,
                "undeliverable": self.undeliverable, "oversize": self.oversize}


class DatagramSender:
    """Sends datagrams to one peer path; never blocks the caller."""

    def __init__(self, path: Path, *, backlog: int, keep_latest: bool = False) -> None:
        self.path = path
        self.keep_latest = keep_latest
        self.backlog: deque[bytes] = deque()
        self.max_backlog = 1 if keep_latest else backlog
        self.stats = SenderStats()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._sock.setblocking(False)
        self._timer: asyncio.TimerHandle | None = None
        self._peer_missing = False

    def send(self, msg: Message) -> bool:
        """Queue and try to send `msg`; False when it was dropped."""
        return self.send_bytes(encode(msg))

    def send_bytes(self, payload: bytes) -> bool:
        if len(payload) > MAX_DATAGRAM:
            self.stats.oversize += 1
            return False
        if len(self.backlog) >= self.max_backlog:
            self.stats.dropped += 1
            if not self.keep_latest:
                self._arm()
                return False
            self.backlog.popleft()
        self.backlog.append(payload)
        self.flush()
        return True

    def flush(self) -> None:
        """Send what the backlog holds until the peer's queue is full."""
        while self.backlog:
            try:
                self._sock.sendto(self.backlog[0], str(self.path))
            except (BlockingIOError, InterruptedError):
                break
            except (FileNotFoundError, ConnectionRefusedError):
                self.stats.undeliverable += 1
                if not self._peer_missing:
                    log.info("no receiver on %s yet; holding messages", self.path)
                self._peer_missing = True
                break
            except OSError as exc:
                if exc.errno in (errno.ENOBUFS, errno.EAGAIN):
                    break
                if exc.errno == errno.EMSGSIZE:
                    self.stats.oversize += 1
                    self.backlog.popleft()
                    continue
                self.stats.undeliverable += 1
                break
            self.backlog.popleft()
            self.stats.sent += 1
            self._peer_missing = False
        if self.backlog:
            self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        delay = ABSENT_RETRY_S if self._peer_missing else RETRY_S
        self._timer = loop.call_later(delay, self._retry)

    def _retry(self) -> None:
        self._timer = None
        self.flush()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._sock.close()


class DatagramReceiver:
    """Binds a unix datagram socket and hands each decoded message to a callback."""

    def __init__(self, path: Path, on_message: Callable[[Message], None], *, mode: int = 0o660
                 ) -> None:
        self.path = path
        self.on_message = on_message
        self.mode = mode
        self.received = 0
        self.malformed = 0
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def open(self) -> None:
        """Bind the socket (replacing a stale one) and start reading on the running loop."""
        self._loop = asyncio.get_running_loop()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(self.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        sock.setblocking(False)
        sock.bind(str(self.path))
        os.chmod(self.path, self.mode)
        self._sock = sock
        self._loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        assert self._sock is not None
        for _ in range(256):  # bounded, so one flood cannot starve the loop
            try:
                data = self._sock.recv(MAX_DATAGRAM + 1)
            except (BlockingIOError, InterruptedError):
                return
            try:
                msg = decode(data)
            except WireError as exc:
                self.malformed += 1
                if self.malformed <= 10 or self.malformed % 1000 == 0:
                    log.warning("malformed datagram on %s (%d so far): %s", self.path,
                                self.malformed, exc)
                continue
            self.received += 1
            try:
                self.on_message(msg)
            except Exception:
                log.exception("handler for %s failed", self.path)

    def close(self) -> None:
        if self._sock is not None:
            if self._loop is not None:
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


def _remove_stale(path: Path) -> None:
    """Unlink a socket left by a dead process; refuse to steal a live one."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise FileExistsError(f"{path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    try:
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    finally:
        probe.close()
    raise FileExistsError(f"another process is already receiving on {path}")
