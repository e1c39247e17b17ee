#include "call_monitor.h"

#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "isolate_holder.h"

namespace ivmhost {
namespace {

constexpr int kTickMs = 5;
constexpr int kIdleTicks = 200;  // ~1 s without calls: the monitor sleeps until the next one

// Never destroyed: the detached monitor may be waiting on them when the process exits, and
// destroying a condition variable with a waiter blocks forever in glibc.
std::mutex& g_mu = *new std::mutex;
std::condition_variable& g_cv = *new std::condition_variable;
RunningCall* g_calls = nullptr;
bool g_started = false;
bool g_sleeping = false;

sem_t g_sigint_sem;
std::atomic<bool> g_sigint{false};
struct sigaction g_previous;

uint64_t ClockNs(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

bool OnMainThread() {
  thread_local int main = -1;
  if (main < 0) main = static_cast<pid_t>(syscall(SYS_gettid)) == getpid() ? 1 : 0;
  return main == 1;
}

void OnSigint(int sig, siginfo_t* info, void* ucontext) {
  // Async-signal-safe only: a flag and a semaphore post; then Python's own handler.
  g_sigint.store(true);
  sem_post(&g_sigint_sem);
  if (g_previous.sa_flags & SA_SIGINFO) {
    if (g_previous.sa_sigaction != nullptr) g_previous.sa_sigaction(sig, info, ucontext);
  } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN &&
             g_previous.sa_handler != nullptr) {
    g_previous.sa_handler(sig);
  }
}

// Puts OnSigint in front of whatever SIGINT handler is installed now (trio and signal.signal
// replace handlers freely, so this is re-checked while main-thread calls run long).
void EnsureSigintHandler() {
  struct sigaction current;
  if (sigaction(SIGINT, nullptr, &current) != 0) return;
  if ((current.sa_flags & SA_SIGINFO) && current.sa_sigaction == OnSigint) return;
  if (!(current.sa_flags & SA_SIGINFO) &&
      (current.sa_handler == SIG_DFL || current.sa_handler == SIG_IGN))
    return;  // nobody turns SIGINT into an exception: leave it alone
  g_previous = current;
  struct sigaction ours = current;
  ours.sa_sigaction = OnSigint;
  ours.sa_flags = (current.sa_flags | SA_SIGINFO) & ~SA_RESETHAND;
  sigaction(SIGINT, &ours, nullptr);
}

void MonitorLoop() {
  int idle = 0;
  for (;;) {
    timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_nsec += kTickMs * 1000 * 1000;
    if (deadline.tv_nsec >= 1000000000) {
      deadline.tv_sec += 1;
      deadline.tv_nsec -= 1000000000;
    }
    bool signalled = sem_timedwait(&g_sigint_sem, &deadline) == 0 && g_sigint.exchange(false);
    std::unique_lock<std::mutex> lock(g_mu);
    bool long_main_call = false;
    for (RunningCall* call = g_calls; call != nullptr; call = call->next) {
      if (signalled && call->main_thread) call->holder->Interrupt(call->seq);
      if (!call->sampled) {
        call->sampled = true;
        call->cpu_sample = ClockNs(call->clock);
        call->wall_sample = ClockNs(CLOCK_MONOTONIC);
      } else if (call->main_thread) {
        long_main_call = true;
      }
    }
    if (long_main_call) EnsureSigintHandler();
    idle = g_calls == nullptr ? idle + 1 : 0;
    if (idle >= kIdleTicks) {
      g_sleeping = true;
      g_cv.wait(lock, [] { return g_calls != nullptr; });
      g_sleeping = false;
      idle = 0;
    }
  }
}

uint64_t CallCpuNs(const RunningCall* call, uint64_t wall_now) {
  if (!call->sampled) return wall_now - call->wall_start;
  return (call->wall_sample - call->wall_start) + (ClockNs(call->clock) - call->cpu_sample);
}

}  // namespace

uint64_t MonotonicNs() { return ClockNs(CLOCK_MONOTONIC); }

void EnsureCtrlCOnMainThread() {
  if (!OnMainThread()) return;
  std::lock_guard<std::mutex> lock(g_mu);  // the monitor installs it under the same lock
  EnsureSigintHandler();
}

void RegisterCall(RunningCall* call, IsolateHolder* holder, uint64_t seq) {
  call->holder = holder;
  call->seq = seq;
  call->main_thread = OnMainThread();
  pthread_getcpuclockid(pthread_self(), &call->clock);
  call->wall_start = MonotonicNs();
  std::lock_guard<std::mutex> lock(g_mu);
  if (!g_started) {
    g_started = true;
    sem_init(&g_sigint_sem, 0, 0);
    std::thread(MonitorLoop).detach();
  }
  call->next = g_calls;
  call->prev = nullptr;
  if (g_calls != nullptr) g_calls->prev = call;
  g_calls = call;
  if (g_sleeping) g_cv.notify_one();
}

uint64_t UnregisterCall(RunningCall* call) {
  uint64_t wall_now = MonotonicNs();
  std::lock_guard<std::mutex> lock(g_mu);
  if (call->prev != nullptr) call->prev->next = call->next;
  if (call->next != nullptr) call->next->prev = call->prev;
  if (g_calls == call) g_calls = call->next;
  return CallCpuNs(call, wall_now);
}

uint64_t RunningCallCpuNs(const IsolateHolder* holder) {
  uint64_t wall_now = MonotonicNs();
  std::lock_guard<std::mutex> lock(g_mu);
  for (RunningCall* call = g_calls; call != nullptr; call = call->next) {
    if (call->holder == holder) return CallCpuNs(call, wall_now);
  }
  return 0;
}

uint64_t RunningCallWallNs(const IsolateHolder* holder) {
  uint64_t wall_now = MonotonicNs();
  std::lock_guard<std::mutex> lock(g_mu);
  for (RunningCall* call = g_calls; call != nullptr; call = call->next) {
    if (call->holder == holder) return wall_now - call->wall_start;
  }
  return 0;
}

}  // namespace ivmhost
