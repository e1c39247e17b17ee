#include "isolate_holder.h"

#include <libplatform/libplatform.h>
#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <random>

#include "convert.h"
#include "inspector.h"
#include "call_monitor.h"
#include "timer_thread.h"

namespace ivmhost {

const HostHooks& Hooks();
void InstallFatalHandlers(v8::Isolate* isolate);

namespace {

std::atomic<int64_t> g_live_isolates{0};

constexpr size_t kMiB = 1024 * 1024;
// What the near-heap-limit callback grants on top of the limit so that the allocation in progress
// completes and the termination can unwind (less lets one large allocation abort the process).
constexpr size_t kHeapHeadroom = 1024 * kMiB;
constexpr size_t kExecutorStack = 8 * kMiB;

// The lowest address JavaScript may use on this thread, from the thread's real stack bounds.
// Cached per thread: pthread_getattr_np costs ~250 µs on the main thread.
thread_local uintptr_t t_stack_low IVMHOST_TLS_FAST = 0;

uintptr_t ThreadStackLimit() {
  thread_local uintptr_t limit = 0;
  if (limit != 0) return limit;
  uintptr_t here = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  uintptr_t low = 0;
  size_t size = 0;
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void* addr = nullptr;
    if (pthread_attr_getstack(&attr, &addr, &size) == 0) low = reinterpret_cast<uintptr_t>(addr);
    pthread_attr_destroy(&attr);
  }
  if (low == 0 || here <= low || here - low > 64 * kMiB) {
    // Unknown or unlimited (the main thread with `ulimit -s unlimited`): assume V8's default.
    size = 1 * kMiB;
    low = here - size;
  }
  // Leave room below JavaScript for V8's own overflow handling and for host callbacks.
  size_t margin = std::max<size_t>(64 * 1024, std::min<size_t>(size / 8, 1 * kMiB));
  limit = low + margin;
  t_stack_low = low;
  return limit;
}

}  // namespace

size_t StackRemaining() {
  if (t_stack_low == 0) ThreadStackLimit();
  uintptr_t here = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  return here > t_stack_low ? here - t_stack_low : 0;
}

int64_t LiveIsolates() { return g_live_isolates.load(); }

// ArrayBuffer memory lives outside V8's heap; this allocator counts it against the isolate's
// memory limit. It is shared: a buffer moved to another isolate keeps its allocator alive.
class CappedAllocator final : public v8::ArrayBuffer::Allocator {
 public:
  static constexpr size_t kAlwaysGranted = 4096;
  CappedAllocator(size_t limit, IsolateHolder* owner) : limit_(limit), owner_(owner) {}
  // Only the owning isolate allocates; buffers moved elsewhere only come back to Free.
  void Disown() { owner_ = nullptr; }
  void* Allocate(size_t length) override {
    if (!Reserve(length)) return nullptr;
    void* p = std::calloc(length ? length : 1, 1);
    if (p == nullptr) used_ -= length;
    return p;
  }
  void* AllocateUninitialized(size_t length) override {
    if (!Reserve(length)) return nullptr;
    void* p = std::malloc(length ? length : 1);
    if (p == nullptr) used_ -= length;
    return p;
  }
  void Free(void* data, size_t length) override {
    std::free(data);
    used_ -= length;
  }
  size_t used() const { return used_.load(); }
  // Memory the host fills itself: counted like an allocation, never zeroed.
  void* Claim(size_t length) {
    if (used_.load() + length > limit_) return nullptr;
    return AllocateUninitialized(length);
  }

 private:
  bool Reserve(size_t length) {
    size_t now = used_.fetch_add(length) + length;
    if (now > limit_ && length <= kAlwaysGranted) {
      // V8 cannot survive some small refusals (a typed array's `.buffer` moving off-heap):
      // grant them, and stop the isolate all the same.
      if (owner_ != nullptr) owner_->OnArrayBufferLimit();
      return true;
    }
    if (now > limit_) {
      used_ -= length;
      if (owner_ != nullptr) owner_->OnArrayBufferLimit();
      return false;
    }
    return true;
  }
  size_t limit_;
  IsolateHolder* owner_;
  std::atomic<size_t> used_{0};
};

IsolateHolder::IsolateHolder(IsolateOptions options) : options_(std::move(options)) {
  memory_limit_ = options.memory_limit_mb * kMiB;
  std::random_device random;
  uint64_t start = (static_cast<uint64_t>(random()) << 8 ^ random()) & ((uint64_t{1} << 40) - 1);
  next_plain_context_id_ = static_cast<double>(start << 12);  // exact: below 2**53
}

IsolateHolder::~IsolateHolder() {
  if (isolate_ != nullptr) {
    Dispose();
  }
  inspector_.reset();
}

