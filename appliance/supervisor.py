"""`tdmgw run`: the three processes as children of one supervisor, for running by hand.

Under systemd each process is its own unit under tdmgw.target and systemd
supervises them; `tdmgw run` (and `make run`) does the same job in one
terminal: it starts the CTI and console processes, then the core, restarts
a child that dies (with back-off), forwards SIGHUP, and on Ctrl-C/SIGTERM
stops the core first (so its last events still reach the CTI process), then
the others.  Children run in their own process group, so Ctrl-C reaches
only the supervisor, and get SIGTERM if the supervisor itself dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .config import LoadedConfig
from .logs import get_logger, journal_available

log = get_logger("supervisor")

ORDER = ("cti", "console", "core")
CORE_STOP_S = 6.0
OTHERS_STOP_S = 3.0
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    name: str
    argv: list[str]
    proc: asyncio.subprocess.Process | None = None
    starts: list[float] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


class Supervisor:
    """Starts, watches and stops the core, CTI and console processes."""

    def __init__(self, loaded: LoadedConfig, config_args: list[str], *,
                 python: str = sys.executable) -> None:
        self.loaded = loaded
        self.children = {
            name: Child(name, [python, "-m", "appliance.cli", name, *config_args])
            for name in ORDER
        }
        if "--embedded" in config_args:
            # the embedded default's far ends: simulated PBX and voice-AI stand-in
            self.children["demo"] = Child("demo", [python, "-m", "appliance.demo", "--embedded"])
        self.stopping = False
        self.exit_code = 0
        self._stop = asyncio.Event()

    async def _spawn(self, child: Child) -> None:
        child.proc = await asyncio.create_subprocess_exec(
            *child.argv, process_group=0, preexec_fn=_die_with_parent)
        child.starts.append(time.monotonic())
        log.info("started %s (pid %d)", child.name, child.proc.pid)

    async def _watch(self, child: Child) -> None:
        backoff = 1.0
        while True:
            assert child.proc is not None
            rc = await child.proc.wait()
            if self.stopping:
                return
            recent = [t for t in child.starts if time.monotonic() - t < 60]
            log.error("%s exited with %d; restarting in %.0f s", child.name, rc, backoff)
            if len(recent) >= 5:
                log.error("%s failed 5 times in a minute; stopping everything", child.name)
                self.exit_code = 1
                self._stop.set()
                return
            await asyncio.sleep(backoff)
            if self.stopping:
                return
            backoff = min(backoff * 2, 30.0)
            await self._spawn(child)

    def _signal(self, sig: int, names: tuple[str, ...] | None = None) -> None:
        for name in names if names is not None else tuple(self.children):
            proc = self.children[name].proc
            if proc is not None and proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(sig)

    async def _stop_children(self, names: tuple[str, ...], timeout: float) -> None:
        self._signal(signal.SIGTERM, names)
        procs = [self.children[n].proc for n in names]
        waits = [p.wait() for p in procs if p is not None and p.returncode is None]
        if not waits:
            return
        try:
            await asyncio.wait_for(asyncio.gather(*waits), timeout)
        except TimeoutError:
            log.error("%s did not stop in %.0f s; killing", ", ".join(names), timeout)
            self._signal(signal.SIGKILL, names)
            self.exit_code = 1
            await asyncio.gather(*[p.wait() for p in procs if p is not None],
                                 return_exceptions=True)
        for n in names:
            p = self.children[n].proc
            if p is not None and p.returncode not in (0, -signal.SIGTERM):
                log.warning("%s exited with %s", n, p.returncode)

    async def run(self, announce: bool = True) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: self._signal(signal.SIGHUP))
        for name in self.children:
            await self._spawn(self.children[name])
        for child in self.children.values():
            child.task = asyncio.create_task(self._watch(child))
        if announce:
            await self._announce()
        await self._stop.wait()
        self.stopping = True
        print("tdmgw: stopping (core first, then cti and console)", file=sys.stderr, flush=True)
        await self._stop_children(("core",), CORE_STOP_S)
        await self._stop_children(tuple(n for n in self.children if n != "core"), OTHERS_STOP_S)
        for child in self.children.values():
            if child.task is not None:
                child.task.cancel()
        return self.exit_code

    async def _announce(self) -> None:
        c = self.loaded.config
        url_file = c.runtime.dir / "health.url"
        url = f"http://{c.health.listen}/healthz"
        for _ in range(100):
            if url_file.exists():
                url = url_file.read_text().strip()
                break
            await asyncio.sleep(0.05)
        if c.logging.journald and journal_available():
            where = "journald: journalctl -t tdmgw-core -t tdmgw-cti -t tdmgw-console -f"
        else:
            where = "stderr (this terminal)"
        lines = [f"tdmgw {self.loaded.source}: core, cti, console running",
                 f"  health: {url}", f"  logs:   {where}", f"  runtime: {c.runtime.dir}"]
        for span in c.spans:
            if span.virtual is not None and "demo" in self.children:
                lines.append(f"  span {span.name}: virtual; far end: a simulated PBX (libpri) "
                             "calling and answering on a loop; voice AI stand-in (pjsua2) on "
                             "127.0.0.1:5070")
            elif span.virtual is not None:
                v = span.virtual
                lines.append(
                    f"  span {span.name}: virtual, waiting for a far end: python -m "
                    f"drivers.virtual_farend --socket {v.dchannel_socket} --local "
                    f"{v.bchannel_remote} --remote {v.bchannel_local} --type {span.type}")
        lines.append("  Ctrl-C to stop")
        print("\n".join(lines), file=sys.stderr, flush=True)


def run_supervisor(loaded: LoadedConfig, config_args: list[str]) -> int:
    """Entry point of `tdmgw run`."""
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    Path(loaded.config.runtime.dir).mkdir(mode=0o750, parents=True, exist_ok=True)
    (loaded.config.runtime.dir / "health.url").unlink(missing_ok=True)
    return asyncio.run(Supervisor(loaded, config_args).run())
