"""`GET /healthz`: the gateway's health as JSON, served by the console process.

Why here and not in the core: an HTTP client, slow or hostile, then costs
the core nothing.  The core pushes a prepared status snapshot over a unix
datagram socket (never waiting); this process answers from the newest one.
A snapshot older than `runtime.heartbeat_timeout_ms` means the core is not
alive: the answer is then 503 with status "down".

    {"status": "ok" | "degraded" | "down", "version": ..., "uptime_s": ...,
     "processes": {"core": {"pid", "alive", "last_heartbeat_s"}, "cti": ..., "console": ...},
     "spans": [{"name", "state", "alarms", ...}],
     "calls": {"active", "completed", "by_cause", "list"}, ...}
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .. import __version__


def health_document(snapshot: dict[str, Any] | None, age: float | None, timeout: float,
                    console_started: float) -> tuple[int, dict[str, Any]]:
    """The /healthz body and HTTP status from the newest core snapshot and its age."""
    console = {"pid": os.getpid(), "alive": True, "last_heartbeat_s": 0.0,
               "uptime_s": round(time.monotonic() - console_started, 3)}
    if snapshot is None or age is None or age > timeout:
        doc: dict[str, Any] = {
            "status": "down",
            "reason": "no status from the core yet" if snapshot is None
            else f"last status from the core is {age:.1f} s old",
            "version": __version__,
            "processes": {"core": {"alive": False,
                                   "last_heartbeat_s": None if age is None else round(age, 3)},
                          "console": console},
        }
        if snapshot is not None:
            doc["last_known"] = snapshot
        return 503, doc
    doc = dict(snapshot)
    processes = dict(doc.get("processes", {}))
    core = dict(processes.get("core", {}))
    core.update(alive=True, last_heartbeat_s=round(age, 3))
    processes["core"] = core
    processes["console"] = console
    doc["processes"] = processes
    spans_ok = all(s.get("state") == "up" for s in doc.get("spans", []))
    parts = doc.get("core", {}).get("parts", {}) if isinstance(doc.get("core"), dict) else {}
    spans_ok = spans_ok and all(state == "running" for state in parts.values())
    procs_ok = all(p.get("alive") for p in processes.values())
    doc = {"status": "ok" if spans_ok and procs_ok else "degraded", **doc}
    return 200, doc


def health_app(source: Callable[[], tuple[int, dict[str, Any]]]) -> Starlette:
    """The ASGI app; `source()` returns (HTTP status, body)."""

    async def healthz(request: Request) -> JSONResponse:
        code, body = source()
        return JSONResponse(body, status_code=code, headers={"Cache-Control": "no-store"})

    return Starlette(routes=[Route("/healthz", healthz, methods=["GET"])])