bool IsolateHolder::Init(Failure* failure) {
  EnsureV8();
  allocator_ = std::make_shared<CappedAllocator>(memory_limit_, this);
  v8::Isolate::CreateParams params;
  params.array_buffer_allocator_shared = allocator_;
  params.constraints.ConfigureDefaultsFromHeapSize(0, memory_limit_);
  params.constraints.set_max_old_generation_size_in_bytes(memory_limit_);
  // From the heap size alone V8 gives the default 128 MiB isolate a 3 MiB young generation. Every
  // scavenge copies what is still alive in it, and a big copy in (10,000 records) is all alive until
  // the call ends: it was copied over and over, costing more than the copy itself. An eighth of
  // the limit, at most V8's own default maximum (48 MiB), makes such scavenges rare.
  size_t young = std::min<size_t>(memory_limit_ / 8, 48 * kMiB);
  if (young > params.constraints.max_young_generation_size_in_bytes()) {
    params.constraints.set_max_young_generation_size_in_bytes(young);
  }
  if (options_.snapshot_copy) {
    const std::string& blob = ExternalCopyBlob(options_.snapshot_copy.get());
    if (options_.snapshot_offset + options_.snapshot_size <= blob.size()) {
      snapshot_.data = blob.data() + options_.snapshot_offset;
      snapshot_.raw_size = static_cast<int>(options_.snapshot_size);
    }
  } else if (!options_.snapshot.empty()) {
    snapshot_.data = options_.snapshot.data();
    snapshot_.raw_size = static_cast<int>(options_.snapshot.size());
  }
  if (snapshot_.data != nullptr || options_.snapshot_copy) {
    // V8 CHECKs the header's size before it compares versions: never hand it a short blob.
    if (snapshot_.raw_size < 4096 || !snapshot_.IsValid()) {
      failure->kind = FailKind::kValue;
      failure->message = "The snapshot was not made by this V8 (" + std::string(v8::V8::GetVersion()) +
                         "): make it again with Isolate.create_snapshot()";
      return false;
    }
    params.snapshot_blob = &snapshot_;
  }
  isolate_ = v8::Isolate::New(params);
  if (isolate_ == nullptr) {
    failure->kind = FailKind::kInternal;
    failure->message = "V8 could not create an isolate";
    return false;
  }
  g_live_isolates++;
  isolate_->SetData(0, this);
  isolate_->SetMicrotasksPolicy(v8::MicrotasksPolicy::kExplicit);
  isolate_->AddNearHeapLimitCallback(NearHeapLimit, this);
  isolate_->SetPromiseRejectCallback(PromiseRejected);
  isolate_->SetCaptureStackTraceForUncaughtExceptions(true, 10);
  isolate_->SetHostInitializeImportMetaObjectCallback(InitializeImportMeta);
  isolate_->SetHostImportModuleDynamicallyCallback(ImportDynamically);
  InstallFatalHandlers(isolate_);
  if (options_.inspector) {
    v8::Locker locker(isolate_);
    v8::Isolate::Scope scope(isolate_);
    inspector_ = std::make_unique<InspectorAgent>(this);
  }
  return true;
}

std::shared_ptr<IsolateHandle> NewIsolate(IsolateOptions options, Failure* failure) {
  auto holder = std::make_shared<IsolateHolder>(std::move(options));
  if (!holder->Init(failure)) return nullptr;
  return holder;
}

// ---------------------------------------------------------------------------------------------
// Users, locking and disposal

bool IsolateHolder::AcquireUser(Failure* failure) {
  users_++;
  if (state_.load() != kAlive) {
    ReleaseUser();
    FailForState(failure, false);
    return false;
  }
  return true;
}

void IsolateHolder::ReleaseUser() {
  if (--users_ == 0 && state_.load() == kDisposing) FinishDispose();
}

void IsolateHolder::FailForState(Failure* failure, bool during) const {
  if (oom_.load()) {
    failure->kind = FailKind::kMemoryLimit;
    failure->message = during ? "Isolate was disposed during execution due to memory limit"
                              : "Isolate is disposed";
  } else {
    failure->kind = during ? FailKind::kDisposedDuring : FailKind::kDisposed;
    failure->message = during ? "Isolate was disposed during execution" : "Isolate is disposed";
  }
}

namespace {
// Calls into any isolate running on this thread (a callback may dispose an isolate).
thread_local int t_calls_on_this_thread = 0;
struct CallOnThisThread {
  CallOnThisThread() { ++t_calls_on_this_thread; }
  ~CallOnThisThread() { --t_calls_on_this_thread; }
};
}  // namespace

