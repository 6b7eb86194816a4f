"""Control API of the media process, for the SIP/call layer (asyncio client).

    proc = MediaProcess(path, spans=[(span_params, {})], port_min=10000, port_max=20000)
    proc.start()                      # spawns the media process
    client = await MediaClient.connect(path, on_event)
    r = await client.open_stream(StreamSpec(call_id, span, channel, remote=..., ...))
    r["local_port"]                   # put it in the SDP
    await client.modify(call_id, remote=["203.0.113.5", 4000], direction="sendonly")
    stats = await client.close(call_id)   # final per-call statistics and latency
    await client.stats(call_id) / await client.stats()   # per call / process (CPU, ticks)
    await client.play_digits(call_id, "123")             # in-band toward the PBX
    await client.shutdown(); proc.join()

Wire format: one JSON object per line on a unix stream socket.  Requests
`{"id": n, "op": "open_stream"|"modify"|"close"|"stats"|"reset_latency"|
"play_digits"|"send_frame"|"ping"|"shutdown", ...}`; replies `{"id": n, "ok": true,
"result": ...}` or `{"id": n, "ok": false, "error": "..."}`; events
`{"event": "dtmf"|"latched"|"rtp_timeout"|"dframe"|"span_event", ...}`
(see appliance.media.engine and process for their fields).  Every dtmf "start" is
matched by an "end": a digit still sounding when its call is closed gets its end (marked
"cut") ahead of the close's reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import json
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from appliance.media.stream import StreamSpec
from drivers.span import SpanParams

_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
_START_LOCK = threading.Lock()


def _one_blas_thread() -> None:
    """Ask numpy's BLAS in every child for one thread, once, for good.

    Setting the variables around each start and restoring them raced: the
    gateway starts its media processes from several threads at once, and a
    fork that caught another thread's setenv/unsetenv half done handed exec a
    torn environment (the child exited 255 before Python ran, seen in CI).
    So they are set once, under the start lock, and left set: this process
    loaded its BLAS already, and one thread suits every helper it starts.
    """
    for k in _THREAD_VARS:
        if os.environ.get(k) != "1":
            os.environ[k] = "1"


class MediaError(RuntimeError):
    """The media process refused a request (the text says why)."""


def _span_dict(p: SpanParams) -> dict[str, Any]:
    d = dataclasses.asdict(p)
    for k, v in list(d.items()):
        if isinstance(v, enum.Enum):
            d[k] = v.value
    return d


class MediaProcess:
    """The media process (multiprocessing, spawn: a fresh interpreter with its own GIL)."""

    def __init__(self, path: str, spans: list[tuple[SpanParams, dict[str, Any]]], **options: Any) -> None:
        from appliance.media.process import child_main

        self.path = path
        ctx = multiprocessing.get_context("spawn")
        self.proc = ctx.Process(
            target=child_main,
            args=(path, [(_span_dict(p), e) for p, e in spans], {"parent_pid": os.getpid(), **options}),
            name="tdmgw-media", daemon=True)

    def start(self, timeout: float = 60.0) -> None:
        # numpy's BLAS threads would fight the media loop (and each other) for the cores:
        # the media process does small blocks, one thread is right
        with _START_LOCK:
            _one_blas_thread()
            self.proc.start()
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.path):
            if not self.proc.is_alive() or time.monotonic() > deadline:
                code = self.proc.exitcode
                why = " (the interpreter could not be executed)" if code == 255 else ""
                raise MediaError(f"media process did not start (exit code {code}){why}")
            time.sleep(0.02)

    @property
    def pid(self) -> int | None:
        return self.proc.pid

    def join(self, timeout: float = 5.0) -> None:
        self.proc.join(timeout)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(timeout)


class MediaClient:
    """asyncio client of the control socket; events go to `on_event`."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 on_event: Callable[[dict[str, Any]], None] | None) -> None:
        self._r = reader
        self._w = writer
        self._on_event = on_event
        self._next = 0
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._task = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def connect(cls, path: str, on_event: Callable[[dict[str, Any]], None] | None = None) -> MediaClient:
        r, w = await asyncio.open_unix_connection(path, limit=1 << 24)
        return cls(r, w, on_event)

    async def _read(self) -> None:
        try:
            while line := await self._r.readline():
                msg = json.loads(line)
                if "event" in msg:
                    if self._on_event is not None:
                        self._on_event(msg)
                    continue
                fut = self._waiting.pop(msg.get("id"), None)
                if fut is not None and not fut.done():
                    if msg.get("ok"):
                        fut.set_result(msg.get("result"))
                    else:
                        fut.set_exception(MediaError(msg.get("error", "unknown error")))
        finally:
            for fut in self._waiting.values():
                if not fut.done():
                    fut.set_exception(MediaError("media process connection lost"))

    async def request(self, op: str, **args: Any) -> Any:
        self._next += 1
        rid = self._next
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = fut
        self._w.write(json.dumps({"id": rid, "op": op, **args}).encode() + b"\n")
        await self._w.drain()
        return await fut

    async def open_stream(self, spec: StreamSpec) -> dict[str, Any]:
        r: dict[str, Any] = await self.request("open_stream", spec=spec.as_dict())
        return r

    async def modify(self, call_id: str, **changes: Any) -> dict[str, Any]:
        r: dict[str, Any] = await self.request("modify", call_id=call_id, changes=changes)
        return r

    async def close(self, call_id: str) -> dict[str, Any]:
        r: dict[str, Any] = await self.request("close", call_id=call_id)
        return r

    async def stats(self, call_id: str | None = None, raw: bool = False) -> dict[str, Any]:
        r: dict[str, Any] = await self.request("stats", call_id=call_id, raw=raw)
        return r

    async def reset_latency(self) -> int:
        """Forget every call's latency samples (a measurement starts afresh); returns the calls."""
        n: int = await self.request("reset_latency")
        return n

    async def play_digits(self, call_id: str, digits: str) -> None:
        await self.request("play_digits", call_id=call_id, digits=digits)

    async def send_frame(self, span: str, frame: bytes) -> None:
        await self.request("send_frame", span=span, frame=frame.hex())

    async def shutdown(self) -> None:
        with contextlib.suppress(MediaError, ConnectionError):
            await self.request("shutdown")
        await self.aclose()

    async def aclose(self) -> None:
        self._w.close()
        with contextlib.suppress(Exception):
            await self._w.wait_closed()
        self._task.cancel()


