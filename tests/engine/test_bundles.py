"""Real npm libraries, bundled as single ES modules, give the same answers as under Node."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import ivmhost

NPM = Path(__file__).resolve().parents[1] / "fixtures" / "npm" / "node_modules"
BUNDLES = {
    "marked": NPM / "marked" / "lib" / "marked.esm.js",
    "js-yaml": NPM / "js-yaml" / "dist" / "js-yaml.mjs",
}
MARKDOWN = "# Title\n\nSome *emphasis*, `code` and a [link](https://example.com).\n\n- one\n- two\n"
YAML = "name: ivmhost\nversions: [1, 2.5, null]\nnested:\n  ok: true\n  when: 2024-01-02\n"

# The same expression runs under Node and inside an isolate; `lib` is the module's namespace.
CASES = {
    "marked": "lib.marked.parse(input)",
    "js-yaml": "JSON.stringify(lib.load(input)) + '\\n' + lib.dump({a: [1, 'two'], b: {c: null}})",
}
INPUTS = {"marked": MARKDOWN, "js-yaml": YAML}


def node_answer(name: str) -> str:
    script = (
        f"import * as lib from {json.dumps(BUNDLES[name].as_uri())};\n"
        f"const input = {json.dumps(INPUTS[name])};\n"
        f"process.stdout.write(String({CASES[name]}));\n"
    )
    out = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def ivmhost_answer(isolate: ivmhost.Isolate, name: str) -> str:
    context = isolate.create_context_sync()
    library = isolate.compile_module_sync(BUNDLES[name].read_text(), filename=BUNDLES[name].as_uri())
    assert library.dependency_specifiers == ()
    main = isolate.compile_module_sync(
        f"import * as lib from 'lib'; const input = {json.dumps(INPUTS[name])}; export const answer = String({CASES[name]});",
        filename="main.mjs",
    )
    main.instantiate_sync(context, lambda specifier, referrer: library)
    main.evaluate_sync(timeout=5000)
    return main.namespace.get_sync("answer")  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", list(BUNDLES))
def test_bundle_matches_node(isolate: ivmhost.Isolate, name: str) -> None:
    assert BUNDLES[name].exists(), "run `make fixtures` (the README's test command does)"
    expected = node_answer(name)
    assert expected  # Node produced real output
    assert ivmhost_answer(isolate, name) == expected


def test_bundle_from_code_cache_and_snapshot_free_isolates(make_isolate) -> None:  # type: ignore[no-untyped-def]
    source = BUNDLES["marked"].read_text()
    cache = make_isolate().compile_module_sync(source, produce_cached_data=True).cached_data
    isolate = make_isolate()
    again = isolate.compile_module_sync(source, cached_data=cache)
    assert again.cached_data_rejected is False
