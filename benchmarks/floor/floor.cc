// floor.cc: the raw-V8 floor for ivmhost's engine benchmarks.
//
// A minimal embedder over the same vendored V8 (Debian's libnode) that ivmhost links, doing each
// workload the way any embedder must, with nothing else around it: no Python, no marshalling, no
// executor thread, no op objects. benchmarks/engine.py runs this next to ivmhost and prints the
// ratio. Prints one JSON object on stdout.
//
// Usage: floor [eval] [cold] [rss] [timeout] [apply] [callback] [bytes] [dicts] [all]
//              [--samples=N] [--batch=N]
//        (no workload: all eight, rss first; --samples overrides each workload's sample count,
//        --batch the batch size of each batched workload: operations per sample)
//
//   eval     eval_x_plus_1_us      median µs per call of: Locker + Isolate::Scope + HandleScope +
//                                  Context::Scope + TryCatch + ScriptCompiler::Compile("x+1") +
//                                  Run + NumberValue, in a context where `var x = 1` ran.
//                                  Batches of 20000 calls, 9 samples.
//   cold     cold_start_ms         median ms of Isolate::New (with an ArrayBuffer allocator) +
//                                  Context::New + eval "1" + Dispose. 40 samples after 3 warm-ups.
//   rss      idle_isolate_rss_kib  RSS growth (/proc/self/statm) from creating 100 isolates with
//                                  one context each, all alive, divided by 100. Measured after one
//                                  warm-up isolate so process-wide one-time costs are excluded,
//                                  and 100 ms of settling before each reading.
//                                  Run it first (or alone) so earlier workloads don't pollute it.
//   timeout  timeout_overshoot_ms  median of (elapsed - 50 ms) for `while(true){}` stopped by a
//                                  watchdog thread calling TerminateExecution 50 ms after the call
//                                  started (elapsed measured from call start). 10 samples after
//                                  one warm-up.
//   apply    apply_sync_us         median µs per call of f(1, 2, 'abc') with
//                                  f = function f(a, b, c) { return a + b + c.length }: Locker +
//                                  Isolate::Scope + HandleScope + Context::Scope + TryCatch +
//                                  arguments made (Integer, Integer, String) + Function::Call +
//                                  NumberValue. Batches of 20000 calls, 9 samples.
//   callback js_to_py_callback_ns  median ns per call of a C++ FunctionTemplate callback that
//                                  returns its argument, called from the JS loop
//                                  `for (let i = 0; i < n; i++) s += f(i)`; one Function::Call of
//                                  the loop per sample, n = batch (200000), 9 samples.
//   bytes    bytes_1mib_in_us      median µs per call of (b) => b.length with 1 MiB from C++:
//                                  Locker + scopes + TryCatch + ArrayBuffer::New(isolate, 1 MiB)
//                                  + memcpy 1 MiB into it + Uint8Array::New + Function::Call +
//                                  NumberValue. Batches of 50 calls, 9 samples.
//   dicts    dicts_10k_roundtrip_ms  median ms per JSON round trip of 10000 records
//                                  {"id", "name", "tags", "score"} (the text prepared once, in
//                                  C++): Locker + scopes + TryCatch + String::NewFromUtf8(text) +
//                                  JSON::Parse + the compiled
//                                  (xs) => xs.map(x => ({...x, score: x.score * 2})) +
//                                  JSON::Stringify + WriteUtf8 back into a C++ string. Batches of
//                                  1 round trip, 9 samples after 5 warm-ups (as engine.py); the
//                                  first output is checked exactly.
//
// Build: benchmarks/floor/build.py (g++ -std=c++17 -fno-rtti -pthread -O2, no V8 defines).

#include <libplatform/libplatform.h>
#include <unistd.h>
#include <v8.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

int g_samples = 0;  // 0: each workload's default
int g_batch = 0;    // 0: each batched workload's default

int Samples(int default_count) { return g_samples > 0 ? g_samples : default_count; }
int Batch(int default_count) { return g_batch > 0 ? g_batch : default_count; }

using Clock = std::chrono::steady_clock;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  if (n == 0) return 0;
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double NowNs() {
  return static_cast<double>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count());
}

