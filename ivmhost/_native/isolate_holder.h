// IsolateHolder owns one v8::Isolate: its lock, its executor thread, its handles, its limits.
#pragma once

#include <v8-profiler.h>
#include <v8.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <pthread.h>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine.h"

namespace ivmhost {

class CappedAllocator;
class InspectorAgent;
class SessionImpl;

// Something kept alive for a JavaScript object through a weak handle. The holder deletes what is
// left when the isolate goes away (V8 runs no weak callbacks on Dispose).
struct WeakTie {
  virtual ~WeakTie() = default;
};

// Why the running call is being terminated.
enum class StopReason : uint8_t {
  kNone,
  kTimeout,
  kDisposed,
  kMemoryLimit,
  kCancelled,
  kHostException,
  kInterrupted,
};

class IsolateHolder final : public IsolateHandle,
                            public std::enable_shared_from_this<IsolateHolder> {
 public:
  explicit IsolateHolder(IsolateOptions options);
  ~IsolateHolder() override;
  bool Init(Failure* failure);

  // IsolateHandle
  void RunSync(Op& op) override;
  uint64_t Post(std::shared_ptr<Op> op, DoneFn done, void* arg) override;
  void Cancel(uint64_t ticket) override;
  bool Dispose() override;
  bool IsDisposed() const override { return state_.load() != kAlive; }
  void ReleaseHandle(uint64_t id) override;
  uint64_t CpuTimeNs() const override;
  uint64_t WallTimeNs() const override;
  void SetImportHook(std::shared_ptr<HostFunction> hook) override {
    std::lock_guard<std::mutex> lock(import_mu_);
    import_hook_ = std::move(hook);
  }
  std::shared_ptr<HostFunction> ImportHook() {
    std::lock_guard<std::mutex> lock(import_mu_);
    return import_hook_;
  }

  v8::Isolate* isolate() const { return isolate_; }
  static IsolateHolder* From(v8::Isolate* isolate) {
    return static_cast<IsolateHolder*>(isolate->GetData(0));
  }

  // Handles, valid only inside a call (isolate locked). Lookups fill `failure` when the id is gone.
  uint64_t AddContext(v8::Local<v8::Context> context);
  uint64_t AddScript(v8::Local<v8::UnboundScript> script);
  uint64_t AddReference(v8::Local<v8::Context> context, v8::Local<v8::Value> value);
  // Modules: the handle remembers its module, its import.meta filler and the context it was
  // instantiated in; V8's callbacks find a module's id by comparing handles.
  uint64_t AddModule(v8::Local<v8::Module> module, std::shared_ptr<HostFunction> meta);
  v8::Local<v8::Module> GetModule(uint64_t id, Failure* failure);
  uint64_t ModuleId(v8::Local<v8::Module> module);
  void SetModuleContext(uint64_t id, v8::Local<v8::Context> context);
  v8::Local<v8::Context> ModuleContext(uint64_t id);
  std::shared_ptr<HostFunction> ModuleMeta(uint64_t id);
  // The resolver of the instantiation now running (V8's resolve callback has no user data);
  // non-null also means a link is in progress, and V8 must not be asked for another.
  HostFunction* resolver = nullptr;
  v8::Local<v8::Context> GetContext(uint64_t id, Failure* failure);
  v8::Local<v8::UnboundScript> GetScript(uint64_t id, Failure* failure);
  bool GetReference(uint64_t id, v8::Local<v8::Context>* context, v8::Local<v8::Value>* value,
                    Failure* failure);
  void ForgetHandleNow(uint64_t id);
  // A context for work that needs one but names none (compiling a script).
  v8::Local<v8::Context> DefaultContext();
  // Keeps a host function alive for as long as the isolate lives.
  // Keeps `fn` alive for as long as the JavaScript object `owner` lives (a weak handle: when the
  // garbage collector takes `owner`, the host object is released after the call).
  void KeepHostFunction(v8::Local<v8::Object> owner, std::shared_ptr<HostFunction> fn);
  std::shared_ptr<HostFunction> FindHostFunction(HostFunction* fn) const;

  // Turns a caught exception (or a termination) into `failure`.
  void CatchFailure(v8::Local<v8::Context> context, v8::TryCatch& try_catch, Failure* failure);
  // A host exception that must end the running JavaScript (KeyboardInterrupt & co.).
  void StopForHostException(void* exception);
  // Ctrl-C reached the main thread while call `seq` ran there.
  void Interrupt(uint64_t seq) { RequestStop(StopReason::kInterrupted, seq); }
  // The ArrayBuffer allocator refused an allocation: the memory limit is hit.
  void OnArrayBufferLimit();

  // Async host functions: the JavaScript promises waiting for the host (see PromiseTicket).
  PromiseTicket AddHostPromise(v8::Local<v8::Promise::Resolver> resolver);
  v8::Local<v8::Promise::Resolver> TakeHostPromise(uint64_t id);
  // promise=True results: an op's promise, finished after the call's microtasks ran.
  void StashResultPromise(Op* op, v8::Local<v8::Context> context, v8::Local<v8::Promise> promise,
                          ResultMode mode);
  void FinishResultPromise(Op& op);
  // The JavaScript face of References (isolated-vm's camelCase API), one template per isolate.
  v8::Local<v8::FunctionTemplate> ReferenceTemplate();

  // An uninitialised backing store counted against the memory limit; null when it would not fit.
  std::shared_ptr<v8::BackingStore> NewBackingStore(size_t size);

  // CPU profiles (profiler.cc); isolate locked.
  void StartCpuProfiler(const std::string& title);
  std::vector<std::pair<uint64_t, std::string>> StopCpuProfiler(const std::string& title);
  void EnsureThreadProfiler();

  // The inspector (inspector.cc), null unless the isolate was made with it; it lives as long as
  // the holder (its V8 side ends with the isolate).
  InspectorAgent* inspector() const { return inspector_.get(); }
  // Queues an inspector message for `session` and wakes the isolate to serve it (any thread).
  bool InspectorEnqueue(std::shared_ptr<SessionImpl> session, std::string data, bool utf16,
                        bool control, Failure* failure);
  // While paused in the debugger: must the paused call end now (cancelled, disposed...)?
  bool MustStopWhilePaused();
  // After a pause: a timeout that fell due meanwhile is dropped.
  void ForgiveTimeout();

  size_t memory_limit_bytes() const { return memory_limit_; }
  size_t external_bytes() const;

 private:
  enum State : int { kAlive, kDisposing, kDisposed };
  struct HandleEntry {
    v8::Global<v8::Context> context;
    v8::Global<v8::UnboundScript> script;
    v8::Global<v8::Value> value;
    v8::Global<v8::Module> module;
    std::shared_ptr<HostFunction> meta;  // fills import.meta
  };
  struct Task {
    std::shared_ptr<Op> op;
    DoneFn done = nullptr;
    void* arg = nullptr;
    uint64_t ticket = 0;
  };

  // The shared body of sync and async calls.
  void Execute(Op& op, uint64_t ticket);
  void RunInside(Op& op, uint64_t ticket);
  void SettleMicrotasks(Op& op);
  void FinishNestedCall(Op& op, uint64_t seq);
  bool AcquireUser(Failure* failure);
  void ReleaseUser();
  void FinishDispose();
  void FailForState(Failure* failure, bool during) const;
  void ProcessPendingReleases();
  void StartExecutor();
  static void* ExecutorMain(void* self);
  void ExecutorLoop();

  // Termination, under term_mu_.
  void RequestStop(StopReason reason, uint64_t seq);
  void StopForMemory(bool escalate);
  static void InterruptCallback(v8::Isolate* isolate, void* data);
  static size_t NearHeapLimit(void* data, size_t current, size_t initial);
  static void PromiseRejected(v8::PromiseRejectMessage message);
  static v8::MaybeLocal<v8::Promise> ImportDynamically(v8::Local<v8::Context> context,
                                                      v8::Local<v8::Data> options,
                                                      v8::Local<v8::Value> resource_name,
                                                      v8::Local<v8::String> specifier,
                                                      v8::Local<v8::FixedArray> assertions);
  static void InitializeImportMeta(v8::Local<v8::Context> context, v8::Local<v8::Module> module,
                                   v8::Local<v8::Object> meta);
  friend class TimerThread;
  friend void OnTimerFired(IsolateHolder* holder, uint64_t seq);

  IsolateOptions options_;
  v8::StartupData snapshot_{nullptr, 0};  // points into options_' snapshot, which outlives the isolate
  size_t memory_limit_ = 0;
  v8::Isolate* isolate_ = nullptr;
  std::shared_ptr<CappedAllocator> allocator_;
  std::unique_ptr<InspectorAgent> inspector_;
  static void InspectorInterrupt(v8::Isolate* isolate, void* data);

  std::atomic<int> state_{kAlive};
  std::atomic<int> users_{0};
  std::atomic<bool> dispose_started_{false};
  std::atomic<bool> oom_{false};
  std::mutex dispose_mu_;
  std::condition_variable dispose_cv_;

  // Touched only while the isolate is locked.
  int depth_ = 0;
  uint64_t next_handle_ = 1;
  std::unordered_map<uint64_t, HandleEntry> handles_;
  template <typename T>
  HandleEntry* FindHandle(uint64_t id, v8::Global<T> HandleEntry::*field, const char* released,
                          Failure* failure);
  v8::Global<v8::Context> default_context_;
  std::unordered_multimap<int, uint64_t> module_ids_;  // identity hash -> handle ids
  std::mutex import_mu_;
  std::shared_ptr<HostFunction> import_hook_;
  struct HostEntry {
    std::shared_ptr<HostFunction> fn;
    int owners = 0;
  };
  std::unordered_map<HostFunction*, HostEntry> host_functions_;
  struct HostTie final : WeakTie {
    HostTie(IsolateHolder* h, HostFunction* k, v8::Global<v8::Object> o)
        : holder(h), key(k), owner(std::move(o)) {}
    IsolateHolder* holder;
    HostFunction* key;
    v8::Global<v8::Object> owner;
  };
  std::unordered_set<WeakTie*> ties_;
 public:
  void AddTie(WeakTie* tie) { ties_.insert(tie); }
  void DropTie(WeakTie* tie) {
    ties_.erase(tie);
    delete tie;
  }
 private:
  static void HostOwnerCollected(const v8::WeakCallbackInfo<HostTie>& info);
  // Host objects whose last JavaScript owner was collected: released outside the isolate lock.
  std::vector<std::shared_ptr<HostFunction>> dead_host_functions_;
  void ReleaseDeadHostFunctions();
  struct Rejection {
    v8::Global<v8::Promise> promise;
    v8::Global<v8::Value> reason;
  };
  std::vector<Rejection> rejections_;
  std::unordered_map<uint64_t, v8::Global<v8::Promise::Resolver>> host_promises_;
  double outer_timeout_ms_ = 0;  // the outermost running call's timeout (0: none)
  uint64_t current_origin_ = 0;  // the outermost running call's origin (see Op::origin)
  uint64_t next_origin_ = 1;
  uint64_t next_host_promise_ = 1;
  struct ResultPromise {
    v8::Global<v8::Context> context;
    v8::Global<v8::Promise> promise;
    ResultMode mode;
  };
  std::unordered_map<Op*, ResultPromise> result_promises_;
 public:
  // A promise whose settlement the host waits for; owned by the holder until it settles.
  struct Watch {
    IsolateHolder* holder;
    void* waiter;
    ResultMode mode;
    uint64_t id;  // the origin of the call whose promise it watches
  };
 private:
  std::vector<Watch*> watches_;
  static void WatchFulfilled(const v8::FunctionCallbackInfo<v8::Value>& info);
  static void WatchRejected(const v8::FunctionCallbackInfo<v8::Value>& info);
  static void WatchSettled(const v8::FunctionCallbackInfo<v8::Value>& info, bool rejected);
  // Tells every host waiter that its promise will never settle (the isolate is going away).
  void AbandonWatches();
  // Settles watch `id` with `failure` (work continuing its call was stopped).
  void FailWatch(uint64_t id, const Failure& failure);
  v8::Global<v8::FunctionTemplate> reference_template_;
  v8::Global<v8::FunctionTemplate> external_copy_template_;
 public:
  // The JavaScript face of an ExternalCopy (copy(), copyInto(), release()).
  v8::Local<v8::FunctionTemplate> ExternalCopyTemplate();
  // The check that a value the serializer read is plain data (plain_copy.cc), made on first use
  // in a private context of this isolate; empty if it could not be made.
  v8::Local<v8::Function> PlainCheck();
  // For the builder of plain data (plain_build.cc): a number per context that caches shapes, and
  // the cache (context number + key signature -> index in that context's store).
  double NextPlainContextId() { return next_plain_context_id_++; }
  std::unordered_map<std::string, uint32_t>& plain_shapes() { return plain_shapes_; }
  // The serializer's buffer kept from one big copy out to the next (plain_copy.cc).
  struct SpareBuffer {
    void* data = nullptr;
    size_t size = 0;
  };
  SpareBuffer& spare_wire_buffer() { return spare_wire_; }
  // Keeps `data` (malloc'd, `size` bytes) for the next copy if it is not too big; frees it else.
  void KeepSpareWireBuffer(void* data, size_t size) {
    constexpr size_t kKeepAtMost = 16 << 20;
    std::free(spare_wire_.data);
    spare_wire_ = SpareBuffer();
    if (size <= kKeepAtMost) {
      spare_wire_.data = data;
      spare_wire_.size = size;
    } else {
      std::free(data);
    }
  }
 private:
  SpareBuffer spare_wire_;
  v8::Global<v8::Function> plain_check_;
  double next_plain_context_id_ = 0;  // a random start (isolate_holder.cc), then counted up
  std::unordered_map<std::string, uint32_t> plain_shapes_;

  // Profiles being recorded, and a profiler per thread that entered the isolate meanwhile.
  std::vector<std::string> profile_titles_;
  std::vector<std::pair<uint64_t, v8::CpuProfiler*>> profilers_;
  void DisposeProfilers();

  std::mutex release_mu_;
  std::vector<uint64_t> pending_releases_;

  std::mutex term_mu_;
  uint64_t active_seq_ = 0;  // the outermost call now running, 0 when idle
  uint64_t active_ticket_ = 0;  // its executor ticket (0 for a sync call)
  std::vector<uint64_t> seq_stack_;  // the calls now running, outermost first
  uint64_t stop_seq_ = 0;  // the call the pending stop was requested for
  uint64_t next_seq_ = 1;
  StopReason stop_reason_ = StopReason::kNone;
  bool terminate_called_ = false;
  std::string stop_stack_;
  void* host_exception_ = nullptr;

  // Time used by finished calls; a running call's share comes from the call monitor.
  std::atomic<uint64_t> cpu_ns_{0};
  std::atomic<uint64_t> wall_ns_{0};

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<Task> queue_;
  bool executor_started_ = false;
  bool executor_stop_ = false;
  uint64_t next_ticket_ = 1;
  uint64_t running_ticket_ = 0;
  std::vector<uint64_t> cancelled_;
};

// Helpers shared by the ops.
const HostHooks& Hooks();
v8::Local<v8::String> NewString(v8::Isolate* isolate, const StrArg& s);
std::string ToUtf8(v8::Isolate* isolate, v8::Local<v8::Value> value);
std::string FormatCurrentStack(v8::Isolate* isolate);
v8::Platform* GetPlatform();
void EnsureV8();

}  // namespace ivmhost
