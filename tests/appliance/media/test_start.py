"""Media processes started from several threads at once all come up (the gateway starts
one per span group in parallel), each with numpy's BLAS at one thread."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

from appliance.media.control import _THREAD_VARS, MediaClient, MediaProcess


def _environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(e.decode().split("=", 1) for e in raw if b"=" in e)


async def _stop(path: str) -> None:
    client = await MediaClient.connect(path)
    await client.shutdown()


def test_parallel_starts_all_come_up_with_one_blas_thread(tmp_path: Path) -> None:
    procs = [MediaProcess(str(tmp_path / f"m{i}.sock"), [], port_min=31200 + 100 * i,
                          port_max=31299 + 100 * i) for i in range(4)]
    errors: list[BaseException] = []

    def start(p: MediaProcess) -> None:
        try:
            p.start(timeout=60)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=start, args=(p,)) for p in procs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    # set once and left set: a start that wrote the environment while a sibling forked
    # tore that sibling's exec (exit code 255 before Python ran)
    assert {k: os.environ.get(k) for k in _THREAD_VARS} == dict.fromkeys(_THREAD_VARS, "1")
    try:
        assert errors == []
        for p in procs:
            assert p.proc.is_alive()
            assert p.pid is not None
            env = _environ_of(p.pid)
            assert {k: env.get(k) for k in _THREAD_VARS} == dict.fromkeys(_THREAD_VARS, "1")
    finally:
        for p in procs:
            if p.proc.is_alive() and os.path.exists(p.path):
                asyncio.run(_stop(p.path))
            p.join(5)
    assert [p.proc.exitcode for p in procs] == [0, 0, 0, 0]
