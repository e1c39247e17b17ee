// The call monitor: one process-wide thread that watches the outermost calls now running.
//
// It does two things no call should pay for on its hot path:
// - CPU time. Reading a thread's CPU clock is a system call (~0.85 µs on these machines, more than
//   a whole small eval), so a call reads only the monotonic clock. The monitor samples the CPU
//   clock of calls that are still running at its next tick; a call that was sampled reads its
//   thread's CPU clock once more when it ends. Short calls (never sampled) count their wall time,
//   long calls their real CPU time (plus at most one tick of wall time before the sample).
// - Ctrl-C. Python runs signal handlers only between bytecodes, never while the main thread is
//   inside a sync call. The monitor keeps a SIGINT handler chained in front of Python's while a
//   main-thread call runs long; on SIGINT it stops the main thread's calls, and Python's own
//   handler (which still ran) raises KeyboardInterrupt when the call returns.
#pragma once

#include <time.h>

#include <cstdint>

namespace ivmhost {

class IsolateHolder;

struct RunningCall {
  IsolateHolder* holder = nullptr;
  uint64_t seq = 0;
  clockid_t clock{};
  uint64_t wall_start = 0;
  bool main_thread = false;
  // Filled by the monitor, under its lock.
  bool sampled = false;
  uint64_t cpu_sample = 0;
  uint64_t wall_sample = 0;
  RunningCall* next = nullptr;
  RunningCall* prev = nullptr;
};

uint64_t MonotonicNs();
// A main-thread call that will wait (paused in the debugger): chain the Ctrl-C handler now,
// without waiting for the monitor to see the call run long.
void EnsureCtrlCOnMainThread();
// Registers `call` (living on the caller's stack) for the outermost call `seq` of `holder`.
void RegisterCall(RunningCall* call, IsolateHolder* holder, uint64_t seq);
// Unregisters `call`; returns the CPU time it used, in ns.
uint64_t UnregisterCall(RunningCall* call);
// CPU time used so far by `holder`'s running call, or 0 when none runs.
uint64_t RunningCallCpuNs(const IsolateHolder* holder);
uint64_t RunningCallWallNs(const IsolateHolder* holder);

}  // namespace ivmhost