bool IsolateHolder::Dispose() {
  // This thread is a user until it is done with isolate_: without that, a user leaving on another
  // thread (a call refused because of this dispose) could finish the disposal under our feet.
  users_++;
  int expected = kAlive;
  if (!state_.compare_exchange_strong(expected, kDisposing)) {
    ReleaseUser();
    return false;
  }
  {
    std::lock_guard<std::mutex> lock(term_mu_);
    if (active_seq_ != 0 && stop_reason_ == StopReason::kNone) {
      stop_reason_ = StopReason::kDisposed;
      stop_seq_ = active_seq_;
    }
  }
  isolate_->TerminateExecution();
  if (inspector_) inspector_->Wake();  // a call paused in the debugger ends
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    executor_stop_ = true;
  }
  queue_cv_.notify_all();
  // A dispose from inside a call on this thread (a callback) cannot wait for that call, nor, from
  // inside a call into another isolate, for a call that may be waiting on this thread's isolate
  // (two isolates disposing each other from callbacks): the last user out finishes the disposal.
  if (v8::Locker::IsLocked(isolate_) || t_calls_on_this_thread > 0) {
    users_--;
    return true;
  }
  ReleaseUser();  // the last user out (maybe this thread) finishes the disposal
  std::unique_lock<std::mutex> lock(dispose_mu_);
  dispose_cv_.wait(lock, [this] { return state_.load() == kDisposed; });
  return true;
}

void IsolateHolder::FinishDispose() {
  if (dispose_started_.exchange(true)) return;
  {
    v8::Locker locker(isolate_);
    v8::Isolate::Scope scope(isolate_);
    DisposeProfilers();
    if (inspector_) inspector_->Shutdown();
    handles_.clear();
    module_ids_.clear();
    rejections_.clear();
    default_context_.Reset();
    import_hook_.reset();
    host_promises_.clear();
    result_promises_.clear();
    reference_template_.Reset();
    external_copy_template_.Reset();
    plain_check_.Reset();
    KeepSpareWireBuffer(nullptr, 0);
    for (WeakTie* tie : ties_) delete tie;  // their globals are reset while the isolate lives
    ties_.clear();
  }
  isolate_->Dispose();
  isolate_ = nullptr;
  allocator_->Disown();
  g_live_isolates--;
  // Host functions and waiters hold Python objects: drop them outside the isolate lock.
  // (Ties left uncollected die with the isolate: V8 frees its global handles on Dispose.)
  host_functions_.clear();
  ReleaseDeadHostFunctions();
  AbandonWatches();
  {
    std::lock_guard<std::mutex> lock(dispose_mu_);
    state_ = kDisposed;
  }
  dispose_cv_.notify_all();
}

// ---------------------------------------------------------------------------------------------
// Calls

void IsolateHolder::RunSync(Op& op) { Execute(op, 0); }

void IsolateHolder::Execute(Op& op, uint64_t ticket) {
  if (!AcquireUser(&op.failure)) return;
  {
    CallOnThisThread on_this_thread;
    v8::Locker locker(isolate_);
    if (state_.load() != kAlive) {
      FailForState(&op.failure, false);
    } else {
      RunInside(op, ticket);
    }
  }
  ReleaseDeadHostFunctions();
  if (oom_.load() && state_.load() == kAlive) {
    int expected = kAlive;
    if (state_.compare_exchange_strong(expected, kDisposing)) {
      std::lock_guard<std::mutex> lock(queue_mu_);
      executor_stop_ = true;
      queue_cv_.notify_all();
    }
  }
  ReleaseUser();
}

