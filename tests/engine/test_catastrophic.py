"""on_catastrophic_error: the callback runs, with V8's message, before a fatal V8 error aborts the
process. Tested in a subprocess (the process does not survive).

V8 has two ways to die: its OOM handler (a heap or table that cannot grow) and V8_Fatal (a failed
CHECK, "invalid size" errors), which never reaches the isolate's handlers; ivmhost hooks both."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

def doomed(memory_limit: int, code: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh process with an on_catastrophic_error callback that prints."""
    script = textwrap.dedent(f"""
        import ivmhost
        def report(message):
            print("catastrophic:", message, flush=True)
        isolate = ivmhost.Isolate(memory_limit={memory_limit}, on_catastrophic_error=report)
        print("evaluating", flush=True)
        isolate.create_context_sync().eval_sync({code!r})
        print("survived", flush=True)
    """)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240)


def test_the_callback_runs_before_v8_fatal_aborts_the_process() -> None:
    # A string longer than the longest array, split into characters: V8_Fatal in half a second.
    proc = doomed(1024, "'x'.repeat(2 ** 27 + 100).split('')")
    assert proc.returncode == -6  # SIGABRT: nothing survives a fatal V8 error in-process
    assert proc.stdout.splitlines() == ["evaluating", "catastrophic: Fatal JavaScript invalid size error 134217828"]
    assert "ivmhost: fatal V8 error: Fatal JavaScript invalid size error 134217828" in proc.stderr


@pytest.mark.slow(reason="V8's out-of-memory handler is reached from JavaScript in about 50 s and 2 GB "
                         "(test_the_callback_runs_before_v8_fatal_aborts_the_process covers the callback by default)")
def test_the_callback_runs_before_the_process_aborts() -> None:
    proc = doomed(64, "new Array(2**28).fill(1.5)")
    assert proc.returncode == -6  # SIGABRT: nothing survives a fatal V8 error in-process
    lines = proc.stdout.splitlines()
    assert lines[0] == "evaluating"
    assert lines[1] == "catastrophic: out of memory in invalid table size (heap)"
    assert "survived" not in proc.stdout
    assert "ivmhost: fatal V8 error: out of memory in invalid table size (heap)" in proc.stderr


def test_the_callback_must_be_callable() -> None:
    import ivmhost

    with pytest.raises(TypeError, match="on_catastrophic_error must be callable"):
        ivmhost.Isolate(on_catastrophic_error="print")  # type: ignore[arg-type]
