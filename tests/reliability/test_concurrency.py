"""Many threads and isolates at once, and disposal racing with running and queued calls."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import anyio
import pytest

import ivmhost

DURING = "Isolate was disposed during execution"


def hammer(isolates_per_thread: int, threads: int = 8, rounds: int = 20) -> None:
    results: dict[tuple[int, int], list[object]] = {}
    errors: list[BaseException] = []
    callback_calls = [0] * threads
    start = threading.Barrier(threads, timeout=30)

    def work(t: int) -> None:
        made: list[ivmhost.Isolate] = []
        try:
            for k in range(isolates_per_thread):
                isolate = ivmhost.Isolate(memory_limit=32)
                made.append(isolate)
            contexts = [isolate.create_context_sync() for isolate in made]
            fns = [c.eval_sync("(a, b) => ({sum: a + b, who: `${a}/${b}`})", reference=True) for c in contexts]

            def record(value: int) -> int:
                callback_calls[t] += 1  # one thread per slot: no lock needed
                return value * 3

            start.wait()
            for r in range(rounds):
                for k, (context, fn) in enumerate(zip(contexts, fns)):
                    out = [
                        context.eval_sync(f"globalThis.n = (globalThis.n ?? 0) + 1; [n, {t} * 1000 + {k}]"),
                        fn.apply_sync(None, [t, r]),
                        context.eval_closure_sync("return $0($1) + 1", [record, r * 7 + k]),
                    ]
                    results.setdefault((t, k), []).append(out)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            for isolate in made:
                isolate.dispose()

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(100)
    assert not any(worker.is_alive() for worker in workers), "a worker hung"
    assert errors == []
    assert len(results) == threads * isolates_per_thread
    for (t, k), outs in results.items():
        assert outs == [
            [[r + 1, t * 1000 + k], {"sum": t + r, "who": f"{t}/{r}"}, (r * 7 + k) * 3 + 1] for r in range(rounds)
        ]
    assert callback_calls == [rounds * isolates_per_thread] * threads


def test_eight_threads_ten_isolates_each() -> None:
    hammer(10)


@pytest.mark.slow(reason="8 x 50 isolates; the default run does 8 x 10 (test_eight_threads_ten_isolates_each)")
def test_eight_threads_fifty_isolates_each() -> None:
    hammer(50, rounds=40)


def test_threads_sharing_isolates_lose_no_result(make_isolate) -> None:  # type: ignore[no-untyped-def]
    """8 threads on the same 4 isolates: every increment and every callback result accounted for."""
    contexts = [make_isolate().create_context_sync() for _ in range(4)]
    for context in contexts:
        context.eval_sync("globalThis.count = 0; globalThis.seen = []")
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(100):
                context = contexts[(t + i) % 4]
                got = context.eval_closure_sync("count++; seen.push($0); return $1($0)", [t * 1000 + i, lambda v: -v])
                assert got == -(t * 1000 + i)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert errors == []
    assert sum(c.eval_sync("count") for c in contexts) == 800
    seen = sorted(v for c in contexts for v in c.eval_sync("seen"))
    assert seen == sorted(t * 1000 + i for t in range(8) for i in range(100))


# -- dispose races ------------------------------------------------------------------------------


def test_a_callback_disposes_its_own_isolate(make_isolate) -> None:  # type: ignore[no-untyped-def]
    isolate = make_isolate()
    context = isolate.create_context_sync()
    after: list[str] = []

    def dispose_me() -> str:
        isolate.dispose()
        after.append("dispose returned inside the callback")
        return "ignored"

    with pytest.raises(ivmhost.IsolateDisposedError, match=f"^{DURING}$"):
        context.eval_closure_sync("const r = $0(); globalThis.after = r; for (;;) {}", [dispose_me])
    assert after == ["dispose returned inside the callback"]
    assert isolate.is_disposed
    with pytest.raises(ivmhost.IsolateDisposedError, match="^Isolate is disposed$"):
        context.eval_sync("1")
    with pytest.raises(ivmhost.IsolateDisposedError, match="already disposed"):
        isolate.dispose()


def test_a_callback_disposes_another_isolate_running_on_another_thread(make_isolate) -> None:  # type: ignore[no-untyped-def]
    a, b = make_isolate(), make_isolate()
    ca, cb = a.create_context_sync(), b.create_context_sync()
    running = threading.Event()
    outcome: list[str] = []

    def run_b() -> None:
        try:
            cb.eval_closure_sync("$0(); for (;;) {}", [running.set])
        except ivmhost.IsolateDisposedError as exc:
            outcome.append(str(exc))

    thread = threading.Thread(target=run_b)
    thread.start()
    assert running.wait(10)
    assert ca.eval_closure_sync("return $0() + ' from A'", [lambda: (b.dispose(), "disposed B")[1]]) == "disposed B from A"
    thread.join(10)
    assert outcome == [DURING]
    assert ca.eval_sync("'A lives'") == "A lives"


def test_isolates_disposing_each_other_one_after_the_other(make_isolate) -> None:  # type: ignore[no-untyped-def]
    a, b = make_isolate(), make_isolate()
    ca, cb = a.create_context_sync(), b.create_context_sync()
    assert ca.eval_closure_sync("return $0()", [lambda: (b.dispose(), "B gone")[1]]) == "B gone"
    with pytest.raises(ivmhost.IsolateDisposedError, match="^Isolate is disposed$"):
        cb.eval_closure_sync("return $0()", [a.dispose])
    assert not a.is_disposed  # B never ran, so its callback never disposed A
    assert ca.eval_sync("1 + 1") == 2


MUTUAL_DISPOSE = """
import threading, ivmhost
a, b = ivmhost.Isolate(), ivmhost.Isolate()
ca, cb = a.create_context_sync(), b.create_context_sync()
both_inside = threading.Barrier(2, timeout=5)
out = {}
def killer(other):
    def kill():
        both_inside.wait()
        other.dispose()
        return "killed"
    return kill
