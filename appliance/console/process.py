"""The console process shell: serves /healthz from the core's status snapshots.

The local web console (configuration, span and call views) comes in a
later issue and will listen on `console.listen`; this shell does not open
that port yet.  It runs uvicorn inside its own asyncio loop with its own
signal handling, and writes the health URL to `<runtime dir>/health.url`
once it listens (so `tdmgw run` can print it even for port 0).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import uvicorn

from ..events.satellite import Satellite
from .health import health_app, health_document


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers (the process has its own)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class ConsoleProcess(Satellite):
    """`tdmgw console`."""

    name = "console"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.started = time.monotonic()
        self.health_url: str | None = None
        self.requests = 0
        self._server: _Server | None = None
        self._serve_task: Any = None

    def socket_path(self) -> Path:
        return self.boot.console_socket()

    def url_file(self) -> Path:
        return self.boot.runtime.dir / "health.url"

    def document(self) -> tuple[int, dict[str, Any]]:
        self.requests += 1
        snap = self.status.snapshot if self.status is not None else None
        return health_document(snap, self.status_age(),
                               self.config.runtime.heartbeat_timeout_ms / 1000, self.started)

    def heartbeat_info(self) -> dict[str, Any]:
        return {"health_url": self.health_url, "requests": self.requests}

    async def serve(self) -> None:
        logging.getLogger("uvicorn").setLevel(logging.WARNING)
        listen = self.boot.health.listen
        family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((listen.host, listen.port))
        sock.listen(64)
        sock.setblocking(False)
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if family == socket.AF_INET6 else host
        self.health_url = f"http://{shown}:{port}/healthz"
        config = uvicorn.Config(health_app(self.document), log_config=None, access_log=False,
                                lifespan="off", timeout_keep_alive=5, limit_concurrency=64,
                                server_header=False)
        self._server = _Server(config)
        self._serve_task = asyncio.create_task(self._server.serve(sockets=[sock]))
        for _ in range(200):
            if self._server.started or self._serve_task.done():
                break
            await asyncio.sleep(0.01)
        if self._serve_task.done():
            self._serve_task.result()
        tmp = self.url_file().with_suffix(".tmp")
        tmp.write_text(self.health_url + "\n")
        tmp.replace(self.url_file())
        self.log.info("health endpoint at %s", self.health_url)

    async def close(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._serve_task, 2)
        with contextlib.suppress(FileNotFoundError):
            self.url_file().unlink()
