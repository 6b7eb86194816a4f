"""The core process: spans, ISDN, SIP and media; systemd notify, watchdog, reload, shutdown.

The control loop (this module, the main thread) owns configuration,
signals, the status board and the sockets to the console and CTI processes;
every send to them is non-blocking (events/channel.py), so a slow or stopped
console or CTI process never delays the core.  The spans run in the media
loop (medialoop.py).  The systemd watchdog is pinged from the control loop
while the media loop's beat is fresh: a stall in either stops the pings.

Later parts plug in through `Core`: `core.board` (status), `core.bus`
(events to CTI), `core.spans` (frames and blocks), `core.shutdown` (ordered
shutdown hooks) and `core.reload_hooks` (called with the changes a SIGHUP
applied live).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from .. import __version__
from ..config import Apply, ConfigError, GatewayConfig, LoadedConfig
from ..config.report import Change, diff
from ..events import DatagramReceiver, DatagramSender, EventBus, Heartbeat, Message, Status
from ..logs import LogSetup, get_logger
from ..notify import Notifier
from .medialoop import MediaLoop
from .parts import PARTS, resolve
from .shutdown import Phase, ShutdownHooks
from .spans import SpanManager
from .status import StatusBoard

log = get_logger("core")

# The core's threads (the asyncio loop, sippy's, the span and media loops') share one GIL,
# and a thread that holds it keeps it up to the switch interval (5 ms by default) while
# another waits: a D-channel frame handled on the loop waited for sippy's thread busy with
# 240 calls' SIP traffic.  1 ms bounds that wait (bench calls: SETUP -> INVITE at load).
SWITCH_INTERVAL_S = 0.001

ReloadHook = Callable[[GatewayConfig, GatewayConfig, list[Change]], None]


class Core:
    """The gateway core process."""

    def __init__(
        self,
        loaded: LoadedConfig,
        reload_source: Callable[[], LoadedConfig],
        *,
        logs: LogSetup | None = None,
        notifier: Notifier | None = None,
        parts: list[str] | None = None,
    ) -> None:
        self.loaded = loaded
        self.boot = loaded.config
        """The configuration the process started with (daemon-restart settings)."""
        self.config = loaded.config
        """The newest valid configuration (live settings are read from here)."""
        self.reload_source = reload_source
        self.logs = logs
        self.notifier = notifier or Notifier()
        self.board = StatusBoard()
        self.board.heartbeat_timeout = self.config.runtime.heartbeat_timeout_ms / 1000
        self.shutdown = ShutdownHooks()
        self.reload_hooks: list[ReloadHook] = []
        self.pending_restart: list[Change] = []
        self.media = MediaLoop(realtime_priority=self.boot.media.realtime_priority)
        rt = self.boot
        self.cti_events = DatagramSender(rt.event_socket(), backlog=rt.cti.queue)
        self.cti_status = DatagramSender(rt.event_socket(), backlog=1, keep_latest=True)
        self.console_status = DatagramSender(rt.console_socket(), backlog=1, keep_latest=True)
        self.bus = EventBus(self.cti_events)
        self.control = DatagramReceiver(rt.core_socket(), self._on_message)
        self.spans = SpanManager(rt.spans, self.board, self.bus, self.media)
        self._stop = asyncio.Event()
        self._status_seq = 0
        self._reported_drops = 0
        self._last_drop_log = 0.0
        self.watchdog_pings = 0
        self._last_status_line = ""
        self.part_specs: list[str] = list(PARTS) if parts is None else parts
        self.part_states: dict[str, str] = {}

    # -- life cycle ----------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        self.boot.runtime.dir.mkdir(mode=0o750, parents=True, exist_ok=True)
        self.board.heartbeat("core", os.getpid())
        self.board.expect_process("cti")
        self.board.expect_process("console")
        self.board.set_section("core", self._core_section)
        self.control.open()
        self.media.start()
        self.shutdown.add(Phase.SPANS, "spans", self.spans.stop_all)
        # parts are built before the spans open, so a part that hosts spans elsewhere
        # (the gateway part: in the media process) can say so (spans.host_elsewhere)
        built = self._build_parts()
        await self.spans.start_all()
        await self._start_parts(built)
        self.bus.publish("core.started", pid=os.getpid(), version=__version__)
        tasks = [asyncio.create_task(self._status_loop(), name="status")]
        interval = self.notifier.watchdog_interval()
        if interval is not None:
            tasks.append(asyncio.create_task(self._watchdog_loop(interval), name="watchdog"))
        self.notifier.ready(self._status_line())
        log.info("core ready: %d span(s), config %s, watchdog %s", len(self.boot.spans),
                 self.loaded.source, f"every {interval:.3f} s" if interval else "off")
        await self._stop.wait()
        started = time.monotonic()
        self.notifier.stopping("shutting down")
        log.info("core stopping: clearing calls, then spans")
        self.bus.publish("core.stopping", active_calls=len(self.board.active_calls()))
        budget = self.config.runtime.shutdown_timeout_ms / 1000
        await self.shutdown.run(budget - 0.2)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._push_status()
        self.close()
        self.media.stop(timeout=0.5)
        log.info("core stopped in %.3f s", time.monotonic() - started)
        return 0

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        """Close the sockets to the other processes (flushing what they can take)."""
        self.control.close()
        for sender in (self.cti_events, self.cti_status, self.console_status):
            sender.flush()
            sender.close()

    def _build_parts(self) -> list[tuple[str, Any]]:
        """Build every part named in `parts.PARTS` (see parts.py); failures are reported."""
        built: list[tuple[str, Any]] = []
        for spec in self.part_specs:
            try:
                built.append((spec, resolve(spec)(self)))
            except Exception as exc:
                self.part_states[spec] = f"failed: {exc!r}"
                log.exception("part %s could not be built", spec)
        return built

    async def _start_parts(self, built: list[tuple[str, Any]] | None = None) -> None:
        """Start the built parts in order (building them first if not yet done)."""
        for spec, part in (self._build_parts() if built is None else built):
            try:
                await part.start()
            except Exception as exc:
                self.part_states[spec] = f"failed: {exc!r}"
                log.exception("part %s did not start", spec)
                continue
            self.part_states[spec] = "running"
            log.info("part %s (%s) started", part.name, spec)

    # -- call facts: status board, CTI event and journal entry in one call ------

    def call_started(self, call_id: str, *, span: str, channel: int | None,
                     direction: str, **info: Any) -> None:
        """A call began (SETUP sent or received): board, `call.started` event, log."""
        self.board.call_started(call_id, span=span, channel=channel, direction=direction, **info)
        self.bus.publish("call.started", call=call_id, span=span, channel=channel,
                         direction=direction, **info)
        log.info("call %s started (%s)", call_id, direction,
                 extra={"call": call_id, "span": span, "channel": channel})

    def call_answered(self, call_id: str) -> None:
        self.board.call_answered(call_id)
        self.bus.publish("call.answered", call=call_id)

    def call_ended(self, call_id: str, *, cause: int | None, **info: Any) -> None:
        """A call is over, with its Q.850 cause: board, `call.ended` event, log."""
        self.board.call_ended(call_id, cause=cause)
        self.bus.publish("call.ended", call=call_id, cause=cause, **info)
        log.info("call %s ended, cause %s", call_id, cause, extra={"call": call_id, "cause": cause})

    # -- periodic work ---------------------------------------------------------

    async def _status_loop(self) -> None:
        while True:
            self._push_status()
            await asyncio.sleep(self.config.runtime.status_interval_ms / 1000)

    def _push_status(self) -> None:
        self.board.heartbeat_timeout = self.config.runtime.heartbeat_timeout_ms / 1000
        self.board.heartbeat("core", os.getpid())
        self.spans.refresh()
        self._status_seq += 1
        msg = Status(self._status_seq, time.time(), self.board.snapshot())
        self.console_status.send(msg)
        self.cti_status.send(msg)
        line = self._status_line(msg.snapshot)
        if line != self._last_status_line:
            self._last_status_line = line
            self.notifier.status(line)
        drops = sum(s.stats.dropped for s in (self.cti_events, self.cti_status, self.console_status))
        now = time.monotonic()
        if drops > self._reported_drops and now - self._last_drop_log > 10:
            lost = self.cti_events.stats.dropped
            log.warning("a console or CTI process is not keeping up: %d message(s) dropped "
                        "so far: %d CTI event(s) lost, %d status snapshot(s) replaced by newer "
                        "ones (core not delayed)", drops, lost, drops - lost)
            self._reported_drops = drops
            self._last_drop_log = now

    async def _watchdog_loop(self, interval: float) -> None:
        stall = max(1.0, interval)
        while True:
            if self.media.alive() and self.media.beat_age() < stall:
                self.notifier.watchdog()
                self.watchdog_pings += 1
            else:
                log.error("media thread stalled (beat %.3f s old): withholding the watchdog",
                          self.media.beat_age())
            await asyncio.sleep(interval)

    def _status_line(self, snapshot: dict[str, Any] | None = None) -> str:
        """The STATUS= text of `systemctl status tdmgw-core`."""
        snap = snapshot if snapshot is not None else self.board.snapshot()
        spans = snap["spans"]
        up = sum(1 for s in spans if s["state"] == "up")
        calls = snap["calls"]
        return (f"spans {up}/{len(spans)} up, {calls['active']} active call(s), "
                f"{calls['completed']} completed")

    def _core_section(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "config": self.loaded.source,
            "config_loaded_at": self.loaded.loaded_at,
            "pending_restart": [str(c) for c in self.pending_restart],
            "media_loop": self.media.stats(),
            "ipc": {"cti_events": self.cti_events.stats.as_dict(),
                    "cti_status": self.cti_status.stats.as_dict(),
                    "console_status": self.console_status.stats.as_dict(),
                    "malformed_in": self.control.malformed},
            "events_published": self.bus.seq,
            "log_dropped": self.logs.dropped if self.logs else 0,
            "watchdog_pings": self.watchdog_pings,
            "parts": dict(self.part_states),
        }

    # -- messages from the other processes ----------------------------------------

    def _on_message(self, msg: Message) -> None:
        if isinstance(msg, Heartbeat) and msg.process in ("cti", "console"):
            self.board.heartbeat(msg.process, msg.pid, msg.info)

    # -- SIGHUP --------------------------------------------------------------------

    def reload(self) -> None:
        """Re-read the configuration: refuse an invalid one, apply what can apply live."""
        self.notifier.reloading()
        try:
            new = self.reload_source()
        except ConfigError as exc:
            for p in exc.problems:
                log.error("reload refused: %s", p, extra={"config_key": p.key or None})
            log.error("reload refused: %d problem(s); the running configuration is kept",
                      len(exc.problems))
            self.bus.publish("config.reload_failed", problems=[str(p) for p in exc.problems])
            self.notifier.ready(self._status_line())
            return
        changes = diff(self.config, new.config)
        live = [c for c in changes if c.apply is Apply.LIVE]
        waiting = [c for c in changes if c.apply is not Apply.LIVE]
        old = self.config
        self.config = new.config
        self.loaded = new
        if self.logs is not None:
            self.logs.set_level(new.config.logging.level)
        for hook in self.reload_hooks:
            try:
                hook(old, new.config, live)
            except Exception:
                log.exception("reload hook failed")
        boot_changes = {c.key: c for c in diff(self.boot, new.config) if c.apply is not Apply.LIVE}
        self.pending_restart = list(boot_changes.values())
        for w in new.warnings:
            log.warning("config: %s", w)
        if not changes:
            log.info("reload: %s unchanged", new.source)
        for c in live:
            log.info("reload: applied live: %s", c, extra={"config_key": c.key})
        for c in waiting:
            log.warning("reload: waiting for a %s: %s", c.apply.value, c,
                        extra={"config_key": c.key})
        self.bus.publish("config.reloaded", live=[c.key for c in live],
                         pending=[c.key for c in self.pending_restart])
        self.notifier.ready(self._status_line())


def run_core(loaded: LoadedConfig, reload_source: Callable[[], LoadedConfig],
             logs: LogSetup | None) -> int:
    """Entry point of `tdmgw core`."""
    core = Core(loaded, reload_source, logs=logs)
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(core.run())
    return 0
