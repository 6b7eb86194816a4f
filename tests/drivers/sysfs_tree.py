"""Build a /sys/bus/dahdi_devices/devices look-alike from a sysfs.toml description.

The attribute files are the ones dahdi-sysfs.c creates (hardware_id,
location, manufacturer, type, span_count, dahdi_spantype, and span-N/
folders with local_spanno, basechan, spantype for assigned spans); each
value ends with a newline as the kernel's sprintf("%s\\n") does.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


def build(root: Path, description: str | dict[str, Any]) -> Path:
    data = tomllib.loads(description) if isinstance(description, str) else description
    base = root / "sys" / "bus" / "dahdi_devices" / "devices"
    base.mkdir(parents=True, exist_ok=True)
    for dev in data.get("device", []):
        d = base / dev["dir"]
        d.mkdir()
        for attr in ("hardware_id", "location", "manufacturer", "type"):
            (d / attr).write_text(str(dev.get(attr, "")) + "\n")
        types = dev.get("spantype", [])
        (d / "span_count").write_text(f"{len(types)}\n")
        (d / "dahdi_spantype").write_text("".join(f"{t}\n" for t in types))
        for local, spanno, basechan in dev.get("assigned", []):
            s = d / f"span-{spanno}"
            s.mkdir()
            (s / "local_spanno").write_text(f"{local}\n")
            (s / "basechan").write_text(f"{basechan}\n")
            kind = dict(t.split(":") for t in types).get(str(local), "")
            (s / "spantype").write_text(f"{kind}\n")
    return base
