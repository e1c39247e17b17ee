# Script: code compiled once, run in any context of its isolate.

cdef class Script(_Compiled):
    """Compiled code (isolated-vm's ``Script``); run it with :meth:`run_sync` in any context."""

    @staticmethod
    cdef Script _wrap(Isolate isolate, Op* op):
        cdef Script script = Script.__new__(Script)
        script._bind(isolate, op.result.handle)
        script._attach_cache(op)
        return script

    def __init__(self):
        raise TypeError("scripts are made by Isolate.compile_script() or compile_script_sync()")

    def __repr__(self):
        return f"<ivmhost.Script {'released' if self._released else 'id=%d' % self._id}>"

    def release(self):
        """Release the compiled script; running it afterwards raises ReleasedError."""
        self._drop()

    cdef shared_ptr[Op] _run_op(self, context, timeout, release, ResultMode mode) except *:
        if self._released:
            raise ReleasedError("Script has been released")
        if not isinstance(context, Context):
            raise TypeError(f"context must be an ivmhost.Context, not {type(context).__name__}")
        if (<Context>context)._isolate is not self._isolate:
            raise ValueError("The context belongs to another isolate; a Script runs only in contexts of the isolate that compiled it")
        cdef uint64_t cid = (<Context>context)._checked_id()
        cdef shared_ptr[Op] op = MakeRunScript(self._id, cid, bool(release), mode)
        op.get().timeout_ms = timeout_ms(timeout)
        if release:
            self._released = True
            self._isolate._refs -= 1
        return op

    def run_sync(self, context, *, timeout=None, release=False, copy=False, external_copy=False,
                 reference=False, promise=False):
        """Run the script in ``context``; returns its completion value (see Context.eval_sync)."""
        options = options_of(copy, external_copy, reference, promise)
        return call_sync(self._isolate, self._run_op(context, timeout, release,
                                                     result_mode(options, ResultMode.kCopyOrUndefined)),
                         options, timeout)

    async def run(self, context, *, timeout=None, release=False, copy=False, external_copy=False,
                  reference=False, promise=False):
        """Async twin of :meth:`run_sync`."""
        options = options_of(copy, external_copy, reference, promise)
        return await call_async(self._isolate, box_op(self._run_op(
            context, timeout, release, result_mode(options, ResultMode.kCopyOrUndefined))), options)

    def run_ignored(self, context, *, timeout=None, release=False):
        """Queue a run; returns None at once and drops the result and any error."""
        post_ignored(self._isolate, self._run_op(context, timeout, release, ResultMode.kIgnore))
