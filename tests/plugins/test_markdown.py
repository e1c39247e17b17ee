"""plugins/markdown: the "md" command renders Markdown with the vendored marked (12.0.2); options
come from the settings capability. Expected HTML is what marked itself gives under Node."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import ivmhost

TABLE = "| a | b |\n|:--|--:|\n| 1 | 2 |"
TABLE_HTML = ('<table>\n<thead>\n<tr>\n<th align="left">a</th>\n<th align="right">b</th>\n</tr>\n</thead>\n'
              '<tbody><tr>\n<td align="left">1</td>\n<td align="right">2</td>\n</tr>\n</tbody></table>\n')


def md(host: ivmhost.PluginHost, args: str = "", note: dict[str, Any] | None = None) -> Any:
    return host.hook.run_command(name="md", args=args, note=note)


@pytest.mark.parametrize(
    ("markdown", "html"),
    [
        ("# Title\n\n## Sub *part*", "<h1>Title</h1>\n<h2>Sub <em>part</em></h2>\n"),
        ("- one\n- two\n  - nested\n\n1. first\n2. second",
         "<ul>\n<li>one</li>\n<li>two<ul>\n<li>nested</li>\n</ul>\n</li>\n</ul>\n"
         "<ol>\n<li>first</li>\n<li>second</li>\n</ol>\n"),
        ("Use `x < y`:\n\n```js\nconst a = 1 < 2;\n```",
         '<p>Use <code>x &lt; y</code>:</p>\n<pre><code class="language-js">const a = 1 &lt; 2;\n</code></pre>\n'),
        ("*em* and **strong** and ~~gone~~", "<p><em>em</em> and <strong>strong</strong> and <del>gone</del></p>\n"),
        (TABLE, TABLE_HTML),
        ("line one\nline two", "<p>line one\nline two</p>\n"),
    ],
    ids=["headings", "lists", "code", "emphasis", "gfm-table", "no-breaks"],
)
def test_md_renders_the_args_with_marked_defaults(notes_host, markdown: str, html: str) -> None:  # type: ignore[no-untyped-def]
    host = notes_host("markdown")
    assert md(host, markdown) == html


def test_md_renders_the_current_note_when_no_text_is_given(notes_host, note) -> None:  # type: ignore[no-untyped-def]
    host = notes_host("markdown")
    assert md(host, "", note) == "<p>Buy <em>milk</em>, eggs and bread.</p>\n"
    assert md(host, "   ", note) == "<p>Buy <em>milk</em>, eggs and bread.</p>\n"
    # Text given wins over the note.
    assert md(host, "**now**", note) == "<p><strong>now</strong></p>\n"


@pytest.mark.parametrize("note", [None, {"id": 2, "title": "empty", "text": "  \n", "tags": []}])
def test_md_with_nothing_to_render_says_so(notes_host, note: dict[str, Any] | None) -> None:  # type: ignore[no-untyped-def]
    host = notes_host("markdown")
    assert md(host, "", note) == "md: nothing to render; open a note or give Markdown text (md *hello*)"


@pytest.mark.parametrize(
    ("settings", "markdown", "html"),
    [
        ({"markdown.gfm": False}, TABLE, "<p>| a | b |\n|:--|--:|\n| 1 | 2 |</p>\n"),
        ({"markdown.gfm": False}, "~~gone~~", "<p>~~gone~~</p>\n"),
        ({"markdown.gfm": "false"}, "~~gone~~", "<p>~~gone~~</p>\n"),
        ({"markdown.breaks": True}, "line one\nline two", "<p>line one<br>line two</p>\n"),
        ({"markdown.breaks": "true", "markdown.gfm": True}, TABLE, TABLE_HTML),
    ],
)
def test_settings_choose_marked_options(notes_host, settings: dict[str, Any], markdown: str, html: str) -> None:  # type: ignore[no-untyped-def]
    host = notes_host("markdown", settings=settings)
    assert md(host, markdown) == html


def test_a_bad_setting_is_reported_not_thrown(notes_host) -> None:  # type: ignore[no-untyped-def]
    host = notes_host("markdown", settings={"markdown.breaks": "sometimes"})
    assert md(host, "a") == 'md: setting markdown.breaks must be true or false, not "sometimes"'


def test_options_are_read_through_the_settings_capability(notes_host) -> None:  # type: ignore[no-untyped-def]
    host = notes_host("markdown", settings={"markdown.gfm": False, "lookup.url": "http://127.0.0.1/"})
    plugin = host.plugins["markdown"]
    assert plugin.grants == frozenset({"settings"})
    md(host, "x")
    calls = {(e.capability, e.method): e.calls for e in host.audit("markdown")}
    assert calls == {("settings", "get"): 2, ("settings", "keys"): 0}  # markdown.gfm and markdown.breaks


def test_commands_and_other_commands(notes_host) -> None:  # type: ignore[no-untyped-def]
    host = notes_host("markdown")
    assert host.hook.commands() == [[{"name": "md", "help": "md [markdown]: render the current note (or the given Markdown) as HTML"}]]
    assert host.hook.run_command(name="stats", args="", note=None) is None
    assert host.check() == []


def test_marked_is_vendored_with_its_license(plugins_dir: Path) -> None:
    vendor = plugins_dir / "markdown" / "vendor"
    source = (vendor / "marked.esm.js").read_text(encoding="utf-8")
    assert source.startswith("/**\n * marked v12.0.2 - a markdown parser\n")
    license_text = (vendor / "LICENSE.md").read_text(encoding="utf-8")
    assert "MIT license" in license_text and "Copyright (c) 2011-2018, Christopher Jeffrey" in license_text
    npm = Path(__file__).resolve().parents[1] / "fixtures" / "npm" / "node_modules" / "marked"
    if npm.is_dir():  # `make fixtures` installed the same release: the copy is unchanged
        assert source == (npm / "lib" / "marked.esm.js").read_text(encoding="utf-8")
