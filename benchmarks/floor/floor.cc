// floor.cc: the raw-V8 floor for ivmhost's engine benchmarks.
//
// A minimal embedder over the same vendored V8 (Debian's libnode) that ivmhost links, doing each
// workload the way any embedder must, with nothing else around it: no Python, no marshalling, no
// executor thread, no op objects. benchmarks/engine.py runs this next to ivmhost and prints the
// ratio. Prints one JSON object on stdout.
//
// Usage: floor [eval] [cold] [rss] [timeout] [--samples=N] [--batch=N]
//        (no workload: all four, rss first; --samples overrides each workload's sample count,
//        --batch the eval batch size)
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
int g_batch = 20000;

int Samples(int default_count) { return g_samples > 0 ? g_samples : default_count; }

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
  const int kBatch = g_batch, kSamples = Samples(9);
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

}  // namespace

int main(int argc, char** argv) {
  bool want_eval = false, want_cold = false, want_rss = false, want_timeout = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "eval") want_eval = true;
    else if (a == "cold") want_cold = true;
    else if (a == "rss") want_rss = true;
    else if (a == "timeout") want_timeout = true;
    else if (a == "all") want_eval = want_cold = want_rss = want_timeout = true;
    else if (a.rfind("--samples=", 0) == 0) g_samples = std::atoi(a.c_str() + 10);
    else if (a.rfind("--batch=", 0) == 0) g_batch = std::max(1, std::atoi(a.c_str() + 8));
    else {
      std::fprintf(stderr,
                   "usage: %s [eval] [cold] [rss] [timeout] [all] [--samples=N] [--batch=N]\n",
                   argv[0]);
      return 2;
    }
  }
  if (!want_eval && !want_cold && !want_rss && !want_timeout)
    want_eval = want_cold = want_rss = want_timeout = true;

  v8::V8::InitializeICU();
  std::unique_ptr<v8::Platform> platform = v8::platform::NewDefaultPlatform();
  v8::V8::InitializePlatform(platform.get());
  v8::V8::Initialize();

  std::vector<std::string> parts;
  parts.push_back(std::string("\"v8_version\": \"") + v8::V8::GetVersion() + "\"");
  // RSS first: the other workloads would leave freed-but-resident memory behind.
  if (want_rss) parts.push_back(BenchRss());
  if (want_eval) parts.push_back(BenchEval());
  if (want_cold) parts.push_back(BenchCold());
  if (want_timeout) parts.push_back(BenchTimeout());

  std::string out = "{";
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? ", " : "") + parts[i];
  std::printf("%s}\n", out.c_str());

  v8::V8::Dispose();
  v8::V8::DisposePlatform();
  return 0;
}