void IsolateHolder::RunInside(Op& op, uint64_t ticket) {
  v8::Isolate::Scope isolate_scope(isolate_);
  v8::HandleScope handle_scope(isolate_);
  bool outermost = depth_ == 0;
  uint64_t seq = 0;
  uint64_t timer = 0;
  bool cancelled_before_start = false;
  if (op.await_promise && op.origin == 0) op.origin = next_origin_++;
  if (outermost) {
    outer_timeout_ms_ = op.timeout_ms;
    current_origin_ = op.origin;
    isolate_->SetStackLimit(ThreadStackLimit());
    ProcessPendingReleases();
    if (!profile_titles_.empty()) EnsureThreadProfiler();
  }
  {
    std::lock_guard<std::mutex> lock(term_mu_);
    seq = next_seq_++;
    seq_stack_.push_back(seq);
    if (outermost) {
      active_seq_ = seq;
      active_ticket_ = ticket;
      if (ticket != 0 && std::find(cancelled_.begin(), cancelled_.end(), ticket) != cancelled_.end()) {
        stop_reason_ = StopReason::kCancelled;
        stop_seq_ = seq;
      }
      cancelled_before_start = stop_reason_ == StopReason::kCancelled;
    }
  }
  if (op.timeout_ms > 0) timer = ScheduleTimeout(this, seq, op.timeout_ms);
  RunningCall call;
  if (outermost) RegisterCall(&call, this, seq);
  depth_++;
  if (cancelled_before_start) {
    op.failure.kind = FailKind::kCancelled;
  } else {
    {
      // The op's own handles die before the message loop runs below: a scavenge V8 has scheduled
      // for then finds nothing of the call's values (often megabytes) left to copy.
      v8::HandleScope run_scope(isolate_);
      op.Run(*this);
    }
    if (outermost) SettleMicrotasks(op);
    if (op.await_promise) FinishResultPromise(op);
  }
  depth_--;
  if (outermost) {
    uint64_t cpu = UnregisterCall(&call);
    cpu_ns_ += cpu;
    wall_ns_ += MonotonicNs() - call.wall_start;
  }
  if (timer != 0) CancelTimeout(timer);
  if (!outermost) {
    FinishNestedCall(op, seq);
    return;
  }

  StopReason reason;
  std::string stack;
  void* host_exception;
  {
    std::lock_guard<std::mutex> lock(term_mu_);
    reason = stop_reason_;
    stack.swap(stop_stack_);
    host_exception = host_exception_;
    host_exception_ = nullptr;
    stop_reason_ = StopReason::kNone;
    stop_seq_ = 0;
    active_seq_ = 0;
    active_ticket_ = 0;
    seq_stack_.clear();
    if (terminate_called_ || reason != StopReason::kNone) {
      // Cancel whenever a stop was requested, even if the script finished first: a late
      // termination must never hit the next call.
      isolate_->CancelTerminateExecution();
      terminate_called_ = false;
    }
    if (ticket != 0) cancelled_.erase(std::remove(cancelled_.begin(), cancelled_.end(), ticket), cancelled_.end());
  }
  if (oom_.load()) reason = StopReason::kMemoryLimit;
  if (reason == StopReason::kNone && state_.load() != kAlive) reason = StopReason::kDisposed;
  if (reason != StopReason::kNone && reason != StopReason::kHostException && host_exception) {
    Hooks().release(host_exception);
    host_exception = nullptr;
  }
  if (stack.empty() && op.failure.kind == FailKind::kJSException) {
    // Stopped before the interrupt ran (a refused ArrayBuffer threw and nothing caught it):
    // the frames of that error are where JavaScript was.
    const std::string& thrown = op.failure.error.stack;
    size_t frames = thrown.find("\n    at ");
    if (frames != std::string::npos) stack = thrown.substr(frames + 1);
  }
  switch (reason) {
    case StopReason::kNone:
      return;
    case StopReason::kTimeout:
      op.failure = Failure();
      op.failure.kind = FailKind::kTimeout;
      op.failure.message = "Script execution timed out.";
      break;
    case StopReason::kMemoryLimit:
      op.failure = Failure();
      FailForState(&op.failure, true);
      break;
    case StopReason::kDisposed:
      op.failure = Failure();
      FailForState(&op.failure, true);
      break;
    case StopReason::kCancelled:
      op.failure = Failure();
      op.failure.kind = FailKind::kCancelled;
      op.failure.message = "The call was cancelled";
      break;
    case StopReason::kInterrupted:
      op.failure = Failure();
      op.failure.kind = FailKind::kInterrupted;
      op.failure.message = "Interrupted";
      break;
    case StopReason::kHostException:
      op.failure = Failure();
      op.failure.kind = FailKind::kHostException;
      op.failure.host_exception = host_exception;
      break;
  }
  op.failure.stack = std::move(stack);
  op.result = Val();
  // Work continuing an awaited call (settling a host promise) was stopped: that call's promise
  // can never settle now, so its waiter hears why instead of waiting forever.
  if (op.origin != 0 && !op.await_promise && op.failure.kind != FailKind::kCancelled) FailWatch(op.origin, op.failure);
}

// A call made from inside another (a host callback calling back in). A stop requested for this
// call alone (its own timeout) ends here: termination is cancelled so the outer JavaScript, below
// the callback, carries on. A stop for an outer call keeps unwinding.
void IsolateHolder::FinishNestedCall(Op& op, uint64_t seq) {
  StopReason reason = StopReason::kNone;
  std::string stack;
  {
    std::lock_guard<std::mutex> lock(term_mu_);
    seq_stack_.pop_back();
    if (stop_reason_ == StopReason::kNone) return;
    reason = stop_reason_;
    if (stop_seq_ == seq && reason == StopReason::kTimeout) {
      stack.swap(stop_stack_);
      stop_reason_ = StopReason::kNone;
      stop_seq_ = 0;
      if (terminate_called_) {
        isolate_->CancelTerminateExecution();
        terminate_called_ = false;
      }
    }
  }
  op.result = Val();
  op.failure = Failure();
  switch (reason) {
    case StopReason::kTimeout:
      op.failure.kind = FailKind::kTimeout;
      op.failure.message = "Script execution timed out.";
      break;
    case StopReason::kMemoryLimit:
    case StopReason::kDisposed:
      FailForState(&op.failure, true);
      break;
    case StopReason::kInterrupted:
      op.failure.kind = FailKind::kInterrupted;
      op.failure.message = "Interrupted";
      break;
    default:
      op.failure.kind = FailKind::kCancelled;
      op.failure.message = "The call was stopped";
      break;
  }
  op.failure.stack = std::move(stack);
}

