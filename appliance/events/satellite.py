"""What the console and CTI processes share: heartbeats to the core, status in, systemd.

A satellite binds its own datagram socket (status snapshots and, for CTI,
events arrive there), sends a heartbeat to the core every second (without
ever blocking), tells systemd READY=1 and pings its watchdog, reloads its
configuration on SIGHUP and stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config import ConfigError, GatewayConfig, LoadedConfig
from ..logs import LogSetup, get_logger
from ..notify import Notifier
from .channel import DatagramReceiver, DatagramSender
from .wire import Heartbeat, Message, Status

HEARTBEAT_S = 1.0


class Satellite:
    """Base of the console and CTI processes."""

    name = "satellite"

    def __init__(self, loaded: LoadedConfig, reload_source: Callable[[], LoadedConfig],
                 *, logs: LogSetup | None = None, notifier: Notifier | None = None) -> None:
        self.loaded = loaded
        self.boot = loaded.config
        self.config = loaded.config
        self.reload_source = reload_source
        self.logs = logs
        self.notifier = notifier or Notifier()
        self.log = get_logger(self.name)
        self.status: Status | None = None
        self.status_received_at: float | None = None
        self.to_core = DatagramSender(self.boot.core_socket(), backlog=1, keep_latest=True)
        self.receiver = DatagramReceiver(self.socket_path(), self._dispatch)
        self._stop = asyncio.Event()

    def socket_path(self) -> Path:
        raise NotImplementedError

    def heartbeat_info(self) -> dict[str, Any]:
        return {}

    def on_message(self, msg: Message) -> None:
        """Messages other than status (CTI: events)."""

    async def serve(self) -> None:
        """Start the process's own servers (returns once they listen)."""

    async def close(self) -> None:
        """Stop the process's own servers."""

    def status_age(self) -> float | None:
        if self.status_received_at is None:
            return None
        return time.monotonic() - self.status_received_at

    def _dispatch(self, msg: Message) -> None:
        if isinstance(msg, Status):
            self.status = msg
            self.status_received_at = time.monotonic()
        else:
            self.on_message(msg)

    def _beat(self) -> None:
        self.to_core.send(Heartbeat(self.name, os.getpid(), time.time(), self.heartbeat_info()))

    async def _heartbeat_loop(self) -> None:
        while True:
            self._beat()
            await asyncio.sleep(HEARTBEAT_S)

    async def _watchdog_loop(self, interval: float) -> None:
        while True:
            self.notifier.watchdog()
            await asyncio.sleep(interval)

    def reload(self) -> None:
        self.notifier.reloading()
        try:
            new = self.reload_source()
        except ConfigError as exc:
            for p in exc.problems:
                self.log.error("reload refused: %s", p)
            self.log.error("reload refused; the running configuration is kept")
        else:
            self.apply(self.config, new.config)
            self.config = new.config
            self.loaded = new
            if self.logs is not None:
                self.logs.set_level(new.config.logging.level)
            self.log.info("reloaded %s", new.source)
        self.notifier.ready()

    def apply(self, old: GatewayConfig, new: GatewayConfig) -> None:
        """Apply what changed live (subclasses)."""

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        self.boot.runtime.dir.mkdir(mode=0o750, parents=True, exist_ok=True)
        self.receiver.open()
        await self.serve()
        tasks = [asyncio.create_task(self._heartbeat_loop())]
        interval = self.notifier.watchdog_interval()
        if interval is not None:
            tasks.append(asyncio.create_task(self._watchdog_loop(interval)))
        self.notifier.ready()
        self.log.info("%s ready (pid %d), receiving on %s", self.name, os.getpid(),
                      self.socket_path())
        await self._stop.wait()
        self.notifier.stopping()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.close()
        self.receiver.close()
        self.to_core.close()
        self.log.info("%s stopped", self.name)
        return 0
