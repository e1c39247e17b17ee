"""100 memory-limit bombs in a row in one process: resident memory before and after.

Run: python3 benchmarks/bombs.py [--count N] [--json]. Seven kinds of bomb
(ivmhost.testing.MEMORY_BOMBS) take turns, each in a fresh 32 MB isolate, each stopped with
MemoryLimitError. RSS is read from /proc/self/statm after a warm-up of one bomb of each kind (the
process's one-time costs: V8's code, allocator arenas) and after the run. Target: growth <= 10%.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ivmhost  # noqa: E402
from ivmhost.testing import MEMORY_BOMBS  # noqa: E402

BOMBS = MEMORY_BOMBS


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20


def bomb(kind: str) -> None:
    isolate = ivmhost.Isolate(memory_limit=32)
    try:
        isolate.create_context_sync().eval_sync(BOMBS[kind], timeout=30_000)
    except ivmhost.MemoryLimitError:
        pass
    else:
        raise SystemExit(f"the {kind} bomb was not stopped by the memory limit")
    finally:
        if not isolate.is_disposed:
            isolate.dispose()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    kinds = list(BOMBS)
    for kind in kinds:  # warm-up
        bomb(kind)
    gc.collect()
    before = rss_mib()
    began = time.monotonic()
    for i in range(args.count):
        bomb(kinds[i % len(kinds)])
    gc.collect()
    after = rss_mib()
    growth = (after - before) / before
    result = {"bombs": args.count, "rss_before_mib": before, "rss_after_mib": after, "growth": growth,
              "seconds": time.monotonic() - began, "live_isolates": ivmhost.live_isolates(), "target": 0.10}
    if args.json:
        print(json.dumps(result))
        return 0
    print("| bombs | RSS before | RSS after | growth | target        | time   |")
    print("|-------|------------|-----------|--------|---------------|--------|")
    print(f"| {args.count:5d} | {before:6.1f} MiB | {after:5.1f} MiB | {growth * 100:+5.1f}% | <= 10%  {'ok' if growth <= 0.10 else 'MISS'}  "
          f"| {result['seconds']:5.1f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
