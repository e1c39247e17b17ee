# Reference: a handle to a value that stays where it is — a JavaScript value inside its isolate,
# or a Python object lent to JavaScript.

_PRIMITIVES = (type(None), bool, int, float, str, UndefinedType)


cdef str python_typeof(object value):
    if value is undefined:
        return "undefined"
    if value is None:
        return "object"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "function" if callable(value) else "object"


cdef class _DerefInto:
    """The single-use result of :meth:`Reference.deref_into`: passes the value itself."""

    cdef Reference _reference
    cdef bint _used
    cdef bint _release

    cdef int _to_val(self, Val* out, Isolate isolate) except -1:
        if self._used:
            raise TypeError("The return value of `derefInto()` should only be used once")
        if self._reference._isolate is not isolate:
            raise TransferError("Cannot dereference this into a different isolate")
        out.kind = ValKind.kDerefInto
        out.handle = self._reference._checked_id()
        self._used = True
        return 0


cdef class Reference(_Handle):
    """A handle to a value that stays where it is (isolated-vm's ``Reference``).

    ``Reference(obj)`` lends a Python object to JavaScript: passed into an isolate it arrives as
    an object with isolated-vm's camelCase methods (``applySync``, ``getSync``, ``copySync``...),
    so plugin code can call a Python function or read a Python object through it. References to
    JavaScript values come back from ``get_sync`` and from calls made with ``reference=True``.

    ``get``/``set``/``delete`` see own properties only unless ``unsafe_inherit``; getters and
    proxies are refused ("Property is getter", "Object is or has proxy") and never run; ``set``
    makes an own data property and never calls a setter.
    """

    cdef readonly str typeof
    cdef object _value
    cdef bint _host
    cdef bint _unsafe_inherit

    def __init__(self, value, *, unsafe_inherit=False):
        self._value = value
        self._host = True
        self._unsafe_inherit = bool(unsafe_inherit)
        self.typeof = python_typeof(value)

    cdef _bind_ref(self, Isolate isolate, uint64_t handle_id, str typeof):
        self._bind(isolate, handle_id)
        self.typeof = typeof

    def __repr__(self):
        where = "python" if self._host else "javascript"
        state = "released" if self._released else self.typeof
        return f"<ivmhost.Reference {where} {state}>"

    cdef uint64_t _checked_id(self) except 0:
        if self._released:
            raise ReleasedError("Reference has been released")
        return self._id

    cdef int _check_host(self) except -1:
        if self._released:
            raise ReleasedError("Reference has been released")
        return 0

    cdef int _to_val(self, Val* out, Isolate isolate) except -1:
        if self._host:
            self._check_host()
            out.kind = ValKind.kHostReference
            Py_INCREF(self)
            out.host.reset(new HostFunction(<void*>self))
            out.text = self.typeof.encode("ascii")
            return 0
        if self._isolate is not isolate:
            raise TransferError("A Reference from another isolate cannot be passed here")
        out.kind = ValKind.kReference
        out.handle = self._checked_id()
        out.text = self.typeof.encode("ascii")
        return 0

    def release(self):
        """Release the reference; using it afterwards raises ReleasedError."""
        if self._host:
            self._released = True
            self._value = None
        else:
            self._drop()

    # -- deref and copy --------------------------------------------------------------------

    def deref(self, *, release=False):
        """The value itself: only for a Reference to a Python object (JavaScript values stay in
        their isolate; use :meth:`copy_sync` or :meth:`deref_into`)."""
        if not self._host:
            raise TypeError("Cannot dereference this from current isolate")
        self._check_host()
        value = self._value
        if release:
            self.release()
        return value

    def deref_into(self, *, release=False):
        """A single-use value that, passed into this Reference's isolate, is the value itself."""
        if self._host:
            raise TypeError("Cannot dereference this into an isolate: it is a Python object")
        self._checked_id()
        cdef _DerefInto into = _DerefInto.__new__(_DerefInto)
        into._reference = self
        return into

    cdef object _host_copy(self):
        cdef Val v
        self._check_host()
        py_to_val(self._value, &v, None, 0)
        return val_to_py(v, None)

    def copy_sync(self):
        """A copy of the referenced value (TransferError if it cannot be copied)."""
        cdef shared_ptr[Op] op
        if self._host:
            return self._host_copy()
        op = MakeReferenceCopy(self._checked_id())
        run_sync(self._isolate, op)
        return val_to_py(op.get().result, self._isolate)

    async def copy(self):
        """Async twin of :meth:`copy_sync`."""
        if self._host:
            return self._host_copy()
        box = box_op(MakeReferenceCopy(self._checked_id()))
        await await_op(self._isolate, box)
        return val_to_py((<_OpBox>box).op.get().result, self._isolate)

    # -- properties ------------------------------------------------------------------------

    cdef shared_ptr[Op] _get_op(self, key) except *:
        cdef Val k
        py_to_val(key, &k, self._isolate, 0)
        return MakeReferenceGet(self._checked_id(), move(k), ResultMode.kPrimitiveOrReference,
                                self._unsafe_inherit)

    cdef shared_ptr[Op] _set_op(self, key, value) except *:
        cdef Val k, v
        py_to_val(key, &k, self._isolate, 0)
        py_to_val(value, &v, self._isolate, 0)
        return MakeReferenceSet(self._checked_id(), move(k), move(v))

    cdef shared_ptr[Op] _delete_op(self, key) except *:
        cdef Val k
        py_to_val(key, &k, self._isolate, 0)
        return MakeReferenceDelete(self._checked_id(), move(k))

    def get_sync(self, key):
        """The property ``key``: a copy if primitive, else a new Reference."""
        cdef shared_ptr[Op] op
        if self._host:
            return self._host_method(<int>RefMethod.kGetSync, [key])
        op = self._get_op(key)
        run_sync(self._isolate, op)
        return val_to_py(op.get().result, self._isolate)

    async def get(self, key):
        """Async twin of :meth:`get_sync`."""
        if self._host:
            return self._host_method(<int>RefMethod.kGetSync, [key])
        box = box_op(self._get_op(key))
        await await_op(self._isolate, box)
        return val_to_py((<_OpBox>box).op.get().result, self._isolate)

    def set_sync(self, key, value):
        """Create or overwrite the own data property ``key`` with a copy of ``value``."""
        cdef shared_ptr[Op] op
        if self._host:
            return self._host_method(<int>RefMethod.kSetSync, [key, value])
        op = self._set_op(key, value)
        run_sync(self._isolate, op)
        return True

    async def set(self, key, value):
        """Async twin of :meth:`set_sync`."""
        if self._host:
            return self._host_method(<int>RefMethod.kSetSync, [key, value])
        box = box_op(self._set_op(key, value))
        await await_op(self._isolate, box)
        return True

    def set_ignored(self, key, value):
        """Queue a set; returns None at once and drops any error."""
        if self._host:
            self._host_method(<int>RefMethod.kSetSync, [key, value])
            return None
        post_ignored(self._isolate, self._set_op(key, value))

    def delete_sync(self, key):
        """Delete the property ``key``; True if it is gone."""
        cdef shared_ptr[Op] op
        if self._host:
            return self._host_method(<int>RefMethod.kDeleteSync, [key])
        op = self._delete_op(key)
        run_sync(self._isolate, op)
        return op.get().result.boolean

    async def delete(self, key):
        """Async twin of :meth:`delete_sync`."""
        if self._host:
            return self._host_method(<int>RefMethod.kDeleteSync, [key])
        box = box_op(self._delete_op(key))
        await await_op(self._isolate, box)
        return (<_OpBox>box).op.get().result.boolean

    def delete_ignored(self, key):
        """Queue a delete; returns None at once and drops any error."""
        if self._host:
            self._host_method(<int>RefMethod.kDeleteSync, [key])
            return None
        post_ignored(self._isolate, self._delete_op(key))

    # -- apply -----------------------------------------------------------------------------

    cdef shared_ptr[Op] _apply_op(self, receiver, args, arguments, result, timeout, bint ignore) except *:
        cdef Val recv
        cdef vector[Val] argv
        cdef Py_ssize_t i
        if not isinstance(args, (list, tuple)):
            raise TypeError(f"args must be a list or tuple, not {type(args).__name__}")
        py_to_val(receiver, &recv, self._isolate, 0)
        argv.resize(len(args))
        for i in range(len(args)):
            arg_to_val(args[i], &argv[i], self._isolate, arguments)
        cdef ResultMode mode = ResultMode.kIgnore if ignore else result_mode(result, ResultMode.kCopyStrict)
        cdef shared_ptr[Op] op = MakeReferenceApply(self._checked_id(), move(recv), move(argv), mode)
        op.get().timeout_ms = timeout_ms(timeout)
        return op

    def apply_sync(self, receiver=None, args=(), *, arguments=None, result=None, timeout=None):
        """Call the referenced function with ``receiver`` as ``this``; return its result.

        ``arguments`` and ``result`` take :class:`TransferOptions`; ``timeout`` is in ms.
        """
        if self._host:
            return self._host_apply(args)
        return call_sync(self._isolate, self._apply_op(receiver, args, arguments, result, timeout, False), result, None)

    async def apply(self, receiver=None, args=(), *, arguments=None, result=None, timeout=None):
        """Async twin of :meth:`apply_sync`."""
        if self._host:
            return self._host_apply(args)
        return await call_async(self._isolate, box_op(self._apply_op(receiver, args, arguments, result, timeout, False)), result)

    def apply_ignored(self, receiver=None, args=(), *, arguments=None, timeout=None, on_error=None):
        """Queue a call; returns None at once and drops the result. Errors are dropped too,
        unless ``on_error(exception)`` is given: it runs on the isolate's thread, after the call."""
        if self._host:
            self._host_apply(args)
            return None
        if on_error is not None and not callable(on_error):
            raise TypeError(f"on_error must be callable, not {type(on_error).__name__}")
        post_ignored(self._isolate, self._apply_op(receiver, args, arguments, None, timeout, True), on_error)

    def apply_sync_promise(self, receiver=None, args=(), *, arguments=None, result=None, timeout=None):
        """Call the function and block until the promise it returns settles; return its value.

        It waits for the isolate, so it may not be called from a thread running an event loop
        ("This function may not be called from the default thread").
        """
        if self._host:
            return self._host_apply(args)
        options = TransferOptions(copy=result.copy, external_copy=result.external_copy,
                                  reference=result.reference, promise=True) if result is not None \
            else _PROMISE_ONLY
        return call_sync(self._isolate, self._apply_op(receiver, args, arguments, options, timeout, False), options, timeout)

    cdef object _host_apply(self, args):
        self._check_host()
        if not callable(self._value):
            raise TypeError("Reference is not a function")
        return self._value(*args)

    # -- the JavaScript side's methods on a Python object ------------------------------------

    def _host_method(self, int method, list args):
        """Runs a Reference method that JavaScript (or Python) called on a lent Python object."""
        self._check_host()
        value = self._value
        if method in (<int>RefMethod.kApply, <int>RefMethod.kApplySync, <int>RefMethod.kApplyIgnored,
                      <int>RefMethod.kApplySyncPromise):
            if not callable(value):
                raise TypeError("Reference is not a function")
            return value(*args)
        if method in (<int>RefMethod.kCopy, <int>RefMethod.kCopySync):
            return self._host_copy()
        key = args[0] if args else undefined
        if method in (<int>RefMethod.kGet, <int>RefMethod.kGetSync):
            return host_expose(host_get(value, key))
        if method in (<int>RefMethod.kSet, <int>RefMethod.kSetSync, <int>RefMethod.kSetIgnored):
            host_set(value, key, args[1] if len(args) > 1 else undefined)
            return True
        if method in (<int>RefMethod.kDelete, <int>RefMethod.kDeleteSync, <int>RefMethod.kDeleteIgnored):
            return host_delete(value, key)
        raise TypeError("Cannot dereference this from current isolate")


