"""anyio task hosting: dozens of plugin tasks at once, under asyncio or trio.

Twelve generated worker plugins run three tasks each (36 in all), side by side in one
``async with host:`` block. The tasks are async JavaScript: they sleep on timers and await an
async capability (``progress``, served on the host's event loop). Some run a step past their
``call_timeout_ms`` and fail, some throw, the watchers are cancelled midway, and the rest finish.
A status line follows them live; a table sums them up.

Run it with ``python3 examples/task_hosting.py`` (``--backend trio`` for trio).
"""

from __future__ import annotations

import argparse
import collections
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

import ivmhost

PLUGINS = 12
STEPS = 6
WATCH_BEATS = 4  # a watcher is cancelled once it has reported this many beats
CALL_TIMEOUT_MS = 300  # wall clock: generous enough for a busy machine, short enough to watch it trip

WORKER = """\
import { fetch_work, report } from "ivmhost:progress";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Sums the chunks of work the host hands out, one timer-paced step at a time.
export async function crunch(job, steps, ms) {
  let total = 0;
  for (let step = 1; step <= steps; step++) {
    await sleep(ms);
    const chunk = await fetch_work(job, step);
    total += chunk.reduce((sum, n) => sum + n, 0);
    await report(job, step);
  }
  return total;
}

// Like crunch, but its last step (a timer callback) busy-waits past call_timeout_ms: the host
// stops it.
export async function stall(job, steps, ms) {
  for (let step = 1; step <= steps; step++) {
    await sleep(ms);
    await report(job, step);
  }
  await sleep(ms);
  const until = performance.now() + 5000;
  while (performance.now() < until) {}
  return "unreachable";
}

// Throws halfway through.
export async function flaky(job, steps, ms) {
  for (let step = 1; step <= steps; step++) {
    await sleep(ms);
    if (step > steps / 2) throw new RangeError(`job ${job}: chunk ${step} is corrupt`);
    await report(job, step);
  }
}

// Runs until it is cancelled.
export async function watch(job, ms) {
  for (let beat = 1; ; beat++) {
    await sleep(ms);
    await report(job, beat);
  }
}

// A hook: the plugin still answers after its tasks failed or were cancelled.
export function health() {
  return { plugin: import.meta.url.split("/").at(-2), uptime_ms: Math.round(performance.now()) };
}
"""


class WorkerHooks:
    @ivmhost.hookspec
    def health(self) -> dict[str, Any]:  # type: ignore[empty-body]
        """Each worker says it is alive."""


class Board:
    """What the tasks reported, and events the application waits on (all on the event loop)."""

    def __init__(self) -> None:
        self.steps: dict[str, int] = collections.Counter()
        self.milestones: dict[tuple[str, int], anyio.Event] = {}

    def reached(self, job: str, step: int) -> anyio.Event:
        return self.milestones.setdefault((job, step), anyio.Event())

    def progress_capability(self) -> type:
        board = self

        @ivmhost.capability("progress")
        class Progress:
            """Work for the tasks and their progress reports; ``async def``: Promises in JavaScript."""

            async def fetch_work(self, job: str, step: int) -> list[int]:
                await anyio.sleep(0.002)  # as if it came from a queue
                return [step * n for n in range(1, 11)]

            async def report(self, job: str, step: int) -> None:
                board.steps[job] = int(step)
                board.reached(job, int(step)).set()

        return Progress


def write_workers(root: Path) -> list[Path]:
    folders = []
    for i in range(1, PLUGINS + 1):
        folder = root / f"worker-{i:02d}"
        folder.mkdir()
        (folder / "plugin.toml").write_text(
            f'name = "worker-{i:02d}"\nversion = "1.0.0"\nentry = "index.js"\napi = "1"\n'
            'tasks = ["crunch", "stall", "flaky", "watch"]\n'
            f"[limits]\nmemory_mb = 16\ncall_timeout_ms = {CALL_TIMEOUT_MS}\n"
            '[capabilities]\nprogress = { reason = "fetches work and reports progress" }\n',
            encoding="utf-8",
        )
        (folder / "index.js").write_text(WORKER, encoding="utf-8")
        folders.append(folder)
    return folders


def plan(i: int) -> list[tuple[str, tuple[Any, ...]]]:
    """Three tasks for worker ``i``: a crunch, a second job (one in four stalls, one in four
    throws) and a watcher."""
    ms = 15 + 5 * (i % 5)
    second = {1: "stall", 3: "flaky"}.get(i % 4, "crunch")
    return [("crunch", (STEPS, ms)), (second, (STEPS, ms)), ("watch", (ms,))]


