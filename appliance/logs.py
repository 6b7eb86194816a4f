"""Structured logging to journald, with plain stderr lines when there is no journal.

Every part logs through a named logger and passes call facts as `extra`:

    log = appliance.logs.get_logger("isdn")
    log.info("DISCONNECT received", extra={"span": 1, "channel": 5, "call": cid, "cause": 16})

The journal entry then carries TDMGW_SPAN=1, TDMGW_CHANNEL=5, TDMGW_CALL=...,
Q850_CAUSE=16 (see FIELDS), so `journalctl TDMGW_CALL=...` shows one call's
story across processes.  Without a journal socket (a container, a test) the
same record becomes one stderr line ending in `span=1 channel=5 call=... cause=16`.

In the core, records go through a bounded queue to a logging thread: the
journal socket can block when journald is slow, and a record that cannot be
queued is dropped and counted rather than delaying the caller.
"""

from __future__ import annotations

import logging
import logging.handlers
import queue
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

JOURNAL_SOCKET = Path("/run/systemd/journal/socket")
ROOT = "tdmgw"

# `extra=` key -> journal field.  Parts add keys here (one line) as they need them.
# `span` is the span's name (as in the configuration, routes and /healthz),
# `channel` the B-channel timeslot, `call` the gateway's call id, `cause` Q.850.
FIELDS: dict[str, str] = {
    "span": "TDMGW_SPAN",
    "channel": "TDMGW_CHANNEL",
    "call": "TDMGW_CALL",
    "cause": "Q850_CAUSE",
    "sip_call_id": "SIP_CALL_ID",
    "sip_status": "SIP_STATUS",
    "peer": "TDMGW_PEER",
    "event": "TDMGW_EVENT",
    "route": "TDMGW_ROUTE",
    "config_key": "TDMGW_CONFIG_KEY",
}

_PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6,
             logging.DEBUG: 7}
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}


def get_logger(part: str) -> logging.Logger:
    """The logger of one part of the gateway ("isdn", "sip", "span", "core"...)."""
    return logging.getLogger(f"{ROOT}.{part}")


def record_fields(record: logging.LogRecord) -> dict[str, str]:
    """The journal fields carried by a record's `extra=` keys."""
    out: dict[str, str] = {}
    for key, name in FIELDS.items():
        value = record.__dict__.get(key)
        if value is not None:
            out[name] = str(value)
    more = record.__dict__.get("journal")
    if isinstance(more, dict):
        out.update({str(k).upper(): str(v) for k, v in more.items()})
    return out


def _part(record: logging.LogRecord) -> str:
    name = record.name
    return name[len(ROOT) + 1:] if name.startswith(ROOT + ".") else name


class JournalHandler(logging.Handler):
    """Sends each record to journald with its structured fields (systemd.journal.send)."""

    def __init__(self, identifier: str, process: str) -> None:
        super().__init__()
        from systemd import journal

        self._send: Callable[..., None] = journal.send
        self.identifier = identifier
        self.process = process

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + "".join(traceback.format_exception(*record.exc_info))
            self._send(
                message,
                PRIORITY=str(_PRIORITY.get(record.levelno, 6)),
                SYSLOG_IDENTIFIER=self.identifier,
                CODE_FILE=record.pathname,
                CODE_LINE=record.lineno,
                CODE_FUNC=record.funcName,
                LOGGER=record.name,
                THREAD_NAME=record.threadName or "",
                TDMGW_PROCESS=self.process,
                TDMGW_PART=_part(record),
                **record_fields(record),
            )
        except Exception:
            self.handleError(record)


class PlainFormatter(logging.Formatter):
    """`2026-01-31T12:00:00.123Z tdmgw-core[42] INFO isdn: text span=1 call=abc cause=16`."""

    def __init__(self, identifier: str) -> None:
        super().__init__()
        self.identifier = identifier

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        ms = int(record.msecs)
        rest = " ".join(
            f"{key}={record.__dict__[key]}" for key in FIELDS
            if record.__dict__.get(key) is not None
        )
        line = (f"{ts}.{ms:03d}Z {self.identifier}[{record.process}] {record.levelname} "
                f"{_part(record)}: {record.getMessage()}")
        if rest:
            line += " " + rest
        if record.exc_info:
            line += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return line


class DroppingQueueHandler(logging.handlers.QueueHandler):
    """Queues records for the logging thread; when the queue is full, drops and counts."""

    def __init__(self, q: queue.Queue[Any]) -> None:
        super().__init__(q)
        self.dropped = 0

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1


@dataclass
class LogSetup:
    """What `setup` installed: where logs go, and the handles to change or stop it."""

    target: str
    identifier: str
    handler: logging.Handler
    listener: logging.handlers.QueueListener | None = None
    queue_handler: DroppingQueueHandler | None = None
    previous_level: int = logging.WARNING
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def dropped(self) -> int:
        return self.queue_handler.dropped if self.queue_handler is not None else 0

    def where(self) -> str:
        """Where the logs go, for the start-up message."""
        if self.target == "journald":
            return f"journald (journalctl -t {self.identifier} -f)"
        return "stderr"

    def set_level(self, level: str) -> None:
        logging.getLogger().setLevel(_LEVELS[level])

    def stop(self) -> None:
        """Flush queued records and remove the handlers."""
        with self._lock:
            if self.listener is not None:
                self.listener.stop()
                self.listener = None
            _uninstall()
            logging.getLogger().setLevel(self.previous_level)
            self.handler.close()


def journal_available(socket_path: Path = JOURNAL_SOCKET) -> bool:
    """Whether a journald socket exists to write to."""
    return socket_path.is_socket()


_installed: list[logging.Handler] = []


def _uninstall() -> None:
    root = logging.getLogger()
    while _installed:
        root.removeHandler(_installed.pop())


def setup(
    process: str,
    *,
    level: str = "info",
    journald: bool = True,
    socket_path: Path = JOURNAL_SOCKET,
    stream: TextIO | None = None,
    queued: bool = True,
    queue_size: int = 10000,
) -> LogSetup:
    """Install the handlers of one process ("core", "cti", "console", "supervisor").

    The handler goes on Python's root logger, so records of every library
    (drivers, uvicorn) take the same path.  `journald` asks for the journal;
    it is used when `socket_path` exists, else records become stderr lines.
    `queued` puts a bounded queue and a logging thread between the caller and
    the handler (the core uses it).
    """
    identifier = f"tdmgw-{process}"
    _uninstall()
    root = logging.getLogger()
    target = "journald" if journald and journal_available(socket_path) else "stderr"
    handler: logging.Handler
    if target == "journald":
        handler = JournalHandler(identifier, process)
    else:
        handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
        handler.setFormatter(PlainFormatter(identifier))
    result = LogSetup(target, identifier, handler, previous_level=root.level)
    root.setLevel(_LEVELS[level])
    logging.getLogger(ROOT).setLevel(logging.NOTSET)
    if queued:
        q: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        qh = DroppingQueueHandler(q)
        listener = logging.handlers.QueueListener(q, handler, respect_handler_level=False)
        listener.start()
        root.addHandler(qh)
        _installed.append(qh)
        result.listener = listener
        result.queue_handler = qh
    else:
        root.addHandler(handler)
        _installed.append(handler)
    return result
