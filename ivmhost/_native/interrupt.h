// Ctrl-C during a long sync call on the main thread: stop the JavaScript, then let Python raise
// KeyboardInterrupt (its own SIGINT handler still runs; ours is chained in front of it).
#pragma once

#include <cstdint>

namespace ivmhost {

class IsolateHolder;

// True on the process's main thread (where Python runs signal handlers).
bool OnMainThread();
// Marks the outermost sync call `seq` of `holder` as the main thread's running call; returns the
// one it covers (a call into another isolate from a callback), for EndMainThreadCall to restore.
struct MainThreadCall {
  IsolateHolder* holder = nullptr;
  uint64_t seq = 0;
};
MainThreadCall BeginMainThreadCall(IsolateHolder* holder, uint64_t seq);
void EndMainThreadCall(const MainThreadCall& covered);

}  // namespace ivmhost
