# Isolate: one V8 isolate with its own heap, limits, executor thread and handles.

cdef class Isolate:
    """A V8 isolate: its own heap, garbage collector and limits (isolated-vm's ``Isolate``).

    ``memory_limit`` is in MB (minimum 8) and covers the heap and ArrayBuffer memory; when it is hit
    the isolate is disposed and its calls raise :class:`MemoryLimitError`. Use it as a context
    manager (sync or async) to dispose it on exit::

        with ivmhost.Isolate(memory_limit=32) as isolate:
            context = isolate.create_context_sync()
            assert context.eval_sync("6 * 7") == 42
    """

    cdef shared_ptr[IsolateHandle] _handle
    cdef readonly int memory_limit
    cdef readonly bint inspector
    cdef int _refs
    cdef object __weakref__
    cdef readonly object _modules  # module id -> Module, for resolvers (weak)
    cdef object _import_module

    cdef IsolateHandle* _h(self) except NULL:
        """The engine's isolate; an Isolate made without __init__ has none."""
        cdef IsolateHandle* handle = self._handle.get()
        if handle == NULL:
            raise IvmhostError("This Isolate was never initialised: create it with ivmhost.Isolate(...)")
        return handle

    def __init__(self, memory_limit=128, *, inspector=False, snapshot=None, on_catastrophic_error=None,
                 import_module=None):
        cdef IsolateOptions options
        cdef Failure failure
        if isinstance(memory_limit, bool) or not isinstance(memory_limit, (int, float)):
            raise TypeError(f"memory_limit must be a number of MB, not {type(memory_limit).__name__}")
        if memory_limit < 8:
            raise ValueError(f"memory_limit must be at least 8 (MB), not {memory_limit}")
        if isinstance(snapshot, ExternalCopy):
            # Isolate.create_snapshot()'s result: V8 reads the blob where the copy holds it.
            if not _snapshot_in_copy(<ExternalCopy>snapshot, &options):
                raise ValueError("This is not a snapshot made by Isolate.create_snapshot()")
        elif snapshot is not None:
            if not isinstance(snapshot, (bytes, bytearray, memoryview)):
                raise TypeError(f"snapshot must be an ExternalCopy or bytes from Isolate.create_snapshot(), not {type(snapshot).__name__}")
            raw = bytes(snapshot)
            if not raw.startswith(_SNAPSHOT_MAGIC):
                raise ValueError("This is not a snapshot made by Isolate.create_snapshot()")
            options.snapshot.assign(<const char*>raw + len(_SNAPSHOT_MAGIC), len(raw) - len(_SNAPSHOT_MAGIC))
        if on_catastrophic_error is not None:
            if not callable(on_catastrophic_error):
                raise TypeError("on_catastrophic_error must be callable")
            _catastrophic_callbacks.append(on_catastrophic_error)
        self.memory_limit = int(memory_limit)
        self._modules = weakref.WeakValueDictionary()
        options.memory_limit_mb = self.memory_limit
        self.inspector = bool(inspector)
        options.inspector = self.inspector
        with nogil:
            self._handle = NewIsolate(options, &failure)
        if not self._handle:
            raise_failure(failure, None)
        _live.add(self)
        if import_module is not None:
            self.import_module = import_module

    def __dealloc__(self):
        cdef IsolateHandle* handle = self._handle.get()
        if handle != NULL and not handle.IsDisposed():
            with nogil:
                handle.Dispose()

    def __repr__(self):
        if self._handle.get() == NULL:
            return "<ivmhost.Isolate uninitialised>"
        state = "disposed" if self.is_disposed else f"memory_limit={self.memory_limit}"
        return f"<ivmhost.Isolate {state}>"

    @property
    def is_disposed(self):
        """True once :meth:`dispose` ran or a memory limit disposed the isolate."""
        return self._h().IsDisposed()

    @property
    def reference_count(self):
        """How many live handles (contexts, scripts, references) belong to this isolate."""
        return self._refs

    @property
    def cpu_time(self):
        """CPU time spent running JavaScript in this isolate, in ns (readable while it runs)."""
        return self._h().CpuTimeNs()

    @property
    def wall_time(self):
        """Wall-clock time spent inside this isolate, in ns (readable while it runs)."""
        return self._h().WallTimeNs()

    def dispose(self):
        """Dispose the isolate: stop what runs in it and free its memory.

        A call running in it fails with "Isolate was disposed during execution"; later calls
        raise :class:`IsolateDisposedError`. Disposing twice raises IsolateDisposedError.
        """
        cdef IsolateHandle* handle = self._h()
        cdef cbool done
        with nogil:
            done = handle.Dispose()
        if not done:
            raise IsolateDisposedError("Isolate is already disposed")

    # -- CPU profiles (isolated-vm's startCpuProfiler / stopCpuProfiler) ----------------------

    def start_cpu_profiler(self, title):
        """Start recording the CPU profile ``title`` (sampled every millisecond, on every thread
        that runs this isolate's JavaScript until it is stopped)."""
        if not isinstance(title, str):
            raise TypeError(f"title must be a str, not {type(title).__name__}")
        cdef shared_ptr[Op] op = MakeStartCpuProfiler(title.encode("utf-8"))
        run_sync(self, op)

    def stop_cpu_profiler(self, title):
        """Stop the profile ``title``: a list of ``{"thread_id": int, "profile": dict}``, one per
        thread that ran JavaScript meanwhile, each in Chrome's ``.cpuprofile`` shape (nodes,
        samples, timeDeltas, startTime, endTime; save it as JSON and DevTools loads it). A title
        never started gives []. The list may also be awaited, as isolated-vm's promise is."""
        if not isinstance(title, str):
            raise TypeError(f"title must be a str, not {type(title).__name__}")
        cdef shared_ptr[Op] op = MakeStopCpuProfiler(title.encode("utf-8"))
        run_sync(self, op)
        cdef Op* raw = op.get()
        profiles = _Profiles()
        for i in range(raw.result.items.size()):
            item = &raw.result.items[i]
            profiles.append({"thread_id": int(item.number), "profile": json.loads(item.data.decode("utf-8"))})
        return profiles

    def stop_cpu_profiler_sync(self, title):
        """The same as :meth:`stop_cpu_profiler` (which is already synchronous)."""
        return self.stop_cpu_profiler(title)

    @staticmethod
    def create_snapshot(scripts, warmup_script=None):
        """A startup snapshot: the global state left by running ``scripts`` (dicts with ``code``
        and an optional ``filename``) in a fresh context, as an ExternalCopy of bytes for
        ``Isolate(snapshot=...)``. With ``warmup_script``, the functions it runs are compiled into
        the snapshot (its own effects are dropped). Snapshots are machine code: trusted input only.
        """
        cdef vector[pair[StrArg, StrArg]] sources
        cdef pair[StrArg, StrArg] item
        cdef StrArg warm
        cdef StrArg* warm_ptr = NULL
        cdef string blob
        cdef Failure failure
        cdef cbool ok
        for script in scripts:
            if not isinstance(script, dict) or not isinstance(script.get("code"), str):
                raise TypeError("each snapshot script must be a dict with a 'code' str (and an optional 'filename')")
            filename = script.get("filename") or "<snapshot>"
            if not isinstance(filename, str):
                raise TypeError("a snapshot script's filename must be a str")
            str_to_arg(script["code"], &item.first)
            str_to_arg(filename, &item.second)
            sources.push_back(item)
        if warmup_script is not None:
            if not isinstance(warmup_script, str):
                raise TypeError("warmup_script must be a str")
            str_to_arg(warmup_script, &warm)
            warm_ptr = &warm
        with nogil:
            ok = CreateSnapshot(sources, warm_ptr, &blob, &failure)
        if not ok:
            raise_failure(failure, None)
        return ExternalCopy(_SNAPSHOT_MAGIC + PyBytes_FromStringAndSize(blob.data(), blob.size()))

    # -- contexts --------------------------------------------------------------------------

    cdef bint _wants_inspector(self, inspector) except -1:
        if inspector and not self.inspector:
            raise IvmhostError("Inspector is not enabled for this isolate: create it with Isolate(inspector=True)")
        return bool(inspector)

    def create_context_sync(self, *, inspector=False):
        """Create a new context (a global object and its builtins) in this isolate.

        ``inspector=True`` shows it to the isolate's DevTools inspector (the isolate must be made
        with ``inspector=True``).
        """
        cdef shared_ptr[Op] op = MakeCreateContext(self._wants_inspector(inspector))
        run_sync(self, op)
        return Context._wrap(self, op.get().result.handle)

    async def create_context(self, *, inspector=False):
        """Async twin of :meth:`create_context_sync`."""
        box = box_op(MakeCreateContext(self._wants_inspector(inspector)))
        await await_op(self, box)
        return Context._wrap(self, (<_OpBox>box).op.get().result.handle)

    # -- inspector -------------------------------------------------------------------------

    def create_inspector_session(self):
        """Open a Chrome DevTools Protocol session on this isolate (made with ``inspector=True``).

        Set :attr:`InspectorSession.on_response` and :attr:`~InspectorSession.on_notification`,
        then send protocol messages with :meth:`~InspectorSession.dispatch_protocol_message`.
        :class:`ivmhost.InspectorServer` serves sessions to DevTools over a WebSocket.
        """
        self._wants_inspector(True)
        return InspectorSession._open(self)

    # -- scripts ---------------------------------------------------------------------------

    cdef shared_ptr[Op] _compile_op(self, code, filename, line_offset, column_offset, cached_data,
                                    produce_cached_data) except *:
        cdef StrArg source
        cdef CompileOptions origin
        source_arg(self, code, &source)
        origin_arg(filename, line_offset, column_offset, &origin)
        cache_arg(cached_data, produce_cached_data, &origin)
        return MakeCompileScript(move(source), move(origin))

    def compile_script_sync(self, code, *, filename=None, line_offset=0, column_offset=0,
                            cached_data=None, produce_cached_data=False):
        """Compile ``code`` once, to run in any context of this isolate.

        ``produce_cached_data=True`` makes :attr:`Script.cached_data`; ``cached_data=`` (trusted
        input only: it is machine code) is consumed and :attr:`Script.cached_data_rejected` says
        whether V8 accepted it.
        """
        cdef shared_ptr[Op] op = self._compile_op(code, filename, line_offset, column_offset, cached_data,
                                                  produce_cached_data)
        run_sync(self, op)
        return Script._wrap(self, op.get())

    async def compile_script(self, code, *, filename=None, line_offset=0, column_offset=0,
                             cached_data=None, produce_cached_data=False):
        """Async twin of :meth:`compile_script_sync`."""
        box = box_op(self._compile_op(code, filename, line_offset, column_offset, cached_data, produce_cached_data))
        await await_op(self, box)
        return Script._wrap(self, (<_OpBox>box).op.get())

    # -- modules ---------------------------------------------------------------------------

    @property
    def import_module(self):
        """The hook behind JavaScript's ``import()``: ``hook(specifier, referrer) -> Module``.
        For ``import()`` the referrer is the importing script's or module's filename; when the
        hook resolves the static imports of a module it returned, it is that Module. Without a
        hook, ``import()`` rejects."""
        return self._import_module

    @import_module.setter
    def import_module(self, hook):
        cdef shared_ptr[HostFunction] fn
        if hook is not None:
            if not callable(hook):
                raise TypeError("import_module must be a callable (specifier, referrer) -> Module")
            fn = host_function(import_hook(self, hook))
        self._h().SetImportHook(fn)
        self._import_module = hook

    cdef shared_ptr[Op] _compile_module_op(self, code, filename, line_offset, column_offset, meta,
                                           cached_data, produce_cached_data) except *:
        cdef StrArg source
        cdef CompileOptions origin
        cdef shared_ptr[HostFunction] filler
        source_arg(self, code, &source)
        origin_arg(filename, line_offset, column_offset, &origin)
        cache_arg(cached_data, produce_cached_data, &origin)
        if meta is not None:
            if not callable(meta):
                raise TypeError("meta must be a callable receiving a Reference to import.meta")
            filler = host_function(meta_filler(self, meta))
        return MakeCompileModule(move(source), move(origin), filler)

    def compile_module_sync(self, code, *, filename=None, line_offset=0, column_offset=0, meta=None,
                            cached_data=None, produce_cached_data=False):
        """Compile an ES module. ``meta(reference)`` fills ``import.meta`` (e.g. ``url``); the code
        cache options are those of :meth:`compile_script_sync`."""
        cdef shared_ptr[Op] op = self._compile_module_op(code, filename, line_offset, column_offset, meta,
                                                         cached_data, produce_cached_data)
        run_sync(self, op)
        return Module._wrap(self, op.get())

    async def compile_module(self, code, *, filename=None, line_offset=0, column_offset=0, meta=None,
                             cached_data=None, produce_cached_data=False):
        """Async twin of :meth:`compile_module_sync`."""
        box = box_op(self._compile_module_op(code, filename, line_offset, column_offset, meta, cached_data,
                                             produce_cached_data))
        await await_op(self, box)
        return Module._wrap(self, (<_OpBox>box).op.get())

    # -- statistics ------------------------------------------------------------------------

    cdef object _heap_statistics(self, Op* op):
        values = [int(op.result.items[i].number) for i in range(op.result.items.size())]
        values[11] = bool(values[11])
        return HeapStatistics(*values)

    def get_heap_statistics_sync(self):
        """The heap's statistics as a :class:`HeapStatistics` (V8's field names)."""
        cdef shared_ptr[Op] op = MakeHeapStatistics()
        run_sync(self, op)
        return self._heap_statistics(op.get())

    async def get_heap_statistics(self):
        """Async twin of :meth:`get_heap_statistics_sync`."""
        box = box_op(MakeHeapStatistics())
        await await_op(self, box)
        return self._heap_statistics((<_OpBox>box).op.get())

    # -- context managers ------------------------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        if not self.is_disposed:
            self.dispose()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc_info):
        if not self.is_disposed:
            self.dispose()