// Microtasks run after each task; platform tasks (async compile, FinalizationRegistry) are pumped
// on this thread. A promise rejected with no handler by the end of the task is the task's error.
void IsolateHolder::SettleMicrotasks(Op& op) {
  v8::Platform* platform = GetPlatform();
  for (int round = 0; round < 64; ++round) {
    isolate_->PerformMicrotaskCheckpoint();
    if (isolate_->IsExecutionTerminating()) return;
    if (!v8::platform::PumpMessageLoop(platform, isolate_)) break;
  }
  if (rejections_.empty()) return;
  std::vector<Rejection> rejections;
  rejections.swap(rejections_);
  if (!op.failure.ok()) return;
  v8::Local<v8::Value> reason = rejections.front().reason.Get(isolate_);
  v8::Local<v8::Promise> promise = rejections.front().promise.Get(isolate_);
  v8::Local<v8::Context> context;
  if (!promise->GetCreationContext().ToLocal(&context)) return;
  v8::Context::Scope context_scope(context);
  op.result = Val();
  op.failure = Failure();
  op.failure.kind = FailKind::kJSException;
  ExceptionToFailure(*this, context, reason, v8::Local<v8::Message>(), &op.failure);
}

void IsolateHolder::PromiseRejected(v8::PromiseRejectMessage message) {
  v8::Local<v8::Promise> promise = message.GetPromise();
  v8::Isolate* isolate = promise->GetIsolate();
  IsolateHolder* self = From(isolate);
  switch (message.GetEvent()) {
    case v8::kPromiseRejectWithNoHandler: {
      Rejection r;
      r.promise.Reset(isolate, promise);
      r.reason.Reset(isolate, message.GetValue());
      self->rejections_.push_back(std::move(r));
      break;
    }
    case v8::kPromiseHandlerAddedAfterReject: {
      auto& list = self->rejections_;
      list.erase(std::remove_if(list.begin(), list.end(),
                                [&](const Rejection& r) { return r.promise == promise; }),
                 list.end());
      break;
    }
    default:
      break;
  }
}

void IsolateHolder::CatchFailure(v8::Local<v8::Context> context, v8::TryCatch& try_catch,
                                 Failure* failure) {
  if (try_catch.HasTerminated() || !try_catch.HasCaught()) {
    // The real reason (timeout, dispose, memory) is filled in when the call unwinds.
    failure->kind = FailKind::kTimeout;
    failure->message = "Script execution timed out.";
    return;
  }
  failure->kind = FailKind::kJSException;
  ExceptionToFailure(*this, context, try_catch.Exception(), try_catch.Message(), failure);
}

void IsolateHolder::StopForHostException(void* exception) {
  bool kept = false;
  {
    std::lock_guard<std::mutex> lock(term_mu_);
    if (stop_reason_ == StopReason::kNone) {
      stop_reason_ = StopReason::kHostException;
      stop_seq_ = active_seq_;
      host_exception_ = exception;
      kept = true;
    }
    isolate_->TerminateExecution();
    terminate_called_ = true;
  }
  // Never call into Python (the GIL) while holding an engine mutex.
  if (!kept) Hooks().release(exception);
}

// ---------------------------------------------------------------------------------------------
// Termination: timeouts and memory

void OnTimerFired(IsolateHolder* holder, uint64_t seq) {
  holder->RequestStop(StopReason::kTimeout, seq);
}

void IsolateHolder::RequestStop(StopReason reason, uint64_t seq) {
  std::lock_guard<std::mutex> lock(term_mu_);
  if (stop_reason_ != StopReason::kNone ||
      std::find(seq_stack_.begin(), seq_stack_.end(), seq) == seq_stack_.end())
    return;
  stop_reason_ = reason;
  stop_seq_ = seq;
  // The interrupt records where JavaScript was, then terminates it.
  isolate_->RequestInterrupt(InterruptCallback, this);
}

void IsolateHolder::InterruptCallback(v8::Isolate* isolate, void*) {
  IsolateHolder* self = From(isolate);
  {
    std::lock_guard<std::mutex> lock(self->term_mu_);
    if (self->stop_reason_ == StopReason::kNone || self->terminate_called_ ||
        self->seq_stack_.empty())
      return;  // a stale interrupt from a call that already finished
    // JavaScript run by the debugger while a call is paused: the pause forgives the timeout.
    if (self->stop_reason_ == StopReason::kTimeout && self->inspector_ && self->inspector_->paused())
      return;
    self->terminate_called_ = true;
  }
  // Outside the lock: formatting allocates, and a GC may call NearHeapLimit, which takes it.
  std::string stack = FormatCurrentStack(isolate);
  {
    std::lock_guard<std::mutex> lock(self->term_mu_);
    self->stop_stack_ = std::move(stack);
  }
  isolate->TerminateExecution();
}

