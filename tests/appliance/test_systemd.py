"""systemd files: units verify, hardening exposure stays low, sysusers/tmpfiles apply."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from appliance.systemd.install import UNITS, install

pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                reason="systemd-analyze not installed")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    r = tmp_path_factory.mktemp("root")
    install(r)
    return r


def test_units_render_with_the_executable(root: Path) -> None:
    core = (root / "etc/systemd/system/tdmgw-core.service").read_text()
    assert "@TDMGW@" not in core
    m = re.search(r"^ExecStart=(\S+) core --config /etc/tdmgw/tdmgw.toml$", core, re.M)
    assert m and Path(m.group(1)).name == "tdmgw"
    assert "Type=notify" in core and "WatchdogSec=" in core and "PartOf=tdmgw.target" in core


def test_units_verify(root: Path) -> None:
    unit_dir = root / "etc/systemd/system"
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", *(str(unit_dir / u) for u in UNITS)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "tdmgw" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("unit", [u for u in UNITS if u.endswith(".service")])
def test_hardening_exposure(root: Path, unit: str) -> None:
    proc = subprocess.run(["systemd-analyze", "security", "--offline=true",
                           str(root / "etc/systemd/system" / unit)],
                          capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d)", proc.stdout)
    assert m, proc.stdout + proc.stderr
    assert float(m.group(1)) <= 2.0, proc.stdout


def test_sysusers_and_tmpfiles_apply_to_a_root(root: Path) -> None:
    if shutil.which("systemd-sysusers") is None or shutil.which("systemd-tmpfiles") is None:
        pytest.skip("systemd-sysusers/systemd-tmpfiles not installed")
    (root / "etc/passwd").touch()
    (root / "etc/group").touch()
    subprocess.run(["systemd-sysusers", f"--root={root}"], check=True, capture_output=True,
                   timeout=60)
    assert re.search(r"^tdmgw:x:\d+:\d+:", (root / "etc/passwd").read_text(), re.M)
    subprocess.run(["systemd-tmpfiles", "--create", f"--root={root}",
                    str(root / "etc/tmpfiles.d/tdmgw.conf")], check=True, capture_output=True,
                   timeout=60)
    assert (root / "run/tdmgw").is_dir() and (root / "var/lib/tdmgw").is_dir()
    assert oct((root / "etc/tdmgw").stat().st_mode & 0o777) == "0o750"
