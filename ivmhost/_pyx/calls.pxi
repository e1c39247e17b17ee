# Running ops: the sync, async and ignored variants of every method share one op-building body
# and go through these three functions.

cdef class _OpBox:
    """Keeps an op alive while an async call waits for it."""
    cdef shared_ptr[Op] op


cdef inline int run_sync(Isolate isolate, shared_ptr[Op]& op) except -1:
    cdef IsolateHandle* handle = isolate._handle.get()
    cdef Op* raw = op.get()
    with nogil:
        handle.RunSync(raw[0])
    if raw.failure.kind != FailKind.kNone:
        raise_failure(raw.failure, isolate)
    return 0


cdef void _on_done(void* arg) noexcept with gil:
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
    ticket = isolate._handle.get().Post(box.op, _on_done, <void*>waker)
    try:
        await waker.wait()
    except BaseException:
        isolate._handle.get().Cancel(ticket)
        raise
    if box.op.get().failure.kind != FailKind.kNone:
        raise_failure(box.op.get().failure, isolate)


cdef int post_ignored(Isolate isolate, shared_ptr[Op] op) except -1:
    isolate._handle.get().Post(op, NULL, NULL)
    return 0


cdef double timeout_ms(object timeout) except -1:
    if timeout is None:
        return 0
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of milliseconds, not {type(timeout).__name__}")
    if timeout < 0:
        raise ValueError(f"timeout must be >= 0 milliseconds, not {timeout}")
    return timeout


cdef int source_arg(Isolate isolate, object code, StrArg* out) except -1:
    if not isinstance(code, str):
        raise TypeError(f"code must be a str, not {type(code).__name__}")
    limit = isolate.memory_limit * 1024 * 1024 // 8
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
