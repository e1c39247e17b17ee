# Handles (contexts, scripts, references) and Context.

cdef class _Handle:
    """Something the isolate holds for Python, named by an integer id."""

    cdef Isolate _isolate
    cdef uint64_t _id
    cdef bint _released

    cdef _bind(self, Isolate isolate, uint64_t handle_id):
        self._isolate = isolate
        self._id = handle_id
        isolate._refs += 1

    cdef bint _drop(self):
        """Release the handle once; False if it was already released."""
        if self._released or self._isolate is None:
            return False
        self._released = True
        self._isolate._refs -= 1
        self._isolate._handle.get().ReleaseHandle(self._id)
        return True

    def __dealloc__(self):
        if not self._released and self._isolate is not None:
            self._isolate._handle.get().ReleaseHandle(self._id)

    @property
    def isolate(self):
        """The isolate this handle belongs to."""
        return self._isolate


cdef class Context(_Handle):
    """A JavaScript global object and its builtins, inside an isolate (isolated-vm's ``Context``)."""

    cdef object _global

    @staticmethod
    cdef Context _wrap(Isolate isolate, uint64_t handle_id):
        cdef Context context = Context.__new__(Context)
        context._bind(isolate, handle_id)
        return context

    def __init__(self):
        raise TypeError("contexts are made by Isolate.create_context() or create_context_sync()")

    def __repr__(self):
        return f"<ivmhost.Context {'released' if self._released else 'id=%d' % self._id}>"

    cdef uint64_t _checked_id(self) except 0:
        if self._released:
            raise ReleasedError("Context is released")
        return self._id

    @property
    def global_(self):
        """A :class:`Reference` to this context's global object (``globalThis``)."""
        cdef shared_ptr[Op] op
        if self._global is None:
            op = MakeGlobalReference(self._checked_id())
            run_sync(self._isolate, op)
            self._global = val_to_py(op.get().result, self._isolate)
        return self._global

    def release(self):
        """Release the context; using it afterwards raises ReleasedError("Context is released")."""
        if self._global is not None:
            self._global.release()
            self._global = None
        self._drop()

    @property
    def is_released(self):
        return self._released

    # -- eval ------------------------------------------------------------------------------

    cdef shared_ptr[Op] _eval_op(self, code, timeout, filename, line_offset, column_offset, ResultMode mode) except *:
        cdef StrArg source
        cdef CompileOptions origin
        cdef uint64_t cid = self._checked_id()
        source_arg(self._isolate, code, &source)
        origin_arg(filename, line_offset, column_offset, &origin)
        cdef shared_ptr[Op] op = MakeEval(cid, move(source), move(origin), mode)
        op.get().timeout_ms = timeout_ms(timeout)
        return op

    def eval_sync(self, code, *, timeout=None, filename=None, line_offset=0, column_offset=0,
                  copy=False, external_copy=False, reference=False, promise=False):
        """Run ``code`` in this context and return its completion value.

        ``timeout`` is in milliseconds. By default the value is copied, and a value that cannot
        be copied (a function, a class instance) comes back as :data:`ivmhost.undefined`, as in
        isolated-vm; ``reference=True`` returns a :class:`Reference`, ``copy=True`` a full copy,
        ``promise=True`` waits for a promise and returns what it settles to.
        """
        options = options_of(copy, external_copy, reference, promise)
        return call_sync(self._isolate, self._eval_op(code, timeout, filename, line_offset, column_offset,
                                                      result_mode(options, ResultMode.kCopyOrUndefined)),
                         options, timeout)

    async def eval(self, code, *, timeout=None, filename=None, line_offset=0, column_offset=0,
                   copy=False, external_copy=False, reference=False, promise=False):
        """Async twin of :meth:`eval_sync`: queued on the isolate's thread, in order."""
        options = options_of(copy, external_copy, reference, promise)
        return await call_async(self._isolate, box_op(self._eval_op(
            code, timeout, filename, line_offset, column_offset, result_mode(options, ResultMode.kCopyOrUndefined))),
            options)

    def eval_ignored(self, code, *, timeout=None, filename=None, line_offset=0, column_offset=0):
        """Queue ``code`` to run; returns None at once and drops the result and any error."""
        post_ignored(self._isolate, self._eval_op(code, timeout, filename, line_offset, column_offset,
                                                  ResultMode.kIgnore))

    # -- eval_closure ----------------------------------------------------------------------

    cdef shared_ptr[Op] _closure_op(self, code, args, arguments, timeout, filename, ResultMode mode) except *:
        cdef StrArg source
        cdef CompileOptions origin
        cdef vector[Val] argv
        cdef uint64_t cid = self._checked_id()
        cdef Py_ssize_t i
        source_arg(self._isolate, code, &source)
        origin_arg(filename, 0, 0, &origin)
        if not isinstance(args, (list, tuple)):
            raise TypeError(f"args must be a list or tuple, not {type(args).__name__}")
        argv.resize(len(args))
        for i in range(len(args)):
            arg_to_val(args[i], &argv[i], self._isolate, arguments)
        cdef shared_ptr[Op] op = MakeEvalClosure(cid, move(source), move(origin), move(argv), mode)
        op.get().timeout_ms = timeout_ms(timeout)
        return op

    def eval_closure_sync(self, code, args=(), *, arguments=None, result=None, timeout=None, filename=None):
        """Run ``code`` as a function body with ``args`` as ``$0``, ``$1``...; return its result.

        Arguments are copied in (``arguments=`` and ``result=`` take :class:`TransferOptions`);
        a result that cannot be copied raises TransferError.
        """
        return call_sync(self._isolate, self._closure_op(code, args, arguments, timeout, filename,
                                                         result_mode(result, ResultMode.kCopyStrict)),
                         result, timeout)

    async def eval_closure(self, code, args=(), *, arguments=None, result=None, timeout=None, filename=None):
        """Async twin of :meth:`eval_closure_sync`."""
        return await call_async(self._isolate, box_op(self._closure_op(
            code, args, arguments, timeout, filename, result_mode(result, ResultMode.kCopyStrict))), result)

    def eval_closure_ignored(self, code, args=(), *, arguments=None, timeout=None, filename=None):
        """Queue the closure; returns None at once and drops the result and any error."""
        post_ignored(self._isolate, self._closure_op(code, args, arguments, timeout, filename, ResultMode.kIgnore))

    # -- ExternalCopy -----------------------------------------------------------------------

    def _external_copy_of(self, code, *, transfer_list=None, transfer_out=False):
        """An :class:`ExternalCopy` of the value of ``code`` (private; for tests until eval gets
        transfer options). ``transfer_list`` is JavaScript code whose value is an array of
        ArrayBuffers to move into the copy; ``transfer_out`` moves the value's own buffer."""
        return external_copy_of(self, code, transfer_list, transfer_out)

    # -- context managers ------------------------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        if not self._released:
            self.release()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc_info):
        if not self._released:
            self.release()
