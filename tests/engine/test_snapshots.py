"""Startup snapshots: isolates that start with a global state already built."""

from __future__ import annotations

import pytest

import ivmhost


def test_isolate_from_a_snapshot_starts_with_its_global_state(make_isolate) -> None:  # type: ignore[no-untyped-def]
    snapshot = ivmhost.Isolate.create_snapshot(
        [{"code": "globalThis.greet = (n) => 'hi ' + n; var counter = 41;", "filename": "boot.js"},
         {"code": "counter += 1"}]
    )
    assert isinstance(snapshot, ivmhost.ExternalCopy)
    isolate = make_isolate(snapshot=snapshot)
    assert isolate.create_context_sync().eval_sync("greet('you') + ' ' + counter") == "hi you 42"
    assert isolate.create_context_sync().eval_sync("counter") == 42  # every context starts from it
    assert make_isolate().create_context_sync().eval_sync("typeof greet") == "undefined"


def test_every_isolate_may_use_a_different_snapshot(make_isolate) -> None:  # type: ignore[no-untyped-def]
    a = ivmhost.Isolate.create_snapshot([{"code": "globalThis.which = 'a'"}])
    b = ivmhost.Isolate.create_snapshot([{"code": "globalThis.which = 'b'"}], warmup_script="JSON.stringify({x: 1})")
    plain = make_isolate().create_context_sync()
    from_a = make_isolate(snapshot=a).create_context_sync()
    from_b = make_isolate(snapshot=b.copy()).create_context_sync()
    assert [from_a.eval_sync("which"), from_b.eval_sync("which"), plain.eval_sync("typeof which")] == ["a", "b", "undefined"]


def test_a_syntax_error_names_the_snapshot_script() -> None:
    with pytest.raises(ivmhost.JSError) as info:
        ivmhost.Isolate.create_snapshot([{"code": "let = ;", "filename": "bad-boot.js"}])
    assert info.value.name == "SyntaxError"
    assert "bad-boot.js:1" in info.value.stack
    with pytest.raises(ivmhost.JSError, match="boom"):
        ivmhost.Isolate.create_snapshot([{"code": "throw new Error('boom')", "filename": "boot.js"}])


@pytest.mark.parametrize("bad", [b"garbage", b"ivmhost-snapshot-1\0" + b"x" * 10, b"ivmhost-snapshot-1\0" + b"\0" * 100000])
def test_garbage_snapshots_are_refused_before_v8(bad: bytes) -> None:
    with pytest.raises(ValueError, match="snapshot"):
        ivmhost.Isolate(snapshot=bad)


def test_snapshot_arguments_are_checked() -> None:
    with pytest.raises(TypeError, match="'code'"):
        ivmhost.Isolate.create_snapshot([{"source": "1"}])
    with pytest.raises(TypeError, match="snapshot must be"):
        ivmhost.Isolate(snapshot="not bytes")  # type: ignore[arg-type]


def test_an_isolate_reads_its_snapshot_in_place_and_keeps_it(make_isolate) -> None:  # type: ignore[no-untyped-def]
    snapshot = ivmhost.Isolate.create_snapshot([{"code": "globalThis.kept = 'yes'"}])
    isolate = make_isolate(snapshot=snapshot)
    snapshot.release()  # the isolate holds the blob it was made from (new contexts need it)
    assert isolate.create_context_sync().eval_sync("kept") == "yes"
    assert isolate.create_context_sync().eval_sync("kept + '!'") == "yes!"
    with pytest.raises(ivmhost.ReleasedError, match="Copy has been released"):
        ivmhost.Isolate(snapshot=snapshot)


@pytest.mark.parametrize(("value", "message"), [
    (b"ivmhost-snapshot-1\0" + b"x" * 10, r"The snapshot was not made by this V8 \(.+\): make it again with Isolate.create_snapshot\(\)"),
    ("not a snapshot", r"This is not a snapshot made by Isolate.create_snapshot\(\)"),
    (b"", r"This is not a snapshot made by Isolate.create_snapshot\(\)"),
    ([1, 2], r"This is not a snapshot made by Isolate.create_snapshot\(\)"),
])
def test_an_external_copy_of_something_else_is_not_a_snapshot(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ivmhost.Isolate(snapshot=ivmhost.ExternalCopy(value))