def run(name, ctx, other):
    try:
        out[name] = ctx.eval_closure_sync("return $0()", [killer(other)], timeout=5000)
    except ivmhost.IsolateDisposedError as exc:
        out[name] = str(exc)
threads = [threading.Thread(target=run, args=("a", ca, b), daemon=True),
           threading.Thread(target=run, args=("b", cb, a), daemon=True)]
for t in threads: t.start()
import time
deadline = time.monotonic() + 5
for t in threads: t.join(max(0.0, deadline - time.monotonic()))
print("hung" if any(t.is_alive() for t in threads) else sorted(out.values()), flush=True)
"""


def test_two_isolates_dispose_each_other_from_callbacks_at_once() -> None:
    # In a child process: a deadlock would leave two threads stuck for good. A dispose from inside
    # a call into any isolate does not wait (the last call out finishes it), so neither waits for
    # the other. Each call ends disposed, or returned before the other's dispose reached it.
    child = subprocess.run([sys.executable, "-c", MUTUAL_DISPOSE], capture_output=True, text=True, timeout=60)
    assert child.returncode == 0, child.stderr
    outcome = child.stdout.strip()
    assert outcome != "hung"
    assert outcome in {str([DURING, DURING]), str([DURING, "killed"]), str(["killed", "killed"])}


def test_dispose_while_a_callback_runs_on_another_thread(make_isolate) -> None:  # type: ignore[no-untyped-def]
    isolate = make_isolate()
    context = isolate.create_context_sync()
    inside = threading.Event()
    release = threading.Event()
    outcome: list[str] = []

    def slow() -> int:
        inside.set()
        release.wait(10)
        return 1

    def run() -> None:
        try:
            context.eval_closure_sync("$0(); for (;;) {}", [slow])
        except ivmhost.IsolateDisposedError as exc:
            outcome.append(str(exc))

    thread = threading.Thread(target=run)
    thread.start()
    assert inside.wait(10)
    disposer = threading.Thread(target=isolate.dispose)
    disposer.start()  # waits for the callback to return: the isolate is still entered
    release.set()
    disposer.join(10)
    thread.join(10)
    assert not disposer.is_alive() and not thread.is_alive()
    assert outcome == [DURING]
    assert isolate.is_disposed


@pytest.mark.anyio
async def test_dispose_while_async_calls_wait_in_the_queue(isolate: ivmhost.Isolate) -> None:
    context = await isolate.create_context()
    entered = threading.Event()
    outcomes: dict[int, str] = {}
    queued = [0]

    async def call(i: int, code: str, args: list[object]) -> None:
        try:
            queued[0] += 1  # the call is posted in this same task step, before the task first suspends
            outcomes[i] = repr(await context.eval_closure(code, args))
        except ivmhost.IsolateDisposedError as exc:
            outcomes[i] = str(exc)

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(call, 0, "$0(); for (;;) {}", [entered.set])
            while not entered.is_set():  # set by the executor thread: no awaitable to wait on
                await anyio.sleep(0.001)
            for i in range(1, 30):
                tg.start_soon(call, i, f"return {i}", [])
            while queued[0] < 30:
                await anyio.sleep(0)
            isolate.dispose()
    assert outcomes[0] == DURING
    assert {outcomes[i] for i in range(1, 30)} == {"Isolate is disposed"}
    with pytest.raises(ivmhost.IsolateDisposedError, match="^Isolate is disposed$"):
        await context.eval("1")


@pytest.mark.anyio
async def test_dispose_from_a_callback_with_async_calls_queued(isolate: ivmhost.Isolate) -> None:
    context = await isolate.create_context()
    outcomes: dict[int, str] = {}

    async def call(i: int, code: str, args: list[object]) -> None:
        try:
            outcomes[i] = repr(await context.eval_closure(code, args))
        except ivmhost.IsolateDisposedError as exc:
            outcomes[i] = str(exc)

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            for i in range(10):
                tg.start_soon(call, i, f"return {i}", [])
            tg.start_soon(call, 10, "$0(); for (;;) {}", [isolate.dispose])
            for i in range(11, 20):
                tg.start_soon(call, i, f"return {i}", [])
    # The backend decides in which order the tasks queue their calls; each one either ran to its
    # own result before the disposing call, or was refused after it.
    assert outcomes[10] == DURING
    assert len(outcomes) == 20
    assert all(outcomes[i] in (repr(i), "Isolate is disposed") for i in range(20) if i != 10), outcomes


def test_many_isolates_disposed_from_other_threads_mid_call() -> None:
    began = time.monotonic()
    for _ in range(30):
        isolates = [ivmhost.Isolate() for _ in range(4)]
        contexts = [i.create_context_sync() for i in isolates]
        entered = [threading.Event() for _ in isolates]
        outcome: list[str] = []

        def run(k: int) -> None:
            try:
                contexts[k].eval_closure_sync("$0(); for (;;) {}", [entered[k].set])
            except ivmhost.IsolateDisposedError as exc:
                outcome.append(str(exc))

        runners = [threading.Thread(target=run, args=(k,)) for k in range(4)]
        for runner in runners:
            runner.start()
        for k, isolate in enumerate(isolates):
            assert entered[k].wait(10)
            isolate.dispose()
        for runner in runners:
            runner.join(10)
        assert outcome == [DURING] * 4
    assert time.monotonic() - began < 30
    assert ivmhost.live_isolates() == 0
