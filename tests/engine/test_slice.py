"""The minimal engine slice: Isolate, context, eval_sync, JSError, dispose, v8_version."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import ivmhost

ROOT = Path(__file__).resolve().parents[2]


def test_v8_version_matches_the_vendored_headers() -> None:
    info_file = ROOT / "vendor" / "v8" / "dist" / "BUILD-INFO.json"
    assert re.match(r"^\d+\.\d+\.\d+\.\d+", ivmhost.v8_version)
    if info_file.exists():
        info = json.loads(info_file.read_text())
        assert ivmhost.v8_version.startswith(info["v8_version"])


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("6*7", 42),
        ("0.5 + 0.25", 0.75),
        ("-3", -3),
        ("'hello' + ' ' + 'world'", "hello world"),
        ("'żółw 🐢'", "żółw 🐢"),
        ("1 < 2", True),
        ("1 > 2", False),
        ("null", None),
    ],
)
def test_eval_sync_returns_primitives(context: ivmhost.Context, code: str, expected: object) -> None:
    result = context.eval_sync(code)
    assert result == expected
    assert type(result) is type(expected)


def test_undefined_is_its_own_falsy_singleton(context: ivmhost.Context) -> None:
    assert context.eval_sync("undefined") is ivmhost.undefined
    assert context.eval_sync("void 0") is ivmhost.undefined
    assert not ivmhost.undefined
    assert repr(ivmhost.undefined) == "undefined"
    assert ivmhost.UndefinedType() is ivmhost.undefined


def test_state_persists_between_evals(context: ivmhost.Context) -> None:
    context.eval_sync("var counter = 10")
    context.eval_sync("counter += 5")
    assert context.eval_sync("counter") == 15


def test_js_exception_becomes_jserror(context: ivmhost.Context) -> None:
    with pytest.raises(ivmhost.JSError) as info:
        context.eval_sync("function fail() { throw new RangeError('too far') }\nfail()", filename="plugin.js")
    error = info.value
    assert error.name == "RangeError"
    assert error.message == "too far"
    assert str(error) == "RangeError: too far"
    assert error.stack.startswith("RangeError: too far\n")
    assert "at fail (plugin.js:1:25)" in error.stack
    assert "plugin.js:2:1" in error.stack


def test_syntax_error_names_the_file(context: ivmhost.Context) -> None:
    with pytest.raises(ivmhost.JSError) as info:
        context.eval_sync("let x = ;", filename="broken.js")
    assert info.value.name == "SyntaxError"
    assert info.value.message == "Unexpected token ';'"
    assert "broken.js:1:9" in info.value.stack


@pytest.mark.parametrize("bad", [42, None, b"1+1", ["1"]])
def test_eval_sync_of_a_non_string_raises_type_error(context: ivmhost.Context, bad: object) -> None:
    with pytest.raises(TypeError, match="code must be a str"):
        context.eval_sync(bad)  # type: ignore[arg-type]


def test_eval_on_a_disposed_isolate_raises(isolate: ivmhost.Isolate) -> None:
    context = isolate.create_context_sync()
    isolate.dispose()
    assert isolate.is_disposed
    with pytest.raises(ivmhost.IsolateDisposedError, match="^Isolate is disposed$"):
        context.eval_sync("1")
    with pytest.raises(ivmhost.IsolateDisposedError):
        isolate.create_context_sync()


def test_second_dispose_raises(isolate: ivmhost.Isolate) -> None:
    isolate.dispose()
    with pytest.raises(ivmhost.IsolateDisposedError, match="already disposed"):
        isolate.dispose()


def test_isolates_are_separate_worlds(make_isolate) -> None:  # type: ignore[no-untyped-def]
    a = make_isolate().create_context_sync()
    b = make_isolate().create_context_sync()
    a.eval_sync("globalThis.secret = 'a'")
    assert b.eval_sync("typeof secret") == "undefined"
    assert a.eval_sync("secret") == "a"


def test_import_needs_no_environment(tmp_path: Path) -> None:
    """The rpath finds the vendored libnode: no LD_LIBRARY_PATH needed."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "PYTHONPATH")}
    code = "import ivmhost; print(ivmhost.Isolate().create_context_sync().eval_sync('6*7'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "42"
