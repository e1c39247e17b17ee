// The DevTools inspector: V8's V8Inspector behind the Chrome DevTools Protocol.
//
// Messages from the host never wait for the isolate. They are queued, and whoever runs the isolate
// next serves the queue: an interrupt while JavaScript runs, a pump op on the executor while it is
// idle, or the pause loop while JavaScript is stopped at a breakpoint (the thread that ran it
// waits there, and serves the queue, until the debugger resumes). Replies leave on that thread,
// through HostHooks::inspector, as V8 wrote them (UTF-8 or UTF-16 JSON).
#include "inspector.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "call_monitor.h"
#include "isolate_holder.h"
#include "v8_compat.h"

namespace ivmhost {

using v8_inspector::StringBuffer;
using v8_inspector::StringView;

namespace {

constexpr int kContextGroup = 1;

StringView ViewOf(const std::string& text) {
  return StringView(reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

}  // namespace

// One session: the host's handle (InspectorSession) and V8's channel back to it.
class SessionImpl final : public InspectorSession, public v8_inspector::V8Inspector::Channel {
 public:
  SessionImpl(std::weak_ptr<IsolateHolder> holder, void* sink)
      : holder_(std::move(holder)), sink_(sink) {}
  ~SessionImpl() override { ReleaseSink(); }

  bool Dispatch(const StrArg& message, Failure* failure) override {
    if (disposed_.load()) {
      failure->kind = FailKind::kValue;
      failure->message = "This inspector session is disposed: open a new one with create_inspector_session()";
      return false;
    }
    // The inspector parses 8-bit text as UTF-8: ASCII goes as is, anything else as UTF-16.
    bool ascii = true;
    if (message.one_byte) {
      for (char c : message.data) {
        if (static_cast<unsigned char>(c) >= 0x80) {
          ascii = false;
          break;
        }
      }
    }
    std::string data;
    if (!message.one_byte || ascii) {
      data = message.data;
    } else {
      data.resize(message.data.size() * 2);
      for (size_t i = 0; i < message.data.size(); ++i) {
        uint16_t unit = static_cast<unsigned char>(message.data[i]);
        std::memcpy(&data[i * 2], &unit, 2);
      }
    }
    return Send(std::move(data), !(message.one_byte && ascii), false, failure);
  }

  void Dispose() override {
    if (disposed_.exchange(true)) return;
    Failure ignored;
    if (!Send(std::string(), false, true, &ignored)) ReleaseSink();  // the isolate is gone
  }
  bool IsDisposed() const override { return disposed_.load(); }

  // Connects (first control message) or, once disposed, disconnects. Isolate locked.
  void Control(v8_inspector::V8Inspector* inspector) {
    if (disposed_.load()) {
      v8_.reset();
      ReleaseSink();
    } else if (!v8_ && inspector != nullptr) {
      v8_ = compat::ConnectInspector(inspector, kContextGroup, this);
    }
  }
  void Deliver(const std::string& data, bool utf16) {
    if (!v8_ || disposed_.load()) return;
    // (Only the pause loop serves the queue while a message is being handled.)
    if (utf16) {
      v8_->dispatchProtocolMessage(
          StringView(reinterpret_cast<const uint16_t*>(data.data()), data.size() / 2));
    } else {
      v8_->dispatchProtocolMessage(ViewOf(data));
    }
  }
  void Disconnect() {
    v8_.reset();
    ReleaseSink();
  }
  bool connected() const { return static_cast<bool>(v8_); }

  // V8Inspector::Channel
  void sendResponse(int call_id, std::unique_ptr<StringBuffer> message) override {
    Emit(call_id, false, message->string());
  }
  void sendNotification(std::unique_ptr<StringBuffer> message) override {
    Emit(0, true, message->string());
  }
  void flushProtocolNotifications() override {}


 private:
  bool Send(std::string data, bool utf16, bool control, Failure* failure) {
    std::shared_ptr<IsolateHolder> holder = holder_.lock();
    if (!holder) {
      failure->kind = FailKind::kDisposed;
      failure->message = "Isolate is disposed";
      return false;
    }
    return holder->InspectorEnqueue(self_ref(), std::move(data), utf16, control, failure);
  }
  std::shared_ptr<SessionImpl> self_ref() { return std::shared_ptr<SessionImpl>(weak_self); }
  void Emit(int call_id, bool notification, const StringView& view) {
    void* sink = sink_.load();
    if (sink == nullptr || disposed_.load()) return;
    // V8 sends 8-bit views as UTF-8 (as Node reads them), 16-bit ones as UTF-16; the host decodes.
    if (view.is8Bit()) {
      Hooks().inspector(sink, call_id, notification, reinterpret_cast<const char*>(view.characters8()),
                        view.length(), false);
    } else {
      Hooks().inspector(sink, call_id, notification, reinterpret_cast<const char*>(view.characters16()),
                        view.length() * 2, true);
    }
  }
  void ReleaseSink() {
    void* sink = sink_.exchange(nullptr);
    if (sink != nullptr) Hooks().release(sink);
  }

  std::weak_ptr<IsolateHolder> holder_;
  std::atomic<void*> sink_;
  std::atomic<bool> disposed_{false};
  std::unique_ptr<v8_inspector::V8InspectorSession> v8_;  // isolate locked

 public:
  std::weak_ptr<SessionImpl> weak_self;
};

// Serves the queue from the executor when the isolate is idle.
class PumpOp final : public Op {
 public:
  void Run(IsolateHolder& holder) override {
    InspectorAgent* agent = holder.inspector();
    if (agent == nullptr) return;
    agent->pump_posted_ = false;
    agent->Pump();
  }
};

InspectorAgent::InspectorAgent(IsolateHolder* holder) : holder_(holder) {
  inspector_ = v8_inspector::V8Inspector::create(holder->isolate(), this);
}

InspectorAgent::~InspectorAgent() = default;

void InspectorAgent::Shutdown() {
  std::deque<Message> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    shut_ = true;
    dropped.swap(queue_);
  }
  cv_.notify_all();
  for (auto& session : sessions_) session->Disconnect();
  sessions_.clear();
  for (auto& message : dropped) {
    if (message.control) message.session->Disconnect();
  }
  dropped.clear();
  contexts_.clear();
  inspector_.reset();
}

void InspectorAgent::ContextCreated(v8::Local<v8::Context> context, uint64_t handle) {
  // DevTools' console evaluates in the context marked default (the first one, as in Node).
  std::string name = "ivmhost context " + std::to_string(handle);
  std::string aux = contexts_.empty() ? "{\"isDefault\":true}" : "{\"isDefault\":false}";
  v8_inspector::V8ContextInfo info(context, kContextGroup, ViewOf(name));
  info.auxData = ViewOf(aux);
  inspector_->contextCreated(info);
  contexts_[handle].Reset(holder_->isolate(), context);
}

void InspectorAgent::ContextForgotten(uint64_t handle) {
  auto it = contexts_.find(handle);
  if (it == contexts_.end()) return;
  v8::HandleScope scope(holder_->isolate());
  if (inspector_) inspector_->contextDestroyed(it->second.Get(holder_->isolate()));
  contexts_.erase(it);
}

bool InspectorAgent::Enqueue(std::shared_ptr<SessionImpl> session, std::string message, bool utf16,
                             bool control) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shut_) return false;
    queue_.push_back(Message{std::move(session), std::move(message), utf16, control});
  }
  cv_.notify_all();
  return true;
}

