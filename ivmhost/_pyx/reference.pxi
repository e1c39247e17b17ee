# Reference: a handle to a JavaScript value that stays in its isolate.

cdef class Reference(_Handle):
    """A handle to a value inside an isolate (isolated-vm's ``Reference``).

    ``get``/``set``/``delete`` work on the value's own properties: getters and proxies are
    refused, setters never run.
    """

    cdef readonly str typeof

    cdef _bind_ref(self, Isolate isolate, uint64_t handle_id, str typeof):
        self._bind(isolate, handle_id)
        self.typeof = typeof

    def __init__(self, *args, **kwargs):
        raise NotImplementedError("Reference(value) arrives with the handles issue; use context.global_")

    def __repr__(self):
        return f"<ivmhost.Reference {self.typeof} {'released' if self._released else 'id=%d' % self._id}>"

    cdef uint64_t _checked_id(self) except 0:
        if self._released:
            raise ReleasedError("Reference has been released")
        return self._id

    def release(self):
        """Release the reference; using it afterwards raises ReleasedError."""
        self._drop()

    cdef shared_ptr[Op] _get_op(self, key) except *:
        cdef Val k
        py_to_val(key, &k, self._isolate, 0)
        return MakeReferenceGet(self._checked_id(), move(k), ResultMode.kPrimitiveOrReference)

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
        """The value's own property ``key``: a copy if primitive, else a new Reference."""
        cdef shared_ptr[Op] op = self._get_op(key)
        run_sync(self._isolate, op)
        return val_to_py(op.get().result, self._isolate)

    async def get(self, key):
        """Async twin of :meth:`get_sync`."""
        box = box_op(self._get_op(key))
        await await_op(self._isolate, box)
        return val_to_py((<_OpBox>box).op.get().result, self._isolate)

    def set_sync(self, key, value):
        """Create or overwrite the own data property ``key`` with a copy of ``value``."""
        cdef shared_ptr[Op] op = self._set_op(key, value)
        run_sync(self._isolate, op)
        return True

    async def set(self, key, value):
        """Async twin of :meth:`set_sync`."""
        box = box_op(self._set_op(key, value))
        await await_op(self._isolate, box)
        return True

    def set_ignored(self, key, value):
        """Queue a set; returns None at once and drops any error."""
        post_ignored(self._isolate, self._set_op(key, value))

    def delete_sync(self, key):
        """Delete the property ``key``; True if it is gone."""
        cdef shared_ptr[Op] op = self._delete_op(key)
        run_sync(self._isolate, op)
        return op.get().result.boolean

    async def delete(self, key):
        """Async twin of :meth:`delete_sync`."""
        box = box_op(self._delete_op(key))
        await await_op(self._isolate, box)
        return (<_OpBox>box).op.get().result.boolean

    def delete_ignored(self, key):
        """Queue a delete; returns None at once and drops any error."""
        post_ignored(self._isolate, self._delete_op(key))
