"""Install the systemd units and set-up files, with the path of the tdmgw executable.

    tdmgw install-systemd            # into /etc/systemd/system, /etc/sysusers.d ...
    tdmgw install-systemd --root D   # below D (image builds)

Then: `systemd-sysusers; systemd-tmpfiles --create; udevadm control --reload;
systemctl daemon-reload; systemctl enable --now tdmgw.target`.
"""

from __future__ import annotations

import shutil
import sys
from importlib import resources
from pathlib import Path

UNITS = ("tdmgw.target", "tdmgw-core.service", "tdmgw-cti.service", "tdmgw-console.service")
FILES = {
    "tdmgw.sysusers.conf": Path("etc/sysusers.d/tdmgw.conf"),
    "tdmgw.tmpfiles.conf": Path("etc/tmpfiles.d/tdmgw.conf"),
    "tdmgw-dahdi.udev.conf": Path("etc/udev/rules.d/61-tdmgw-dahdi.rules"),
}
UNIT_DIR = Path("etc/systemd/system")


def tdmgw_executable() -> Path:
    """The tdmgw console script of this installation."""
    found = shutil.which("tdmgw")
    if found:
        return Path(found).resolve()
    return (Path(sys.executable).parent / "tdmgw").resolve()


def render(name: str, executable: Path) -> str:
    """A unit or set-up file's text with @TDMGW@ replaced."""
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    return text.replace("@TDMGW@", str(executable))


def install(root: Path = Path("/"), executable: Path | None = None) -> list[Path]:
    """Write every file below `root`; return the paths written."""
    exe = executable or tdmgw_executable()
    written: list[Path] = []
    targets = [(u, UNIT_DIR / u) for u in UNITS] + list(FILES.items())
    for name, rel in targets:
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(render(name, exe), encoding="utf-8")
        written.append(dest)
    return written
