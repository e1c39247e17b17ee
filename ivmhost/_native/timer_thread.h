// One process-wide thread enforcing every call's timeout.
#pragma once

#include <chrono>
#include <cstdint>

namespace ivmhost {

class IsolateHolder;

// Schedules `OnTimerFired(holder, seq)` after `ms` milliseconds; returns an id for Cancel.
// The holder must Cancel before it goes away; Cancel waits for a firing in progress.
uint64_t ScheduleTimeout(IsolateHolder* holder, uint64_t seq, double ms);
void CancelTimeout(uint64_t id);
void OnTimerFired(IsolateHolder* holder, uint64_t seq);

}  // namespace ivmhost
