"""The gateway's media plane: its spans shared out over media processes, watched and restarted.

What: `MediaPlane` starts one or more `appliance.media.control.MediaProcess`
(each hosts its spans' clocks, B-channels and RTP; `media.processes` in the
configuration says how many, 0 = one per `SPANS_PER_PROCESS` spans and at most
one per core), connects a `MediaClient` to each, relays every process's events
(D-channel frames, span events, DTMF, RTP timeouts) to one callback, and routes
each request to the process of the call's span: the `MediaClient` interface
the gateway uses (open_stream, modify, close, stats, play_digits, send_frame).

A media process that dies (a crash, the OOM killer, a SIGKILL) is seen at once
through its `multiprocessing` sentinel: `on_down(spans, why)` is called (the
gateway clears the calls on those spans and reports them in alarm), requests
for its calls fail with `MediaError`, frames for its spans are dropped and
counted, and a new process is started after a back-off (0.5 s, doubling to
10 s while it keeps dying within a minute); once it accepts its control
connection `on_up(spans, pid)` is called and the spans come back as their far
ends reconnect (for virtual spans) or the card's clock resumes.

Also here: the gateway's RTP port pool (`PortPool`, the core chooses the port
so the SDP need not wait for the media process) and small helpers for media
statistics.

Limits: spans go to processes in contiguous chunks of the configured order;
a process's restart does not move spans to another process.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.logs import get_logger
from appliance.media.control import MediaClient, MediaError, MediaProcess
from appliance.media.stream import Direction, StreamSpec
from drivers.span import SpanParams

log = get_logger("gateway")

SPANS_PER_PROCESS = 4  # "auto": 4 E1s = 120 channels per process (bench/results/media.md)
BACKOFF_S = (0.5, 10.0)  # first restart delay, largest
STORM_WINDOW_S = 60.0  # deaths closer together than this double the delay


def process_count(setting: int, spans: int, cores: int | None = None) -> int:
    """How many media processes for `spans` spans: `setting`, or for 0 ("auto") one per
    SPANS_PER_PROCESS spans and at most one per core; never more than there are spans."""
    if spans <= 0:
        return 0
    if setting > 0:
        return min(setting, spans)
    cores = cores if cores is not None else (len(os.sched_getaffinity(0)) or 1)
    return max(1, min(cores, -(-spans // SPANS_PER_PROCESS)))


def share_out(spans: list[SpanParams], processes: int) -> list[list[SpanParams]]:
    """Contiguous chunks of `spans`, as even as they can be, one per process."""
    k = max(1, min(processes, len(spans)))
    base, extra = divmod(len(spans), k)
    out, i = [], 0
    for j in range(k):
        n = base + (1 if j < extra else 0)
        out.append(spans[i:i + n])
        i += n
    return out


@dataclass
class MediaSlot:
    """One media process and the spans it hosts."""

    index: int
    spans: list[SpanParams]
    path: str
    proc: MediaProcess | None = None
    client: MediaClient | None = None
    state: str = "stopped"  # starting, up, down, stopping, stopped
    pid: int | None = None
    starts: int = 0
    deaths: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=8))
    last_exit: str = ""
    dropped_frames: int = 0

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.spans]


class MediaPlane:
    """The media processes of the gateway's spans (see the module docstring)."""

    def __init__(self, directory: Path | str, spans: list[SpanParams], processes: int = 0, *,
                 on_event: Callable[[dict[str, Any]], None],
                 on_down: Callable[[list[str], str], None] | None = None,
                 on_up: Callable[[list[str], int | None], None] | None = None,
                 restart: bool = True, **options: Any) -> None:
        self.directory = str(directory)
        self.options = options
        self.on_event = on_event
        self.on_down = on_down
        self.on_up = on_up
        self.restart = restart
        n = process_count(processes, len(spans))
        self.slots = [MediaSlot(i, chunk, os.path.join(self.directory, f"media{i}.sock"))
                      for i, chunk in enumerate(share_out(spans, n))] if spans else []
        self.by_span = {p.name: s for s in self.slots for p in s.spans}
        self.by_call: dict[str, MediaSlot] = {}
        self._stopping = False
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------ life cycle

    async def start(self) -> None:
        """Start every process (in parallel) and connect to each; raises if one cannot start."""
        await asyncio.gather(*(self._start_slot(s) for s in self.slots))

    async def _start_slot(self, slot: MediaSlot) -> None:
        loop = asyncio.get_running_loop()
        slot.state = "starting"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(slot.path)  # a dead process's socket: start() waits for a new one
        proc = MediaProcess(slot.path, [(p, {}) for p in slot.spans], **self.options)
        slot.proc = proc
        await loop.run_in_executor(None, proc.start)
        slot.pid = proc.pid
        slot.starts += 1
        for attempt in range(100):
            # the socket path appears at bind(), a moment before listen()
            try:
                slot.client = await MediaClient.connect(slot.path, self.on_event)
                break
            except (ConnectionRefusedError, FileNotFoundError) as e:
                if attempt == 99 or not proc.proc.is_alive():
                    await loop.run_in_executor(None, proc.join, 1.0)
                    raise MediaError(f"media process {slot.index}: no control socket: {e}") from e
                await asyncio.sleep(0.05)
        loop.add_reader(proc.proc.sentinel, self._died, slot, proc)
        slot.state = "up"

    async def shutdown(self) -> None:
        """Ask every process to stop and wait for them (terminated after 2 s)."""
        self._stopping = True
        for t in list(self._tasks):
            t.cancel()
        loop = asyncio.get_running_loop()
        for s in self.slots:
            s.state = "stopping"
        for s in self.slots:
            if s.proc is not None:
                with contextlib.suppress(ValueError, OSError):
                    loop.remove_reader(s.proc.proc.sentinel)
        clients = [s.client for s in self.slots if s.client is not None]
        for s in self.slots:
            s.client = None
        await asyncio.gather(*(c.shutdown() for c in clients))
        await asyncio.gather(*(loop.run_in_executor(None, s.proc.join, 2.0)
                               for s in self.slots if s.proc is not None))
        for s in self.slots:
            s.state = "stopped"

    def _died(self, slot: MediaSlot, proc: MediaProcess) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(proc.proc.sentinel)
        if slot.proc is not proc or self._stopping:
            return
        # the sentinel is readable once the child's fds close, a moment before it can
        # be reaped: wait that moment (it is exiting) so the exit code is known
        proc.proc.join(1.0)
        code = proc.proc.exitcode
        why = (f"killed by {signal.Signals(-code).name}" if code is not None and code < 0
               and -code in signal.valid_signals() else f"exit code {code}")
        slot.last_exit = why
        slot.state = "down"
        slot.deaths.append(time.monotonic())
        if slot.client is not None:
            client, slot.client = slot.client, None
            self._spawn(client.aclose())
        for cid in [c for c, s in self.by_call.items() if s is slot]:
            del self.by_call[cid]
        log.error("media process %d (pid %s, spans %s) died: %s", slot.index, slot.pid,
                  ", ".join(slot.names), why)
        if self.on_down is not None:
            self.on_down(slot.names, f"media process {why}")
        if self.restart:
            self._spawn(self._restart(slot))

    def restart_delay(self, slot: MediaSlot) -> float:
        """0.5 s, doubled for each other death within STORM_WINDOW_S, at most 10 s."""
        now = time.monotonic()
        recent = sum(1 for t in slot.deaths if now - t < STORM_WINDOW_S) - 1
        return float(min(BACKOFF_S[1], BACKOFF_S[0] * 2 ** max(0, recent)))

    async def _restart(self, slot: MediaSlot) -> None:
        while not self._stopping:
            await asyncio.sleep(self.restart_delay(slot))
            if self._stopping:
                return
            try:
                await self._start_slot(slot)
            except (MediaError, OSError) as e:
                slot.state = "down"
                slot.deaths.append(time.monotonic())
                log.error("media process %d: restart failed: %s", slot.index, e)
                continue
            log.warning("media process %d restarted (pid %s, spans %s)", slot.index, slot.pid,
                        ", ".join(slot.names))
            if self.on_up is not None:
                self.on_up(slot.names, slot.pid)
            return

    def _spawn(self, coro: Any) -> None:
        t = asyncio.ensure_future(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------ requests

    def _client(self, slot: MediaSlot | None, what: str) -> MediaClient:
        if slot is None:
            raise MediaError(f"no media process hosts {what}")
        if slot.client is None or slot.state != "up":
            raise MediaError(f"the media process of {what} is {slot.state}"
                             + (f" ({slot.last_exit})" if slot.last_exit else ""))
        return slot.client

    def pid_of(self, span: str) -> int | None:
        s = self.by_span.get(span)
        return s.pid if s is not None else None

    def is_up(self, span: str) -> bool:
        s = self.by_span.get(span)
        return s is not None and s.state == "up"

    async def open_stream(self, spec: StreamSpec) -> dict[str, Any]:
        slot = self.by_span.get(spec.span)
        client = self._client(slot, f"span {spec.span}")
        assert slot is not None
        # known before the reply: a modify or close sent meanwhile goes to the same
        # process, behind the open on its control socket (requests are handled in order)
        self.by_call[spec.call_id] = slot
        try:
            return await client.open_stream(spec)
        except MediaError:
            if self.by_call.get(spec.call_id) is slot:
                del self.by_call[spec.call_id]
            raise

    async def modify(self, call_id: str, **changes: Any) -> dict[str, Any]:
        slot = self.by_call.get(call_id)
        if slot is None:
            raise KeyError(call_id)
        return await self._client(slot, f"call {call_id}").modify(call_id, **changes)

    async def close(self, call_id: str) -> dict[str, Any]:
        slot = self.by_call.pop(call_id, None)
        if slot is None:
            raise MediaError(f"call {call_id}: no stream (its media process may have died)")
        return await self._client(slot, f"call {call_id}").close(call_id)

    async def play_digits(self, call_id: str, digits: str) -> None:
        await self._client(self.by_call.get(call_id), f"call {call_id}").play_digits(call_id, digits)

    async def send_frame(self, span: str, frame: bytes) -> None:
        slot = self.by_span.get(span)
        if slot is not None and (slot.state != "up" or slot.client is None):
            slot.dropped_frames += 1  # layer 1 is down with the process: LAPD recovers
            return
        await self._client(slot, f"span {span}").send_frame(span, frame)

    async def stats(self, call_id: str | None = None) -> dict[str, Any]:
        """Per call: that stream's statistics.  Otherwise each process's figures (pid, CPU,
        blocks per span group, ...) plus its state, and the sum of their calls."""
        if call_id is not None:
            return await self._client(self.by_call.get(call_id), f"call {call_id}").stats(call_id)
        procs: list[dict[str, Any]] = []
        for s in self.slots:
            d: dict[str, Any] = {"index": s.index, "spans": s.names, "state": s.state,
                                 "pid": s.pid, "starts": s.starts, "last_exit": s.last_exit,
                                 "dropped_frames": s.dropped_frames}
            if s.client is not None and s.state == "up":
                with contextlib.suppress(MediaError, ConnectionError):
                    d |= await s.client.stats()
            procs.append(d)
        return {"processes": procs, "calls": sum(int(p.get("calls", 0)) for p in procs)}

    def section(self) -> list[dict[str, Any]]:
        """For the status board: each process's spans, state, pid and restarts."""
        return [{"spans": s.names, "state": s.state, "pid": s.pid,
                 "restarts": max(0, s.starts - 1), "last_exit": s.last_exit} for s in self.slots]


class PortPool:
    """RTP/RTCP port pairs the core hands out (even RTP port, RTCP on the next)."""

    def __init__(self, host: str, port_min: int, port_max: int) -> None:
        self.host = host
        self._ports: collections.deque[int] = collections.deque(
            range(port_min + port_min % 2, port_max - 1, 2))

    def take(self) -> int | None:
        """A pair both of whose ports are free right now (ports other programs hold are
        skipped and kept for later), or None if every pair is in use."""
        for _ in range(len(self._ports)):
            p = self._ports.popleft()
            if bindable(self.host, p):
                return p
            self._ports.append(p)
        return None

    def give_back(self, port: int) -> None:
        self._ports.append(port)

    def __len__(self) -> int:
        return len(self._ports)


def bindable(host: str, port: int) -> bool:
    """Both UDP ports of an RTP/RTCP pair are free on `host` right now."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    socks = []
    try:
        for p in (port, port + 1):
            s = socket.socket(fam, socket.SOCK_DGRAM)
            socks.append(s)
            s.bind((host, p))
        return True
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()


def finite(v: Any) -> Any:
    """JSON-safe statistics: NaN and infinities (no samples yet) become None."""
    if isinstance(v, dict):
        return {k: finite(x) for k, x in v.items()}
    if isinstance(v, list):
        return [finite(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def mirror(direction: str) -> Direction:
    """Our stream direction for the far end's SDP direction (RFC 3264 s6.1)."""
    return Direction({"sendonly": "recvonly", "recvonly": "sendonly"}.get(direction, direction))


def media_summary(stats: dict[str, Any]) -> str:
    """One log line: packets, loss, levels, echo, latency."""
    parts = []
    c = stats.get("counters", {})
    if c:
        parts.append(f"rtp rx {c.get('rx_packets', 0)} tx {c.get('tx_packets', 0)}")
    for key in ("level_dbm0", "levels"):
        if key in stats:
            parts.append(f"levels {stats[key]}")
    e = stats.get("echo")
    if e:
        parts.append(f"echo ERL {e['erl_db']} dB ERLE {e['erle_db']} dB"
                     f"{' converged' if e['converged'] else ''}")
    lat = stats.get("latency_ms", {})
    with contextlib.suppress(KeyError, TypeError):
        parts.append(f"latency tdm->rtp p99 {lat['tdm_to_rtp']['total']['p99']:.1f} ms, "
                     f"rtp->tdm p99 {lat['rtp_to_tdm']['total']['p99']:.1f} ms")
    jb = stats.get("jitter_buffer")
    if jb:
        parts.append(f"jitter buffer {jb.get('depth_ms')} ms")
    return "; ".join(parts) or "no statistics"
