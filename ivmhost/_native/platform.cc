// Process-wide V8 state: the platform (initialised once, on first use, thread-safely), the fatal
// error handlers, the host hooks and V8's version.
#include <libplatform/libplatform.h>
#include <v8.h>

#include <signal.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "engine.h"
#include "isolate_holder.h"
#include "v8_compat.h"

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
  });
}

v8::Platform* GetPlatform() { return g_platform; }

const char* V8Version() { return v8::V8::GetVersion(); }

HostFunction::~HostFunction() {
  if (fn != nullptr && g_hooks.release != nullptr) g_hooks.release(fn);
}

}  // namespace ivmhost