// A refused ArrayBuffer allocation cannot hurt the process (JavaScript gets a RangeError and V8
// retries after a GC): never escalate past the interrupt.
void IsolateHolder::OnArrayBufferLimit() { StopForMemory(false); }

// The memory limit is hit: the first time, an interrupt records where JavaScript was and then
// terminates it (nothing may allocate inside a GC); if the heap keeps growing, terminate at once.
void IsolateHolder::StopForMemory(bool escalate) {
  bool first = !oom_.exchange(true) || !escalate;
  std::lock_guard<std::mutex> lock(term_mu_);
  if (stop_reason_ == StopReason::kNone) {
    stop_reason_ = StopReason::kMemoryLimit;
    stop_seq_ = active_seq_;
  }
  if (first && !terminate_called_ && active_seq_ != 0) {
    isolate_->RequestInterrupt(InterruptCallback, this);
  } else {
    terminate_called_ = true;
    isolate_->TerminateExecution();
  }
}

size_t IsolateHolder::NearHeapLimit(void* data, size_t current, size_t) {
  static_cast<IsolateHolder*>(data)->StopForMemory(true);
  // Headroom so the allocation in progress completes and the termination can unwind.
  return current + kHeapHeadroom;
}

// ---------------------------------------------------------------------------------------------
// The executor thread: a FIFO of async calls

uint64_t IsolateHolder::Post(std::shared_ptr<Op> op, DoneFn done, void* arg) {
  uint64_t ticket;
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    ticket = next_ticket_++;
    if (executor_stop_) {
      FailForState(&op->failure, false);
    } else {
      queue_.push_back(Task{std::move(op), done, arg, ticket});
      if (!executor_started_) StartExecutor();
      queue_cv_.notify_one();
      return ticket;
    }
  }
  if (done != nullptr) done(arg);
  return ticket;
}

void IsolateHolder::Cancel(uint64_t ticket) {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    for (auto& task : queue_) {
      if (task.ticket == ticket) {
        task.op->failure.kind = FailKind::kCancelled;
        task.op->failure.message = "The call was cancelled";
        return;
      }
    }
    if (running_ticket_ != ticket) return;
  }
  std::lock_guard<std::mutex> lock(term_mu_);
  if (active_ticket_ != ticket) {
    // Popped but not yet running (it may wait for the lock behind a sync call): it is dropped
    // when it starts. Never stop whatever else holds the isolate now.
    cancelled_.push_back(ticket);
    return;
  }
  if (stop_reason_ == StopReason::kNone) {
    stop_reason_ = StopReason::kCancelled;
    stop_seq_ = active_seq_;
    terminate_called_ = true;
    isolate_->TerminateExecution();
  }
}

void IsolateHolder::StartExecutor() {
  executor_started_ = true;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kExecutorStack);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  auto* self = new std::shared_ptr<IsolateHolder>(shared_from_this());
  pthread_t thread;
  if (pthread_create(&thread, &attr, ExecutorMain, self) != 0) {
    delete self;
    executor_started_ = false;
  }
  pthread_attr_destroy(&attr);
}

void* IsolateHolder::ExecutorMain(void* arg) {
  std::unique_ptr<std::shared_ptr<IsolateHolder>> self(static_cast<std::shared_ptr<IsolateHolder>*>(arg));
  (*self)->ExecutorLoop();
  return nullptr;
}

void IsolateHolder::ExecutorLoop() {
  for (;;) {
    Task task;
    {
      std::unique_lock<std::mutex> lock(queue_mu_);
      queue_cv_.wait(lock, [this] { return !queue_.empty() || executor_stop_; });
      if (queue_.empty()) {
        executor_started_ = false;
        return;
      }
      task = std::move(queue_.front());
      queue_.pop_front();
      running_ticket_ = task.ticket;
    }
    if (task.op->failure.kind != FailKind::kCancelled) Execute(*task.op, task.ticket);
    {
      std::lock_guard<std::mutex> lock(queue_mu_);
      running_ticket_ = 0;
    }
    {
      std::lock_guard<std::mutex> lock(term_mu_);
      cancelled_.erase(std::remove(cancelled_.begin(), cancelled_.end(), task.ticket), cancelled_.end());
    }
    if (task.done != nullptr) task.done(task.arg);
  }
}

// ---------------------------------------------------------------------------------------------
// The inspector's side of the isolate (the protocol itself is in inspector.cc)

