"""The built-in default configuration `tdmgw run --embedded` runs on.

It needs nothing outside the machine: one virtual T1 span whose D-channel is
a unix socket and whose B-channels are UDP on loopback, its sockets in a
per-user runtime directory, the health endpoint on 127.0.0.1.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .load import LoadedConfig, loads

EMBEDDED_TOML = """\
# tdmgw embedded default: a virtual T1 PRI span on loopback, nothing outside the machine.

[[spans]]
name = "virtual1"
number = 1
driver = "virtual"
type = "T1"
switchtype = "ni2"
side = "user"

[spans.virtual]
dchannel_socket = "{runtime}/virtual1.dchan"
bchannel_local = "127.0.0.1:41000"
bchannel_remote = "127.0.0.1:41001"

[sip]
bind = "127.0.0.1"
port = 5060

# the voice-AI stand-in (appliance.demo.voiceai, pjsua2) that `tdmgw run --embedded` starts
[[sip.trunks]]
name = "voiceai"
host = "127.0.0.1"
port = 5070
options_interval_s = 10
max_calls = 4

[[routes.inbound]]
name = "to-voiceai"
match = "2[0-9]{{3}}"
target = "voiceai"

[[routes.outbound]]
name = "to-pbx"
match = "[+]?[0-9]+"
spans = ["virtual1"]

[logging]
level = "info"

[health]
listen = "127.0.0.1:8089"

[runtime]
dir = "{runtime}"
"""


def embedded_runtime_dir(environ: dict[str, str] | None = None) -> Path:
    """$XDG_RUNTIME_DIR/tdmgw-embedded, else /tmp/tdmgw-embedded-<uid>.

    Never /run/tdmgw, so the embedded gateway can run beside an installed one.
    """
    env = dict(os.environ) if environ is None else environ
    xdg = env.get("XDG_RUNTIME_DIR")
    if xdg and Path(xdg).is_dir():
        return Path(xdg) / "tdmgw-embedded"
    return Path(tempfile.gettempdir()) / f"tdmgw-embedded-{os.getuid()}"


def embedded_text(runtime_dir: Path | None = None) -> str:
    """The embedded default as TOML text (`tdmgw check-config --embedded` shows it)."""
    return EMBEDDED_TOML.format(runtime=runtime_dir or embedded_runtime_dir())


def load_embedded(runtime_dir: Path | None = None) -> LoadedConfig:
    """The embedded default, validated (TDMGW_* overrides apply as for a file)."""
    return loads(embedded_text(runtime_dir), source="(embedded default)")
