"""Mutations of TOML configuration texts, for the config fuzzers (tests and tests/fuzz)."""

from __future__ import annotations

import random
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

VALUES = ['0', '-1', '99999999999999999999', '1.5', 'nan', 'true', '"x"', '""', '"1-24"',
          '"127.0.0.1:99999"', '"[::1]:5038"', '[]', '[1, "2-3", 4]', '{}', '{a = 1}',
          '"\\u00e9"', '"((("', '1979-05-27', '"T1"', '"E1"', '"virtual"', '"dahdi"', '[[1]]']
KEYS = ["number", "driver", "type", "framing", "coding", "crc4", "timing", "switchtype", "side",
        "bchannels", "dchannel", "law", "hunting", "profile", "name", "listen", "port", "bind",
        "target", "spans", "match", "level", "journald", "dir", "bogus", "ptime_ms"]
HEADERS = ["[[spans]]", "[spans.virtual]", "[spans.dahdi]", "[sip]", "[[sip.trunks]]",
           "[[routes.inbound]]", "[[routes.outbound]]", "[cti.ami]", "[health]", "[runtime]",
           "[media]", "[logging]", "[nope]", "[[spans.virtual]]"]


def seeds() -> list[str]:
    texts = [p.read_text() for p in sorted((REPO / "firmware_configs").glob("*.toml"))]
    from appliance.config.embedded import embedded_text

    return [*texts, embedded_text(Path("/tmp/tdmgw-fuzz"))]


def mutate(rnd: random.Random, text: str) -> str:
    lines = text.splitlines()
    for _ in range(rnd.randint(1, 4)):
        op = rnd.randrange(9)
        i = rnd.randrange(len(lines)) if lines else 0
        if op == 0 and lines:
            del lines[i]
        elif op == 1 and lines:
            lines.insert(i, lines[rnd.randrange(len(lines))])
        elif op == 2 and lines and "=" in lines[i]:
            key = lines[i].split("=", 1)[0]
            lines[i] = f"{key}= {rnd.choice(VALUES)}"
        elif op == 3:
            lines.insert(i, f"{rnd.choice(KEYS)} = {rnd.choice(VALUES)}")
        elif op == 4:
            lines.insert(i, rnd.choice(HEADERS))
        elif op == 5 and lines and lines[i]:
            j = rnd.randrange(len(lines[i]))
            lines[i] = lines[i][:j] + rnd.choice('[]{}="\',.#\\\n -') + lines[i][j + 1:]
        elif op == 6 and lines:
            lines[i] = re.sub(r"^\s*\w+", rnd.choice(KEYS), lines[i])
        elif op == 7 and lines:
            lines[i] = lines[i][: rnd.randrange(len(lines[i]) + 1)]
        else:
            lines = lines[: rnd.randrange(len(lines) + 1)]
    return "\n".join(lines) + "\n"
