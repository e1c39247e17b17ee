# Module: an ES module, linked through a resolver and evaluated with top-level await.

cdef shared_ptr[HostFunction] host_function(object fn):
    """A Python callable the engine may call (the reference is released through the hooks)."""
    cdef shared_ptr[HostFunction] out
    Py_INCREF(fn)
    out.reset(new HostFunction(<void*>fn))
    return out


cdef class Module(_Compiled):
    """An ES module (isolated-vm's ``Module``), made by :meth:`Isolate.compile_module_sync`.

    Link it with :meth:`instantiate_sync` (a resolver maps each import specifier to a Module of
    the same isolate), run it with :meth:`evaluate_sync` (top-level await included), and read its
    exports through :attr:`namespace`, a Reference that sees live bindings.
    """

    cdef readonly tuple dependency_specifiers
    cdef object __weakref__

    @staticmethod
    cdef Module _wrap(Isolate isolate, Op* op):
        cdef Module module = Module.__new__(Module)
        module._bind(isolate, op.result.handle)
        module.dependency_specifiers = tuple(val_to_py(op.result.items[i], None) for i in range(op.result.items.size()))
        isolate._modules[op.result.handle] = module
        module._attach_cache(op)
        return module

    def __init__(self):
        raise TypeError("modules are made by Isolate.compile_module() or compile_module_sync()")

    def __repr__(self):
        return f"<ivmhost.Module {'released' if self._released else 'id=%d' % self._id}>"

    cdef uint64_t _checked_id(self) except 0:
        if self._released:
            raise ReleasedError("Module has been released")
        return self._id

    def release(self):
        """Release the module; using it afterwards raises ReleasedError."""
        self._drop()

    # -- instantiate -----------------------------------------------------------------------

    cdef object _sync_resolver(self, resolve):
        isolate = self._isolate

        def resolver(specifier, referrer_id):
            referrer = isolate._modules.get(int(referrer_id))
            try:
                dependency = resolve(specifier, referrer)
            except Exception as exc:
                raise IvmhostError(f"Resolving '{specifier}' failed: {type(exc).__name__}: {exc}") from exc
            if inspect.isawaitable(dependency):
                if inspect.iscoroutine(dependency):
                    dependency.close()
                raise TypeError(f"The resolver returned an awaitable for '{specifier}': use instantiate(), the async form")
            return checked_dependency(isolate, specifier, dependency)

        return resolver

    cdef shared_ptr[Op] _instantiate_op(self, context, resolver) except *:
        if not isinstance(context, Context):
            raise TypeError(f"context must be an ivmhost.Context, not {type(context).__name__}")
        if (<Context>context)._isolate is not self._isolate:
            raise ValueError("The context belongs to another isolate")
        if not callable(resolver):
            raise TypeError("resolve must be a callable (specifier, referrer) -> Module")
        return MakeInstantiateModule(self._checked_id(), (<Context>context)._checked_id(), host_function(resolver))

    def instantiate_sync(self, context, resolve):
        """Link the module (and, through ``resolve(specifier, referrer)``, its dependencies) in
        ``context``. A failed link can be retried; instantiating again after success does
        nothing."""
        cdef shared_ptr[Op] op = self._instantiate_op(context, self._sync_resolver(resolve))
        run_sync(self._isolate, op)

    async def instantiate(self, context, resolve):
        """Async twin of :meth:`instantiate_sync`; ``resolve`` may return an awaitable."""
        isolate = self._isolate
        table = {}
        pending = [self]
        seen = set()
        while pending:
            module = pending.pop()
            if (<Module>module)._id in seen:
                continue
            seen.add((<Module>module)._id)
            for specifier in module.dependency_specifiers:
                try:
                    dependency = resolve(specifier, module)
                    if inspect.isawaitable(dependency):
                        dependency = await dependency
                except Exception as exc:
                    raise IvmhostError(f"Resolving '{specifier}' failed: {type(exc).__name__}: {exc}") from exc
                checked_dependency(isolate, specifier, dependency)
                table[((<Module>module)._id, specifier)] = dependency
                pending.append(dependency)

        def resolver(specifier, referrer_id):
            return checked_dependency(isolate, specifier, table.get((int(referrer_id), specifier)))

        await await_op(self._isolate, box_op(self._instantiate_op(context, resolver)))

    # -- evaluate and namespace ------------------------------------------------------------

    cdef shared_ptr[Op] _evaluate_op(self, timeout) except *:
        cdef shared_ptr[Op] op = MakeEvaluateModule(self._checked_id())
        op.get().timeout_ms = timeout_ms(timeout)
        return op

    def evaluate_sync(self, *, timeout=None):
        """Run the module, waiting for its top-level await; errors keep the module's filename."""
        call_sync(self._isolate, self._evaluate_op(timeout), TransferOptions(promise=True), timeout)

    async def evaluate(self, *, timeout=None):
        """Async twin of :meth:`evaluate_sync`."""
        await call_async(self._isolate, box_op(self._evaluate_op(timeout)), TransferOptions(promise=True))

    @property
    def namespace(self):
        """A Reference to the module's namespace (its exports, live)."""
        cdef shared_ptr[Op] op = MakeModuleNamespace(self._checked_id())
        run_sync(self._isolate, op)
        return val_to_py(op.get().result, self._isolate)


cdef uint64_t checked_dependency(Isolate isolate, object specifier, object dependency) except 0:
    if not isinstance(dependency, Module) or (<Module>dependency)._isolate is not isolate:
        raise TypeError(f"Resolved dependency was not a Module: '{specifier}'")
    return (<Module>dependency)._checked_id()


cdef object meta_filler(Isolate isolate, object meta):
    """import.meta is filled by ``meta(reference)``; the Reference is released afterwards.
    (The engine keeps this function: it holds its isolate weakly, or neither would ever go.)"""
    owner = weakref.ref(isolate)

    def fill(reference_id):
        cdef Reference ref = Reference.__new__(Reference)
        ref._bind_ref(owner(), <uint64_t>reference_id, "object")
        try:
            meta(ref)
        finally:
            ref.release()

    return fill


cdef object import_hook(Isolate isolate, object hook):
    """The isolate's import() hook: ``hook(specifier, referrer)`` returns a Module, where the
    referrer is the importing Module, or the filename of the importing script."""
    owner = weakref.ref(isolate)

    def call(specifier, referrer):
        isolate = owner()
        if isinstance(referrer, (int, float)) and not isinstance(referrer, bool):
            referrer = isolate._modules.get(int(referrer))
        try:
            module = hook(specifier, referrer)
        except Exception as exc:
            raise IvmhostError(f"Importing '{specifier}' failed: {type(exc).__name__}: {exc}") from exc
        if inspect.isawaitable(module):
            if inspect.iscoroutine(module):
                module.close()
            raise TypeError(f"The import_module hook returned an awaitable for '{specifier}'; it must return a Module")
        return checked_dependency(isolate, specifier, module)

    return call
