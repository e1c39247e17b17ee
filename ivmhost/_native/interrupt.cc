#include "interrupt.h"

#include <semaphore.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <ctime>
#include <mutex>
#include <thread>

#include "isolate_holder.h"

namespace ivmhost {
namespace {

// The main thread's call now running, guarded by g_slot_mu: the holder cannot go away while a
// call is registered here, and the monitor only reaches it under the lock.
std::mutex g_slot_mu;
IsolateHolder* g_slot_holder = nullptr;
uint64_t g_slot_seq = 0;
std::atomic<uint64_t> g_slot_generation{0};
uint64_t g_generations = 0;

sem_t g_wake;
std::atomic<bool> g_sigint{false};
struct sigaction g_previous;
std::once_flag g_monitor_once;

void OnSigint(int sig, siginfo_t* info, void* ucontext) {
  // Async-signal-safe only: a flag and a semaphore post; then Python's own handler.
  g_sigint.store(true);
  sem_post(&g_wake);
  if (g_previous.sa_flags & SA_SIGINFO) {
    if (g_previous.sa_sigaction != nullptr) g_previous.sa_sigaction(sig, info, ucontext);
  } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN &&
             g_previous.sa_handler != nullptr) {
    g_previous.sa_handler(sig);
  }
}

// Puts OnSigint in front of whatever SIGINT handler Python has now (trio and signal.signal
// replace handlers freely, so this is re-checked while main-thread calls run).
void EnsureHandler() {
  struct sigaction current;
  if (sigaction(SIGINT, nullptr, &current) != 0) return;
  if ((current.sa_flags & SA_SIGINFO) && current.sa_sigaction == OnSigint) return;
  if (!(current.sa_flags & SA_SIGINFO) &&
      (current.sa_handler == SIG_DFL || current.sa_handler == SIG_IGN))
    return;  // nobody wants SIGINT turned into an exception: leave it alone
  g_previous = current;
  struct sigaction ours = current;
  ours.sa_sigaction = OnSigint;
  ours.sa_flags = (current.sa_flags | SA_SIGINFO) & ~SA_RESETHAND;
  sigaction(SIGINT, &ours, nullptr);
}

void StopMainThreadCall() {
  std::lock_guard<std::mutex> lock(g_slot_mu);
  if (g_slot_holder != nullptr) g_slot_holder->Interrupt(g_slot_seq);
}

void MonitorLoop() {
  uint64_t seen_generation = 0;
  for (;;) {
    timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_nsec += 20 * 1000 * 1000;
    if (deadline.tv_nsec >= 1000000000) {
      deadline.tv_sec += 1;
      deadline.tv_nsec -= 1000000000;
    }
    if (sem_timedwait(&g_wake, &deadline) == 0 && g_sigint.exchange(false)) {
      StopMainThreadCall();
      continue;
    }
    // A call that has been running for a tick is long: make sure Ctrl-C can reach it.
    uint64_t generation = g_slot_generation.load();
    if (generation != 0 && generation == seen_generation) EnsureHandler();
    seen_generation = generation;
  }
}

}  // namespace

bool OnMainThread() {
  thread_local int main = -1;
  if (main < 0) main = static_cast<pid_t>(syscall(SYS_gettid)) == getpid() ? 1 : 0;
  return main == 1;
}

MainThreadCall BeginMainThreadCall(IsolateHolder* holder, uint64_t seq) {
  std::call_once(g_monitor_once, [] {
    sem_init(&g_wake, 0, 0);
    std::thread(MonitorLoop).detach();
  });
  std::lock_guard<std::mutex> lock(g_slot_mu);
  MainThreadCall covered{g_slot_holder, g_slot_seq};
  g_slot_holder = holder;
  g_slot_seq = seq;
  g_slot_generation.store(++g_generations);
  return covered;
}

void EndMainThreadCall(const MainThreadCall& covered) {
  std::lock_guard<std::mutex> lock(g_slot_mu);
  g_slot_holder = covered.holder;
  g_slot_seq = covered.seq;
  g_slot_generation.store(covered.holder != nullptr ? ++g_generations : 0);
}

}  // namespace ivmhost
