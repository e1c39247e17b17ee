# Running ops: the sync, async and ignored variants of every method share one op-building body
# and go through these three functions.

cdef class _OpBox:
    """Keeps an op alive while an async call waits for it."""
    cdef shared_ptr[Op] op


cdef inline int run_sync(Isolate isolate, shared_ptr[Op]& op) except -1:
    global sync_tstate
    cdef IsolateHandle* handle = isolate._h()
    cdef Op* raw = op.get()
    cdef PyThreadState* outer = sync_tstate
    # `with nogil`, keeping the thread state where this thread's callbacks find it (failures.pxi).
    cdef PyThreadState* state = PyEval_SaveThread()
    sync_tstate = state
    handle.RunSync(raw[0])
    sync_tstate = outer
    PyEval_RestoreThread(state)
    if raw.failure.kind != FailKind.kNone:
        raise_failure(raw.failure, isolate)
    return 0


cdef void _on_done(void* arg) noexcept nogil:
    if python_finalizing():
        return  # the interpreter is going away: nobody waits, and the GIL must not be taken
    with gil:
        waker = <object>arg
        Py_DECREF(waker)
        waker.wake()


cdef object box_op(shared_ptr[Op] op):
    cdef _OpBox box = _OpBox.__new__(_OpBox)
    box.op = op
    return box


async def await_op(Isolate isolate, _OpBox box):
    """Queue `box`'s op on the isolate's executor and wait for it; cancelling stops it."""
    waker = Waker()
    Py_INCREF(waker)
    ticket = isolate._h().Post(box.op, _on_done, <void*>waker)
    try:
        await waker.wait()
    except BaseException:
        isolate._handle.get().Cancel(ticket)
        raise
    if box.op.get().failure.kind != FailKind.kNone:
        raise_failure(box.op.get().failure, isolate)


cdef class _ErrorReport:
    """Hands an ignored call's error to ``on_error`` (the engine calls ``wake`` when it is done)."""
    cdef _OpBox box
    cdef Isolate isolate
    cdef object on_error

    def wake(self):
        cdef Op* op = self.box.op.get()
        if op.failure.kind == FailKind.kNone or op.failure.kind == FailKind.kCancelled:
            return
        error = failure_to_exception(op.failure, self.isolate)
        try:
            self.on_error(error)
        except Exception as exc:
            # Nobody is waiting for this call: report like any unraisable error instead of losing it.
            sys.unraisablehook(sys.UnraisableHookArgs(type(exc), exc, exc.__traceback__, "ivmhost on_error", self.on_error))


cdef int post_ignored(Isolate isolate, shared_ptr[Op] op, object on_error=None) except -1:
    cdef _ErrorReport report
    if on_error is None:
        isolate._h().Post(op, NULL, NULL)
        return 0
    report = _ErrorReport.__new__(_ErrorReport)
    report.box = box_op(op)
    report.isolate = isolate
    report.on_error = on_error
    Py_INCREF(report)  # released by _on_done
    isolate._h().Post(op, _on_done, <void*>report)
    return 0


cdef double timeout_ms(object timeout) except -1:
    if timeout is None:
        return 0
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of milliseconds, not {type(timeout).__name__}")
    if timeout != timeout or timeout < 0:
        raise ValueError(f"timeout must be >= 0 milliseconds, not {timeout}")
    if timeout > 1e12:  # longer than 30 years (or infinite): no timeout
        return 0
    return timeout


cdef int source_arg(Isolate isolate, object code, StrArg* out) except -1:
    if not isinstance(code, str):
        raise TypeError(f"code must be a str, not {type(code).__name__}")
    limit = (<Py_ssize_t>isolate.memory_limit) * 1024 * 1024 // 8  # in C, a large limit would overflow int
    if len(code) > limit:
        raise ValueError(
            f"The source is {len(code)} characters; an isolate with memory_limit={isolate.memory_limit} "
            f"accepts at most {limit} (memory_limit/8). Raise memory_limit or split the code."
        )
    str_to_arg(code, out)
    return 0


cdef int origin_arg(object filename, object line_offset, object column_offset, CompileOptions* out) except -1:
    if filename is None:
        filename = "<ivmhost>"
    elif not isinstance(filename, str):
        raise TypeError(f"filename must be a str, not {type(filename).__name__}")
    if not isinstance(line_offset, int) or not isinstance(column_offset, int):
        raise TypeError("line_offset and column_offset must be int")
    str_to_arg(filename, &out.filename)
    out.line_offset = line_offset
    out.column_offset = column_offset
    return 0


# -- transfer options --------------------------------------------------------------------------

cdef object options_of(object copy, object external_copy, object reference, object promise):
    if not (copy or external_copy or reference or promise):
        return None
    return TransferOptions(copy=bool(copy), external_copy=bool(external_copy),
                           reference=bool(reference), promise=bool(promise))


cdef ResultMode result_mode(object options, ResultMode default) except *:
    """The ResultMode a TransferOptions asks for (its promise flag is handled by the caller)."""
    if options is None:
        return default
    if not isinstance(options, TransferOptions):
        raise TypeError(f"transfer options must be an ivmhost.TransferOptions, not {type(options).__name__}")
    if options.reference:
        return ResultMode.kReference
    if options.copy or options.external_copy:
        return ResultMode.kExternalCopy
    return default


