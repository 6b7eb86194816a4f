"""Process model bench: does an HTTP flood on /healthz delay the core's media loop?

The media loop (appliance.core.medialoop.MediaLoop, its own thread and
asyncio loop) runs a 5 ms tick, the span block period of the default DAHDI
block (40 samples), and records how late each tick fires.  A client process
floods `GET /healthz` (64 concurrent keep-alive connections, ApacheBench) for a few
seconds while the health app (appliance.console.health, uvicorn + starlette)
is served:

* **in the core** - uvicorn in the core process's main loop, beside the
  media thread (what tdmgw does not do: this is the peer design);
* **in the console process** - tdmgw's design: the core only pushes a
  status snapshot datagram every 100 ms (non-blocking) to a separate
  console process that serves the flood;
* **no flood** - the baseline;

and the two flood cases again with the media thread at SCHED_FIFO 10, the
default of `media.realtime_priority` (tdmgw's design is the console
process with SCHED_FIFO).

The client is ApacheBench (`ab -k`, apache2-utils), a load generator no
one here wrote.  The same client, the same app and the same media loop in each case; the
ratio of tick lateness (p99, max) between the in-core and console cases is
the figure.  The machine is shared (2 cores): the console case still
competes for CPU with the client and the server, but through the kernel
scheduler rather than the GIL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np

from appliance.core.medialoop import MediaLoop
from appliance.core.status import StatusBoard
from appliance.events import DatagramSender, Status
from tests.bench.report import Table

REPO = Path(__file__).resolve().parents[2]
TICK_S = 0.005
FLOOD_S = 4.0
CONCURRENCY = 64
ROUNDS = 3

SERVER = textwrap.dedent("""
    import asyncio, json, socket, sys, time, uvicorn
    from appliance.console.health import health_app, health_document
    from appliance.console.process import _Server
    from appliance.events import DatagramReceiver, Status
    latest = {}
    def on(msg):
        if isinstance(msg, Status):
            latest["snap"] = msg.snapshot
            latest["at"] = time.monotonic()
    started = time.monotonic()
    def source():
        at = latest.get("at")
        return health_document(latest.get("snap"), None if at is None else time.monotonic() - at,
                               3.0, started)
    async def main(sock_path):
        rx = DatagramReceiver(__import__("pathlib").Path(sock_path), on)
        rx.open()
        s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(256); s.setblocking(False)
        print(s.getsockname()[1], flush=True)
        server = _Server(uvicorn.Config(health_app(source), log_config=None, access_log=False,
                                        lifespan="off"))
        await server.serve(sockets=[s])
    asyncio.run(main(sys.argv[1]))