class Outcomes:
    """Each task's end as the application saw it through ``task.wait()``."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.by_job: dict[str, tuple[str, str]] = {}  # job -> (done | failed | cancelled, detail)

    def count(self, state: str) -> int:
        return sum(1 for s, _ in self.by_job.values() if s == state)

    def status(self, elapsed: float) -> str:
        running = self.total - len(self.by_job)
        return (f"running {running:>2} | done {self.count('done'):>2} | failed {self.count('failed'):>2} | "
                f"cancelled {self.count('cancelled'):>2} | {elapsed:4.1f} s")


async def follow(task: ivmhost.PluginTask, job: str, outcomes: Outcomes, cancel_on: anyio.Event | None) -> None:
    """Wait for the task's end and record it; cancel it midway once ``cancel_on`` is set."""
    async with anyio.create_task_group() as group:
        if cancel_on is not None:

            async def cancel_midway() -> None:
                await cancel_on.wait()
                task.cancel()

            group.start_soon(cancel_midway)
        try:
            result = await task.wait()
        except ivmhost.PluginError as error:
            outcomes.by_job[job] = ("failed", f"{type(error.cause).__name__}: {error.cause}")
        except ivmhost.IvmhostError as error:  # raised by wait() for a cancelled task
            outcomes.by_job[job] = ("cancelled", str(error))
        else:
            outcomes.by_job[job] = ("done", repr(result))
        group.cancel_scope.cancel()  # a watcher that ended otherwise is not waited for


async def status_line(outcomes: Outcomes, started: float, finished: anyio.Event) -> None:
    while not finished.is_set():
        sys.stdout.write("\r  " + outcomes.status(time.monotonic() - started))
        sys.stdout.flush()
        with anyio.move_on_after(0.1):
            await finished.wait()
    sys.stdout.write("\r  " + outcomes.status(time.monotonic() - started) + "\n")
    sys.stdout.flush()


async def main(backend: str) -> None:
    # The summary reports every failure; the host's own warnings would repeat them.
    logging.getLogger("ivmhost").addHandler(logging.NullHandler())
    board = Board()
    with tempfile.TemporaryDirectory(prefix="ivmhost-tasks-") as workdir:
        host = ivmhost.PluginHost(
            hookspecs=WorkerHooks,
            capabilities=[board.progress_capability()],
            grants=lambda manifest, request: request.name == "progress",
        )
        async with host:  # the host owns the tasks; leaving the block cancels any left and closes it
            for folder in write_workers(Path(workdir)):
                host.load(folder)
            jobs = {f"{name}/{n}-{kind}": (name, kind, args)
                    for i, name in enumerate(sorted(host.plugins), start=1)
                    for n, (kind, args) in enumerate(plan(i), start=1)}
            print(f"{len(host.plugins)} plugins x 3 tasks = {len(jobs)} tasks under {backend} "
                  f"(call_timeout_ms {CALL_TIMEOUT_MS}; watchers cancelled after {WATCH_BEATS} beats)")
            outcomes = Outcomes(len(jobs))
            started = time.monotonic()
            finished = anyio.Event()
            async with anyio.create_task_group() as group:
                group.start_soon(status_line, outcomes, started, finished)
                async with anyio.create_task_group() as followers:
                    for job, (name, kind, args) in jobs.items():
                        task = host.start_task(name, kind, job, *args)
                        cancel_on = board.reached(job, WATCH_BEATS) if kind == "watch" else None
                        followers.start_soon(follow, task, job, outcomes, cancel_on)
                finished.set()
            elapsed = time.monotonic() - started
            health = await host.ahook.health()
            metrics = {name: plugin.metrics for name, plugin in host.plugins.items()}

        print_summary(jobs, outcomes, board, metrics, elapsed)
        print(f"health after the run: {len(health)} of {len(metrics)} plugins answered the health hook")


def print_summary(jobs: dict[str, tuple[str, str, tuple[Any, ...]]], outcomes: Outcomes, board: Board,
                  metrics: dict[str, ivmhost.PluginMetrics], elapsed: float) -> None:
    print(f"\n  {'plugin':<10} {'done':>4} {'failed':>6} {'cancelled':>9} {'steps':>5} {'calls':>5} "
          f"{'errors':>6} {'cap calls':>9} {'CPU ms':>7}")
    per_plugin: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for job, (name, _, _) in jobs.items():
        state, _ = outcomes.by_job[job]
        per_plugin[name][state] += 1
        per_plugin[name]["steps"] += board.steps.get(job, 0)
    for name, counts in sorted(per_plugin.items()):
        m = metrics[name]
        print(f"  {name:<10} {counts['done']:>4} {counts['failed']:>6} {counts['cancelled']:>9} {counts['steps']:>5} "
              f"{m.calls:>5} {m.errors:>6} {m.capability_calls:>9} {m.cpu_time_ns / 1e6:>7.1f}")
    print(f"  {'total':<10} {outcomes.count('done'):>4} {outcomes.count('failed'):>6} {outcomes.count('cancelled'):>9} "
          f"{sum(board.steps.values()):>5}")
    print("\n  failures:")
    for job, (state, detail) in sorted(outcomes.by_job.items()):
        if state == "failed":
            print(f"    {job:<17} {detail}")
    print(f"\nsummary: {len(jobs)} tasks, {outcomes.count('done')} done, {outcomes.count('failed')} failed, "
          f"{outcomes.count('cancelled')} cancelled in {elapsed:.2f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    options = parser.parse_args()
    anyio.run(main, options.backend, backend=options.backend)