bool IsolateHolder::InspectorEnqueue(std::shared_ptr<SessionImpl> session, std::string data,
                                     bool utf16, bool control, Failure* failure) {
  if (!inspector_) {
    failure->kind = FailKind::kValue;
    failure->message = "Inspector is not enabled for this isolate: create it with Isolate(inspector=True)";
    return false;
  }
  if (!AcquireUser(failure)) return false;
  bool queued = inspector_->Enqueue(std::move(session), std::move(data), utf16, control);
  if (queued) {
    // Running JavaScript serves it at its next interrupt check; an idle isolate, on the executor.
    isolate_->RequestInterrupt(InspectorInterrupt, nullptr);
    if (!inspector_->pump_posted_.exchange(true)) Post(MakeInspectorPump(), nullptr, nullptr);
  } else {
    FailForState(failure, false);
  }
  ReleaseUser();
  return queued;
}

void IsolateHolder::InspectorInterrupt(v8::Isolate* isolate, void*) {
  IsolateHolder* self = From(isolate);
  if (self->inspector_) self->inspector_->PumpFromInterrupt();
}

bool IsolateHolder::MustStopWhilePaused() {
  if (state_.load() != kAlive) return true;
  std::lock_guard<std::mutex> lock(term_mu_);
  return stop_reason_ != StopReason::kNone && stop_reason_ != StopReason::kTimeout;
}

void IsolateHolder::ForgiveTimeout() {
  std::lock_guard<std::mutex> lock(term_mu_);
  if (stop_reason_ == StopReason::kTimeout && !terminate_called_) {
    stop_reason_ = StopReason::kNone;
    stop_seq_ = 0;
    stop_stack_.clear();
  }
}

// ---------------------------------------------------------------------------------------------
// Handles

void IsolateHolder::ReleaseHandle(uint64_t id) {
  std::lock_guard<std::mutex> lock(release_mu_);
  pending_releases_.push_back(id);
}

void IsolateHolder::ProcessPendingReleases() {
  std::vector<uint64_t> ids;
  {
    std::lock_guard<std::mutex> lock(release_mu_);
    if (pending_releases_.empty()) return;
    ids.swap(pending_releases_);
  }
  for (uint64_t id : ids) ForgetHandleNow(id);
}

void IsolateHolder::ForgetHandleNow(uint64_t id) {
  auto it = handles_.find(id);
  if (it == handles_.end()) return;
  if (inspector_ && !it->second.context.IsEmpty()) inspector_->ContextForgotten(id);
  if (!it->second.module.IsEmpty()) {
    auto range = module_ids_.equal_range(it->second.module.Get(isolate_)->GetIdentityHash());
    for (auto m = range.first; m != range.second; ++m) {
      if (m->second == id) {
        module_ids_.erase(m);
        break;
      }
    }
  }
  handles_.erase(it);
}

v8::Local<v8::Context> IsolateHolder::DefaultContext() {
  if (default_context_.IsEmpty()) default_context_.Reset(isolate_, v8::Context::New(isolate_));
  return default_context_.Get(isolate_);
}

uint64_t IsolateHolder::AddContext(v8::Local<v8::Context> context) {
  uint64_t id = next_handle_++;
  handles_[id].context.Reset(isolate_, context);
  return id;
}

uint64_t IsolateHolder::AddScript(v8::Local<v8::UnboundScript> script) {
  uint64_t id = next_handle_++;
  handles_[id].script.Reset(isolate_, script);
  return id;
}

uint64_t IsolateHolder::AddReference(v8::Local<v8::Context> context, v8::Local<v8::Value> value) {
  uint64_t id = next_handle_++;
  HandleEntry& entry = handles_[id];
  entry.context.Reset(isolate_, context);
  entry.value.Reset(isolate_, value);
  return id;
}

uint64_t IsolateHolder::AddModule(v8::Local<v8::Module> module, std::shared_ptr<HostFunction> meta) {
  uint64_t id = next_handle_++;
  HandleEntry& entry = handles_[id];
  entry.module.Reset(isolate_, module);
  entry.meta = std::move(meta);
  module_ids_.emplace(module->GetIdentityHash(), id);
  return id;
}

v8::Local<v8::Module> IsolateHolder::GetModule(uint64_t id, Failure* failure) {
  HandleEntry* entry = FindHandle(id, &HandleEntry::module, "Module has been released", failure);
  return entry ? entry->module.Get(isolate_) : v8::Local<v8::Module>();
}

uint64_t IsolateHolder::ModuleId(v8::Local<v8::Module> module) {
  auto range = module_ids_.equal_range(module->GetIdentityHash());
  for (auto it = range.first; it != range.second; ++it) {
    auto entry = handles_.find(it->second);
    if (entry != handles_.end() && entry->second.module == module) return it->second;
  }
  return 0;
}

void IsolateHolder::SetModuleContext(uint64_t id, v8::Local<v8::Context> context) {
  auto it = handles_.find(id);
  if (it != handles_.end()) it->second.context.Reset(isolate_, context);
}

v8::Local<v8::Context> IsolateHolder::ModuleContext(uint64_t id) {
  auto it = handles_.find(id);
  if (it == handles_.end() || it->second.context.IsEmpty()) return {};
  return it->second.context.Get(isolate_);
}