""")


def _snapshot_board() -> StatusBoard:
    board = StatusBoard()
    for i in range(4):
        board.add_span(f"span{i + 1}", number=i + 1, driver="dahdi", type="T1", state="up")
    for c in range(40):
        board.call_started(f"call-{c}", span=f"span{c % 4 + 1}", channel=c % 23 + 1)
    return board


async def _ticks(media: MediaLoop, seconds: float) -> list[float]:
    async def body() -> list[float]:
        late: list[float] = []
        loop = asyncio.get_running_loop()
        nxt = loop.time() + TICK_S
        end = loop.time() + seconds
        while loop.time() < end:
            await asyncio.sleep(max(0.0, nxt - loop.time()))
            late.append(loop.time() - nxt)
            block = np.zeros((23, 40), dtype=np.int16)  # a token of per-block work
            block += 1
            nxt += TICK_S
        return late

    return await media.call(body())


def _client(url: str) -> subprocess.Popen[str]:
    """ApacheBench (apache2-utils): keep-alive, CONCURRENCY connections, FLOOD_S seconds."""
    return subprocess.Popen(["ab", "-q", "-k", "-c", str(CONCURRENCY), "-t", str(FLOOD_S),
                             "-n", "10000000", url],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _requests(proc: subprocess.Popen[str]) -> tuple[int, int]:
    out, _ = proc.communicate(timeout=60)
    done = re.search(r"Complete requests:\s+(\d+)", out)
    # ab counts a body length that differs from the first one as "failed"; the
    # uptime in the body changes its length, so only other failures count.
    failed = re.search(r"\(Connect: (\d+), Receive: (\d+), Length: \d+, Exceptions: (\d+)\)", out)
    if done is None:
        raise RuntimeError(f"ab failed: {out[-500:]}")
    errors = sum(int(g) for g in failed.groups()) if failed else 0
    return int(done.group(1)), errors


async def _in_core(board: StatusBoard, rt: int = 0) -> tuple[list[float], int, int]:
    import uvicorn

    from appliance.console.health import health_app, health_document
    from appliance.console.process import _Server

    started = time.monotonic()
    media = MediaLoop(realtime_priority=rt)
    media.start()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    sock.setblocking(False)
    port = sock.getsockname()[1]

    def source() -> tuple[int, dict[str, Any]]:
        return health_document(board.snapshot(), 0.0, 3.0, started)

    server = _Server(uvicorn.Config(health_app(source), log_config=None, access_log=False,
                                    lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    client = _client(f"http://127.0.0.1:{port}/healthz")
    await asyncio.sleep(0.5)  # the client's start-up
    late = await _ticks(media, FLOOD_S - 1.0)
    count, errors = await asyncio.to_thread(_requests, client)
    server.should_exit = True
    await task
    media.stop()
    return late, count, errors


async def _in_console(board: StatusBoard, run: Path, flood: bool, rt: int = 0
                      ) -> tuple[list[float], int, int]:
    path = run / "console.sock"
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(path)], stdout=subprocess.PIPE,
                              text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert server.stdout is not None
        port = int(await asyncio.to_thread(server.stdout.readline))
        media = MediaLoop(realtime_priority=rt)
        media.start()
        sender = DatagramSender(path, backlog=1, keep_latest=True)
        stop = asyncio.Event()

        async def push() -> None:
            seq = 0
            while not stop.is_set():
                seq += 1
                sender.send(Status(seq, time.time(), board.snapshot()))
                await asyncio.sleep(0.1)

        pusher = asyncio.create_task(push())
        client = _client(f"http://127.0.0.1:{port}/healthz") if flood else None
        await asyncio.sleep(0.5)
        late = await _ticks(media, FLOOD_S - 1.0)
        count, errors = (await asyncio.to_thread(_requests, client)) if client else (0, 0)
        stop.set()
        await pusher
        sender.close()
        media.stop()
        return late, count, errors
    finally:
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(5)


def _row(name: str, runs: list[tuple[list[float], int, int]]) -> list[Any]:
    ms = np.concatenate([np.array(late) for late, _, _ in runs]) * 1000
    per_round = "/".join(f"{np.percentile(np.array(late) * 1000, 99):.1f}" for late, _, _ in runs)
    rate = sum(c for _, c, _ in runs) / (len(runs) * (FLOOD_S - 0.5))
    return [name, len(ms), float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), per_round,
            float(ms.max()), int((ms > 5).sum()), round(rate), sum(e for _, _, e in runs)]


def _rt_allowed() -> bool:
    """Whether this process may give a thread SCHED_FIFO (root, or RLIMIT_RTPRIO)."""
    import threading

    result: list[bool] = []

    def probe() -> None:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
            result.append(True)
        except OSError:
            result.append(False)

    t = threading.Thread(target=probe)
    t.start()
    t.join()
    return result[0]


def run() -> list[Table]:
    board = _snapshot_board()
    size = len(json.dumps(board.snapshot()))
    rt = 10 if _rt_allowed() else 0
    cases: dict[str, list[tuple[list[float], int, int]]] = {}
    names = ["no flood (baseline)", "flood, health in console process",
             "flood, health served inside the core"]
    if rt:
        names += [f"flood, console process, media SCHED_FIFO {rt} (tdmgw)",
                  f"flood, inside the core, media SCHED_FIFO {rt}"]
    with tempfile.TemporaryDirectory(prefix="tdmgw-bench-") as tmp:
        run_dir = Path(tmp)
        for _ in range(ROUNDS):  # interleaved, so a noisy moment hits every case alike
            runs = [asyncio.run(_in_console(board, run_dir, flood=False)),
                    asyncio.run(_in_console(board, run_dir, flood=True)),
                    asyncio.run(_in_core(board))]
            if rt:
                runs += [asyncio.run(_in_console(board, run_dir, flood=True, rt=rt)),
                         asyncio.run(_in_core(board, rt=rt))]
            for name, result in zip(names, runs, strict=True):
                cases.setdefault(name, []).append(result)
    rows = [_row(name, cases[name]) for name in names]
    p99_ratio = rows[2][3] / max(rows[1][3], 1e-3)
    max_ratio = rows[2][5] / max(rows[1][5], 1e-3)
    best = rows[3] if len(rows) > 3 else rows[1]
    ok = best[3] < 5.0
    extra = []
    if len(rows) > 3:
        extra.append(f"with SCHED_FIFO, in-core / console: p99 x{rows[4][3] / max(rows[3][3], 1e-3):.1f}, "
                     f"max x{rows[4][5] / max(rows[3][5], 1e-3):.1f}")
    else:
        extra.append("SCHED_FIFO not permitted here: realtime cases skipped")
    return [
        Table(
            "Media loop tick lateness (5 ms ticks) under a /healthz flood",
            ["case", "ticks", "late p50 ms", "late p99 ms", "p99 per round", "late max ms",
             "ticks > 5 ms late", "requests/s", "client errors"],
            rows,
            notes=[f"ab -k -c {CONCURRENCY}: keep-alive clients for {FLOOD_S:.0f} s; status "
                   f"snapshot {size} bytes (4 spans, 40 calls); ticks measured for "
                   f"{FLOOD_S - 1:.0f} s inside the flood, {ROUNDS} interleaved rounds pooled",
                   f"in-core / console lateness: p99 x{p99_ratio:.1f}, max x{max_ratio:.1f}",
                   *extra],
            targets=[f"{'PASS' if ok else 'FAIL'} media tick p99 lateness below one 5 ms block "
                     f"while /healthz is flooded ({best[0]}: {best[3]:.2f} ms)"],
        )
    ]
