"""plugins/note-schema: check_note validates notes against the plugin's JSON Schema; the "validate"
command validates shared JSON files (files capability) against schemas/<name>.schema.json."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import ivmhost


def write(root: Path, path: str, text: str) -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")


def validate(host: ivmhost.PluginHost, path: str) -> Any:
    return host.hook.run_command(name="validate", args=path, note=None)


def problems_of(host: ivmhost.PluginHost, files_root: Path, schema: Any, data: Any) -> list[str]:
    """Validate ``data`` against ``schema`` through the command; the problem lines ([] if valid)."""
    write(files_root, "schemas/thing.schema.json", json.dumps(schema))
    write(files_root, "thing.json", json.dumps(data))
    answer = validate(host, "thing.json")
    if answer == "valid: thing.json matches schemas/thing.schema.json":
        return []
    first, *lines = answer.split("\n")
    assert first == "invalid: thing.json does not match schemas/thing.schema.json:", answer
    assert all(line.startswith("- ") for line in lines)
    return [line[2:] for line in lines]


# -- check_note -------------------------------------------------------------------------------


def test_a_valid_note_has_no_problems(notes_host, note) -> None:  # type: ignore[no-untyped-def]
    host = notes_host("note-schema")
    assert host.hook.check_note(note=note) == [[]]
    assert host.hook.check_note(note={"id": 7, "title": "t", "text": ""}) == [[]]  # tags are optional


@pytest.mark.parametrize(
    ("change", "problems"),
    [
        ({"title": None}, ["title: must be a string, not null"]),
        ({"id": "7"}, ["id: must be an integer, not string"]),
        ({"id": 1.5}, ["id: must be an integer, not number"]),
        ({"id": 0}, ["id: must be at least 1"]),
        ({"title": ""}, ["title: must be at least 1 character long"]),
        ({"title": "x" * 121}, ["title: must be at most 120 characters long"]),
        ({"tags": "home"}, ["tags: must be an array, not string"]),
        ({"tags": ["home", "Work", "to do"]},
         ["tags[1]: must match the pattern ^[a-z0-9]+(-[a-z0-9]+)*$", "tags[2]: must match the pattern ^[a-z0-9]+(-[a-z0-9]+)*$"]),
        ({"tags": ["a", "b", "a"]}, ['tags: items 0 and 2 are equal ("a"); items must be unique']),
        ({"tags": [f"t{i}" for i in range(11)]}, ["tags: must have at most 10 items"]),
        ({"tags": ["ok", 3]}, ["tags[1]: must be a string, not integer"]),
        ({"pinned": True}, ['(root): has unexpected property "pinned"']),
    ],
)
def test_check_note_reports_each_problem(notes_host, note, change: dict[str, Any], problems: list[str]) -> None:  # type: ignore[no-untyped-def]
    host = notes_host("note-schema")
    assert host.hook.check_note(note={**note, **change}) == [problems]


def test_check_note_reports_every_problem_at_once(notes_host) -> None:  # type: ignore[no-untyped-def]
    host = notes_host("note-schema")
    assert host.hook.check_note(note={"title": "", "tags": ["a", "a"], "color": "red"}) == [[
        '(root): missing required property "id"',
        '(root): missing required property "text"',
        "title: must be at least 1 character long",
        'tags: items 0 and 1 are equal ("a"); items must be unique',
        '(root): has unexpected property "color"',
    ]]
    assert host.hook.check_note(note=None) == [["(root): must be an object, not null"]]


def test_lengths_count_characters_not_utf16_units(notes_host, note) -> None:  # type: ignore[no-untyped-def]
    host = notes_host("note-schema")
    assert host.hook.check_note(note={**note, "title": "😀" * 120}) == [[]]  # 240 UTF-16 units
    assert host.hook.check_note(note={**note, "title": "é" * 121}) == [["title: must be at most 120 characters long"]]


# -- the validate command ---------------------------------------------------------------------

PEOPLE_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "age": {"type": "integer", "minimum": 0, "maximum": 150},
            "email": {"type": "string", "pattern": "^[^@\\s]+@[^@\\s]+$"},
            "role": {"enum": ["admin", "member"]},
        },
    },
}


def test_validate_finds_the_schema_by_the_files_name(notes_host, files_root) -> None:  # type: ignore[no-untyped-def]
    host = notes_host("note-schema")
    write(files_root, "schemas/people.schema.json", json.dumps(PEOPLE_SCHEMA))
    write(files_root, "people.json", json.dumps([{"name": "Ada", "age": 36, "role": "admin"}]))
    write(files_root, "exports/people.2024-05.json", json.dumps([{"name": "Grace", "email": "grace@example.org"}]))
    assert validate(host, "people.json") == "valid: people.json matches schemas/people.schema.json"
    assert validate(host, " exports/people.2024-05.json ") == \
        "valid: exports/people.2024-05.json matches schemas/people.schema.json"


def test_validate_lists_the_problems(notes_host, files_root) -> None:  # type: ignore[no-untyped-def]
    host = notes_host("note-schema")
    write(files_root, "schemas/people.schema.json", json.dumps(PEOPLE_SCHEMA))
    write(files_root, "people.json", json.dumps([
        {"name": "Ada", "age": 36},
        {"name": "", "age": -1, "email": "nobody", "nickname": "x"},
        {"age": 151.5, "role": "owner"},
    ]))
    assert validate(host, "people.json") == "\n".join([
        "invalid: people.json does not match schemas/people.schema.json:",
        "- [1].name: must be at least 1 character long",
        "- [1].age: must be at least 0",
        "- [1].email: must match the pattern ^[^@\\s]+@[^@\\s]+$",
        '- [1]: has unexpected property "nickname"',
        '- [2]: missing required property "name"',
        "- [2].age: must be an integer, not number",
        '- [2].role: must be one of "admin", "member"',
    ])


@pytest.mark.parametrize(
    ("schema", "data", "problems"),
    [
        ({"type": ["string", "null"]}, None, []),
        ({"type": ["string", "null"]}, 3, ["(root): must be one of string, null, not integer"]),
        ({"type": "number"}, 3, []),  # an integer is a number
        ({"type": "integer"}, 3.0, []),  # JSON has one kind of number: 3.0 is the integer 3
        ({"type": "boolean"}, "true", ["(root): must be a boolean, not string"]),
        ({"type": "object"}, [], ["(root): must be an object, not array"]),
        ({"enum": [1, [2, 3], {"a": {"b": None}}]}, {"a": {"b": None}}, []),
        ({"enum": [1, [2, 3]]}, [3, 2], ["(root): must be one of 1, [2,3]"]),
        ({"minimum": 1.5, "maximum": 2}, 2, []),
        ({"minimum": 1.5, "maximum": 2}, 2.5, ["(root): must be at most 2"]),
        ({"minimum": 1}, "0", []),  # number keywords say nothing about strings
        ({"minLength": 2, "maxLength": 3}, "abcd", ["(root): must be at most 3 characters long"]),
        ({"minLength": 1}, "", ["(root): must be at least 1 character long"]),
        ({"pattern": "b+"}, "abba", []),  # unanchored, as in JSON Schema
        ({"pattern": "^b+$"}, "abba", ["(root): must match the pattern ^b+$"]),
        ({"minItems": 2}, [1], ["(root): must have at least 2 items"]),
        ({"maxItems": 1}, [1, 2], ["(root): must have at most 1 item"]),
        ({"uniqueItems": True}, [{"a": 1, "b": 2}, {"b": 2, "a": 1}], ['(root): items 0 and 1 are equal ({"b":2,"a":1}); items must be unique']),
        ({"uniqueItems": True}, [1, "1", [1], {"x": 1}], []),
        ({"items": {"type": "string"}}, ["a", 1], ["[1]: must be a string, not integer"]),
        ({"items": False}, [], []),
        ({"items": False}, [1], ["[0]: is not allowed here"]),
        ({"properties": {"a b": {"type": "string"}}}, {"a b": 1}, ['"a b": must be a string, not integer']),
        ({"properties": {"a": {"properties": {"b": {"type": "null"}}}}}, {"a": {"b": 0}}, ["a.b: must be a null, not integer"]),
        ({"additionalProperties": {"type": "integer"}}, {"x": 1, "y": "2"}, ["y: must be an integer, not string"]),
        ({"properties": {"x": {}}, "additionalProperties": False}, {"x": 1, "y": 2}, ['(root): has unexpected property "y"']),
        ({"required": ["a"], "title": "ignored", "$id": "ignored", "format": "email"}, {"a": 1}, []),
        (True, {"anything": [1]}, []),
        (False, 1, ["(root): is not allowed here"]),
    ],
)
def test_validator_keywords(notes_host, files_root, schema: Any, data: Any, problems: list[str]) -> None:  # type: ignore[no-untyped-def]
    host = notes_host("note-schema")
    assert problems_of(host, files_root, schema, data) == problems


# V8's own wording (JSON.parse, RegExp) differs between the V8 releases ivmhost supports, so those
# parts of the answers are matched loosely.
@pytest.mark.parametrize(
    ("files", "path", "answer"),
    [
        ({}, "", re.escape("validate: give the path of a JSON file (validate people.json)")),
        ({}, "people.json", re.escape("validate: cannot read people.json: no such file")),
        ({"people.json": "[]"}, "people.json",
         re.escape("validate: cannot read schemas/people.schema.json: no such file (the schema for people.json)")),
        ({"people.json": "[1,"}, "people.json", re.escape("validate: people.json is not valid JSON: ") + ".*JSON.*"),
        ({"people.json": "[]", "schemas/people.schema.json": '{"type": "list"}'}, "people.json",
         re.escape('validate: schemas/people.schema.json is not a usable schema: unknown type "list" in the schema')),
        ({"people.json": '["a"]', "schemas/people.schema.json": '{"items": {"pattern": "("}}'}, "people.json",
         re.escape("validate: schemas/people.schema.json is not a usable schema: the schema's pattern \"(\" is not a "
                   "regular expression: Invalid regular expression: /(/") + "u?: Unterminated group"),
        ({"notes.txt": "hello"}, "notes.txt",
         re.escape("validate: cannot read notes.txt: 'notes.txt' does not match the granted paths: *.json, **/*.json")),
        ({}, "../secret.json",
         re.escape("validate: cannot read ../secret.json: '../secret.json' is outside the files the application shares")),
    ],
)
def test_validate_explains_what_went_wrong(notes_host, files_root, files: dict[str, str], path: str, answer: str) -> None:  # type: ignore[no-untyped-def]
    host = notes_host("note-schema")
    (files_root.parent / "secret.json").write_text("{}")  # beside the shared root, not in it
    for name, text in files.items():
        write(files_root, name, text)
    assert re.fullmatch(answer, validate(host, path)), validate(host, path)


def test_commands_and_grants(notes_host) -> None:  # type: ignore[no-untyped-def]
    host = notes_host("note-schema")
    assert host.hook.commands() == [[{
        "name": "validate",
        "help": "validate <path>: check a shared JSON file against schemas/<name>.schema.json "
                "(<name>: the file's name up to its first dot)",
    }]]
    assert host.plugins["note-schema"].grants == frozenset({"files"})
    assert host.hook.run_command(name="md", args="x", note=None) is None
    assert host.check() == []
