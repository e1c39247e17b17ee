"""ivmhost's engine benchmark: ivmhost next to the raw-V8 floor, on the same V8.

    python3 benchmarks/engine.py                     # the table
    python3 benchmarks/engine.py --json              # machine-readable
    python3 benchmarks/engine.py --rounds 9          # more rounds (steadier, slower)
    python3 benchmarks/engine.py --only apply,dicts  # some workloads only

Eight workloads, each measured through ivmhost and through benchmarks/floor/build/floor (a minimal
C++ embedder over the same vendored V8, built on demand by benchmarks/floor/build.py):

  eval      eval_x_plus_1_us        median µs per `eval_sync('x+1')` (batches of 20000 calls)
  cold      cold_start_ms           median ms of Isolate() + create_context_sync() + eval_sync('1')
                                    + dispose()
  rss       idle_isolate_rss_kib    RSS growth per idle isolate (with one context), 100 alive, / 100
  timeout   timeout_overshoot_ms    median of elapsed - 50 ms for eval_sync('while(true){}',
                                    timeout=50)
  apply     apply_sync_us           median µs per `f.apply_sync(None, [1, 2, 'abc'])` (batches of
                                    20000 calls)
  callback  js_to_py_callback_ns    median ns per JavaScript -> Python callback (`lambda x: x`)
                                    called from a JS loop of 200000 iterations
  bytes     bytes_1mib_in_us        median µs per `fn.apply_sync(None, [bytes(1 << 20)])` with
                                    fn = (b) => b.length (batches of 50 calls)
  dicts     dicts_10k_roundtrip_ms  median ms per `fn.apply_sync(None, [data])`, data = 10000
                                    dicts, fn = a JS map returning new objects (floor: the same
                                    round trip through JSON::Parse / JSON::Stringify)

Every measurement runs in a fresh process (this script re-runs itself with --child for the ivmhost
side), so no workload pollutes another. The time-based workloads run in several rounds that
alternate floor and ivmhost processes, and the median is taken over the pooled samples: on a small,
shared machine this spreads background noise over both sides instead of favouring one.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

RSS_ISOLATES = 100
TIMEOUT_MS = 50
DICTS_COUNT = 10000
# Round trips before timing, both sides (floor.cc, BenchDicts): V8 settles the records' field
# representations and optimizes the code that makes and maps them over the first few.
DICTS_WARMUP = 5
BYTES_SIZE = 1 << 20


@dataclass(frozen=True)
class Workload:
    name: str  # the name for --only, --child and the floor's command line
    key: str  # the result (row) key; the floor prints the same one
    samples_key: str | None  # pooled samples of a time-based workload (None: one process per side)
    label: str
    unit: str
    kind: str  # "ratio": target is a bound on ivmhost / floor; "absolute": a bound on ivmhost
    target: float
    per_round: int = 0  # samples per process per round (time-based workloads)
    batch: int = 0  # operations per sample (0: the workload has no batch)


WORKLOADS = [
    Workload("eval", "eval_x_plus_1_us", "eval_x_plus_1_samples_us", "eval_sync('x+1')", "µs",
             "ratio", 2.0, per_round=4, batch=20000),
    Workload("cold", "cold_start_ms", "cold_start_samples_ms", "cold start", "ms",
             "ratio", 1.15, per_round=15),
    Workload("rss", "idle_isolate_rss_kib", None, "RSS per idle isolate", "KiB", "ratio", 1.3),
    Workload("timeout", "timeout_overshoot_ms", "timeout_overshoot_samples_ms",
             "timeout overshoot (50 ms)", "ms", "absolute", 3.0, per_round=4),
    Workload("apply", "apply_sync_us", "apply_sync_samples_us", "apply_sync(f, 1, 2, 'abc')", "µs",
             "ratio", 5.0, per_round=4, batch=20000),
    Workload("callback", "js_to_py_callback_ns", "js_to_py_callback_samples_ns",
             "JS→Python callback", "ns", "ratio", 25.0, per_round=4, batch=200000),
    Workload("bytes", "bytes_1mib_in_us", "bytes_1mib_in_samples_us", "1 MiB bytes in", "µs",
             "ratio", 0.5, per_round=6, batch=50),
    Workload("dicts", "dicts_10k_roundtrip_ms", "dicts_10k_roundtrip_samples_ms",
             "10k dicts round trip", "ms", "ratio", 1.5, per_round=4, batch=1),
]
BY_NAME = {w.name: w for w in WORKLOADS}


# ---- the ivmhost side (runs in a child process) -------------------------------------------------


def _import_ivmhost():
    sys.path.insert(0, str(ROOT))
    import ivmhost

    return ivmhost


def _rss_kib() -> int:
    with open("/proc/self/statm") as f:
        resident = int(f.read().split()[1])
    return resident * os.sysconf("SC_PAGE_SIZE") // 1024


def child_eval(ivmhost, samples: int, batch: int) -> dict:
    iso = ivmhost.Isolate()
    ctx = iso.create_context_sync()
    ctx.eval_sync("var x = 1")
    ev = ctx.eval_sync
    for _ in range(2000):  # warm-up
        ev("x+1")
    if ev("x+1") != 2:
        raise SystemExit("x+1 did not evaluate to 2")
    out = []
    for _ in range(samples):
        t0 = time.perf_counter_ns()
        for _ in range(batch):
            ev("x+1")
        out.append((time.perf_counter_ns() - t0) / batch / 1e3)
    iso.dispose()
    return {"eval_x_plus_1_us": statistics.median(out), "eval_x_plus_1_samples_us": out}


def _one_cold_start(ivmhost) -> float:
    t0 = time.perf_counter_ns()
    iso = ivmhost.Isolate()
    ctx = iso.create_context_sync()
    if ctx.eval_sync("1") != 1:
        raise SystemExit("eval of 1 failed")
    iso.dispose()
    return (time.perf_counter_ns() - t0) / 1e6


def child_cold(ivmhost, samples: int) -> dict:
    for _ in range(3):
        _one_cold_start(ivmhost)
    out = [_one_cold_start(ivmhost) for _ in range(samples)]
    return {"cold_start_ms": statistics.median(out), "cold_start_samples_ms": out}


def child_rss(ivmhost) -> dict:
    _one_cold_start(ivmhost)  # warm-up: process-wide one-time costs before the baseline
    gc.collect()
    time.sleep(0.1)
    before = _rss_kib()
    alive = []
    for _ in range(RSS_ISOLATES):
        iso = ivmhost.Isolate()
        alive.append((iso, iso.create_context_sync()))
    time.sleep(0.1)  # let per-isolate threads start and settle
    after = _rss_kib()
    for iso, _ in alive:
        iso.dispose()
    return {
        "idle_isolate_rss_kib": (after - before) / RSS_ISOLATES,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "rss_isolates": RSS_ISOLATES,
    }


def child_timeout(ivmhost, samples: int) -> dict:
    iso = ivmhost.Isolate()
    ctx = iso.create_context_sync()
    out = []
    for i in range(-1, samples):  # one warm-up call, discarded
        t0 = time.perf_counter_ns()
        try:
            ctx.eval_sync("while(true){}", timeout=TIMEOUT_MS)
        except ivmhost.ScriptTimeoutError:
            pass
        else:
            raise SystemExit("while(true){} returned")
        elapsed_ms = (time.perf_counter_ns() - t0) / 1e6
        if i >= 0:
            out.append(elapsed_ms - TIMEOUT_MS)
    iso.dispose()
    return {"timeout_overshoot_ms": statistics.median(out), "timeout_overshoot_samples_ms": out}


def _sampled(samples: int, batch: int, warmup: int, scale: float, op) -> list[float]:
    """`samples` timings of `batch` calls of op() after `warmup` calls, per call, in ns / scale."""
    for _ in range(warmup):
        op()
    out = []
    for _ in range(samples):
        t0 = time.perf_counter_ns()
        for _ in range(batch):
            op()
        out.append((time.perf_counter_ns() - t0) / batch / scale)
    return out


def _result(w: Workload, out: list[float]) -> dict:
    return {w.key: statistics.median(out), w.samples_key: out}


def child_apply(ivmhost, samples: int, batch: int) -> dict:
    iso = ivmhost.Isolate()
    ctx = iso.create_context_sync()
    f = ctx.eval_sync("(function f(a, b, c) { return a + b + c.length })", reference=True)
    apply, args = f.apply_sync, [1, 2, "abc"]
    if apply(None, args) != 6:
        raise SystemExit("f(1, 2, 'abc') did not return 6")
    out = _sampled(samples, batch, 2000, 1e3, lambda: apply(None, args))
    iso.dispose()
    return _result(BY_NAME["apply"], out)


def child_callback(ivmhost, samples: int, batch: int) -> dict:
    iso = ivmhost.Isolate()
    ctx = iso.create_context_sync()
    loop = ctx.eval_closure_sync(
        "const f = $0; return (n) => { let s = 0; for (let i = 0; i < n; i++) s += f(i); return s }",
        [lambda x: x],
        result=ivmhost.TransferOptions(reference=True),
    )
    if loop.apply_sync(None, [10]) != 45:
        raise SystemExit("loop(10) did not return 45")
    loop.apply_sync(None, [batch])  # warm-up (and JIT)
    out = []
    for _ in range(samples):
        t0 = time.perf_counter_ns()
        total = loop.apply_sync(None, [batch])
        out.append((time.perf_counter_ns() - t0) / batch)
        if total != batch * (batch - 1) // 2:
            raise SystemExit("the loop returned a wrong sum")
    iso.dispose()
    return _result(BY_NAME["callback"], out)


def child_bytes(ivmhost, samples: int, batch: int) -> dict:
    iso = ivmhost.Isolate()
    ctx = iso.create_context_sync()
    fn = ctx.eval_sync("(b) => b.length", reference=True)
    apply, args = fn.apply_sync, [bytes(BYTES_SIZE)]
    if apply(None, args) != BYTES_SIZE:
        raise SystemExit("b.length was not 1 MiB")
    out = _sampled(samples, batch, 20, 1e3, lambda: apply(None, args))
    iso.dispose()
    return _result(BY_NAME["bytes"], out)


def child_dicts(ivmhost, samples: int, batch: int) -> dict:
    iso = ivmhost.Isolate()
    ctx = iso.create_context_sync()
    data = [{"id": i, "name": f"item{i}", "tags": ["a", "b"], "score": i * 0.5} for i in range(DICTS_COUNT)]
    fn = ctx.eval_sync("(xs) => xs.map(x => ({...x, score: x.score * 2}))", reference=True)
    apply, args = fn.apply_sync, [data]
    result = apply(None, args)
    if len(result) != DICTS_COUNT or any(
        r != {"id": i, "name": f"item{i}", "tags": ["a", "b"], "score": i} for i, r in enumerate(result)
    ):
        raise SystemExit("the mapped records differ from the expected ones")
    del result
    out = _sampled(samples, batch, DICTS_WARMUP, 1e6, lambda: apply(None, args))
    iso.dispose()
    return _result(BY_NAME["dicts"], out)


def run_child(workload: str, samples: int, batch: int) -> None:
    ivmhost = _import_ivmhost()
    if workload == "eval":
        result = child_eval(ivmhost, samples, batch)
    elif workload == "cold":
        result = child_cold(ivmhost, samples)
    elif workload == "rss":
        result = child_rss(ivmhost)
    elif workload == "timeout":
        result = child_timeout(ivmhost, samples)
    elif workload == "apply":
        result = child_apply(ivmhost, samples, batch)
    elif workload == "callback":
        result = child_callback(ivmhost, samples, batch)
    elif workload == "bytes":
        result = child_bytes(ivmhost, samples, batch)
    elif workload == "dicts":
        result = child_dicts(ivmhost, samples, batch)
    else:
        raise SystemExit(f"unknown workload {workload!r}")
    result["v8_version"] = ivmhost.v8_version
    print(json.dumps(result))


# ---- the driver -------------------------------------------------------------------------------


def _run_json(cmd: list[str]) -> dict:
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"benchmark process failed ({proc.returncode}): {' '.join(cmd)}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def floor_cmd(binary: Path, w: Workload, samples: int | None, batch: int) -> list[str]:
    cmd = [str(binary), w.name]
    if samples:
        cmd.append(f"--samples={samples}")
    if batch:
        cmd.append(f"--batch={batch}")
    return cmd


def ivmhost_cmd(w: Workload, samples: int | None, batch: int) -> list[str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", w.name, "--batch", str(batch)]
    if samples:
        cmd += ["--samples", str(samples)]
    return cmd


def measure(selected: list[Workload], rounds: int, batches: dict[str, int], progress: bool) -> dict:
    spec = importlib.util.spec_from_file_location("floor_build", HERE / "floor" / "build.py")
    floor_build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(floor_build)

    binary = floor_build.build(quiet=not progress)
    results: dict = {"ivmhost": {}, "floor": {}}
    samples: dict = {"ivmhost": {}, "floor": {}}

    def note(msg: str) -> None:
        if progress:
            print(msg, file=sys.stderr, flush=True)

    for w in selected:
        batch = batches[w.name]
        if w.samples_key is None:
            # RSS: one fresh process each (deterministic enough, and the slowest to set up).
            note(f"{w.name}: floor, ivmhost")
            results["floor"].update(_run_json(floor_cmd(binary, w, None, batch)))
            results["ivmhost"].update(_run_json(ivmhost_cmd(w, None, batch)))
            continue
        # Time-based: alternate floor / ivmhost processes for `rounds` rounds, pool the samples.
        for r in range(rounds):
            note(f"{w.name}: round {r + 1}/{rounds}")
            order = ["floor", "ivmhost"] if r % 2 == 0 else ["ivmhost", "floor"]
            for side in order:
                if side == "floor":
                    cmd = floor_cmd(binary, w, w.per_round, batch)
                else:
                    cmd = ivmhost_cmd(w, w.per_round, batch)
                out = _run_json(cmd)
                samples[side].setdefault(w.samples_key, []).extend(out[w.samples_key])
                results[side]["v8_version"] = out["v8_version"]
        for side in ("floor", "ivmhost"):
            results[side][w.samples_key] = samples[side][w.samples_key]
            results[side][w.key] = statistics.median(samples[side][w.samples_key])
    return results


def evaluate(selected: list[Workload], results: dict) -> list[dict]:
    rows = []
    for w in selected:
        ours = results["ivmhost"][w.key]
        floor = results["floor"][w.key]
        ratio = ours / floor if floor > 0 else float("inf")
        ok = ratio <= w.target if w.kind == "ratio" else ours <= w.target
        rows.append(
            {
                "workload": w.key,
                "label": w.label,
                "unit": w.unit,
                "ivmhost": ours,
                "floor": floor,
                "ratio": ratio,
                "target_kind": w.kind,
                "target": w.target,
                "pass": ok,
            }
        )
    return rows


def _fmt(value: float, unit: str) -> str:
    if unit == "KiB":
        return f"{value:.0f} {unit}"
    if abs(value) < 10:
        return f"{value:.3f} {unit}"
    return f"{value:.2f} {unit}" if abs(value) < 100 else f"{value:.1f} {unit}"


def print_table(selected: list[Workload], results: dict, rows: list[dict], rounds: int) -> None:
    header = ["workload", "ivmhost", "floor", "ratio", "target"]
    body = []
    for row in rows:
        if row["target_kind"] == "ratio":
            target = f"≤ {row['target']:g}× floor"
        else:
            target = f"≤ {row['target']:g} {row['unit']}"
        body.append(
            [
                row["label"],
                _fmt(row["ivmhost"], row["unit"]),
                _fmt(row["floor"], row["unit"]),
                f"{row['ratio']:.2f}×",
                f"{target}  {'ok' if row['pass'] else 'MISS'}",
            ]
        )
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"

    print(f"V8 {results['ivmhost'].get('v8_version')} (floor: {results['floor'].get('v8_version')}), "
          f"{os.cpu_count()} CPUs, {rounds} rounds, medians")
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for cells in body:
        print(line(cells))
    # Noise check: on a shared VM the CPU's speed can change between (or within) processes, which
    # moves medians; the best sample of each side is the least disturbed view of the same ratio.
    for w in selected:
        if w.samples_key is None or w.kind != "ratio":
            continue
        best_i = min(results["ivmhost"][w.samples_key])
        best_f = min(results["floor"][w.samples_key])
        what = "batch" if w.batch > 1 else "sample"
        print(f"{w.name} best {what}: ivmhost {_fmt(best_i, w.unit)}, floor {_fmt(best_f, w.unit)} "
              f"({best_i / best_f:.2f}×)")
    misses = [r for r in rows if not r["pass"]]
    print(f"{len(rows) - len(misses)}/{len(rows)} targets met" + (
        ": missed " + ", ".join(r["workload"] for r in misses) if misses else ""))


def _select(only: str | None) -> list[Workload]:
    if not only:
        return list(WORKLOADS)
    names = {n.strip() for n in only.split(",") if n.strip()}
    unknown = names - set(BY_NAME)
    if unknown:
        raise SystemExit(f"--only: unknown workload(s) {', '.join(sorted(unknown))}; "
                         f"choose from {', '.join(BY_NAME)}")
    return [w for w in WORKLOADS if w.name in names]  # always in table order


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per time-based workload")
    parser.add_argument("--only", metavar="NAMES",
                        help="comma-separated workloads to run (default: all): " + ",".join(BY_NAME))
    parser.add_argument("--batch", type=int, default=BY_NAME["eval"].batch, help="eval calls per sample")
    parser.add_argument("--child", choices=list(BY_NAME), help=argparse.SUPPRESS)
    parser.add_argument("--samples", type=int, default=10, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        run_child(args.child, args.samples, args.batch)
        return

    selected = _select(args.only)
    batches = {w.name: w.batch for w in WORKLOADS}
    batches["eval"] = max(1, args.batch)
    t0 = time.perf_counter()
    results = measure(selected, max(1, args.rounds), batches, progress=not args.json)
    rows = evaluate(selected, results)
    elapsed = time.perf_counter() - t0
    if args.json:
        print(json.dumps({"v8_version": results["ivmhost"].get("v8_version"),
                          "cpus": os.cpu_count(), "rounds": args.rounds, "eval_batch": batches["eval"],
                          "batches": {w.name: batches[w.name] for w in selected if w.batch},
                          "workloads": [w.name for w in selected],
                          "elapsed_s": elapsed, "rows": rows, "raw": results}, indent=2))
    else:
        print_table(selected, results, rows, args.rounds)
        print(f"({elapsed:.1f} s)")


if __name__ == "__main__":
    main()
