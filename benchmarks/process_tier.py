"""A hook call into a process-tier plugin against the same hook call in-process, in one run.

Run: python3 benchmarks/process_tier.py [--json]. The same plugin is loaded twice into one
PluginHost (isolation "isolate" and "process"); each side makes `host.hook`-style calls of a hook
that takes a small dict and returns a string. Target: process tier <= 15x in-process.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ivmhost  # noqa: E402

CODE = "export function on_message(message, channel) { return `${channel}:${message.text.length}`; }\n"
CALLS = 2000
ROUNDS = 7


class Hooks:
    @ivmhost.hookspec
    def on_message(self, message: dict[str, str], channel: str) -> str:  # type: ignore[empty-body]
        """A message arrived."""


def plugin(root: Path, name: str, isolation: str) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "plugin.toml").write_text(
        f'name = "{name}"\nversion = "1.0.0"\nentry = "index.js"\napi = "1"\nisolation = "{isolation}"\n')
    (folder / "index.js").write_text(CODE)
    return folder


def per_call_us(call, calls: int) -> float:  # type: ignore[no-untyped-def]
    began = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - began) / calls * 1e6


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp, ivmhost.PluginHost(hookspecs=Hooks) as host:
        local = host.load(plugin(Path(tmp), "local", "isolate"))
        remote = host.load(plugin(Path(tmp), "remote", "process"))
        message = {"text": "hello there", "from": "ada"}
        assert local.call("on_message", message, "c") == remote.call("on_message", message, "c") == "c:11"
        samples: dict[str, list[float]] = {"in-process": [], "process tier": []}
        for _ in range(ROUNDS):  # alternate, so noise on this shared machine spreads over both
            samples["in-process"].append(per_call_us(lambda: local.call("on_message", message, "c"), CALLS))
            samples["process tier"].append(per_call_us(lambda: remote.call("on_message", message, "c"), CALLS // 4))
    medians = {side: statistics.median(values) for side, values in samples.items()}
    ratio = medians["process tier"] / medians["in-process"]
    if "--json" in sys.argv:
        print(json.dumps({"medians_us": medians, "samples_us": samples, "ratio": ratio, "target": 15.0}))
        return 0
    print("| hook call (one JS plugin)   | µs per call | ratio |")
    print("|-----------------------------|-------------|-------|")
    print(f"| in-process (an isolate)     | {medians['in-process']:11.2f} | 1.00× |")
    print(f"| process tier (a worker)     | {medians['process tier']:11.2f} | {ratio:4.2f}× |")
    print(f"target: process tier <= 15x in-process: {'ok' if ratio <= 15 else 'MISS'}"
          f" (best: {min(samples['in-process']):.2f} µs vs {min(samples['process tier']):.2f} µs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
