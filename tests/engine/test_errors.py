"""The error hierarchy and isolated-vm's messages."""

from __future__ import annotations

import pytest

import ivmhost

NOT_AN_ERROR = (
    "An object was thrown from supplied code within ivmhost, but that object was not an instance of `Error`."
)


def test_hierarchy() -> None:
    assert issubclass(ivmhost.JSError, ivmhost.IvmhostError)
    assert issubclass(ivmhost.ScriptTimeoutError, TimeoutError)
    assert issubclass(ivmhost.MemoryLimitError, ivmhost.IsolateDisposedError)
    assert issubclass(ivmhost.TransferError, TypeError)
    for name in ("ReleasedError", "IsolateDisposedError", "ScriptTimeoutError", "TransferError"):
        assert issubclass(getattr(ivmhost, name), ivmhost.IvmhostError)


@pytest.mark.parametrize("thrown", ["'a string'", "42", "({code: 7})", "null", "undefined"])
def test_thrown_non_errors(context: ivmhost.Context, thrown: str) -> None:
    with pytest.raises(ivmhost.JSError) as info:
        context.eval_sync(f"throw {thrown}", filename="thrower.js")
    assert info.value.message == NOT_AN_ERROR
    assert info.value.value == context.eval_sync(f"({thrown})")
    assert "thrower.js:1:1" in info.value.stack


def test_error_subclass_keeps_its_name(context: ivmhost.Context) -> None:
    code = """
    class ValidationError extends Error {
      constructor(message) { super(message); this.name = 'ValidationError' }
    }
    throw new ValidationError('field is required')
    """
    with pytest.raises(ivmhost.JSError) as info:
        context.eval_sync(code, filename="validate.js")
    assert info.value.name == "ValidationError"
    assert info.value.message == "field is required"
    assert info.value.stack.startswith("ValidationError: field is required\n")
    assert "validate.js:5:11" in info.value.stack


@pytest.mark.parametrize(
    ("code", "name"),
    [("null.x", "TypeError"), ("undefinedThing", "ReferenceError"), ("new Array(-1)", "RangeError"),
     ("eval('}')", "SyntaxError"), ("decodeURI('%')", "URIError")],
)
def test_builtin_error_names(context: ivmhost.Context, code: str, name: str) -> None:
    with pytest.raises(ivmhost.JSError) as info:
        context.eval_sync(code)
    assert info.value.name == name


def test_numeric_message_becomes_a_string(context: ivmhost.Context) -> None:
    with pytest.raises(ivmhost.JSError) as info:
        context.eval_sync("const e = new Error(); e.message = 42; throw e")
    assert info.value.message == "42"


def test_stack_keeps_the_filename_and_offsets(context: ivmhost.Context) -> None:
    with pytest.raises(ivmhost.JSError) as info:
        context.eval_sync("\n\nthrow new Error('deep')", filename="offset.js", line_offset=10)
    assert "offset.js:13:7" in info.value.stack


def test_python_exception_in_a_callback_is_catchable_javascript(context: ivmhost.Context) -> None:
    def explode() -> None:
        raise ValueError("no good")

    caught = context.eval_closure_sync("try { $0() } catch (e) { return [e instanceof Error, e.message] }", [explode])
    assert caught == [True, "ValueError: no good"]
    with pytest.raises(ivmhost.JSError, match="ValueError: no good"):
        context.eval_closure_sync("$0()", [explode])


def test_keyboard_interrupt_in_a_callback_is_not_javascripts_to_catch(context: ivmhost.Context) -> None:
    def interrupt() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        context.eval_closure_sync("for (;;) { try { $0() } catch (e) {} }", [interrupt], timeout=5000)
    assert context.eval_sync("'still usable'") == "still usable"


def test_unhandled_rejection_is_the_calls_error(context: ivmhost.Context) -> None:
    with pytest.raises(ivmhost.JSError, match="rejected late"):
        context.eval_sync("Promise.resolve().then(() => { throw new Error('rejected late') }); 1")
    assert context.eval_sync("Promise.reject(new Error('handled')).catch(() => {}); 2") == 2
