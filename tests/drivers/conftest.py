"""Shared fixtures for the driver tests."""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

import pytest

TARBALLS = [Path("/usr/src/dahdi.tar.bz2"), Path("/usr/src/dahdi.tar.xz"), Path("/usr/src/dahdi.tar.gz")]
#: What the tests read from DAHDI Linux: user.h and the T1/E1 card drivers.
_WANTED = re.compile(r"(include/dahdi/user\.h|drivers/dahdi/(wct4xxp/base|wcte1[123]xp(/base|-base)?|"
                     r"wcte43x-base|wcte11xp)\.c)$")


@pytest.fixture(scope="session")
def dahdi_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DAHDI Linux from Debian's dahdi-source tarball, the needed files extracted once.

    Returns the folder holding ``include/`` and ``drivers/``.
    """
    tarball = next((t for t in TARBALLS if t.exists()), None)
    if tarball is None:
        pytest.fail("dahdi-source is not installed (no /usr/src/dahdi.tar.*): apt-get install dahdi-source")
    tmp = tmp_path_factory.mktemp("dahdi-source")
    with tarfile.open(tarball) as tf:
        members = [m for m in tf if _WANTED.search(m.name)]
        tf.extractall(tmp, members=members, filter="data")
    user_h = [m.name for m in members if m.name.endswith("include/dahdi/user.h")]
    assert user_h, f"no include/dahdi/user.h in {tarball}"
    return (tmp / user_h[0]).parents[2]
