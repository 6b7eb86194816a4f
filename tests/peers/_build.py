"""Compile a small C harness against a Debian library at bench/test time (gcc, pkg-config)."""

from __future__ import annotations

import ctypes
import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

CACHE = Path(tempfile.gettempdir()) / "tdmgw-peers"


class PeerUnavailable(RuntimeError):
    """The peer library or a compiler is missing."""


def build(name: str, source: str, pkg: str) -> ctypes.CDLL:
    """Build ``source`` as a shared object linked with pkg-config package ``pkg``; load it."""
    if shutil.which("gcc") is None or shutil.which("pkg-config") is None:
        raise PeerUnavailable("gcc and pkg-config are needed to build the peer harness")
    try:
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", pkg], check=True,
                               capture_output=True, text=True).stdout.split()
    except subprocess.CalledProcessError as exc:
        raise PeerUnavailable(f"pkg-config {pkg}: {exc.stderr.strip()}") from exc
    digest = hashlib.sha256((source + " ".join(flags)).encode()).hexdigest()[:16]
    CACHE.mkdir(parents=True, exist_ok=True)
    so = CACHE / f"{name}-{digest}.so"
    if not so.exists():
        src = CACHE / f"{name}-{digest}.c"
        src.write_text(source)
        tmp = so.with_suffix(".tmp")
        cmd = ["gcc", "-O2", "-shared", "-fPIC", "-o", str(tmp), str(src), *flags, "-lm"]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise PeerUnavailable(f"gcc failed for {name}: {res.stderr.strip()}")
        tmp.replace(so)
    return ctypes.CDLL(str(so))
