"""The runnable examples (examples/*.py), each run as its users would: one command, in a
subprocess, checked for its exit code, a clean stderr and the lines that show it did its job."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ["counter", "http-lookup", "markdown", "note-schema", "scheduler"]


def run_example(name: str, *args: str, stdin: str | None = None) -> str:
    out = subprocess.run(
        [sys.executable, f"examples/{name}", *args], cwd=ROOT, input=(stdin or "").encode(),
        capture_output=True, timeout=60,
    )
    # Bytes decoded here, not text=True: universal newlines would turn the status line's \r into \n.
    stdout, stderr = out.stdout.decode(), out.stderr.decode()
    assert out.returncode == 0, stdout + stderr
    assert stderr == "", stderr  # no warnings, no stray log lines
    return stdout


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace("\r", "\n").splitlines()]


# -- (a) the notes application ----------------------------------------------------------------


def test_notes_app_runs_every_sample_plugin() -> None:
    out = run_example("notes_app.py")
    shown = lines(out)
    for plugin in SAMPLES:
        assert any(line.startswith(f"{plugin} ") and "granted" in line for line in shown), plugin
    for command in ["define", "md", "remind", "stats", "validate"]:
        assert any(line.startswith(f"{command} ") for line in shown), command
    # check_note refuses a bad note before it is saved; note_saved feeds the counter. (What the
    # plugins answer is theirs to word: the checks look for its substance.)
    assert 'saved #1 "Groceries" [\'home\', \'errands\']' in shown
    assert any(line.startswith('refused "": title') for line in shown)
    assert 'saved #3 "Reading list" [\'home\', \'books\']' in shown
    assert "<li>a <strong>markdown</strong> preview</li>" in shown
    assert answer(out, "stats").startswith("notes saved: 3 ")
    assert answer(out, "validate contacts.json").startswith("valid: contacts.json")
    invalid = answer(out, "validate contacts.old.json")
    assert invalid.startswith("invalid: contacts.old.json") and "email" in invalid and "phone" in invalid
    assert answer(out, "define serendipity") == "serendipity: the luck of finding something good without looking for it"
    assert "xyzzy" in answer(out, "define xyzzy") and "luck" not in answer(out, "define xyzzy")
    assert re.search(r"^  \[notification from scheduler\] reminder: stretch your legs$", out, re.M)
    assert re.search(r"the reminder arrived \d+ ms later", out)


def answer(out: str, command: str) -> str:
    """The indented answer printed under ``> command``."""
    found = re.search(rf"^  > {re.escape(command)}\b.*\n((?:    .*\n)+)", out, re.M)
    assert found is not None, f"no answer to {command!r}"
    return "\n".join(line[4:] for line in found.group(1).splitlines())


def test_notes_app_ends_with_metrics_and_the_audit() -> None:
    out = run_example("notes_app.py")
    metrics = out[out.index("== Plugins: metrics"):out.index("== Capability audit")]
    assert "calls errors timeouts  CPU ms  heap KB cap calls" in metrics
    for plugin in SAMPLES:
        row = re.search(rf"^  {re.escape(plugin)} +(\d+) +(\d+) +(\d+) +[\d.]+ +(\d+) +(\d+)$", metrics, re.M)
        assert row is not None, plugin
        calls, errors, timeouts, heap_kb, _ = map(int, row.groups())
        assert calls > 0 and errors == 0 and timeouts == 0 and heap_kb > 0
    audit = out[out.index("== Capability audit"):]
    assert re.search(r"counter +used: .*kv\.incr x\d+", audit)
    assert re.search(r"http-lookup +used: http\.fetch\.fetch x2, settings\.get x2", audit)
    assert re.search(r"note-schema +used: files\.read_text x4", audit)
    assert re.search(r"scheduler +used: notify\.send x1", audit)
    assert "host.check(): no problems" in audit


def test_notes_app_skips_the_part_of_a_missing_plugin(tmp_path: Path) -> None:
    for plugin in ["markdown", "counter"]:
        shutil.copytree(ROOT / "plugins" / plugin, tmp_path / plugin)
    out = run_example("notes_app.py", "--plugins", str(tmp_path))
    shown = lines(out)
    assert any(line.startswith("http-lookup  missing:") for line in shown)
    assert "skipped: no plugin serves 'define' (the http-lookup plugin is missing or did not load)" in shown
    assert "skipped: no plugin serves 'remind' (the scheduler plugin is missing or did not load)" in shown
    assert "<li>a <strong>markdown</strong> preview</li>" in shown
    assert answer(out, "stats").startswith("notes saved: 4 ")  # nothing checks notes now


def test_notes_app_interactive_prompt() -> None:
    out = run_example("notes_app.py", "--interactive", stdin="new Todo: water the *plants*\nmd\nfrobnicate\n\n")
    shown = lines(out)
    assert any(line.endswith('saved #4 "Todo" []') for line in shown)
    assert "<p>water the <em>plants</em></p>" in shown
    assert any(line.startswith("unknown command 'frobnicate'") for line in shown)


# -- (b) user-scripted automation -------------------------------------------------------------


def test_automation_runs_useful_scripts_and_stops_hostile_ones() -> None:
    out = run_example("automation.py")
    shown = lines(out)
    assert any(line.startswith("low_stock.js   installed as 'low-stock' (granted inventory, notify)") for line in shown)
    assert any(line.startswith("refund_all.js  refused at load: CapabilityError: plugin 'refund-all' may not use "
                               "capability 'payments': not granted") for line in shown)
    assert "clearance.run(40, 15) -> ['mug 14.00 -> 11.90', 'filter 3.20 -> 2.72']" in shown
    assert "order_placed -> 'restocked tea to 20'" in shown
    # An endless loop: stopped by the call timeout, quarantined after the second failure.
    assert re.search(r"spin\.run\(\) -> stopped after \d+ ms: ScriptTimeoutError: Script execution timed out\.", out)
    assert re.search(r"spin\.run\(\) -> stopped after \d+ ms; now quarantined: ScriptTimeoutError", out)
    assert ("spin.run() -> refused, quarantined: IvmhostError: the plugin is quarantined; reload it to use "
            "it again") in shown
    # A memory bomb: stopped by the memory limit.
    assert re.search(r"hoard\.run\(\) -> stopped after \d+ ms: MemoryLimitError: Isolate was disposed during "
                     r"execution due to memory limit", out)
    # Looking for the host finds nothing.
    assert re.search(r"typeof process / require / Buffer +undefined / undefined / undefined", out)
    assert re.search(r"items\.constructor\.constructor\('return process'\)\(\) +undefined", out)
    assert "verdict: nothing of the host was reachable (globals beyond ECMAScript are ivmhost's documented runtime)" in shown


def test_automation_carries_on_after_the_hostile_scripts() -> None:
    out = run_example("automation.py")
    after = out[out.index("== Afterwards"):]
    assert "low-stock.run(5) -> ['pot']" in after
    assert "order_placed -> 'restocked pot to 8'" in after
    table = after[after.index("== Scripts"):]
    states = dict(re.findall(r"^  ([a-z-]+) +(active|quarantined) ", table, re.M))
    assert states == {"low-stock": "active", "clearance": "active", "reorder": "active",
                      "spin": "quarantined", "hoard": "quarantined", "snoop": "active"}
    spin = re.search(r"^  spin +quarantined +(\d+) +(\d+) +(\d+) +(\d+) ", table, re.M)
    hoard = re.search(r"^  hoard +quarantined +(\d+) +(\d+) +(\d+) +(\d+) ", table, re.M)
    assert spin is not None and hoard is not None
    assert spin.groups()[1:] == ("2", "2", "0")   # errors, timeouts, memory-limit hits
    assert hoard.groups()[1:] == ("2", "0", "1")


# -- (c) anyio task hosting -------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_task_hosting(backend: str) -> None:
    args = [] if backend == "asyncio" else ["--backend", "trio"]
    out = run_example("task_hosting.py", *args)
    assert f"12 plugins x 3 tasks = 36 tasks under {backend}" in out
    status = re.findall(r"\r  running +(\d+) \| done +(\d+) \| failed +(\d+) \| cancelled +(\d+) \| +[\d.]+ s", out)
    assert len(status) >= 2 and status[0][0] == "36"      # a live line, redrawn in place
    assert status[-1] == ("0", "18", "6", "12")
    summary = re.search(r"^summary: 36 tasks, 18 done, 6 failed, 12 cancelled in ([\d.]+) s$", out, re.M)
    assert summary is not None and float(summary.group(1)) < 10
    failures = out[out.index("failures:"):]
    assert len(re.findall(r"-stall +ScriptTimeoutError: Script execution timed out\.", failures)) == 3
    assert len(re.findall(r"-flaky +JSError: RangeError: job worker-\d+/2-flaky: chunk 4 is corrupt", failures)) == 3
    assert re.search(r"^  total +18 +6 +12 ", out, re.M)
    assert "health after the run: 12 of 12 plugins answered the health hook" in out
