"""Run the fuzzers: `python -m tests.fuzz [part ...]`; each prints inputs tried and failures."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = argv or sorted(p.stem.removeprefix("fuzz_") for p in here.glob("fuzz_*.py"))
    budget = float(os.environ.get("FUZZ_SECONDS", "60"))
    failures = 0
    for name in names:
        mod = importlib.import_module(f"tests.fuzz.fuzz_{name}")
        tried, failed = mod.run(budget)
        print(f"fuzz {name}: {tried} inputs tried, {failed} failures", flush=True)
        failures += failed
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
