"""plugin.toml: parsing into attrs classes and strict validation (ivmhost/_manifest.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import ivmhost

GOOD = """\
name = "word-stats"
version = "1.2.3-beta.1"
entry = "src/index.js"
api = "1"
description = "Counts words in messages"
tasks = ["run"]

[limits]
memory_mb = 32
call_timeout_ms = 200
cpu_ms_per_minute = 2000

[capabilities]
log = {}
kv = { namespace = "word-stats" }
"http.fetch" = { hosts = ["api.example.com"], reason = "looks up synonyms" }
"""


def write(folder: Path, manifest: str, entry: str = "index.js") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plugin.toml").write_text(manifest)
    (folder / entry).parent.mkdir(parents=True, exist_ok=True)
    (folder / entry).write_text("export const x = 1;\n")
    return folder


def minimal(**changes: str) -> str:
    fields = {"name": '"p"', "version": '"1.0.0"', "entry": '"index.js"', "api": '"1"', **changes}
    return "".join(f"{key} = {value}\n" for key, value in fields.items() if value is not None)


def test_a_full_manifest_parses_into_attrs_classes(tmp_path: Path) -> None:
    folder = write(tmp_path / "word-stats", GOOD, "src/index.js")
    manifest = ivmhost.Manifest.load(folder)
    assert manifest.name == "word-stats" and manifest.version == "1.2.3-beta.1" and manifest.api == "1"
    assert manifest.entry == "src/index.js" and manifest.entry_path == folder / "src" / "index.js"
    assert manifest.description == "Counts words in messages"
    assert manifest.tasks == ("run",)
    assert manifest.limits == ivmhost.Limits(memory_mb=32, call_timeout_ms=200, cpu_ms_per_minute=2000)
    assert [c.name for c in manifest.capabilities] == ["log", "kv", "http.fetch"]
    fetch = manifest.capability("http.fetch")
    assert fetch is not None and fetch.params == {"hosts": ["api.example.com"]} and fetch.reason == "looks up synonyms"
    assert manifest.capability("kv") == ivmhost.CapabilityRequest("kv", {"namespace": "word-stats"}, "")
    assert manifest.capability("nope") is None
    # The file itself may be named instead of the folder.
    assert ivmhost.Manifest.load(folder / "plugin.toml") == manifest


def test_defaults_for_optional_fields(tmp_path: Path) -> None:
    manifest = ivmhost.Manifest.load(write(tmp_path / "p", minimal()))
    assert manifest.description == "" and manifest.tasks == () and manifest.capabilities == ()
    assert manifest.limits == ivmhost.Limits()


@pytest.mark.parametrize(
    ("text", "key", "fix"),
    [
        (minimal(colour='"red"'), "colour", "unknown key; the known keys are name, version"),
        (minimal(name=None), "name", "missing; add name = ..."),
        (minimal(api=None), "api", "missing; add api = ..."),
        (minimal(name="1"), "name", "must be a string, not an integer; quote it"),
        (minimal(name='"Word Stats"'), "name", "is not a plugin name: use lowercase letters"),
        (minimal(version='"1.0"'), "version", "is not a semantic version; write it like \"1.0.0\""),
        (minimal(api='"2"'), "api", "is not a host API version this ivmhost serves ('1'); set api = \"1\""),
        (minimal(entry='"index.ts"'), "entry", "is not a JavaScript module; name a .js or .mjs file"),
        (minimal(entry='"../outside.js"'), "entry", "must be a path inside the plugin folder"),
        (minimal(entry='"missing.js"'), "entry", "does not exist in"),
        (minimal(tasks='"run"'), "tasks", "must be a list of export names"),
        (minimal(tasks='["not-a-name"]'), "tasks", "is not a JavaScript export name"),
        (minimal() + "[limits]\nmemory_mb = \"32\"\n", "[limits].memory_mb", "must be an integer, not a string"),
        (minimal() + "[limits]\nmemory_mb = 4\n", "[limits].memory_mb", "4 is below the minimum of 8; raise it to at least 8"),
        (minimal() + "[limits]\nheap = 4\n", "[limits].heap", "unknown limit; the known limits are memory_mb"),
        (minimal() + "[limits]\ncall_timeout_ms = true\n", "[limits].call_timeout_ms", "must be an integer, not a boolean"),
        (minimal() + "[capabilities]\nkv = 1\n", '[capabilities]."kv"', "must be a table of parameters (use {} for none)"),
        (minimal() + "[capabilities]\nKV = {}\n", '[capabilities]."KV"', "not a capability name"),
        (minimal() + "[capabilities]\nkv = { reason = 3 }\n", '[capabilities]."kv".reason', "must be a string, not an integer"),
        (minimal(limits="3"), "limits", "must be a table ([limits]), not an integer"),
    ],
)
def test_each_problem_names_the_file_the_key_and_the_fix(tmp_path: Path, text: str, key: str, fix: str) -> None:
    folder = write(tmp_path / "p", text)
    with pytest.raises(ivmhost.ManifestError) as caught:
        ivmhost.Manifest.load(folder)
    error = caught.value
    assert error.file == str(folder / "plugin.toml")
    assert error.key == key
    assert fix in error.problem
    assert str(error).startswith(f"{folder / 'plugin.toml'}: {key}: ")


def test_limits_above_the_applications_ceilings_are_refused(tmp_path: Path) -> None:
    folder = write(tmp_path / "p", minimal() + "[limits]\nmemory_mb = 512\n")
    with pytest.raises(ivmhost.ManifestError, match=r"\[limits\].memory_mb: 512 is above the application's ceiling of 256; lower it to 256 or less"):
        ivmhost.Manifest.load(folder, ceilings=ivmhost.Limits(memory_mb=256))
    assert ivmhost.Manifest.load(folder).limits.memory_mb == 512
    # A default above a ceiling comes down to it instead of failing.
    assert ivmhost.Manifest.load(write(tmp_path / "q", minimal()), ceilings=ivmhost.Limits(memory_mb=16, call_timeout_ms=100)).limits \
        == ivmhost.Limits(memory_mb=16, call_timeout_ms=100)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ivmhost.ManifestError, match="no such file; a plugin folder needs a plugin.toml"):
        ivmhost.Manifest.load(tmp_path)
    folder = write(tmp_path / "p", 'name = "p\n')
    with pytest.raises(ivmhost.ManifestError, match="not valid TOML"):
        ivmhost.Manifest.load(folder)
    (folder / "plugin.toml").write_bytes(b"name = \"\xff\"\n")
    with pytest.raises(ivmhost.ManifestError, match="not UTF-8 text"):
        ivmhost.Manifest.load(folder)


def test_json_schema_describes_the_format() -> None:
    schema = ivmhost.Manifest.json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["name", "version", "entry", "api"]
    assert set(schema["properties"]) == {"name", "version", "entry", "api", "description", "tasks", "isolation", "limits", "capabilities"}
    assert schema["properties"]["isolation"]["enum"] == ["isolate", "process"]
    limits = schema["properties"]["limits"]
    assert limits["additionalProperties"] is False
    assert limits["properties"]["memory_mb"] == {"type": "integer", "minimum": 8, "description": "the isolate heap limit in MB"}
    assert schema["properties"]["api"]["enum"] == ["1"]
    version = re.compile(schema["properties"]["version"]["pattern"])
    assert version.match("1.0.0") and version.match("2.1.0-rc.1+build.5") and not version.match("1.0")
    capability = re.compile(schema["properties"]["capabilities"]["propertyNames"]["pattern"])
    assert capability.match("http.fetch") and not capability.match("HTTP")
