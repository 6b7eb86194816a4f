"""The datagrams between the gateway processes: pure encode/decode, no I/O.

One JSON object per unix datagram, versioned (`"v": 1`), typed by `"t"`:

- `event`: a fact from the core for the CTI process (`call.started`,
  `call.ended`, `span.state`...), numbered by `seq` so the receiver sees gaps
  left by drops;
- `status`: the core's status snapshot for the console (health endpoint)
  and CTI processes;
- `heartbeat`: a console or CTI process telling the core it is alive.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

VERSION = 1
MAX_DATAGRAM = 65536
"""Largest message sent; status snapshots stay well below it."""


class WireError(ValueError):
    """A datagram that is not a valid message (from the peer: logged, counted, dropped)."""


@dataclass(frozen=True)
class Event:
    seq: int
    ts: float
    kind: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Status:
    seq: int
    ts: float
    snapshot: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Heartbeat:
    process: str
    pid: int
    ts: float
    info: dict[str, Any] = field(default_factory=dict)


Message = Event | Status | Heartbeat


def encode(msg: Message) -> bytes:
    """The datagram for a message (compact JSON, UTF-8)."""
    body: dict[str, Any]
    if isinstance(msg, Event):
        body = {"v": VERSION, "t": "event", "seq": msg.seq, "ts": msg.ts, "kind": msg.kind,
                "data": msg.data}
    elif isinstance(msg, Status):
        body = {"v": VERSION, "t": "status", "seq": msg.seq, "ts": msg.ts,
                "snapshot": msg.snapshot}
    else:
        body = {"v": VERSION, "t": "heartbeat", "process": msg.process, "pid": msg.pid,
                "ts": msg.ts, "info": msg.info}
    return json.dumps(body, separators=(",", ":"), default=str, allow_nan=False).encode()


def _get(body: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise WireError(f"field {key!r} missing or of the wrong type")
    return value


def _number(body: dict[str, Any], key: str) -> float:
    value = _get(body, key, (int, float))
    if not math.isfinite(value):
        raise WireError(f"field {key!r} is not a finite number")
    return float(value)


def decode(data: bytes) -> Message:
    """The message in a datagram; raises WireError for anything malformed."""
    if len(data) > MAX_DATAGRAM:
        raise WireError(f"datagram of {len(data)} bytes exceeds {MAX_DATAGRAM}")
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise WireError(f"not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise WireError("not a JSON object")
    if body.get("v") != VERSION:
        raise WireError(f"unknown version {body.get('v')!r}")
    t = body.get("t")
    if t == "event":
        seq = _get(body, "seq", int)
        if seq < 0:
            raise WireError("negative seq")
        return Event(seq, _number(body, "ts"), _get(body, "kind", str), _get(body, "data", dict))
    if t == "status":
        seq = _get(body, "seq", int)
        if seq < 0:
            raise WireError("negative seq")
        return Status(seq, _number(body, "ts"), _get(body, "snapshot", dict))
    if t == "heartbeat":
        pid = _get(body, "pid", int)
        if pid <= 0:
            raise WireError("pid must be positive")
        return Heartbeat(_get(body, "process", str), pid, _number(body, "ts"),
                         _get(body, "info", dict))
    raise WireError(f"unknown message type {t!r}")
