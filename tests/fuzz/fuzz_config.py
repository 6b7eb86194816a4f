"""Fuzz the configuration loader and the inter-process datagram codec.

`python -m tests.fuzz config` (FUZZ_SECONDS=60 by default).  Inputs are
mutations of every firmware_configs example and the embedded default
(lines deleted, duplicated, truncated; values swapped for other types;
unknown keys and headers; stray TOML punctuation) and mutated datagrams.
Properties:

- `appliance.config.loads` returns a configuration (whose summary renders)
  or raises ConfigError whose every problem names its source - nothing else,
  and within a second per input (a huge timeslot range once hung it);
- `appliance.events.decode` returns a message or raises WireError.
"""

from __future__ import annotations

import contextlib
import random
import time
import traceback

from appliance.config import ConfigError, loads
from appliance.config.report import summary
from appliance.events import Event, Heartbeat, Status, WireError, decode, encode
from tests.appliance.config_mutations import mutate, seeds

WIRE_SEEDS = [encode(Event(1, 1.0, "call.ended", {"call": "c", "cause": 16})),
              encode(Status(2, 2.0, {"spans": [{"name": "s", "state": "up"}]})),
              encode(Heartbeat("cti", 7, 3.0, {}))]


def _mutate_bytes(rnd: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rnd.randint(1, 6)):
        op = rnd.randrange(4)
        if op == 0 and b:
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        elif op == 1:
            b.insert(rnd.randrange(len(b) + 1), rnd.choice(b'{}[]":,0-9eE.-'))
        elif op == 2 and b:
            del b[rnd.randrange(len(b))]
        else:
            del b[rnd.randrange(len(b) + 1):]
    return bytes(b)


def run(budget: float) -> tuple[int, int]:
    rnd = random.Random(int(time.time()))
    pool = seeds()
    tried = failed = 0
    end = time.monotonic() + budget
    while time.monotonic() < end:
        tried += 1
        text = mutate(rnd, rnd.choice(pool))
        t0 = time.monotonic()
        try:
            try:
                summary(loads(text, source="fuzz.toml"))
            except ConfigError as exc:
                for p in exc.problems:
                    if not str(p).startswith(("fuzz.toml", "environment")):
                        raise AssertionError(f"problem without its source: {p}") from None
            if time.monotonic() - t0 > 1.0:
                raise AssertionError(f"took {time.monotonic() - t0:.1f} s")
            data = _mutate_bytes(rnd, rnd.choice(WIRE_SEEDS))
            with contextlib.suppress(WireError):
                decode(data)
        except Exception:
            failed += 1
            if failed <= 5:
                print("input:\n" + text)
                traceback.print_exc()
    return tried, failed