std::shared_ptr<HostFunction> IsolateHolder::ModuleMeta(uint64_t id) {
  auto it = handles_.find(id);
  return it == handles_.end() ? nullptr : it->second.meta;
}

// The handle `id` when it holds `field`; otherwise `failure` says it was released.
template <typename T>
IsolateHolder::HandleEntry* IsolateHolder::FindHandle(uint64_t id, v8::Global<T> HandleEntry::*field,
                                                      const char* released, Failure* failure) {
  auto it = handles_.find(id);
  if (it != handles_.end() && !(it->second.*field).IsEmpty()) return &it->second;
  failure->kind = FailKind::kReleased;
  failure->message = released;
  return nullptr;
}

v8::Local<v8::Context> IsolateHolder::GetContext(uint64_t id, Failure* failure) {
  HandleEntry* entry = FindHandle(id, &HandleEntry::context, "Context is released", failure);
  return entry ? entry->context.Get(isolate_) : v8::Local<v8::Context>();
}

v8::Local<v8::UnboundScript> IsolateHolder::GetScript(uint64_t id, Failure* failure) {
  HandleEntry* entry = FindHandle(id, &HandleEntry::script, "Script has been released", failure);
  return entry ? entry->script.Get(isolate_) : v8::Local<v8::UnboundScript>();
}

bool IsolateHolder::GetReference(uint64_t id, v8::Local<v8::Context>* context,
                                 v8::Local<v8::Value>* value, Failure* failure) {
  HandleEntry* entry = FindHandle(id, &HandleEntry::value, "Reference has been released", failure);
  if (entry == nullptr) return false;
  *context = entry->context.Get(isolate_);
  *value = entry->value.Get(isolate_);
  return true;
}

void IsolateHolder::KeepHostFunction(v8::Local<v8::Object> owner, std::shared_ptr<HostFunction> fn) {
  HostFunction* key = fn.get();
  HostEntry& entry = host_functions_[key];
  if (!entry.fn) entry.fn = std::move(fn);
  entry.owners++;
  auto* tie = new HostTie(this, key, v8::Global<v8::Object>(isolate_, owner));
  tie->owner.SetWeak(tie, HostOwnerCollected, v8::WeakCallbackType::kParameter);
  AddTie(tie);
}

// Runs inside a GC: only bookkeeping here; the host object (a Python object) is released once
// the call is over and the isolate lock is free (ReleaseDeadHostFunctions).
void IsolateHolder::HostOwnerCollected(const v8::WeakCallbackInfo<HostTie>& info) {
  HostTie* tie = info.GetParameter();
  tie->owner.Reset();
  IsolateHolder* self = tie->holder;
  auto it = self->host_functions_.find(tie->key);
  if (it != self->host_functions_.end() && --it->second.owners == 0) {
    std::lock_guard<std::mutex> lock(self->release_mu_);
    self->dead_host_functions_.push_back(std::move(it->second.fn));
    self->host_functions_.erase(it);
  }
  self->DropTie(tie);
}

void IsolateHolder::ReleaseDeadHostFunctions() {
  std::vector<std::shared_ptr<HostFunction>> dead;
  {
    std::lock_guard<std::mutex> lock(release_mu_);
    dead.swap(dead_host_functions_);
  }
  dead.clear();  // each takes the GIL to drop its Python object
}

std::shared_ptr<HostFunction> IsolateHolder::FindHostFunction(HostFunction* fn) const {
  auto it = host_functions_.find(fn);
  return it == host_functions_.end() ? nullptr : it->second.fn;
}

// ---------------------------------------------------------------------------------------------
// Time

uint64_t IsolateHolder::CpuTimeNs() const { return cpu_ns_.load() + RunningCallCpuNs(this); }

uint64_t IsolateHolder::WallTimeNs() const { return wall_ns_.load() + RunningCallWallNs(this); }

size_t IsolateHolder::external_bytes() const { return allocator_->used(); }

std::shared_ptr<v8::BackingStore> IsolateHolder::NewBackingStore(size_t size) {
  void* data = allocator_->Claim(size);
  if (data == nullptr) return nullptr;
  // The deleter keeps the allocator alive: a buffer may outlive its isolate (transferred).
  auto* owner = new std::shared_ptr<CappedAllocator>(allocator_);
  std::unique_ptr<v8::BackingStore> store = v8::ArrayBuffer::NewBackingStore(
      data, size,
      [](void* bytes, size_t length, void* deleter_data) {
        auto* allocator = static_cast<std::shared_ptr<CappedAllocator>*>(deleter_data);
        (*allocator)->Free(bytes, length);
        delete allocator;
      },
      owner);
  return std::shared_ptr<v8::BackingStore>(std::move(store));
}

}  // namespace ivmhost
