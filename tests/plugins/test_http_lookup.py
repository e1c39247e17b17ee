"""plugins/http-lookup: "define <word>" asks a dictionary service through http.fetch; here the
service is a real HTTP server on 127.0.0.1, in a thread."""

from __future__ import annotations

import json
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import ivmhost

DEFINITIONS = {
    "serendipity": ("text/plain; charset=utf-8", "finding good things without looking for them\n"),
    "ephemeral": ("application/json", json.dumps({"word": "ephemeral", "definition": "lasting a very short time"})),
    "café": ("text/plain; charset=utf-8", "a small restaurant serving coffee"),
    "blank": ("text/plain", "   "),
    "garbled": ("application/json", "{not json"),
    "wordless": ("application/json", json.dumps({"word": "wordless"})),
}


class Dictionary(BaseHTTPRequestHandler):
    """GET /dict/define?word=<word>: the definition, 404 when unknown; "teapot" answers 500."""

    requests: list[str]

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.requests.append(self.path)
        parts = urllib.parse.urlsplit(self.path)
        words = urllib.parse.parse_qs(parts.query).get("word", [])
        if parts.path != "/dict/define" or len(words) != 1:
            self.answer(400, "text/plain", "bad request")
        elif words[0] == "teapot":
            self.answer(500, "text/plain", "the kettle broke")
        elif words[0] in DEFINITIONS:
            self.answer(200, *DEFINITIONS[words[0]])
        else:
            self.answer(404, "text/plain", "no such word")

    def answer(self, status: int, content_type: str, body: str) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        pass  # the test asserts on .requests instead of reading stderr


@pytest.fixture
def dictionary() -> Iterator[tuple[str, list[str]]]:
    """A dictionary service on 127.0.0.1 (a random port): (its base URL, the paths requested)."""
    requests: list[str] = []
    handler = type("Handler", (Dictionary,), {"requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # A short poll interval: shutdown() waits up to one interval.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="dictionary", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/dict", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def define(host: ivmhost.PluginHost, word: str) -> Any:
    return host.hook.run_command(name="define", args=word, note=None)


def test_define_answers_the_definition(notes_host, dictionary) -> None:  # type: ignore[no-untyped-def]
    url, requests = dictionary
    host = notes_host("http-lookup", settings={"lookup.url": url})
    assert define(host, "serendipity") == "serendipity: finding good things without looking for them"
    assert define(host, "  ephemeral ") == "ephemeral: lasting a very short time"  # a JSON answer
    assert define(host, "café") == "café: a small restaurant serving coffee"
    assert requests == ["/dict/define?word=serendipity", "/dict/define?word=ephemeral", "/dict/define?word=caf%C3%A9"]
    calls = {(e.capability, e.method): (e.calls, e.errors) for e in host.audit("http-lookup")}
    assert calls == {("http.fetch", "fetch"): (3, 0), ("settings", "get"): (3, 0), ("settings", "keys"): (0, 0)}


def test_a_trailing_slash_in_the_url_is_fine(notes_host, dictionary) -> None:  # type: ignore[no-untyped-def]
    url, requests = dictionary
    host = notes_host("http-lookup", settings={"lookup.url": url + "/"})
    assert define(host, "ephemeral") == "ephemeral: lasting a very short time"
    assert requests == ["/dict/define?word=ephemeral"]


def test_localhost_is_granted_too(notes_host, dictionary) -> None:  # type: ignore[no-untyped-def]
    url, _ = dictionary
    host = notes_host("http-lookup", settings={"lookup.url": url.replace("127.0.0.1", "localhost")})
    assert define(host, "serendipity") == "serendipity: finding good things without looking for them"


@pytest.mark.parametrize(
    ("word", "answer"),
    [
        ("flibbertigibbet", 'define: no definition found for "flibbertigibbet"'),
        ("teapot", 'define: the dictionary service answered 500 for "teapot"'),
        ("blank", 'define: the dictionary service has an empty definition for "blank"'),
        ("garbled", "define: the dictionary service's answer for \"garbled\" is unreadable: "),
        ("wordless", 'define: the dictionary service\'s answer for "wordless" is unreadable: '
                     'the JSON answer has no "definition" string'),
    ],
    ids=["404", "500", "blank", "not-json", "no-definition"],
)
def test_define_explains_what_the_service_said(notes_host, dictionary, word: str, answer: str) -> None:  # type: ignore[no-untyped-def]
    url, requests = dictionary
    host = notes_host("http-lookup", settings={"lookup.url": url})
    assert define(host, word).startswith(answer)
    assert len(requests) == 1


@pytest.mark.parametrize("args", ["", "   ", "two words"])
def test_define_needs_one_word(notes_host, dictionary, args: str) -> None:  # type: ignore[no-untyped-def]
    url, requests = dictionary
    host = notes_host("http-lookup", settings={"lookup.url": url})
    assert define(host, args) == "define: give one word (define serendipity)"
    assert requests == []


def test_define_without_the_setting(notes_host) -> None:  # type: ignore[no-untyped-def]
    host = notes_host("http-lookup", settings={"other.url": "http://127.0.0.1/"})
    assert define(host, "word") == "define: the setting lookup.url is not set; set it to the dictionary service's URL"


def test_an_unreachable_service_is_reported(notes_host, closed_port: int) -> None:  # type: ignore[no-untyped-def]
    url = f"http://127.0.0.1:{closed_port}/dict"
    host = notes_host("http-lookup", settings={"lookup.url": url})
    answer = define(host, "word")
    assert answer.startswith(f"define: could not reach the dictionary service at {url}/define?word=word: ")
    assert "Connection refused" in answer
    fetches = [(e.calls, e.errors) for e in host.audit("http-lookup") if e.capability == "http.fetch"]
    assert fetches == [(1, 1)]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://example.com/dict", "example.com is not among the hosts granted: 127.0.0.1, localhost"),
        ("http://127.0.0.2:9/dict", "127.0.0.2 is not among the hosts granted: 127.0.0.1, localhost"),
        ("ftp://127.0.0.1/dict", "only http and https URLs may be fetched, not ftp"),
    ],
)
def test_hosts_outside_the_manifest_are_refused(notes_host, dictionary, url: str, why: str) -> None:  # type: ignore[no-untyped-def]
    _, requests = dictionary
    host = notes_host("http-lookup", settings={"lookup.url": url})
    assert define(host, "serendipity") == f"define: not allowed to fetch {url}/define?word=serendipity: {why}"
    assert requests == []


@pytest.mark.anyio
async def test_define_from_async_code(notes_host, dictionary) -> None:  # type: ignore[no-untyped-def]
    url, _ = dictionary
    host = notes_host("http-lookup", settings={"lookup.url": url})
    async with host:
        answer = await host.ahook.run_command(name="define", args="ephemeral", note=None)
    assert answer == "ephemeral: lasting a very short time"


def test_commands_and_other_commands(notes_host) -> None:  # type: ignore[no-untyped-def]
    host = notes_host("http-lookup")
    assert host.hook.commands() == [[{
        "name": "define", "help": "define <word>: look the word up in the dictionary service (setting lookup.url)",
    }]]
    assert host.hook.run_command(name="md", args="serendipity", note=None) is None
    assert host.check() == []