std::string JsonArray(const std::vector<double>& v) {
  std::string out = "[";
  char buf[64];
  for (size_t i = 0; i < v.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%s%.4f", i ? ", " : "", v[i]);
    out += buf;
  }
  return out + "]";
}

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "floor: %s\n", what);
  std::exit(1);
}

// Compiles and runs `source` in the entered context; returns its NumberValue (NaN on failure).
double EvalNumber(v8::Isolate* isolate, v8::Local<v8::Context> context, const char* source) {
  v8::TryCatch try_catch(isolate);
  v8::Local<v8::String> code;
  if (!v8::String::NewFromUtf8(isolate, source).ToLocal(&code)) return NAN;
  v8::ScriptCompiler::Source src(code);
  v8::Local<v8::Script> script;
  if (!v8::ScriptCompiler::Compile(context, &src).ToLocal(&script)) return NAN;
  v8::Local<v8::Value> result;
  if (!script->Run(context).ToLocal(&result)) return NAN;
  double d;
  if (!result->NumberValue(context).To(&d)) return NAN;
  return d;
}

struct OwnedIsolate {
  v8::Isolate* isolate = nullptr;
  v8::ArrayBuffer::Allocator* allocator = nullptr;
  v8::Global<v8::Context> context;

  OwnedIsolate() {
    allocator = v8::ArrayBuffer::Allocator::NewDefaultAllocator();
    v8::Isolate::CreateParams params;
    params.array_buffer_allocator = allocator;
    isolate = v8::Isolate::New(params);
    if (isolate == nullptr) Die("Isolate::New failed");
  }
  void NewContext() {
    v8::Locker locker(isolate);
    v8::Isolate::Scope isolate_scope(isolate);
    v8::HandleScope handle_scope(isolate);
    context.Reset(isolate, v8::Context::New(isolate));
  }
  void Dispose() {
    {
      v8::Locker locker(isolate);
      context.Reset();
    }
    isolate->Dispose();
    delete allocator;
    isolate = nullptr;
    allocator = nullptr;
  }
};

// ---- (1) eval x+1 ----------------------------------------------------------------------------

std::string BenchEval() {
  OwnedIsolate owned;
  owned.NewContext();
  v8::Isolate* isolate = owned.isolate;
  auto one_call = [&](const char* source) {
    v8::Locker locker(isolate);
    v8::Isolate::Scope isolate_scope(isolate);
    v8::HandleScope handle_scope(isolate);
    v8::Local<v8::Context> context = owned.context.Get(isolate);
    v8::Context::Scope context_scope(context);
    return EvalNumber(isolate, context, source);
  };
  one_call("var x = 1");
  const int kBatch = Batch(20000), kSamples = Samples(9);
  double check = 0;
  for (int i = 0; i < 2000; ++i) check += one_call("x+1");  // warm-up
  if (check != 4000) Die("x+1 did not evaluate to 2");
  std::vector<double> samples;
  for (int s = 0; s < kSamples; ++s) {
    double t0 = NowNs();
    for (int i = 0; i < kBatch; ++i) check += one_call("x+1");
    samples.push_back((NowNs() - t0) / kBatch / 1e3);
  }
  owned.Dispose();
  char buf[128];
  std::snprintf(buf, sizeof buf, "\"eval_x_plus_1_us\": %.4f, \"eval_x_plus_1_samples_us\": ",
                Median(samples));
  return buf + JsonArray(samples);
}

// ---- (2) cold start --------------------------------------------------------------------------

double OneColdStart() {
  double t0 = NowNs();
  OwnedIsolate owned;
  {
    v8::Locker locker(owned.isolate);
    v8::Isolate::Scope isolate_scope(owned.isolate);
    v8::HandleScope handle_scope(owned.isolate);
    v8::Local<v8::Context> context = v8::Context::New(owned.isolate);
    v8::Context::Scope context_scope(context);
    if (EvalNumber(owned.isolate, context, "1") != 1) Die("eval of 1 failed");
  }
  owned.Dispose();
  return (NowNs() - t0) / 1e6;
}