# What a plugin may never reach through a lent object: the interpreter's own machinery. From any
# of these, public attributes lead to frames, globals and builtins (exec, open, __import__).
_UNREACHABLE = (
    types.ModuleType, type, types.FrameType, types.CodeType, types.TracebackType,
    types.GeneratorType, types.CoroutineType, types.AsyncGeneratorType, types.CellType,
    types.MappingProxyType,
)


cdef object host_expose(object found):
    """A value read from a lent object: primitives are copied, other objects lent in turn —
    except the interpreter's machinery, which is refused."""
    if isinstance(found, _PRIMITIVES):
        return found
    if isinstance(found, _UNREACHABLE) or inspect.isframe(found) or inspect.iscode(found):
        raise TypeError(f"A {type(found).__name__} cannot be reached from JavaScript")
    return Reference(found)


cdef object host_get(object obj, object key):
    """Reading a lent Python object: items of mappings and sequences, public attributes."""
    if isinstance(obj, Mapping):
        return obj.get(key, undefined)
    if isinstance(obj, Sequence) and not isinstance(obj, (str, bytes)) and isinstance(key, int):
        return obj[key] if -len(obj) <= key < len(obj) else undefined
    if isinstance(key, str) and not key.startswith("_"):
        return getattr(obj, key, undefined)
    return undefined


cdef int host_set(object obj, object key, object value) except -1:
    if isinstance(obj, MutableMapping):
        obj[key] = value
    elif isinstance(obj, MutableSequence) and isinstance(key, int):
        obj[key] = value
    elif isinstance(key, str) and not key.startswith("_"):
        setattr(obj, key, value)
    else:
        raise TypeError(f"Cannot set {key!r} on a {type(obj).__name__}")
    return 0


cdef bint host_delete(object obj, object key) except -1:
    if isinstance(obj, MutableMapping):
        return obj.pop(key, undefined) is not undefined
    if isinstance(key, str) and not key.startswith("_") and hasattr(obj, key):
        delattr(obj, key)
        return True
    return False


_PROMISE_ONLY = TransferOptions(promise=True)  # the options of most apply_sync_promise calls
