"""Start-up costs: an isolate from a snapshot vs without one; compiling with vs without a code cache.

Run: python3 benchmarks/startup.py [--json]. Each figure is the median of several rounds, each round
in a fresh process, so the V8 compilation cache and warm allocators never flatter a result.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

ROUNDS = 5

CHILD = r'''
import json, sys, time, ivmhost
what = sys.argv[1]
out = {}
if what == "start":
    snap = ivmhost.Isolate.create_snapshot([{"code": "globalThis.boot = [1, 2, 3].map(x => x * 2)"}])
    for label, options in (("plain", {}), ("snapshot", {"snapshot": snap})):
        ivmhost.Isolate(**options).dispose()
        samples = []
        for _ in range(40):
            began = time.perf_counter()
            isolate = ivmhost.Isolate(**options)
            isolate.create_context_sync().eval_sync("1")
            isolate.dispose()
            samples.append((time.perf_counter() - began) * 1e3)
        out[label] = sorted(samples)[len(samples) // 2]
else:
    # ~1 MB of real-looking code: many distinct functions.
    code = "\n".join(f"function f{i}(a, b) {{ const s = [a, b, {i}].map(x => x * 2); return s.reduce((p, q) => p + q, 0) + '{i}'.length }}" for i in range(9000))
    assert len(code) > 1_000_000
    maker = ivmhost.Isolate()
    cache = maker.compile_script_sync(code, produce_cached_data=True).cached_data
    maker.dispose()
    for label, options in (("no cache", {}), ("cache", {"cached_data": cache})):
        samples = []
        for _ in range(7):
            isolate = ivmhost.Isolate()  # fresh: V8's in-isolate compilation cache cannot help
            began = time.perf_counter()
            script = isolate.compile_script_sync(code, filename="big.js", **options)
            samples.append((time.perf_counter() - began) * 1e3)
            if options:
                assert script.cached_data_rejected is False
            isolate.dispose()
        out[label] = sorted(samples)[len(samples) // 2]
print(json.dumps(out))
'''


def measure(what: str) -> dict[str, float]:
    rounds = []
    for _ in range(ROUNDS):
        proc = subprocess.run([sys.executable, "-c", CHILD, what], capture_output=True, text=True, check=True)
        rounds.append(json.loads(proc.stdout))
    return {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}


def main() -> int:
    began = time.perf_counter()
    start = measure("start")
    compile_ = measure("compile")
    rows = [
        ("isolate + context + eval", "from a snapshot", start["snapshot"], "without", start["plain"], 0.7),
        ("compile a 1 MB script", "with code cache", compile_["cache"], "without", compile_["no cache"], 0.3),
    ]
    if "--json" in sys.argv:
        print(json.dumps({"start": start, "compile": compile_}))
        return 0
    print(f"{'workload':<26} {'case':<17} {'ms':>8}   {'baseline':<9} {'ms':>8}   {'ratio':>6}   target")
    met = 0
    for workload, case, value, base_label, base, target in rows:
        ratio = value / base
        ok = ratio <= target
        met += ok
        print(f"{workload:<26} {case:<17} {value:8.3f}   {base_label:<9} {base:8.3f}   {ratio:5.2f}x   <= {target}x {'ok' if ok else 'MISS'}")
    print(f"{met}/{len(rows)} targets met ({time.perf_counter() - began:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