void InspectorAgent::Pump() {
  for (;;) {
    Message message;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (queue_.empty() || shut_) return;
      message = std::move(queue_.front());
      queue_.pop_front();
    }
    v8::HandleScope scope(holder_->isolate());
    if (message.control) {
      message.session->Control(inspector_.get());
      auto found = std::find(sessions_.begin(), sessions_.end(), message.session);
      if (message.session->connected() && found == sessions_.end()) {
        sessions_.push_back(message.session);
      } else if (!message.session->connected() && found != sessions_.end()) {
        sessions_.erase(found);
      }
    } else {
      delivering_++;
      message.session->Deliver(message.data, message.utf16);
      delivering_--;
    }
  }
}

void InspectorAgent::PumpFromInterrupt() {
  // Never inside a message being handled: the pause loop, or the pump op after it, serves it.
  if (delivering_ > 0) return;
  Pump();
}

void InspectorAgent::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
}

void InspectorAgent::runMessageLoopOnPause(int) {
  if (paused_.exchange(true)) return;  // already serving (a nested pause)
  EnsureCtrlCOnMainThread();  // Ctrl-C must reach a call paused on the main thread
  {
    std::lock_guard<std::mutex> lock(mu_);
    quit_ = false;
  }
  for (;;) {
    Pump();
    std::unique_lock<std::mutex> lock(mu_);
    if (quit_ || stopping_) break;
    // Also look up now and then whether the paused call must stop (cancelled, interrupted).
    cv_.wait_for(lock, std::chrono::milliseconds(50),
                 [this] { return !queue_.empty() || quit_ || stopping_; });
    if (queue_.empty() && (quit_ || stopping_)) break;
    lock.unlock();
    if (holder_->MustStopWhilePaused()) break;
  }
  paused_ = false;
  // A timeout that fell due while the debugger held the call is dropped: a call paused in the
  // debugger is no longer bound by its timeout.
  holder_->ForgiveTimeout();
}

void InspectorAgent::quitMessageLoopOnPause() {
  std::lock_guard<std::mutex> lock(mu_);
  quit_ = true;
}

v8::Local<v8::Context> InspectorAgent::ensureDefaultContextInGroup(int) {
  if (contexts_.empty()) return v8::Local<v8::Context>();
  return contexts_.begin()->second.Get(holder_->isolate());
}

double InspectorAgent::currentTimeMS() {
  using namespace std::chrono;
  return static_cast<double>(duration_cast<microseconds>(system_clock::now().time_since_epoch()).count()) / 1000.0;
}

std::shared_ptr<Op> MakeInspectorPump() { return std::make_shared<PumpOp>(); }

std::shared_ptr<InspectorSession> NewInspectorSession(IsolateHandle& isolate, void* sink,
                                                      Failure* failure) {
  auto& holder = static_cast<IsolateHolder&>(isolate);
  // The session owns the sink from here on, and releases it however this ends.
  auto session = std::make_shared<SessionImpl>(holder.shared_from_this(), sink);
  session->weak_self = session;
  if (!holder.InspectorEnqueue(session, std::string(), false, true, failure)) return nullptr;
  return session;
}

}  // namespace ivmhost
