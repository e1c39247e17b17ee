// Process-wide V8 state: the platform (initialised once, on first use, thread-safely), the fatal
// error handlers, the host hooks and V8's version.
#include <libplatform/libplatform.h>
#include <v8.h>

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <string>
#include <mutex>

#include "engine.h"
#include "isolate_holder.h"
#include "v8_compat.h"

// Exported by libnode (V8's base library) but in no public header: V8_Fatal's last hook.
namespace v8 {
namespace base {
void SetPrintStackTrace(void (*print_stack_trace)());
}  // namespace base
}  // namespace v8

namespace ivmhost {
namespace {

std::once_flag g_init_once;
// Leaked on purpose: worker threads and late isolates may still use it while the process exits.
v8::Platform* g_platform = nullptr;
HostHooks g_hooks;

[[noreturn]] void Catastrophe(const char* message) {
  if (g_hooks.catastrophic != nullptr) g_hooks.catastrophic(message);
  std::fprintf(stderr, "ivmhost: fatal V8 error: %s\n", message);
  std::fflush(stderr);
  std::abort();
}

void FatalError(const char* location, const char* message) {
  std::string text = std::string(location ? location : "") + ": " + (message ? message : "");
  Catastrophe(text.c_str());
}

IVMHOST_OOM_HANDLER(OutOfMemory, location, is_heap) {
  std::string text = std::string("out of memory in ") + (location ? location : "V8") +
                     (IVMHOST_OOM_IS_HEAP ? " (heap)" : " (process)");
  Catastrophe(text.c_str());
}

// V8_Fatal (a failed CHECK, "Fatal JavaScript invalid size error"...) never reaches the isolate's
// fatal error handler: its last hook before aborting is the stack-trace printer, installed here.
// Its message sits in a FailureMessage on V8_Fatal's own frame, just above this one, between two
// markers; the scan stays inside this thread's stack.
const char* FindFailureMessage() {
  constexpr uintptr_t kStart = 0xdecade10;
  constexpr uintptr_t kEnd = 0xdecade11;
  constexpr size_t kSize = 512;
  uintptr_t here = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  uintptr_t top = here + 8192;
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void* low = nullptr;
    size_t size = 0;
    if (pthread_attr_getstack(&attr, &low, &size) == 0 && low != nullptr) {
      top = std::min(top, reinterpret_cast<uintptr_t>(low) + size);
    }
    pthread_attr_destroy(&attr);
  }
  here = (here + sizeof(uintptr_t) - 1) & ~(sizeof(uintptr_t) - 1);
  for (uintptr_t at = here; at + 2 * sizeof(uintptr_t) + kSize <= top; at += sizeof(uintptr_t)) {
    if (*reinterpret_cast<const uintptr_t*>(at) != kStart) continue;
    if (*reinterpret_cast<const uintptr_t*>(at + sizeof(uintptr_t) + kSize) != kEnd) continue;
    return reinterpret_cast<const char*>(at + sizeof(uintptr_t));
  }
  return nullptr;
}

void OnV8Fatal() {
  const char* found = FindFailureMessage();
  std::string text = found != nullptr ? std::string(found, strnlen(found, 512)) : "V8 fatal error";
  Catastrophe(text.c_str());
}

}  // namespace

const HostHooks& Hooks() { return g_hooks; }
void SetHostHooks(const HostHooks& hooks) { g_hooks = hooks; }

void InstallFatalHandlers(v8::Isolate* isolate) {
  isolate->SetFatalErrorHandler(FatalError);
  isolate->SetOOMErrorHandler(OutOfMemory);
}

void EnsureV8() {
  std::call_once(g_init_once, [] {
    // IVMHOST_V8_FLAGS: V8 flags for diagnosis (e.g. "--trace-gc"); applied before initialisation.
    if (const char* flags = std::getenv("IVMHOST_V8_FLAGS")) v8::V8::SetFlagsFromString(flags);
    // V8's CPU profiler samples threads with SIGPROF and puts back the previous handler when its
    // last profiler stops; a signal still in flight then would kill the process (SIGPROF's default
    // action). Ignoring it underneath makes a late one harmless. Python does not use SIGPROF.
    struct sigaction current;
    if (sigaction(SIGPROF, nullptr, &current) == 0 && current.sa_handler == SIG_DFL &&
        !(current.sa_flags & SA_SIGINFO)) {
      std::signal(SIGPROF, SIG_IGN);
    }
    // Debian's libnode uses the system ICU: no data file to point at.
    v8::V8::InitializeICU();
    g_platform = v8::platform::NewDefaultPlatform().release();
    v8::V8::InitializePlatform(g_platform);
    // The inline Initialize() checks our build configuration against the library's.
    v8::V8::Initialize();
    v8::base::SetPrintStackTrace(OnV8Fatal);
  });
}

v8::Platform* GetPlatform() { return g_platform; }

const char* V8Version() { return v8::V8::GetVersion(); }

HostFunction::~HostFunction() {
  if (fn != nullptr && g_hooks.release != nullptr) g_hooks.release(fn);
}

}  // namespace ivmhost