std::string BenchCold() {
  for (int i = 0; i < 3; ++i) OneColdStart();
  std::vector<double> samples;
  for (int i = 0, n = Samples(40); i < n; ++i) samples.push_back(OneColdStart());
  char buf[128];
  std::snprintf(buf, sizeof buf, "\"cold_start_ms\": %.4f, \"cold_start_samples_ms\": ",
                Median(samples));
  return buf + JsonArray(samples);
}

// ---- (3) RSS per idle isolate ----------------------------------------------------------------

long RssKib() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) Die("cannot read /proc/self/statm");
  long size = 0, resident = 0;
  if (std::fscanf(f, "%ld %ld", &size, &resident) != 2) Die("bad /proc/self/statm");
  std::fclose(f);
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

std::string BenchRss() {
  const int kCount = 100;
  {
    // Warm-up: one isolate + context + eval, disposed, so one-time process-wide costs
    // (builtins pages, ICU, platform workers) are paid before the baseline.
    OneColdStart();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let platform threads settle
  long before = RssKib();
  std::vector<std::unique_ptr<OwnedIsolate>> alive;
  for (int i = 0; i < kCount; ++i) {
    alive.push_back(std::make_unique<OwnedIsolate>());
    alive.back()->NewContext();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  long after = RssKib();
  for (auto& o : alive) o->Dispose();
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "\"idle_isolate_rss_kib\": %.2f, \"rss_before_kib\": %ld, \"rss_after_kib\": %ld, "
                "\"rss_isolates\": %d",
                static_cast<double>(after - before) / kCount, before, after, kCount);
  return buf;
}

// ---- (4) timeout overshoot -------------------------------------------------------------------

// One long-lived watchdog thread: armed with a deadline per call, it calls TerminateExecution
// when the deadline passes before the call disarms it.
class Watchdog {
 public:
  explicit Watchdog(v8::Isolate* isolate) : isolate_(isolate), thread_([this] { Loop(); }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      quit_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void Arm(Clock::time_point deadline) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      deadline_ = deadline;
      armed_ = true;
      fired_ = false;
    }
    cv_.notify_all();
  }
  // Returns whether it fired.
  bool Disarm() {
    std::lock_guard<std::mutex> lock(mu_);
    armed_ = false;
    return fired_;
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!quit_) {
      if (!armed_) {
        cv_.wait(lock);
        continue;
      }
      if (cv_.wait_until(lock, deadline_) == std::cv_status::timeout && armed_ &&
          Clock::now() >= deadline_) {
        armed_ = false;
        fired_ = true;
        isolate_->TerminateExecution();
      }
    }
  }
  v8::Isolate* isolate_;
  std::mutex mu_;
  std::condition_variable cv_;
  Clock::time_point deadline_;
  bool armed_ = false, fired_ = false, quit_ = false;
  std::thread thread_;
};

std::string BenchTimeout() {
  OwnedIsolate owned;
  owned.NewContext();
  v8::Isolate* isolate = owned.isolate;
  Watchdog watchdog(isolate);
  const double kTimeoutMs = 50;
  std::vector<double> samples;
  // One warm-up call (discarded), then the samples.
  for (int s = -1, n = Samples(10); s < n; ++s) {
    auto start = Clock::now();
    watchdog.Arm(start + std::chrono::milliseconds(static_cast<int>(kTimeoutMs)));
    {
      v8::Locker locker(isolate);
      v8::Isolate::Scope isolate_scope(isolate);
      v8::HandleScope handle_scope(isolate);
      v8::Local<v8::Context> context = owned.context.Get(isolate);
      v8::Context::Scope context_scope(context);
      v8::TryCatch try_catch(isolate);
      v8::Local<v8::String> code =
          v8::String::NewFromUtf8Literal(isolate, "while(true){}");
      v8::ScriptCompiler::Source src(code);
      v8::Local<v8::Script> script;
      if (!v8::ScriptCompiler::Compile(context, &src).ToLocal(&script)) Die("compile failed");
      v8::MaybeLocal<v8::Value> result = script->Run(context);
      if (!result.IsEmpty()) Die("while(true){} returned");
      bool fired = watchdog.Disarm();
      bool terminated = try_catch.HasTerminated();
      // Cancel whenever it fired, so a late termination cannot hit the next call.
      if (fired) isolate->CancelTerminateExecution();
      if (!fired) Die("watchdog did not fire");
      if (!terminated) Die("script ended without termination");
    }
    double elapsed_ms =
        std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    if (s >= 0) samples.push_back(elapsed_ms - kTimeoutMs);
  }
  owned.Dispose();
  char buf[160];
  std::snprintf(buf, sizeof buf,
                "\"timeout_overshoot_ms\": %.4f, \"timeout_overshoot_samples_ms\": ",
                Median(samples));
  return buf + JsonArray(samples);
}


