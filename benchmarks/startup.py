"""Start-up costs: an isolate from a snapshot vs without one; compiling with vs without a code cache.

Run: python3 benchmarks/startup.py [--json]. Each figure is the median of several rounds, each round
in a fresh process, so the V8 compilation cache and warm allocators never flatter a result.

Two snapshot workloads:
- "libraries": the state a plugin host really starts from, two real npm libraries loaded (marked
  and js-yaml, UMD builds from tests/fixtures/npm, `make fixtures`). Without a snapshot the isolate
  runs both scripts; from the snapshot they are already there, and the functions a warm-up call
  ran are already compiled. Both then call each library once. This is the target row.
- "empty": a one-line snapshot against a bare isolate (V8's built-in snapshot). Nothing is saved
  there, so it shows the fixed cost of starting from a custom blob, which V8 reads in place from
  the ExternalCopy holding it; shown for reference, with no target.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROUNDS = 5

NPM = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "npm" / "node_modules"
LIBRARIES = [NPM / "marked" / "lib" / "marked.umd.js", NPM / "js-yaml" / "dist" / "js-yaml.js"]

CHILD = r'''
import json, sys, time, ivmhost
what = sys.argv[1]
out = {}


def timed(start, samples):
    start()  # one-time process costs stay out
    times = []
    for _ in range(samples):
        began = time.perf_counter()
        start()
        times.append((time.perf_counter() - began) * 1e3)
    return sorted(times)[len(times) // 2]


if what == "empty":
    snap = ivmhost.Isolate.create_snapshot([{"code": "globalThis.boot = [1, 2, 3].map(x => x * 2)"}])
    for label, options in (("plain", {}), ("snapshot", {"snapshot": snap})):
        def start(options=options):
            isolate = ivmhost.Isolate(**options)
            isolate.create_context_sync().eval_sync("1")
            isolate.dispose()
        out[label] = timed(start, 40)
elif what == "libraries":
    scripts = [{"code": open(path).read(), "filename": path.rsplit("/", 1)[1]} for path in sys.argv[2:]]
    use = "marked.parse('# hi') + jsyaml.load('a: 1').a"
    # The warm-up runs what start-up will run, so those functions are compiled into the snapshot
    # (isolated-vm's warmupScript); its own effects are dropped.
    snap = ivmhost.Isolate.create_snapshot(scripts, warmup_script=use)

    def start(options, load):
        isolate = ivmhost.Isolate(**options)
        context = isolate.create_context_sync()
        for script in load:
            context.eval_sync(script["code"], filename=script["filename"])
        assert context.eval_sync(use) == "<h1>hi</h1>\n1"
        isolate.dispose()

    out["plain"] = timed(lambda: start({}, scripts), 15)
    out["snapshot"] = timed(lambda: start({"snapshot": snap}, []), 15)
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


def measure(what: str, *args: str) -> dict[str, float]:
    rounds = []
    for _ in range(ROUNDS):
        proc = subprocess.run([sys.executable, "-c", CHILD, what, *args], capture_output=True, text=True, check=True)
        rounds.append(json.loads(proc.stdout))
    return {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}


def main() -> int:
    began = time.perf_counter()
    missing = [str(path) for path in LIBRARIES if not path.exists()]
    if missing:
        print(f"startup.py: {missing[0]} is missing; run `make fixtures` first", file=sys.stderr)
        return 2
    libraries = measure("libraries", *map(str, LIBRARIES))
    empty = measure("empty")
    compile_ = measure("compile")
    rows = [
        ("start with 2 libraries", "from a snapshot", libraries["snapshot"], "without", libraries["plain"], 0.7),
        ("start, empty state", "from a snapshot", empty["snapshot"], "without", empty["plain"], None),
        ("compile a 1 MB script", "with code cache", compile_["cache"], "without", compile_["no cache"], 0.3),
    ]
    if "--json" in sys.argv:
        print(json.dumps({"libraries": libraries, "empty": empty, "compile": compile_}))
        return 0
    print(f"{'workload':<26} {'case':<17} {'ms':>8}   {'baseline':<9} {'ms':>8}   {'ratio':>6}   target")
    met = 0
    for workload, case, value, base_label, base, target in rows:
        ratio = value / base
        verdict = "(no target)"
        if target is not None:
            ok = ratio <= target
            met += ok
            verdict = f"<= {target}x {'ok' if ok else 'MISS'}"
        print(f"{workload:<26} {case:<17} {value:8.3f}   {base_label:<9} {base:8.3f}   {ratio:5.2f}x   {verdict}")
    targets = sum(target is not None for *_, target in rows)
    print(f"{met}/{targets} targets met ({time.perf_counter() - began:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
