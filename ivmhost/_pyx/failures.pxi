# The one place where engine failures become Python exceptions, and where the engine calls back
# into Python (host hooks).

cdef extern from "Python.h":
    int PyErr_CheckSignals() except -1


cdef int raise_failure(Failure& f, Isolate isolate) except -1:
    cdef FailKind kind = f.kind
    cdef object exc
    cdef str message = utf8_text(f.message)
    cdef str stack = utf8_text(f.stack)
    if kind == FailKind.kJSException:
        if f.error.kind == ValKind.kError:
            raise make_js_error(f.error)
        raise JSError(message, "Error", stack, val_to_py(f.error, isolate))
    if kind == FailKind.kTimeout:
        raise ScriptTimeoutError(message, stack)
    if kind == FailKind.kMemoryLimit:
        raise MemoryLimitError(message, stack)
    if kind == FailKind.kDisposed or kind == FailKind.kDisposedDuring:
        raise IsolateDisposedError(message, stack)
    if kind == FailKind.kReleased:
        raise ReleasedError(message)
    if kind == FailKind.kTransfer:
        raise TransferError(message)
    if kind == FailKind.kType:
        raise TypeError(message)
    if kind == FailKind.kValue:
        raise ValueError(message)
    if kind == FailKind.kHostException:
        exc = <object>f.host_exception
        Py_DECREF(exc)  # the failure owned one reference; `exc` holds its own now
        f.host_exception = NULL
        raise exc
    if kind == FailKind.kInterrupted:
        # Python's own SIGINT handler ran too (ours is chained in front of it): let it raise.
        PyErr_CheckSignals()
        raise KeyboardInterrupt
    if kind == FailKind.kCancelled:
        raise anyio.get_cancelled_exc_class()()
    raise IvmhostError(message or "internal engine error")


cdef inline int check(Op* op, Isolate isolate) except -1:
    if op.failure.kind != FailKind.kNone:
        raise_failure(op.failure, isolate)
    return 0


cdef cbool _host_call(void* fn, vector[Val]& args, Val* result, Failure* failure) noexcept with gil:
    cdef size_t i
    try:
        pyargs = [val_to_py(args[i], None) for i in range(args.size())]
        value = (<object>fn)(*pyargs)
        py_to_val(value, result, None, 0)
        return True
    except Exception as exc:
        # An ordinary exception becomes a JavaScript Error that JavaScript may catch.
        failure.kind = FailKind.kJSException
        failure.error.kind = ValKind.kError
        failure.error.text = b"Error"
        failure.error.data = f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")
        return False
    except BaseException as exc:
        # KeyboardInterrupt, SystemExit...: not JavaScript's to catch. They end the running
        # JavaScript and reach the Python caller as themselves.
        failure.kind = FailKind.kHostException
        Py_INCREF(exc)
        failure.host_exception = <void*>exc
        return False


cdef void _host_release(void* obj) noexcept with gil:
    Py_DECREF(<object>obj)


cdef void _host_catastrophic(const char* message) noexcept with gil:
    text = message.decode("utf-8", "replace")
    for callback in list(_catastrophic_callbacks):
        try:
            callback(text)
        except BaseException:  # the process is about to abort; nothing may stop the others
            traceback.print_exc()


_catastrophic_callbacks = []

cdef HostHooks _hooks
_hooks.call = _host_call
_hooks.release = _host_release
_hooks.catastrophic = _host_catastrophic
SetHostHooks(_hooks)