// ---- shared by the call workloads ------------------------------------------------------------

// Everything a call into the isolate needs on the calling thread, per call (as in BenchEval).
struct Entered {
  v8::Locker locker;
  v8::Isolate::Scope isolate_scope;
  v8::HandleScope handle_scope;
  v8::Local<v8::Context> context;
  v8::Context::Scope context_scope;
  v8::TryCatch try_catch;
  Entered(v8::Isolate* isolate, const v8::Global<v8::Context>& global)
      : locker(isolate),
        isolate_scope(isolate),
        handle_scope(isolate),
        context(global.Get(isolate)),
        context_scope(context),
        try_catch(isolate) {}
};

// Compiles and runs `source` (which must evaluate to a function) in `owned`'s context.
v8::Global<v8::Function> CompileFunction(OwnedIsolate& owned, const char* source) {
  v8::Isolate* isolate = owned.isolate;
  Entered e(isolate, owned.context);
  v8::Local<v8::String> code;
  v8::Local<v8::Script> script;
  v8::Local<v8::Value> value;
  if (!v8::String::NewFromUtf8(isolate, source).ToLocal(&code)) Die("bad source");
  v8::ScriptCompiler::Source src(code);
  if (!v8::ScriptCompiler::Compile(e.context, &src).ToLocal(&script) ||
      !script->Run(e.context).ToLocal(&value) || !value->IsFunction())
    Die("function did not compile");
  return v8::Global<v8::Function>(isolate, value.As<v8::Function>());
}

// Runs `batch` operations per sample, `samples` times after `warmup` operations; each sample is
// the time per operation in `scale` ns units (1e3: µs, 1e6: ms).
template <typename Op>
std::vector<double> Sampled(int samples, int batch, int warmup, double scale, Op op) {
  for (int i = 0; i < warmup; ++i) op();
  std::vector<double> out;
  for (int s = 0; s < samples; ++s) {
    double t0 = NowNs();
    for (int i = 0; i < batch; ++i) op();
    out.push_back((NowNs() - t0) / batch / scale);
  }
  return out;
}

std::string Report(const char* key, const char* samples_key, const std::vector<double>& samples) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "\"%s\": %.4f, \"%s\": ", key, Median(samples), samples_key);
  return buf + JsonArray(samples);
}

// ---- (5) apply f(1, 2, 'abc') ----------------------------------------------------------------

std::string BenchApply() {
  OwnedIsolate owned;
  owned.NewContext();
  v8::Isolate* isolate = owned.isolate;
  v8::Global<v8::Function> f =
      CompileFunction(owned, "(function f(a, b, c) { return a + b + c.length })");
  auto one_call = [&]() {
    Entered e(isolate, owned.context);
    v8::Local<v8::Value> args[3] = {v8::Integer::New(isolate, 1), v8::Integer::New(isolate, 2),
                                    v8::String::NewFromUtf8Literal(isolate, "abc")};
    v8::Local<v8::Value> result;
    double d;
    if (!f.Get(isolate)->Call(e.context, v8::Undefined(isolate), 3, args).ToLocal(&result) ||
        !result->NumberValue(e.context).To(&d))
      return static_cast<double>(NAN);
    return d;
  };
  if (one_call() != 6) Die("f(1, 2, 'abc') did not return 6");
  std::vector<double> samples = Sampled(Samples(9), Batch(20000), 2000, 1e3, one_call);
  f.Reset();
  owned.Dispose();
  return Report("apply_sync_us", "apply_sync_samples_us", samples);
}

// ---- (6) JS -> native callback ---------------------------------------------------------------

void Identity(const v8::FunctionCallbackInfo<v8::Value>& info) {
  info.GetReturnValue().Set(info[0]);
}