cdef object result_to_py(Op* op, Isolate isolate, object options):
    """The op's result as Python sees it: copy=True reads the structured clone straight away."""
    if options is not None and options.copy and op.result.kind == ValKind.kExternalCopy:
        return (<ExternalCopy>ExternalCopy._wrap(op.result.copy)).copy(release=True)
    return result_value(op.result, isolate)


cdef int arg_to_val(object value, Val* out, Isolate isolate, object options) except -1:
    """An argument crossing into JavaScript under `options` (a TransferOptions or None)."""
    if options is not None:
        if not isinstance(options, TransferOptions):
            raise TypeError(f"arguments must be an ivmhost.TransferOptions, not {type(options).__name__}")
        if options.promise and inspect.isawaitable(value):
            return py_to_val(promise_of(value), out, isolate, 0)
        if options.reference and not isinstance(value, Reference):
            return py_to_val(Reference(value), out, isolate, 0)
        if options.copy and not isinstance(value, (ExternalCopy, _CopyInto)):
            # A structured clone: Map, Set, cycles and shared objects arrive as they are.
            return py_to_val(ExternalCopy(value).copy_into(release=True), out, isolate, 0)
        if options.external_copy:
            return py_to_val(value if isinstance(value, ExternalCopy) else ExternalCopy(value), out, isolate, 0)
    return py_to_val(value, out, isolate, 0)


cdef object prepare_promise(Op* op, object options, Isolate isolate, bint asynchronous):
    """With promise=True: the op awaits a promise result; returns the waiter (or None)."""
    if options is None or not options.promise:
        return None
    waiter = PromiseWaiter(isolate, asynchronous)
    op.await_promise = True
    # result_mode's rules, read from the flags directly (this runs on every awaited call).
    if options.reference:
        op.promise_mode = ResultMode.kReference
    elif options.copy or options.external_copy:
        op.promise_mode = ResultMode.kExternalCopy
    else:
        op.promise_mode = ResultMode.kCopyStrict
    Py_INCREF(waiter)
    op.waiter = <void*>waiter
    return waiter


cdef void drop_waiter(Op* op) noexcept:
    if op.waiter != NULL:
        Py_DECREF(<object>op.waiter)
        op.waiter = NULL


cdef object call_sync(Isolate isolate, shared_ptr[Op] op, object options, object timeout):
    """Run `op` on this thread; with promise=True wait (GIL released) for its promise."""
    waiter = prepare_promise(op.get(), options, isolate, False)
    try:
        run_sync(isolate, op)
    finally:
        drop_waiter(op.get())
    if op.get().result.kind != ValKind.kPending:
        return result_to_py(op.get(), isolate, options)
    if running_event_loop():
        raise _WouldBlockLoopError(
            "This function may not be called from the default thread: it would block the event "
            "loop the promise may need; await the async variant instead"
        )
    try:
        value = waiter.wait_sync(None if timeout is None else timeout / 1000)
    except TimeoutError:
        raise ScriptTimeoutError("Script execution timed out.") from None
    return settled_to_py(value, options)


cdef object settled_to_py(object value, object options):
    if options.copy and isinstance(value, ExternalCopy):
        return value.copy(release=True)
    return value


async def call_async(Isolate isolate, _OpBox box, object options):
    """Queue `box`'s op; with promise=True also await its promise."""
    waiter = prepare_promise(box.op.get(), options, isolate, True)
    try:
        await await_op(isolate, box)
    finally:
        drop_waiter(box.op.get())
    if box.op.get().result.kind != ValKind.kPending:
        return result_to_py(box.op.get(), isolate, options)
    return settled_to_py(await waiter.wait(), options)


# -- code cache (isolated-vm's cachedData) ---------------------------------------------------------

cdef int cache_arg(object cached_data, object produce_cached_data, CompileOptions* out) except -1:
    """Cache data is V8 machine code: trusted input only (V8 rejects garbage, never runs it)."""
    if cached_data is not None:
        if isinstance(cached_data, ExternalCopy):
            cached_data = cached_data.copy()
        if not isinstance(cached_data, (bytes, bytearray, memoryview)):
            raise TypeError(f"cached_data must be an ExternalCopy or bytes, not {type(cached_data).__name__}")
        raw = bytes(cached_data)
        out.consume_cache = True
        out.cached_data.assign(<const char*>raw, len(raw))
    out.produce_cache = bool(produce_cached_data)
    return 0


cdef class _Compiled(_Handle):
    """A Script or Module: compiled code, with what its code cache did."""

    cdef object _cached_data
    cdef object _cached_data_rejected

    cdef _attach_cache(self, Op* op):
        if op.result.number == 1:
            self._cached_data_rejected = op.result.boolean
        if op.result.one_byte and not op.result.data.empty():
            self._cached_data = ExternalCopy(PyBytes_FromStringAndSize(op.result.data.data(), op.result.data.size()))

    @property
    def cached_data(self):
        """The code cache produced with ``produce_cached_data=True`` (an ExternalCopy of bytes);
        absent otherwise."""
        if self._cached_data is None:
            raise AttributeError("cached_data exists only when compiled with produce_cached_data=True")
        return self._cached_data

    @property
    def cached_data_rejected(self):
        """Whether V8 refused the ``cached_data=`` given; absent when none was given."""
        if self._cached_data_rejected is None:
            raise AttributeError("cached_data_rejected exists only when compiled with cached_data=")
        return self._cached_data_rejected
