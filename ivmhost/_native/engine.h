// The engine's C++ face, as the Cython module sees it.
//
// This header includes no V8 header and no Python header: values cross it as `Val` trees, errors as
// `Failure`, work as `Op` objects run by an `IsolateHandle`. Everything V8 lives behind it in
// _native/*.cc; everything Python lives in ivmhost/_engine.pyx.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

// Thread-locals on hot paths: the initial-exec model reads them without a __tls_get_addr call.
#define IVMHOST_TLS_FAST __attribute__((tls_model("initial-exec")))

namespace ivmhost {

class IsolateHolder;

// A copied value. Strings keep V8's own encoding: Latin-1 bytes when `one_byte`, else UTF-16 code
// units, so lone surrogates survive and no transcoding happens on the hot path.
enum class ValKind : uint8_t {
  kUndefined,
  kNull,
  kBool,
  kNumber,
  kBigInt,       // data: little-endian 64-bit words of the magnitude; boolean: negative
  kString,       // data + one_byte
  kBytes,        // data: Uint8Array / ArrayBuffer contents
  kTypedArray,   // data: contents; text: struct format letter of the element type
  kArray,        // items
  kObject,       // keys (kString) + items
  kDate,         // number: ms since the epoch
  kError,        // text: name; data: message (UTF-8); stack: stack (UTF-8)
  kReference,    // handle: id of a handle held by the isolate
  kCallback,     // host: a host function (see HostFunction)
  kHostReference,  // host: a host object lent to JavaScript by reference
  kDerefInto,    // handle: a Reference's value, delivered as itself (single use, checked by the host)
  kPending,      // the result is a promise still pending; the host's waiter hears when it settles
  kUnsupported,  // could not be copied; text says why
  // ExternalCopy
  kExternalCopy,  // copy: a structured clone; boolean: transfer its ArrayBuffers in (copy_into)
  kExternalCopyObject,  // copy: the ExternalCopy itself, as an object with copy()/copyInto()
  // An array or plain object copied out for the host, as one buffer instead of a tree of Vals
  // (no allocation per element), written by the Copier (convert.cc) or translated from V8's
  // serializer (plain_copy.cc). data holds one value, in native byte order:
  //   'u' undefined | 'n' null | 't' true | 'f' false | 'i' int32 | 'd' double
  //   's' u32 n, n Latin-1 bytes | 'w' u32 n, n UTF-16 code units
  //   'a' u32 n, n values | 'o' u32 n, n (key, value) pairs | 'v' u32 i: items[i], an ordinary Val
  // A key is an 's'/'w' string, appended to a key table while it holds fewer than 64 keys, or
  // 'K' u32 i: the i-th key of that table.
  kFlat,
  // The other way: plain data (arrays, plain objects, strings, numbers, booleans, null, undefined,
  // dates) the host wrote in V8's ValueSerializer format, built by V8's ValueDeserializer.
  kSerialized,
};

struct HostFunction;
class IsolateHandle;
class ExternalCopy;  // ExternalCopy: _native/external_copy.h

struct Val {
  ValKind kind = ValKind::kUndefined;
  bool boolean = false;
  bool one_byte = true;
  double number = 0;
  uint64_t handle = 0;
  std::string data;
  std::string text;
  std::string stack;
  std::vector<Val> keys;
  std::vector<Val> items;
  std::shared_ptr<HostFunction> host;
  // kBytes may borrow an immutable host buffer instead of owning `data`: `host` keeps it alive.
  const char* view = nullptr;
  size_t view_size = 0;
  size_t bytes_size() const { return view != nullptr ? view_size : data.size(); }
  // Back to a fresh undefined, keeping small buffers for reuse (pooled values, see convert.cc).
  void Reset();
  // Reset() for a pooled value that was fresh before its last use: a scalar (undefined, null,
  // bool, number: the first kinds) touched nothing else.
  void Recycle() {
    if (kind <= ValKind::kNumber) {
      kind = ValKind::kUndefined;
      boolean = false;
      number = 0;
    } else {
      Reset();
    }
  }
  const char* bytes_data() const { return view != nullptr ? view : data.data(); }
  std::shared_ptr<ExternalCopy> copy;  // ExternalCopy
};

enum class FailKind : uint8_t {
  kNone,
  kJSException,     // error: the thrown value (kError, or the copy of a non-Error)
  kTimeout,         // "Script execution timed out."
  kDisposed,        // "Isolate is disposed"
  kDisposedDuring,  // "Isolate was disposed during execution"
  kMemoryLimit,     // "Isolate was disposed during execution due to memory limit"
  kReleased,        // message names the handle
  kTransfer,        // "A non-transferable value was passed", or why
  kType,            // bad argument
  kValue,           // bad argument value
  kHostException,   // a host BaseException that must reach the caller as itself
  kCancelled,       // the awaiting task went away
  kInterrupted,     // Ctrl-C: Python raises KeyboardInterrupt
  kInternal,
};

struct Failure {
  FailKind kind = FailKind::kNone;
  std::string message;
  std::string stack;  // the JavaScript stack at the point of interruption, when known
  Val error;
  void* host_exception = nullptr;  // owned reference, handed back through HostHooks
  bool ok() const { return kind == FailKind::kNone; }
};

// A JavaScript promise handed to the host to settle later (an async host function's result).
struct PromiseTicket {
  std::weak_ptr<IsolateHandle> isolate;
  uint64_t id = 0;
  // The timeout of the call that made the promise: the JavaScript its settlement resumes gets the
  // same budget (an async host function must not be a way around a call's timeout).
  double timeout_ms = 0;
  uint64_t origin = 0;  // see Op::origin
};

// The methods of a Reference as JavaScript sees it (isolated-vm's camelCase names).
enum class RefMethod : uint8_t {
  kApply, kApplySync, kApplyIgnored, kApplySyncPromise,
  kGet, kGetSync, kSet, kSetSync, kSetIgnored, kDelete, kDeleteSync, kDeleteIgnored,
  kCopy, kCopySync, kDeref, kDerefInto, kRelease,
};

// Calls from the engine back into the host (Python). Installed once by the Cython module.
// All run on the isolate's thread while the isolate is locked and take the GIL themselves.
struct HostHooks {
  // Call `fn` with `args[0..count)`; fill `result` or return false with `failure` filled.
  bool (*call)(void* fn, Val* args, size_t count, Val* result, Failure* failure) = nullptr;
  // Start `fn` with `args` without waiting; settle the ticket (SettleHostPromise) when done.
  void (*call_async)(void* fn, Val* args, size_t count, const PromiseTicket& ticket) = nullptr;
  // A Reference method on a host object lent to JavaScript.
  bool (*reference)(void* object, RefMethod method, std::vector<Val>& args, Val* result,
                    Failure* failure) = nullptr;
  // A watched promise settled (`value`), was rejected or abandoned (`failure`); consumes `waiter`.
  void (*settled)(void* waiter, Val* value, Failure* failure) = nullptr;
  void (*release)(void* object) = nullptr;           // drop a reference (takes the GIL)
  void (*catastrophic)(const char* message) = nullptr;  // V8 is about to abort the process
  // An inspector session's message (JSON, UTF-8 or, with `utf16`, UTF-16) for its sink: a
  // response to `call_id`, or a notification. Runs on the isolate's thread, isolate locked.
  void (*inspector)(void* sink, int call_id, bool notification, const char* data, size_t length,
                    bool utf16) = nullptr;
};
void SetHostHooks(const HostHooks& hooks);

// kHostPromise: not a function at all but a host awaitable, delivered as a JavaScript promise.
enum HostFunctionFlags : int { kHostSync = 0, kHostAsync = 1, kHostIgnored = 2, kHostPromise = 4 };

// A host callable or object kept alive by a Val or a JavaScript object.
struct HostFunction {
  explicit HostFunction(void* fn) : fn(fn) {}
  ~HostFunction();
  void* fn;
  std::string name;
  int flags = kHostSync;
};

// What to do with a result that is not a plain copyable value.
enum class ResultMode : uint8_t {
  kCopyOrUndefined,  // eval/run: undefined (isolated-vm's rule)
  kCopyStrict,       // eval_closure: TransferError
  kPrimitiveOrReference,  // Reference.get: primitives copied, everything else a new Reference
  kReference,        // always a Reference
  kExternalCopy,     // a structured clone (kExternalCopy Val): external_copy=True and copy=True
  kIgnore,
};

// One unit of work against an isolate. Sync, async and ignored calls share this body.
class Op {
 public:
  virtual ~Op() = default;
  Val result;
  Failure failure;
  double timeout_ms = 0;  // 0: none
  // promise=True: a promise result is awaited. When it is still pending at the end of the call,
  // `result` is kPending and `waiter` (owned, released through the hooks) hears when it settles.
  bool await_promise = false;
  ResultMode promise_mode = ResultMode::kCopyStrict;
  void* waiter = nullptr;
  // The awaited call this work continues (internal): a call with await_promise is its own origin;
  // host promises made meanwhile carry it, and the work that settles them too. If that work is
  // stopped (a timeout), the origin's waiter hears it instead of waiting forever.
  uint64_t origin = 0;
  // Runs inside the isolate (locked, entered, with a handle scope). Internal.
  virtual void Run(IsolateHolder& holder) = 0;
};

struct StrArg {  // a string argument in V8's encodings (see Val)
  std::string data;
  bool one_byte = true;
};

struct CompileOptions {
  StrArg filename;
  int line_offset = 0;
  int column_offset = 0;
  // Code cache (V8's, machine code: trusted input only). A compile op reports in its result:
  // `data` the produced cache, `number` 1 when a cache was consumed, `boolean` rejected.
  bool consume_cache = false;
  std::string cached_data;
  bool produce_cache = false;
};

// inspector: the context is shown to the isolate's inspector (made with IsolateOptions::inspector).
std::shared_ptr<Op> MakeCreateContext(bool inspector = false);
std::shared_ptr<Op> MakeEval(uint64_t context, StrArg code, CompileOptions origin, ResultMode mode);
std::shared_ptr<Op> MakeEvalClosure(uint64_t context, StrArg code, CompileOptions origin,
                                    std::vector<Val> args, ResultMode mode);
std::shared_ptr<Op> MakeCompileScript(StrArg code, CompileOptions origin);
std::shared_ptr<Op> MakeRunScript(uint64_t script, uint64_t context, bool release, ResultMode mode);
std::shared_ptr<Op> MakeGlobalReference(uint64_t context);
std::shared_ptr<Op> MakeReferenceGet(uint64_t reference, Val key, ResultMode mode,
                                     bool inherit = false);
std::shared_ptr<Op> MakeReferenceSet(uint64_t reference, Val key, Val value);
std::shared_ptr<Op> MakeReferenceDelete(uint64_t reference, Val key);
std::shared_ptr<Op> MakeHeapStatistics();
// CPU profiles: the stop op's result is an array of kString items, each a profile's JSON (data,
// UTF-8) with the id of the thread it was recorded on (number).
std::shared_ptr<Op> MakeStartCpuProfiler(std::string title);
std::shared_ptr<Op> MakeStopCpuProfiler(std::string title);
// Modules. CompileModule's result: handle = module id, items = the dependency specifiers.
std::shared_ptr<Op> MakeCompileModule(StrArg code, CompileOptions origin, std::shared_ptr<HostFunction> meta);
// `resolver` is called with (specifier, referrer module id) and returns the dependency's id.
std::shared_ptr<Op> MakeInstantiateModule(uint64_t module, uint64_t context,
                                          std::shared_ptr<HostFunction> resolver);
std::shared_ptr<Op> MakeEvaluateModule(uint64_t module);
std::shared_ptr<Op> MakeModuleNamespace(uint64_t module);
std::shared_ptr<Op> MakeReferenceApply(uint64_t reference, Val receiver, std::vector<Val> args,
                                       ResultMode mode);
std::shared_ptr<Op> MakeReferenceCopy(uint64_t reference);
// Settles the JavaScript promise behind a PromiseTicket: `failure` set rejects, else resolves.
std::shared_ptr<Op> MakeSettleHostPromise(uint64_t id, Val value, Failure failure);
// Posts MakeSettleHostPromise to the ticket's isolate; false when the isolate is gone.
bool SettleHostPromise(const PromiseTicket& ticket, Val value, Failure failure);

// ExternalCopy: a structured clone held outside any heap, in V8's serialization format.
// `transferred`: contents of ArrayBuffers moved into the copy (the blob names them by index).
std::shared_ptr<ExternalCopy> NewExternalCopy(std::string blob, std::vector<std::string> transferred);
const std::string& ExternalCopyBlob(const ExternalCopy* copy);
size_t ExternalCopySize(const ExternalCopy* copy);
// The bytes of a transferred (or shared) buffer; false if the index is unknown or transferred away.
bool ExternalCopyBuffer(const ExternalCopy* copy, bool shared, size_t index, const char** data,
                        size_t* length);
// Bytes held by all live copies in this process.
int64_t ExternalCopyTotalSize();
// Evaluates `code` in `context` and returns (kExternalCopy) a copy of its value. With
// `transfer_code` (non-empty), that code's value is the transfer list (ArrayBuffers); with
// `transfer_out`, the value's own ArrayBuffer is moved.
std::shared_ptr<Op> MakeExternalCopyOf(uint64_t context, StrArg code, StrArg transfer_code,
                                       bool transfer_out);

struct IsolateOptions {
  size_t memory_limit_mb = 128;
  bool inspector = false;
  // A startup snapshot (trusted input only: it is machine code), or none: either `snapshot`, or
  // `snapshot_size` bytes at `snapshot_offset` in the blob of `snapshot_copy` (no copy is made).
  std::string snapshot;
  std::shared_ptr<ExternalCopy> snapshot_copy;
  size_t snapshot_offset = 0;
  size_t snapshot_size = 0;
};

// A startup snapshot: the global state left by running `scripts` (code, filename) in a fresh
// context; with a warm-up script, functions it ran are compiled into the snapshot too.
bool CreateSnapshot(const std::vector<std::pair<StrArg, StrArg>>& scripts, const StrArg* warmup,
                    std::string* blob, Failure* failure);

// Called (without the isolate lock, without the GIL) when an async op has finished.
using DoneFn = void (*)(void* arg);

class IsolateHandle {
 public:
  virtual ~IsolateHandle() = default;
  // Runs `op` on the calling thread under the isolate lock. Never call with the GIL held.
  virtual void RunSync(Op& op) = 0;
  // Queues `op` on the isolate's executor thread; `done(arg)` runs when it finished (also when it
  // was cancelled or the isolate went away). Returns a ticket for Cancel.
  virtual uint64_t Post(std::shared_ptr<Op> op, DoneFn done, void* arg) = 0;
  // Drops a queued op or terminates it if it runs. Does nothing once it finished.
  virtual void Cancel(uint64_t ticket) = 0;
  // Returns false if the isolate was already disposed. Never call with the GIL held.
  virtual bool Dispose() = 0;
  virtual bool IsDisposed() const = 0;
  // Releases a handle (context, script, reference). Safe from any thread, lock or no lock.
  virtual void ReleaseHandle(uint64_t id) = 0;
  virtual uint64_t CpuTimeNs() const = 0;
  virtual uint64_t WallTimeNs() const = 0;
  // The host's import() hook: called with (specifier, referrer filename) and returning a module
  // id; also resolves that module's own imports (with the referrer's module id). Null: none.
  virtual void SetImportHook(std::shared_ptr<HostFunction> hook) = 0;
};

std::shared_ptr<IsolateHandle> NewIsolate(IsolateOptions options, Failure* failure);

// A DevTools protocol session on an isolate made with IsolateOptions::inspector (inspector.cc).
// Nothing here waits for the isolate: messages are queued and served by whatever thread runs
// the isolate next (an interrupt of running JavaScript, the executor when idle, the pause loop
// while JavaScript is paused at a breakpoint). Replies go to the sink through HostHooks::inspector.
class InspectorSession {
 public:
  virtual ~InspectorSession() = default;
  // Queues a message (JSON text). False, with `failure` filled, when the session or the isolate
  // is gone.
  virtual bool Dispatch(const StrArg& message, Failure* failure) = 0;
  // Disconnects; the sink is released on the isolate's thread (or at once if it is gone).
  virtual void Dispose() = 0;
  virtual bool IsDisposed() const = 0;
};
// `sink` is an owned reference released through HostHooks::release. Null, with `failure`
// filled, when the isolate is disposed or has no inspector.
std::shared_ptr<InspectorSession> NewInspectorSession(IsolateHandle& isolate, void* sink,
                                                      Failure* failure);

// Bytes of stack left below the caller on this thread (copies deep values only while it lasts).
size_t StackRemaining();

// V8's version, e.g. "10.2.154.26".
const char* V8Version();
// Live isolates in this process (for leak checks in tests).
int64_t LiveIsolates();

}  // namespace ivmhost