# Snapshots carry this prefix: anything else handed to Isolate(snapshot=) is refused before V8,
# which aborts on some malformed blobs. (A tampered snapshot is still machine code: trusted only.)
_SNAPSHOT_MAGIC = b"ivmhost-snapshot-1\0"


cdef bint _snapshot_in_copy(ExternalCopy copy, IsolateOptions* options) except -1:
    """Point `options` at the snapshot inside an ExternalCopy of bytes (an ArrayBuffer's contents
    in the clone) without copying it; False if the copy holds something else."""
    cdef _CloneReader reader = _CloneReader()
    cdef bytes expected = _SNAPSHOT_MAGIC
    cdef size_t length, magic = len(_SNAPSHOT_MAGIC)
    try:
        reader.start(copy._checked())
        if reader.peek() != ord('B'):
            return False
        reader.byte()
        length = reader.varint()
        if length < magic or memcmp(reader.raw(length), <const char*>expected, magic) != 0:
            return False
    except TransferError:  # corrupt, or not a clone ivmhost reads
        return False
    options.snapshot_copy = reader.copy
    options.snapshot_offset = reader.pos - length + magic
    options.snapshot_size = length - magic
    return True


# Isolates still alive when the interpreter exits are disposed first, while Python can still run
# the engine's callbacks (afterwards they must not take the GIL).
_live = weakref.WeakSet()


@atexit.register
def _dispose_live_isolates():
    for isolate in list(_live):
        if not isolate.is_disposed:
            isolate.dispose()


class _Profiles(list):
    """stop_cpu_profiler's list, also awaitable (isolated-vm's stopCpuProfiler returns a promise)."""

    def __await__(self):
        if False:
            yield
        return self