std::string BenchCallback() {
  OwnedIsolate owned;
  owned.NewContext();
  v8::Isolate* isolate = owned.isolate;
  v8::Global<v8::Function> make_loop = CompileFunction(
      owned,
      "(function (f) { return (n) => { let s = 0; for (let i = 0; i < n; i++) s += f(i); "
      "return s } })");
  v8::Global<v8::Function> loop;
  {
    Entered e(isolate, owned.context);
    v8::Local<v8::Function> callback;
    v8::Local<v8::Value> value;
    if (!v8::FunctionTemplate::New(isolate, Identity)->GetFunction(e.context).ToLocal(&callback))
      Die("callback function failed");
    v8::Local<v8::Value> args[1] = {callback};
    if (!make_loop.Get(isolate)->Call(e.context, v8::Undefined(isolate), 1, args).ToLocal(&value) ||
        !value->IsFunction())
      Die("loop function failed");
    loop.Reset(isolate, value.As<v8::Function>());
  }
  auto run_loop = [&](int n) {
    Entered e(isolate, owned.context);
    v8::Local<v8::Value> args[1] = {v8::Integer::New(isolate, n)};
    v8::Local<v8::Value> result;
    double d;
    if (!loop.Get(isolate)->Call(e.context, v8::Undefined(isolate), 1, args).ToLocal(&result) ||
        !result->NumberValue(e.context).To(&d))
      return static_cast<double>(NAN);
    return d;
  };
  if (run_loop(10) != 45) Die("loop(10) did not return 45");
  const int kN = Batch(200000);
  run_loop(kN);  // warm-up (and JIT)
  std::vector<double> samples;
  for (int s = 0, n = Samples(9); s < n; ++s) {
    double t0 = NowNs();
    double sum = run_loop(kN);
    samples.push_back((NowNs() - t0) / kN);
    if (sum != static_cast<double>(kN) * (kN - 1) / 2) Die("loop returned a wrong sum");
  }
  loop.Reset();
  make_loop.Reset();
  owned.Dispose();
  return Report("js_to_py_callback_ns", "js_to_py_callback_samples_ns", samples);
}

// ---- (7) 1 MiB of bytes in -------------------------------------------------------------------

std::string BenchBytes() {
  OwnedIsolate owned;
  owned.NewContext();
  v8::Isolate* isolate = owned.isolate;
  v8::Global<v8::Function> fn = CompileFunction(owned, "(b) => b.length");
  const size_t kSize = 1 << 20;
  std::vector<unsigned char> payload(kSize);  // zeros, like Python's bytes(1 << 20)
  auto one_call = [&]() {
    Entered e(isolate, owned.context);
    v8::Local<v8::ArrayBuffer> buffer = v8::ArrayBuffer::New(isolate, kSize);
    std::memcpy(buffer->GetBackingStore()->Data(), payload.data(), kSize);
    v8::Local<v8::Value> args[1] = {v8::Uint8Array::New(buffer, 0, kSize)};
    v8::Local<v8::Value> result;
    double d;
    if (!fn.Get(isolate)->Call(e.context, v8::Undefined(isolate), 1, args).ToLocal(&result) ||
        !result->NumberValue(e.context).To(&d))
      return static_cast<double>(NAN);
    return d;
  };
  if (one_call() != kSize) Die("b.length was not 1 MiB");
  std::vector<double> samples = Sampled(Samples(9), Batch(50), 20, 1e3, one_call);
  fn.Reset();
  owned.Dispose();
  return Report("bytes_1mib_in_us", "bytes_1mib_in_samples_us", samples);
}

// ---- (8) 10,000 records round trip (JSON) ----------------------------------------------------

// The JSON text of n records {"id": i, "name": "item<i>", "tags": ["a", "b"], "score": i * 0.5},
// or of the mapped result (score * 2 == i), formatted as JSON.stringify formats it.
std::string RecordsJson(int n, bool mapped) {
  std::string out = "[";
  char buf[128];
  for (int i = 0; i < n; ++i) {
    if (mapped)
      std::snprintf(buf, sizeof buf, "%s{\"id\":%d,\"name\":\"item%d\",\"tags\":[\"a\",\"b\"],\"score\":%d}",
                    i ? "," : "", i, i, i);
    else
      std::snprintf(buf, sizeof buf, "%s{\"id\":%d,\"name\":\"item%d\",\"tags\":[\"a\",\"b\"],\"score\":%d%s}",
                    i ? "," : "", i, i, i / 2, i % 2 ? ".5" : "");
    out += buf;
  }
  return out + "]";
}

