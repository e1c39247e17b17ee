"""plugins/counter: note_saved counts notes, words and tags in the kv capability (SQLite);
"stats" answers the totals, which survive a restart of the application."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import ivmhost


def stats(host: ivmhost.PluginHost) -> Any:
    return host.hook.run_command(name="stats", args="", note=None)


def save(host: ivmhost.PluginHost, note_id: Any, text: str, tags: list[Any] | None = None) -> None:
    note = {"id": note_id, "title": f"note {note_id}", "text": text, "tags": tags or []}
    assert host.hook.note_saved(note=note) == []  # the hook answers nothing


def test_stats_before_anything_was_saved(notes_host) -> None:  # type: ignore[no-untyped-def]
    host = notes_host("counter")
    assert stats(host) == "notes saved: 0 (0 distinct), words: 0, top tags: none"


def test_saves_words_and_tags_are_counted(notes_host) -> None:  # type: ignore[no-untyped-def]
    host = notes_host("counter")
    save(host, 1, "Buy milk, eggs and bread.", ["home", "errands"])
    assert stats(host) == "notes saved: 1 (1 distinct), words: 5, top tags: errands (1), home (1)"
    save(host, 2, "Call the plumber", ["home"])
    assert stats(host) == "notes saved: 2 (2 distinct), words: 8, top tags: home (2), errands (1)"


def test_saving_a_note_again_replaces_its_counts(notes_host) -> None:  # type: ignore[no-untyped-def]
    host = notes_host("counter")
    save(host, 1, "one two three", ["draft", "work"])
    save(host, 2, "four", ["work"])
    save(host, 1, "one two", ["work", "final"])  # edited: 3 words -> 2, draft -> final
    assert stats(host) == "notes saved: 3 (2 distinct), words: 3, top tags: work (2), final (1)"


def test_what_counts_as_a_word_and_a_tag(notes_host) -> None:  # type: ignore[no-untyped-def]
    host = notes_host("counter")
    # Markdown and punctuation separate words; inner apostrophes and hyphens do not; any script counts.
    save(host, 1, "# Don't panic\n\n- well-known *fact*: 42 — naïve café, 東京 👍", ["Work", " work ", "", 7])
    assert stats(host) == "notes saved: 1 (1 distinct), words: 8, top tags: work (1)"


def test_top_tags_are_the_five_most_used(notes_host) -> None:  # type: ignore[no-untyped-def]
    host = notes_host("counter")
    tags = [["a", "b", "c", "d", "e", "f"], ["f", "e", "d"], ["f", "e"], ["f"]]
    for note_id, note_tags in enumerate(tags, start=1):
        save(host, note_id, "", note_tags)
    assert stats(host) == "notes saved: 4 (4 distinct), words: 0, top tags: f (4), e (3), d (2), a (1), b (1)"


def test_notes_without_an_id_only_add(notes_host) -> None:  # type: ignore[no-untyped-def]
    host = notes_host("counter")
    save(host, None, "draft text", ["draft"])
    save(host, None, "draft text", ["draft"])
    assert stats(host) == "notes saved: 2 (0 distinct), words: 4, top tags: draft (2)"


def test_counts_survive_a_restart(notes_host, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    first = notes_host("counter")
    save(first, 1, "alpha beta", ["greek"])
    save(first, 2, "gamma", ["greek", "letters"])
    before = stats(first)
    assert before == "notes saved: 2 (2 distinct), words: 3, top tags: greek (2), letters (1)"
    first.close()
    assert ivmhost.live_isolates() == 0

    second = notes_host("counter")  # the same data_dir: the same notes.db
    assert stats(second) == before
    save(second, 2, "gamma delta epsilon", ["greek"])  # note 2 edited after the restart
    assert stats(second) == "notes saved: 3 (2 distinct), words: 5, top tags: greek (2)"


def test_the_counts_live_in_the_granted_namespace(notes_host, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    host = notes_host("counter")
    save(host, 3, "hello world", ["hi"])
    with sqlite3.connect(data_dir / "notes.db") as db:
        rows = db.execute("SELECT ns, key, value FROM kv ORDER BY key").fetchall()
    db.close()
    assert rows == [
        ("counter", "note:3", '{"words": 2, "tags": ["hi"]}'),
        ("counter", "saves", "1"),
        ("counter", "tag:hi", "1"),
        ("counter", "words", "2"),
    ]


def test_a_fresh_data_dir_starts_from_zero(notes_host, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    save(notes_host("counter"), 1, "some words here", ["x"])
    other = notes_host("counter", data_dir=tmp_path / "elsewhere")
    assert stats(other) == "notes saved: 0 (0 distinct), words: 0, top tags: none"


def test_commands_and_other_commands(notes_host) -> None:  # type: ignore[no-untyped-def]
    host = notes_host("counter")
    assert host.hook.commands() == [[{"name": "stats", "help": "stats: how many notes were saved, their words and most used tags"}]]
    assert host.hook.run_command(name="define", args="x", note=None) is None
    assert host.check() == []