class MediaPool:
    """Several media processes with the spans shared out among them (contiguous chunks).

    One process runs one engine per group of spans; at 240 calls the DSP of one
    block takes most of a block period, so two processes (on two cores) keep
    each block's work short without adding CPU.
    """

    def __init__(self, directory: str, spans: list[tuple[SpanParams, dict[str, Any]]], processes: int = 1,
                 **options: Any) -> None:
        k = max(1, min(processes, len(spans)))
        size = -(-len(spans) // k)
        self.chunks = [spans[i : i + size] for i in range(0, len(spans), size)]
        self.procs = [MediaProcess(os.path.join(directory, f"media{i}.sock"), c, **options)
                      for i, c in enumerate(self.chunks)]

    def start(self) -> None:
        for p in self.procs:
            p.start()

    def join(self) -> None:
        for p in self.procs:
            p.join()

    async def connect(self, on_event: Callable[[dict[str, Any]], None] | None = None) -> PoolClient:
        clients = [await MediaClient.connect(p.path, on_event) for p in self.procs]
        by_span = {sp.name: c for c, chunk in zip(clients, self.chunks, strict=True) for sp, _ in chunk}
        return PoolClient(clients, by_span)


class PoolClient:
    """The MediaClient interface over a MediaPool: requests go to the process of the call's span."""

    def __init__(self, clients: list[MediaClient], by_span: dict[str, MediaClient]) -> None:
        self.clients = clients
        self.by_span = by_span
        self.by_call: dict[str, MediaClient] = {}

    async def open_stream(self, spec: StreamSpec) -> dict[str, Any]:
        c = self.by_span.get(spec.span)
        if c is None:
            raise MediaError(f"no media process hosts span {spec.span!r}")
        r = await c.open_stream(spec)
        self.by_call[spec.call_id] = c
        return r

    async def modify(self, call_id: str, **changes: Any) -> dict[str, Any]:
        return await self.by_call[call_id].modify(call_id, **changes)

    async def close(self, call_id: str) -> dict[str, Any]:
        return await self.by_call.pop(call_id).close(call_id)

    async def stats(self, call_id: str | None = None, raw: bool = False) -> dict[str, Any]:
        if call_id is not None:
            return await self.by_call[call_id].stats(call_id, raw=raw)
        procs = [await c.stats() for c in self.clients]
        return {"processes": procs, "calls": sum(p["calls"] for p in procs)}

    async def reset_latency(self) -> int:
        return sum([await c.reset_latency() for c in self.clients])

    async def play_digits(self, call_id: str, digits: str) -> None:
        await self.by_call[call_id].play_digits(call_id, digits)

    async def send_frame(self, span: str, frame: bytes) -> None:
        await self.by_span[span].send_frame(span, frame)

    async def shutdown(self) -> None:
        for c in self.clients:
            await c.shutdown()