std::string BenchDicts() {
  OwnedIsolate owned;
  owned.NewContext();
  v8::Isolate* isolate = owned.isolate;
  v8::Global<v8::Function> fn =
      CompileFunction(owned, "(xs) => xs.map(x => ({...x, score: x.score * 2}))");
  const std::string text = RecordsJson(10000, false);  // prepared once
  const std::string expected = RecordsJson(10000, true);
  std::string output;
  auto round_trip = [&]() {
    Entered e(isolate, owned.context);
    v8::Local<v8::String> in;
    v8::Local<v8::Value> parsed, mapped;
    v8::Local<v8::String> out;
    if (!v8::String::NewFromUtf8(isolate, text.data(), v8::NewStringType::kNormal,
                                 static_cast<int>(text.size()))
             .ToLocal(&in) ||
        !v8::JSON::Parse(e.context, in).ToLocal(&parsed))
      Die("JSON::Parse failed");
    v8::Local<v8::Value> args[1] = {parsed};
    if (!fn.Get(isolate)->Call(e.context, v8::Undefined(isolate), 1, args).ToLocal(&mapped))
      Die("map failed");
    if (!v8::JSON::Stringify(e.context, mapped).ToLocal(&out)) Die("JSON::Stringify failed");
    output.resize(out->Utf8Length(isolate));
    out->WriteUtf8(isolate, output.data(), static_cast<int>(output.size()), nullptr,
                   v8::String::NO_NULL_TERMINATION);
  };
  round_trip();
  if (output != expected) Die("the round trip's JSON differs from the expected text");
  std::vector<double> samples = Sampled(Samples(9), Batch(1), 5, 1e6, round_trip);
  fn.Reset();
  owned.Dispose();
  return Report("dicts_10k_roundtrip_ms", "dicts_10k_roundtrip_samples_ms", samples);
}

}  // namespace

int main(int argc, char** argv) {
  static const char* const kNames[] = {"eval",  "cold",     "rss",   "timeout",
                                       "apply", "callback", "bytes", "dicts"};
  const int kCount = sizeof kNames / sizeof kNames[0];
  bool want[kCount] = {};
  bool any = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    bool known = false;
    for (int w = 0; w < kCount; ++w)
      if (a == kNames[w] || a == "all") want[w] = known = any = true;
    if (known) continue;
    if (a.rfind("--samples=", 0) == 0) g_samples = std::atoi(a.c_str() + 10);
    else if (a.rfind("--batch=", 0) == 0) g_batch = std::max(1, std::atoi(a.c_str() + 8));
    else {
      std::fprintf(stderr,
                   "usage: %s [eval] [cold] [rss] [timeout] [apply] [callback] [bytes] [dicts] "
                   "[all] [--samples=N] [--batch=N]\n",
                   argv[0]);
      return 2;
    }
  }
  if (!any) std::fill(want, want + kCount, true);

  v8::V8::InitializeICU();
  std::unique_ptr<v8::Platform> platform = v8::platform::NewDefaultPlatform();
  v8::V8::InitializePlatform(platform.get());
  v8::V8::Initialize();

  std::vector<std::string> parts;
  parts.push_back(std::string("\"v8_version\": \"") + v8::V8::GetVersion() + "\"");
  // RSS first: the other workloads would leave freed-but-resident memory behind.
  std::string (*const kBench[])() = {BenchEval,  BenchCold,     BenchRss,   BenchTimeout,
                                     BenchApply, BenchCallback, BenchBytes, BenchDicts};
  if (want[2]) parts.push_back(BenchRss());
  for (int w = 0; w < kCount; ++w)
    if (want[w] && w != 2) parts.push_back(kBench[w]());

  std::string out = "{";
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? ", " : "") + parts[i];
  std::printf("%s}\n", out.c_str());

  v8::V8::Dispose();
  v8::V8::DisposePlatform();
  return 0;
}
