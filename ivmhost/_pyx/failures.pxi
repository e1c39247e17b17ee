# The one place where engine failures become Python exceptions, and where the engine calls back
# into Python (host hooks).

cdef extern from "Python.h":
    ctypedef struct PyThreadState
    int PyErr_CheckSignals() except -1
    object PyObject_Vectorcall(object callable, PyObject** args, size_t nargsf, PyObject* kwnames)
    void Py_XDECREF(PyObject* obj)

DEF _VECTORCALL_MAX = 8  # callbacks with up to this many arguments are called without a tuple

from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM

cdef extern from *:
    """
    #if PY_VERSION_HEX >= 0x030D0000
    #define ivmhost_python_finalizing() Py_IsFinalizing()
    #else
    #define ivmhost_python_finalizing() _Py_IsFinalizing()
    #endif
    """
    int python_finalizing "ivmhost_python_finalizing" () nogil

cdef extern from *:
    """
    // The hot path of every JavaScript -> Python callback. A thread that made a sync call released
    // the GIL with its thread state kept here; its callbacks take the GIL back with that state,
    // which costs less than PyGILState_Ensure/Release. Other threads (executors) use those.
    static thread_local PyThreadState* ivmhost_sync_tstate __attribute__((tls_model("initial-exec"))) = NULL;
    typedef bool (*ivmhost_call_fn)(void*, ivmhost::Val*, size_t, ivmhost::Val*, ivmhost::Failure*);
    static ivmhost_call_fn ivmhost_call_impl = NULL;

    static bool ivmhost_call_trampoline(void* fn, ivmhost::Val* args, size_t count,
                                        ivmhost::Val* result, ivmhost::Failure* failure) {
        if (ivmhost_python_finalizing()) {
            failure->kind = ivmhost::FailKind::kInternal;
            failure->message = "The Python interpreter is shutting down";
            return false;
        }
        PyThreadState* saved = ivmhost_sync_tstate;
        bool ok;
        if (saved != NULL) {
            ivmhost_sync_tstate = NULL;  // a sync call the callback makes keeps its own
            PyEval_RestoreThread(saved);
            ok = ivmhost_call_impl(fn, args, count, result, failure);
            ivmhost_sync_tstate = PyEval_SaveThread();
        } else {
            PyGILState_STATE state = PyGILState_Ensure();
            ok = ivmhost_call_impl(fn, args, count, result, failure);
            PyGILState_Release(state);
        }
        return ok;
    }
    """
    ctypedef cbool (*CallImpl "ivmhost_call_fn")(void*, Val*, size_t, Val*, Failure*) noexcept
    CallImpl call_impl "ivmhost_call_impl"
    cbool call_trampoline "ivmhost_call_trampoline" (void* fn, Val* args, size_t count, Val* result,
                                                      Failure* failure) noexcept nogil
    PyThreadState* sync_tstate "ivmhost_sync_tstate"
    PyThreadState* PyEval_SaveThread() nogil
    void PyEval_RestoreThread(PyThreadState* state) nogil


# Python exceptions raised by callbacks, by id, so that a JavaScript error made from one can
# chain it as __cause__ when it comes back to Python. Bounded: old entries are dropped.
_host_errors = {}
cdef uint64_t _next_host_error = 1
cdef int _MAX_HOST_ERRORS = 256


cdef uint64_t remember_host_error(object exc):
    global _next_host_error
    cdef uint64_t key = _next_host_error
    _next_host_error += 1
    _host_errors[key] = exc
    if len(_host_errors) > _MAX_HOST_ERRORS:
        del _host_errors[next(iter(_host_errors))]
    return key


cdef object failure_to_exception(Failure& f, Isolate isolate):
    cdef FailKind kind = f.kind
    cdef object exc
    cdef str message = utf8_text(f.message)
    cdef str stack = utf8_text(f.stack)
    if kind == FailKind.kJSException:
        if f.error.kind == ValKind.kError:
            return make_js_error(f.error)
        return JSError(message, "Error", stack, val_to_py(f.error, isolate))
    if kind == FailKind.kTimeout:
        return ScriptTimeoutError(message, stack)
    if kind == FailKind.kMemoryLimit:
        return MemoryLimitError(message, stack)
    if kind == FailKind.kDisposed or kind == FailKind.kDisposedDuring:
        return IsolateDisposedError(message, stack)
    if kind == FailKind.kReleased:
        return ReleasedError(message)
    if kind == FailKind.kTransfer:
        return TransferError(message)
    if kind == FailKind.kType:
        return TypeError(message)
    if kind == FailKind.kValue:
        return ValueError(message)
    if kind == FailKind.kHostException:
        exc = <object>f.host_exception
        Py_DECREF(exc)  # the failure owned one reference; `exc` holds its own now
        f.host_exception = NULL
        return exc
    if kind == FailKind.kInterrupted:
        # Python's own SIGINT handler ran too (ours is chained in front of it): let it raise.
        PyErr_CheckSignals()
        return KeyboardInterrupt()
    if kind == FailKind.kCancelled:
        return IvmhostError(message or "The call was cancelled")
    return IvmhostError(message or "internal engine error")


cdef int raise_failure(Failure& f, Isolate isolate) except -1:
    raise failure_to_exception(f, isolate)


