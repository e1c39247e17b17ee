#include "timer_thread.h"

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

namespace ivmhost {
namespace {

using Clock = std::chrono::steady_clock;

struct Entry {
  IsolateHolder* holder;
  uint64_t seq;
};

class TimerThread {
 public:
  static TimerThread& Get() {
    // Leaked on purpose: it must outlive every isolate, including those freed at exit.
    static TimerThread* timer = new TimerThread();
    return *timer;
  }

  uint64_t Schedule(IsolateHolder* holder, uint64_t seq, double ms) {
    auto deadline = Clock::now() + std::chrono::microseconds(static_cast<int64_t>(ms * 1000));
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t id = next_id_++;
    bool earliest = timers_.empty() || deadline < timers_.begin()->first.first;
    timers_.emplace(std::make_pair(deadline, id), Entry{holder, seq});
    if (!started_) {
      started_ = true;
      std::thread([this] { Loop(); }).detach();
    } else if (earliest) {
      cv_.notify_one();
    }
    return id;
  }

  void Cancel(uint64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = timers_.begin(); it != timers_.end(); ++it) {
      if (it->first.second == id) {
        timers_.erase(it);
        return;
      }
    }
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      if (timers_.empty()) {
        cv_.wait(lock);
        continue;
      }
      auto it = timers_.begin();
      if (Clock::now() < it->first.first) {
        cv_.wait_until(lock, it->first.first);
        continue;
      }
      Entry entry = it->second;
      timers_.erase(it);
      // Fired under the lock: Cancel (called before a holder goes away) waits for it.
      OnTimerFired(entry.holder, entry.seq);
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::pair<Clock::time_point, uint64_t>, Entry> timers_;
  uint64_t next_id_ = 1;
  bool started_ = false;
};

}  // namespace

uint64_t ScheduleTimeout(IsolateHolder* holder, uint64_t seq, double ms) {
  return TimerThread::Get().Schedule(holder, seq, ms);
}

void CancelTimeout(uint64_t id) { TimerThread::Get().Cancel(id); }

}  // namespace ivmhost
