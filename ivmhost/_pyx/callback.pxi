# Callback: a Python callable JavaScript can call.

cdef class _Ticket:
    """Settles the JavaScript promise an async Callback returned (once)."""

    cdef PromiseTicket ticket
    cdef bint _done

    def __call__(self, ok, value):
        cdef Val v
        cdef Failure f
        if self._done:
            return
        self._done = True
        if ok:
            try:
                py_to_val(value, &v, None, 0)
            except Exception as exc:
                ok, value = False, exc
        if not ok:
            exception_to_failure(value, &f, True)
        SettleHostPromise(self.ticket, move(v), move(f))


cdef class Callback:
    """A Python callable as a JavaScript function (isolated-vm's ``Callback``).

    Arguments are copied in and the result copied out; plain callables passed to JavaScript are
    wrapped this way automatically. With ``async_=True`` JavaScript gets a Promise at once and
    ``fn`` (which may be ``async def``) runs on the event loop that was running when the Callback
    was made, or on a worker thread when there was none. With ``ignored=True`` JavaScript gets
    ``undefined`` and the result and errors are dropped. A Python exception becomes a JavaScript
    Error naming the exception; uncaught, it reaches Python as JSError with the original as
    ``__cause__``.
    """

    cdef readonly object fn
    cdef readonly bint async_
    cdef readonly bint ignored
    cdef readonly bint sync
    cdef object _runner
    cdef object _awaitable

    def __init__(self, fn, *, async_=False, ignored=False, sync=False):
        if not callable(fn):
            raise TypeError(f"Callback needs a callable, not {type(fn).__name__}")
        if bool(async_) + bool(ignored) + bool(sync) > 1:
            raise ValueError("choose at most one of async_, ignored and sync")
        self.fn = fn
        self.async_ = bool(async_)
        self.ignored = bool(ignored)
        self.sync = not (self.async_ or self.ignored)
        self._runner = current_runner() if self.async_ else None

    def __repr__(self):
        mode = "async" if self.async_ else "ignored" if self.ignored else "sync"
        return f"<ivmhost.Callback {mode} {getattr(self.fn, '__name__', self.fn)!r}>"

    def __call__(self, *args):
        return self.fn(*args)

    cdef int _flags(self):
        if self._awaitable is not None:
            return kHostPromise
        return kHostAsync if self.async_ else kHostIgnored if self.ignored else kHostSync

    def _start(self, list args, settle):
        if self._awaitable is not None:
            awaitable, self._awaitable = self._awaitable, False  # awaited once
            start_host_call(_awaiting, [awaitable], settle, self._runner)
        else:
            start_host_call(self.fn, args, settle, self._runner)


async def _awaiting(awaitable):
    return await awaitable


cdef Callback promise_of(object awaitable):
    """A Python awaitable passed with promise=True: JavaScript gets a promise of its result."""
    cdef Callback cb = Callback(_awaiting, async_=True)
    cb._awaitable = awaitable
    return cb