cdef int exception_to_failure(object exc, Failure* failure, bint catchable=False) except -1:
    """A Python exception raised for JavaScript: an Error it may catch, or a BaseException that
    ends the JavaScript and reaches the Python caller as itself (unless `catchable`)."""
    if isinstance(exc, Exception) or catchable:
        failure.kind = FailKind.kJSException
        failure.error.kind = ValKind.kError
        # A value that cannot cross is JavaScript's TypeError, as isolated-vm throws it.
        failure.error.text = b"TypeError" if isinstance(exc, TransferError) else b"Error"
        failure.error.data = f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")
        failure.error.handle = remember_host_error(exc)
    else:
        failure.kind = FailKind.kHostException
        Py_INCREF(exc)
        failure.host_exception = <void*>exc
    return 0


cdef cbool _call_host(void* fn, Val* args, size_t count, Val* result, Failure* failure) noexcept:
    cdef Py_ssize_t i, n = <Py_ssize_t>count
    cdef tuple pyargs
    cdef object item
    cdef PyObject* argv[_VECTORCALL_MAX]
    cdef Py_ssize_t filled = 0  # argv[:filled] hold references
    try:
        if n <= _VECTORCALL_MAX:
            # The hot path of every callback: the arguments in a C array, called through
            # vectorcall (no tuple).
            while filled < n:
                item = val_to_py(args[filled], None)
                Py_INCREF(item)
                argv[filled] = <PyObject*>item
                filled += 1
            value = PyObject_Vectorcall(<object>fn, argv, n, NULL)
            for i in range(filled):
                Py_XDECREF(argv[i])
            filled = 0
        else:
            pyargs = PyTuple_New(n)
            for i in range(n):
                item = val_to_py(args[i], None)
                Py_INCREF(item)
                PyTuple_SET_ITEM(pyargs, i, item)
            value = (<object>fn)(*pyargs)
        py_to_val(value, result, None, 0)
        return True
    except BaseException as exc:
        for i in range(filled):
            Py_XDECREF(argv[i])
        exception_to_failure(exc, failure)
        return False


cdef void _host_call_async(void* fn, Val* args, size_t count, const PromiseTicket& ticket) noexcept nogil:
    if python_finalizing():
        return
    with gil:
        _call_host_async(fn, args, count, ticket)


cdef void _call_host_async(void* fn, Val* args, size_t count, const PromiseTicket& ticket) noexcept:
    cdef size_t i
    cdef _Ticket settle = _Ticket.__new__(_Ticket)
    settle.ticket = ticket
    try:
        pyargs = [val_to_py(args[i], None) for i in range(count)]
        (<Callback>fn)._start(pyargs, settle)
    except BaseException as exc:
        settle(False, exc)


cdef cbool _host_reference(void* obj, RefMethod method, vector[Val]& args, Val* result,
                           Failure* failure) noexcept nogil:
    if python_finalizing():
        failure.kind = FailKind.kInternal
        failure.message.assign(<const char*>"The Python interpreter is shutting down")
        return False
    with gil:
        return _call_reference(obj, method, args, result, failure)


cdef cbool _call_reference(void* obj, RefMethod method, vector[Val]& args, Val* result,
                           Failure* failure) noexcept:
    cdef size_t i
    try:
        pyargs = [val_to_py(args[i], None) for i in range(args.size())]
        value = (<Reference>obj)._host_method(<int>method, pyargs)
        py_to_val(value, result, None, 0)
        return True
    except BaseException as exc:
        exception_to_failure(exc, failure)
        return False


cdef void _host_settled(void* waiter, Val* value, Failure* failure) noexcept nogil:
    if python_finalizing():
        return
    with gil:
        _settle_waiter(waiter, value, failure)


cdef void _settle_waiter(void* waiter, Val* value, Failure* failure) noexcept:
    obj = <object>waiter
    Py_DECREF(obj)  # the engine's reference; `obj` holds its own
    try:
        if value != NULL:
            outcome = (True, val_to_py(value[0], obj.isolate))
        else:
            outcome = (False, failure_to_exception(failure[0], obj.isolate))
    except BaseException as exc:
        outcome = (False, exc)
    obj.settle(*outcome)


cdef void _host_release(void* obj) noexcept nogil:
    if python_finalizing():
        return  # leaked on purpose: taking the GIL during finalisation ends the thread
    with gil:
        Py_DECREF(<object>obj)


cdef void _host_catastrophic(const char* message) noexcept with gil:
    text = message.decode("utf-8", "replace")
    for callback in list(_catastrophic_callbacks):
        try:
            callback(text)
        except BaseException:  # the process is about to abort; nothing may stop the others
            traceback.print_exc()


_catastrophic_callbacks = []


cdef void _host_inspector(void* sink, int call_id, cbool notification, const char* data,
                          size_t length, cbool utf16) noexcept nogil:
    if python_finalizing():
        return
    with gil:
        (<_InspectorSink>sink).deliver(call_id, notification, data, length, utf16)

cdef HostHooks _hooks
call_impl = _call_host
_hooks.call = call_trampoline
_hooks.call_async = _host_call_async
_hooks.reference = _host_reference
_hooks.settled = _host_settled
_hooks.release = _host_release
_hooks.catastrophic = _host_catastrophic
_hooks.inspector = _host_inspector
SetHostHooks(_hooks)
