# Inspector sessions: the Chrome DevTools Protocol on an isolate made with inspector=True.

_inspector_log = logging.getLogger("ivmhost.inspector")


cdef class _InspectorSink:
    """Where the engine delivers a session's messages. It holds the callbacks (and nothing else),
    so the engine's reference to it keeps no session or isolate alive."""

    cdef object on_response
    cdef object on_notification

    cdef void deliver(self, int call_id, bint notification, const char* data, size_t length,
                      bint utf16) noexcept:
        cdef int little = -1
        callback = self.on_notification if notification else self.on_response
        if callback is None:
            return
        try:
            # C decoders: no Python frame where a Ctrl-C could land outside the handler below.
            if utf16:
                message = PyUnicode_DecodeUTF16(data, <Py_ssize_t>length, "replace", &little)
            else:
                message = PyUnicode_DecodeUTF8(data, <Py_ssize_t>length, "replace")
            if notification:
                callback(message)
            else:
                callback(call_id, message)
        except KeyboardInterrupt:
            # Ctrl-C landed in the callback: pass it on as if pressed again (Python's handler
            # and the engine's stop the running call; the caller gets KeyboardInterrupt).
            os.kill(os.getpid(), signal.SIGINT)
        except BaseException:  # the isolate's thread must go on; the error is the callback's
            _inspector_log.exception("An inspector session callback raised")


def _check_callback(name, value):
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be callable or None, not {type(value).__name__}")
    return value


cdef class InspectorSession:
    """A Chrome DevTools Protocol session on an isolate (isolated-vm's ``createInspectorSession()``).

    Messages sent with :meth:`dispatch_protocol_message` are queued, never waited for: the isolate
    handles them as soon as it can (between statements of running JavaScript, on its own thread
    when idle, or in the debugger's pause loop). Replies arrive through the callbacks, on the
    thread that runs the isolate, while it is locked: they must return quickly and never wait for
    the isolate (hand the message to a queue). While JavaScript is paused at a breakpoint, the
    thread that ran it waits for a resume, so the protocol must be driven from another thread.
    """

    cdef shared_ptr[CInspectorSession] _session
    cdef _InspectorSink _sink
    cdef readonly Isolate isolate

    def __init__(self):
        raise TypeError("Use Isolate.create_inspector_session() to open an inspector session")

    @staticmethod
    cdef InspectorSession _open(Isolate isolate):
        cdef InspectorSession self = InspectorSession.__new__(InspectorSession)
        cdef Failure failure
        cdef IsolateHandle* handle = isolate._h()
        cdef void* sink
        self.isolate = isolate
        self._sink = _InspectorSink()
        sink = <void*>self._sink
        Py_INCREF(self._sink)  # owned by the engine from here on, released on its side
        with nogil:
            self._session = NewInspectorSession(handle[0], sink, &failure)
        if not self._session:
            raise_failure(failure, isolate)
        return self

    def __dealloc__(self):
        cdef CInspectorSession* session = self._session.get()
        if session != NULL:
            with nogil:
                session.Dispose()

    def __repr__(self):
        return f"<ivmhost.InspectorSession {'disposed' if self.is_disposed else 'open'}>"

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.dispose()

    @property
    def on_response(self):
        """``callback(call_id, message)``: the reply (JSON text) to the request with that ``id``."""
        return self._sink.on_response

    @on_response.setter
    def on_response(self, value):
        self._sink.on_response = _check_callback("on_response", value)

    @property
    def on_notification(self):
        """``callback(message)``: a protocol event (JSON text), e.g. ``Debugger.paused``."""
        return self._sink.on_notification

    @on_notification.setter
    def on_notification(self, value):
        self._sink.on_notification = _check_callback("on_notification", value)

    @property
    def is_disposed(self):
        """True once :meth:`dispose` ran or the isolate went away."""
        return self._session.get().IsDisposed() or self.isolate._h().IsDisposed()

    def dispatch_protocol_message(self, message):
        """Send one protocol message (JSON text, e.g. ``{"id": 1, "method": "Runtime.enable"}``)."""
        cdef StrArg arg
        cdef Failure failure
        cdef cbool ok
        cdef CInspectorSession* session = self._session.get()
        if isinstance(message, (bytes, bytearray, memoryview)):
            message = bytes(message).decode("utf-8")
        elif not isinstance(message, str):
            raise TypeError(f"message must be a str of JSON, not {type(message).__name__}")
        if session.IsDisposed():
            raise IvmhostError("This inspector session is disposed: open a new one with create_inspector_session()")
        str_to_arg(message, &arg)
        with nogil:
            ok = session.Dispatch(arg, &failure)
        if not ok:
            raise_failure(failure, self.isolate)

    def dispose(self):
        """Close the session (the debugger detaches; paused JavaScript resumes). Idempotent."""
        cdef CInspectorSession* session = self._session.get()
        with nogil:
            session.Dispose()
