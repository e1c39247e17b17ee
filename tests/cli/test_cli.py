"""The ivmhost command (ivmhost/cli.py): every subcommand, success and failure, exit codes, --json."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ivmhost.cli import main

COUNTER = """\
import { incr, get } from "ivmhost:kv";
export function commands() { return [{ name: "count", help: "count" }]; }
export function run_command(name, args, note) {
  if (name !== "count") return undefined;
  return `count=${incr("n", Number(args || 1))}`;
}
export function note_saved(note) { incr("saved"); }
export function total(extra) { return (get("n") ?? 0) + extra; }
export async function slow(ms) { await new Promise((r) => setTimeout(r, ms)); return `slept ${ms}`; }
export function boom() { throw new TypeError("kaput"); }
"""


def plugin(root: Path, name: str = "counter", code: str = COUNTER, extra: str = "", capabilities: str = "kv = {}") -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "plugin.toml").write_text(textwrap.dedent(f"""\
        name = "{name}"
        version = "1.0.0"
        entry = "index.js"
        api = "1"
        {extra}
        [capabilities]
        {capabilities}
    """))
    (folder / "index.js").write_text(code)
    return folder


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        status = main(list(argv))
    except SystemExit as exit:
        status = int(exit.code or 0)
    out, err = capsys.readouterr()
    return status, out, err


def test_new_scaffolds_a_plugin_that_passes_check_and_its_own_test(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "new", "word-count", "--dir", str(tmp_path))
    folder = tmp_path / "word-count"
    assert status == 0
    assert out.splitlines() == [f"created {folder / 'plugin.toml'}", f"created {folder / 'index.js'}",
                                f"created {folder / 'test_word_count.py'}", f"next: ivmhost check {folder}"]
    status, out, err = run(capsys, "check", str(folder))
    assert status == 0 and err.splitlines()[-1] == "ok"
    assert "  hooks:        commands, run_command" in out and "  capabilities: kv (granted)" in out
    test = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder)],
                          cwd=folder, capture_output=True, text=True, timeout=120)
    assert test.returncode == 0, test.stdout + test.stderr
    assert "1 passed" in test.stdout
    status, _, err = run(capsys, "new", "word-count", "--dir", str(tmp_path))
    assert status == 1 and "already exists" in err and "hint: pick another name" in err
    status, _, err = run(capsys, "new", "Word Count", "--dir", str(tmp_path))
    assert status == 2 and "ivmhost: error: 'Word Count' is not a plugin name" in err
    status, out, _ = run(capsys, "new", "json-one", "--dir", str(tmp_path), "--json")
    assert status == 0 and json.loads(out)["created"][0].endswith("json-one/plugin.toml")


def test_check_reports_problems_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = plugin(tmp_path, "good", extra='tasks = ["total", "slow", "boom"]')
    plugin(tmp_path, "typo", "export function run_comand() {}\n", capabilities="")
    bad = tmp_path / "broken"
    bad.mkdir()
    (bad / "plugin.toml").write_text('name = "broken"\nversion = "1"\nentry = "index.js"\napi = "1"\n')
    status, out, err = run(capsys, "check", str(tmp_path))
    assert status == 1
    assert err.splitlines() == [f"checking {bad} ...", f"checking {good} ...", f"checking {tmp_path / 'typo'} ...", "problems found"]
    assert f"  problem: {bad / 'plugin.toml'}: version: '1' is not a semantic version" in out
    assert "  problem: export 'run_comand' matches no hook" in out
    status, out, _ = run(capsys, "check", str(tmp_path), "--json")
    report = json.loads(out)
    assert status == 1 and report["ok"] is False
    assert [(p.get("name"), len(p["problems"])) for p in report["plugins"]] == [(None, 1), ("good", 0), ("typo", 1)]
    good_entry = report["plugins"][1]
    assert good_entry["hooks"] == ["commands", "note_saved", "run_command"]
    assert good_entry["capabilities"] == [{"name": "kv", "granted": True, "params": {}}]
    assert run(capsys, "check", str(good))[0] == 0
    status, _, err = run(capsys, "check", str(tmp_path / "missing"))
    assert status == 1 and "does not exist" in err and "hint: give a plugin folder" in err


def test_run_calls_hooks_exports_and_tasks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = plugin(tmp_path)
    status, out, err = run(capsys, "run", str(folder), "--hook", "run_command", "name=count", "args=5", "note=null")
    assert status == 0 and err == f"[1/1] loading {folder} ...\n"
    assert out.splitlines()[-1] == "hook run_command -> count=5"
    status, out, _ = run(capsys, "run", str(folder), "--call", "total", "2")
    assert status == 0 and out.splitlines()[-1] == "counter.total -> 2"
    status, out, _ = run(capsys, "run", str(folder), "--task", "slow", "10")
    assert status == 0 and out.splitlines()[-1] == "task counter.slow -> slept 10"
    status, out, _ = run(capsys, "run", str(folder), "--json", "--call", "total", "1")
    report = json.loads(out)
    assert status == 0 and report["result"] == 1 and report["action"] == "counter.total"
    assert report["plugins"][0]["exports"]["run_command"] == "function"
    # Data persists in --data between runs (the demo application's SQLite file).
    data = tmp_path / "data"
    for expected in ("count=1", "count=2"):
        status, out, _ = run(capsys, "run", str(folder), "--data", str(data), "--hook", "run_command", "name=count", "args=", "note=null")
        assert out.splitlines()[-1] == f"hook run_command -> {expected}"


def test_run_failures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = plugin(tmp_path)
    status, _, err = run(capsys, "run", str(folder), "--call", "boom")
    assert status == 1
    assert "ivmhost: error: plugin 'counter' failed in 'boom': JSError: TypeError: kaput" in err
    assert "hint: the plugin failed" in err
    status, _, err = run(capsys, "run", str(folder), "--hook", "nope")
    assert status == 2 and "the application has no hook 'nope'" in err and "hint: its hooks: check_note, commands" in err
    status, _, err = run(capsys, "run", str(folder), "--hook", "run_command", "name")
    assert status == 2 and "'name' is not KEY=VALUE" in err
    status, _, err = run(capsys, "run", str(folder), "--call", "missing")
    assert status == 2 and "0 loaded plugins export a function 'missing'" in err
    status, _, err = run(capsys, "run", str(folder), "--app", "nowhere:make")
    assert status == 2 and "cannot load the application nowhere:make" in err
    denied = plugin(tmp_path, "needs-net", 'import { fetch } from "ivmhost:net";\n', capabilities="net = {}")
    status, _, err = run(capsys, "run", str(denied))
    assert status == 1 and "may not use capability 'net': the application offers no such capability" in err
    assert "hint: request the capability in plugin.toml" in err


def test_audit_reports_used_and_unused_capabilities(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = plugin(tmp_path, capabilities='kv = {}\nnotify = {}\n"http.fetch" = { hosts = ["127.0.0.1"] }')
    status, out, _ = run(capsys, "audit", str(folder), "--hook", "run_command", "name=count", "args=2", "note=null")
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == "hook run_command -> count=2"
    assert "  kv.incr                 1 calls   0 errors  used" in lines
    assert "  kv.get                  0 calls   0 errors  unused" in lines
    assert "  granted but never used: http.fetch, notify" in lines
    status, out, _ = run(capsys, "audit", str(folder), "--json", "--call", "total", "0")
    report = json.loads(out)["plugins"]["counter"]
    assert report["used"] == ["kv"] and report["never_used"] == ["http.fetch", "notify"]
    assert {"capability": "kv", "method": "get", "calls": 1, "errors": 0} in report["uses"]


def test_a_custom_application(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "myapp.py").write_text(textwrap.dedent("""
        import ivmhost

        class Hooks:
            @ivmhost.hookspec
            def greet(self, who): ...

        def make_host():
            return ivmhost.PluginHost(hookspecs=Hooks)
    """))
    folder = plugin(tmp_path, "greeter", "export function greet(who) { return `hi ${who}`; }\n", capabilities="")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    status, out, _ = run(capsys, "run", str(folder), "--app", "myapp:make_host", "--hook", "greet", "who=Ada")
    assert status == 0 and out.splitlines()[-1] == "hook greet -> [\"hi Ada\"]"
    status, _, err = run(capsys, "run", str(folder), "--app", "myapp:Hooks")
    assert status == 2 and "myapp:Hooks did not return an ivmhost.PluginHost" in err


def test_bench_prints_the_engine_table(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "bench", "--only", "eval", "--rounds", "1")
    # bench runs a subprocess; its output goes to the real stdout, so check through a subprocess too.
    assert status == 0
    proc = subprocess.run([sys.executable, "-m", "ivmhost", "bench", "--only", "eval", "--rounds", "1"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "| eval_sync('x+1')" in proc.stdout and "floor" in proc.stdout


def test_the_console_script_and_python_m(tmp_path: Path) -> None:
    version = subprocess.run([sys.executable, "-m", "ivmhost", "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("ivmhost 0.1.0 (V8 ")
    script = shutil.which("ivmhost", path=str(Path(sys.executable).parent))
    assert script is not None, "the ivmhost console script is not installed (pip install -e .)"
    usage = subprocess.run([script, "run"], capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and "the following arguments are required: path" in usage.stderr
