"""Run the benchmarks: `python -m tests.bench [part ...]` (default: every bench_*.py)."""

from __future__ import annotations

import importlib
import sys
import traceback
from pathlib import Path

from tests.bench.report import write


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = argv or sorted(p.stem.removeprefix("bench_") for p in here.glob("bench_*.py"))
    failed = 0
    for name in names:
        mod = importlib.import_module(f"tests.bench.bench_{name}")
        print(f"# running bench {name}", flush=True)
        try:
            tables = mod.run()
        except Exception:
            traceback.print_exc()
            failed += 1
            continue
        print(write(name, tables), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
