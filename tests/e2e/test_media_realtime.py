"""The media processes run at the configured SCHED_FIFO priority (`media.realtime_priority`,
default 10), as the media bench measures them: the product used to start them at normal
scheduling whatever the setting said (only the core's media thread took it)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.peers.sipp.runner import free_udp_port

from .rig import Rig


def _fifo_permitted(priority: int) -> bool:
    """Whether a process of ours may take SCHED_FIFO at `priority` (root, or RLIMIT_RTPRIO)."""
    code = f"import os; os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param({priority}))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


async def _processes(tmp: Path, media: str) -> list[dict[str, Any]]:
    async with Rig(tmp, ("127.0.0.1", free_udp_port()), media=media) as rig:
        assert rig.part.media is not None
        procs: list[dict[str, Any]] = (await rig.part.media.stats())["processes"]
        for p in procs:
            p["policy"] = os.sched_getscheduler(int(p["pid"]))
            p["priority"] = os.sched_getparam(int(p["pid"])).sched_priority
        return procs


@pytest.mark.parametrize("priority", [10, 0])
def test_media_processes_take_the_configured_realtime_priority(tmp_path: Path, priority: int) -> None:
    procs = asyncio.run(_processes(tmp_path, f"realtime_priority = {priority}"))
    assert procs
    want = priority > 0 and _fifo_permitted(priority)
    for p in procs:
        assert p["realtime"] is want, p
        if want:
            assert (p["policy"], p["priority"]) == (os.SCHED_FIFO, priority), p
        else:
            assert p["policy"] == os.SCHED_OTHER, p
