# Declarations of the engine's C++ face (ivmhost/_native/engine.h). No V8 type appears here.

from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libcpp cimport bool as cbool
from libcpp.memory cimport shared_ptr
from libcpp.string cimport string
from libcpp.utility cimport move, pair
from libcpp.vector cimport vector


cdef extern from "engine.h" namespace "ivmhost" nogil:
    cdef enum class ValKind "ivmhost::ValKind" (uint8_t):
        kUndefined
        kNull
        kBool
        kNumber
        kBigInt
        kString
        kBytes
        kTypedArray
        kArray
        kObject
        kDate
        kError
        kReference
        kCallback
        kHostReference
        kDerefInto
        kPending
        kUnsupported
        kExternalCopy
        kExternalCopyObject
        kFlat
        kSerialized
 # ExternalCopy

    cdef enum class FailKind "ivmhost::FailKind" (uint8_t):
        kNone
        kJSException
        kTimeout
        kDisposed
        kDisposedDuring
        kMemoryLimit
        kReleased
        kTransfer
        kType
        kValue
        kHostException
        kCancelled
        kInterrupted
        kInternal

    cdef enum class ResultMode "ivmhost::ResultMode" (uint8_t):
        kCopyOrUndefined
        kCopyStrict
        kPrimitiveOrReference
        kReference
        kExternalCopy
        kIgnore

    cdef cppclass HostFunction:
        HostFunction(void* fn)
        void* fn
        string name
        int flags

    cdef enum HostFunctionFlags:
        kHostSync
        kHostAsync
        kHostIgnored
        kHostPromise

    cdef enum class RefMethod "ivmhost::RefMethod" (uint8_t):
        kApply
        kApplySync
        kApplyIgnored
        kApplySyncPromise
        kGet
        kGetSync
        kSet
        kSetSync
        kSetIgnored
        kDelete
        kDeleteSync
        kDeleteIgnored
        kCopy
        kCopySync
        kDeref
        kDerefInto
        kRelease

    # ExternalCopy: opaque here (_native/external_copy.h)
    cdef cppclass CExternalCopy "ivmhost::ExternalCopy":
        pass

    cdef cppclass Val:
        ValKind kind
        cbool boolean
        cbool one_byte
        double number
        uint64_t handle
        string data
        string text
        string stack
        vector[Val] keys
        vector[Val] items
        shared_ptr[HostFunction] host
        const char* view
        size_t view_size
        shared_ptr[CExternalCopy] copy  # ExternalCopy

    cdef cppclass Failure:
        FailKind kind
        string message
        string stack
        Val error
        void* host_exception

    cdef cppclass PromiseTicket:
        uint64_t id

    ctypedef cbool (*HostCallFn)(void* fn, Val* args, size_t count, Val* result, Failure* failure) noexcept
    ctypedef void (*HostCallAsyncFn)(void* fn, Val* args, size_t count, const PromiseTicket& ticket) noexcept
    ctypedef cbool (*HostReferenceFn)(void* obj, RefMethod method, vector[Val]& args, Val* result,
                                      Failure* failure) noexcept
    ctypedef void (*HostSettledFn)(void* waiter, Val* value, Failure* failure) noexcept
    ctypedef void (*HostReleaseFn)(void* obj) noexcept
    ctypedef void (*HostCatastrophicFn)(const char* message) noexcept
    ctypedef void (*HostInspectorFn)(void* sink, int call_id, cbool notification, const char* data,
                                     size_t length, cbool utf16) noexcept

    cdef cppclass HostHooks:
        HostCallFn call
        HostCallAsyncFn call_async
        HostReferenceFn reference
        HostSettledFn settled
        HostReleaseFn release
        HostCatastrophicFn catastrophic
        HostInspectorFn inspector

    void SetHostHooks(const HostHooks& hooks)

    cdef cppclass Op:
        Val result
        Failure failure
        double timeout_ms
        cbool await_promise
        ResultMode promise_mode
        void* waiter

    cdef cppclass StrArg:
        string data
        cbool one_byte

    cdef cppclass CompileOptions:
        StrArg filename
        int line_offset
        int column_offset
        cbool consume_cache
        string cached_data
        cbool produce_cache

    shared_ptr[Op] MakeCreateContext(cbool inspector)
    shared_ptr[Op] MakeEval(uint64_t context, StrArg code, CompileOptions origin, ResultMode mode)
    shared_ptr[Op] MakeEvalClosure(uint64_t context, StrArg code, CompileOptions origin,
                                   vector[Val] args, ResultMode mode)
    shared_ptr[Op] MakeCompileScript(StrArg code, CompileOptions origin)
    shared_ptr[Op] MakeRunScript(uint64_t script, uint64_t context, cbool release, ResultMode mode)
    shared_ptr[Op] MakeGlobalReference(uint64_t context)
    shared_ptr[Op] MakeReferenceGet(uint64_t reference, Val key, ResultMode mode, cbool inherit)
    shared_ptr[Op] MakeReferenceApply(uint64_t reference, Val receiver, vector[Val] args, ResultMode mode)
    shared_ptr[Op] MakeReferenceCopy(uint64_t reference)
    cbool SettleHostPromise(const PromiseTicket& ticket, Val value, Failure failure)
    shared_ptr[Op] MakeReferenceSet(uint64_t reference, Val key, Val value)
    shared_ptr[Op] MakeReferenceDelete(uint64_t reference, Val key)
    shared_ptr[Op] MakeHeapStatistics()
    shared_ptr[Op] MakeStartCpuProfiler(string title)
    shared_ptr[Op] MakeStopCpuProfiler(string title)
    shared_ptr[Op] MakeCompileModule(StrArg code, CompileOptions origin, shared_ptr[HostFunction] meta)
    shared_ptr[Op] MakeInstantiateModule(uint64_t module, uint64_t context, shared_ptr[HostFunction] resolver)
    shared_ptr[Op] MakeEvaluateModule(uint64_t module)
    shared_ptr[Op] MakeModuleNamespace(uint64_t module)

    # ExternalCopy
    shared_ptr[CExternalCopy] NewExternalCopy(string blob, vector[string] transferred)
    const string& ExternalCopyBlob(const CExternalCopy* copy)
    size_t ExternalCopySize(const CExternalCopy* copy)
    cbool ExternalCopyBuffer(const CExternalCopy* copy, cbool shared, size_t index, const char** data,
                             size_t* length)
    int64_t ExternalCopyTotalSize()
    shared_ptr[Op] MakeExternalCopyOf(uint64_t context, StrArg code, StrArg transfer_code,
                                      cbool transfer_out)

    cdef cppclass IsolateOptions:
        size_t memory_limit_mb
        cbool inspector
        string snapshot
        shared_ptr[CExternalCopy] snapshot_copy
        size_t snapshot_offset
        size_t snapshot_size

    ctypedef void (*DoneFn)(void* arg) noexcept

    cdef cppclass IsolateHandle:
        void RunSync(Op& op)
        uint64_t Post(shared_ptr[Op] op, DoneFn done, void* arg)
        void Cancel(uint64_t ticket)
        cbool Dispose()
        cbool IsDisposed()
        void ReleaseHandle(uint64_t id)
        uint64_t CpuTimeNs()
        uint64_t WallTimeNs()
        void SetImportHook(shared_ptr[HostFunction] hook)

    shared_ptr[IsolateHandle] NewIsolate(IsolateOptions options, Failure* failure)

    cdef cppclass CInspectorSession "ivmhost::InspectorSession":
        cbool Dispatch(const StrArg& message, Failure* failure)
        void Dispose()
        cbool IsDisposed()
    shared_ptr[CInspectorSession] NewInspectorSession(IsolateHandle& isolate, void* sink,
                                                     Failure* failure)
    cbool CreateSnapshot(const vector[pair[StrArg, StrArg]]& scripts, const StrArg* warmup, string* blob,
                         Failure* failure)
    size_t StackRemaining()
    const char* V8Version()
    int64_t LiveIsolates()
