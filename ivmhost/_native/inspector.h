// The DevTools inspector of one isolate (isolated-vm's `inspector: true`): V8's inspector, the
// contexts it sees, its sessions and the loop that serves them while JavaScript is paused.
#pragma once

#include <v8-inspector.h>
#include <v8.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine.h"

namespace ivmhost {

class IsolateHolder;
class SessionImpl;

class InspectorAgent final : public v8_inspector::V8InspectorClient {
 public:
  explicit InspectorAgent(IsolateHolder* holder);  // isolate locked
  ~InspectorAgent() override;                      // isolate locked

  // Contexts (isolate locked): registered by create_context(inspector=True), forgotten with their
  // handle.
  void ContextCreated(v8::Local<v8::Context> context, uint64_t handle);
  void ContextForgotten(uint64_t handle);

  // Any thread, never blocks on the isolate: queues a message (or the session's connect or
  // disconnect, an empty message) and wakes whatever serves the queue.
  // False once the inspector was shut down.
  bool Enqueue(std::shared_ptr<SessionImpl> session, std::string message, bool utf16,
               bool control);
  std::atomic<bool> pump_posted_{false};  // a pump op is queued on the executor
  // Serves the queue (isolate locked): from an interrupt, the executor, or the pause loop.
  void Pump();
  void PumpFromInterrupt();
  // Ends the inspector (isolate locked; the isolate is being disposed): sessions are
  // disconnected and their sinks released; later messages are refused.
  void Shutdown();
  // The isolate is going away: leave the pause loop, and never enter it again.
  void Wake();
  bool paused() const { return paused_.load(); }

  // V8InspectorClient
  void runMessageLoopOnPause(int context_group_id) override;
  void quitMessageLoopOnPause() override;
  v8::Local<v8::Context> ensureDefaultContextInGroup(int context_group_id) override;
  double currentTimeMS() override;

 private:
  struct Message {
    std::shared_ptr<SessionImpl> session;
    std::string data;
    bool utf16 = false;
    bool control = false;  // connect (first) or disconnect (after dispose)
  };
  void Serve(Message& message);

  IsolateHolder* holder_;
  std::unique_ptr<v8_inspector::V8Inspector> inspector_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Message> queue_;
  bool quit_ = false;
  bool stopping_ = false;
  bool shut_ = false;
  int delivering_ = 0;  // isolate locked
  std::atomic<bool> paused_{false};
  std::map<uint64_t, v8::Global<v8::Context>> contexts_;  // handle id -> context, in creation order
  std::vector<std::shared_ptr<SessionImpl>> sessions_;    // connected, isolate locked
};

// Serves an isolate's inspector queue on its executor (posted when a message arrives).
std::shared_ptr<Op> MakeInspectorPump();

}  // namespace ivmhost
