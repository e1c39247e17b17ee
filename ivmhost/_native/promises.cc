// Promises across the boundary: JavaScript promises the host settles (async host functions) and
// JavaScript promises the host waits for (promise=True results).
#include <algorithm>

#include "convert.h"
#include "isolate_holder.h"

namespace ivmhost {

PromiseTicket IsolateHolder::AddHostPromise(v8::Local<v8::Promise::Resolver> resolver) {
  PromiseTicket ticket;
  ticket.isolate = std::weak_ptr<IsolateHandle>(shared_from_this());
  ticket.id = next_host_promise_++;
  ticket.timeout_ms = outer_timeout_ms_;
  ticket.origin = current_origin_;
  host_promises_[ticket.id].Reset(isolate_, resolver);
  return ticket;
}

v8::Local<v8::Promise::Resolver> IsolateHolder::TakeHostPromise(uint64_t id) {
  auto it = host_promises_.find(id);
  if (it == host_promises_.end()) return {};
  v8::Local<v8::Promise::Resolver> resolver = it->second.Get(isolate_);
  host_promises_.erase(it);
  return resolver;
}

namespace {

class SettleHostPromiseOp final : public Op {
 public:
  SettleHostPromiseOp(uint64_t id, Val value, Failure failure)
      : id_(id), value_(std::move(value)), error_(std::move(failure)) {}

  void Run(IsolateHolder& holder) override {
    v8::Local<v8::Promise::Resolver> resolver = holder.TakeHostPromise(id_);
    if (resolver.IsEmpty()) return;
    v8::Local<v8::Context> context;
    if (!resolver->GetPromise()->GetCreationContext().ToLocal(&context)) return;
    v8::Context::Scope context_scope(context);
    v8::TryCatch try_catch(holder.isolate());
    Failure ignored;
    v8::Local<v8::Value> value;
    if (error_.ok()) {
      if (!FromVal(holder, context, value_, &ignored).ToLocal(&value)) {
        value = v8::Exception::TypeError(
            v8::String::NewFromUtf8(holder.isolate(), ignored.message.c_str()).ToLocalChecked());
        resolver->Reject(context, value).FromMaybe(false);  // Nothing only while terminating
        return;
      }
      resolver->Resolve(context, value).FromMaybe(false);  // Nothing only while terminating
    } else {
      if (!FromVal(holder, context, error_.error, &ignored).ToLocal(&value)) value = v8::Undefined(holder.isolate());
      resolver->Reject(context, value).FromMaybe(false);  // Nothing only while terminating
    }
  }

 private:
  uint64_t id_;
  Val value_;
  Failure error_;
};

}  // namespace

std::shared_ptr<Op> MakeSettleHostPromise(uint64_t id, Val value, Failure failure) {
  return std::make_shared<SettleHostPromiseOp>(id, std::move(value), std::move(failure));
}

bool SettleHostPromise(const PromiseTicket& ticket, Val value, Failure failure) {
  std::shared_ptr<IsolateHandle> isolate = ticket.isolate.lock();
  if (!isolate || isolate->IsDisposed()) return false;
  std::shared_ptr<Op> op = MakeSettleHostPromise(ticket.id, std::move(value), std::move(failure));
  op->timeout_ms = ticket.timeout_ms;
  op->origin = ticket.origin;
  isolate->Post(op, nullptr, nullptr);
  return true;
}

void IsolateHolder::StashResultPromise(Op* op, v8::Local<v8::Context> context,
                                       v8::Local<v8::Promise> promise, ResultMode mode) {
  ResultPromise& entry = result_promises_[op];
  entry.context.Reset(isolate_, context);
  entry.promise.Reset(isolate_, promise);
  entry.mode = mode;
}

void IsolateHolder::FinishResultPromise(Op& op) {
  auto it = result_promises_.find(&op);
  if (it == result_promises_.end()) return;
  v8::Local<v8::Context> context = it->second.context.Get(isolate_);
  v8::Local<v8::Promise> promise = it->second.promise.Get(isolate_);
  ResultMode mode = it->second.mode;
  result_promises_.erase(it);
  if (!op.failure.ok() || isolate_->IsExecutionTerminating()) return;
  v8::Context::Scope context_scope(context);
  switch (promise->State()) {
    case v8::Promise::kFulfilled:
      ToVal(*this, context, promise->Result(), mode, &op.result, &op.failure, true);
      return;
    case v8::Promise::kRejected:
      op.failure.kind = FailKind::kJSException;
      ExceptionToFailure(*this, context, promise->Result(), v8::Local<v8::Message>(), &op.failure);
      promise->MarkAsHandled();
      return;
    case v8::Promise::kPending:
      break;
  }
  if (op.waiter == nullptr) {
    op.failure.kind = FailKind::kInternal;
    op.failure.message = "A pending promise has nobody waiting for it";
    return;
  }
  if (depth_ > 1) {
    // A nested call (from a host callback) cannot wait: the isolate it waits for is this thread.
    op.failure.kind = FailKind::kValue;
    op.failure.message = "This function may not be called from the default thread";
    return;
  }
  auto* watch = new Watch{this, op.waiter, mode, op.origin};
  // The handlers find the watch by id: one failed through FailWatch is gone, and a new watch may
  // since live at its address.
  v8::Local<v8::External> data = v8::External::New(isolate_, reinterpret_cast<void*>(op.origin));
  v8::Local<v8::Function> on_fulfilled, on_rejected;
  // `then` may run guest code (a species constructor): catch what it throws.
  v8::TryCatch try_catch(isolate_);
  if (!v8::Function::New(context, WatchFulfilled, data, 1).ToLocal(&on_fulfilled) ||
      !v8::Function::New(context, WatchRejected, data, 1).ToLocal(&on_rejected) ||
      promise->Then(context, on_fulfilled, on_rejected).IsEmpty()) {
    delete watch;
    CatchFailure(context, try_catch, &op.failure);
    return;
  }
  op.waiter = nullptr;  // the watch owns it now
  watches_.push_back(watch);
  op.result = Val();
  op.result.kind = ValKind::kPending;
}

void IsolateHolder::WatchFulfilled(const v8::FunctionCallbackInfo<v8::Value>& info) {
  WatchSettled(info, false);
}

void IsolateHolder::WatchRejected(const v8::FunctionCallbackInfo<v8::Value>& info) {
  WatchSettled(info, true);
}

void IsolateHolder::WatchSettled(const v8::FunctionCallbackInfo<v8::Value>& info, bool rejected) {
  auto id = reinterpret_cast<uint64_t>(info.Data().As<v8::External>()->Value());
  IsolateHolder* self = From(info.GetIsolate());
  auto& list = self->watches_;
  auto it = std::find_if(list.begin(), list.end(), [id](Watch* w) { return w->id == id; });
  if (it == list.end()) return;  // settled already (or failed through FailWatch)
  Watch* watch = *it;
  list.erase(it);
  v8::Local<v8::Context> context = self->isolate_->GetCurrentContext();
  Val value;
  Failure failure;
  if (rejected) {
    failure.kind = FailKind::kJSException;
    ExceptionToFailure(*self, context, info[0], v8::Local<v8::Message>(), &failure);
  } else {
    ToVal(*self, context, info[0], watch->mode, &value, &failure, true);
  }
  Hooks().settled(watch->waiter, failure.ok() ? &value : nullptr, failure.ok() ? nullptr : &failure);
  delete watch;
}

void IsolateHolder::FailWatch(uint64_t id, const Failure& failure) {
  auto it = std::find_if(watches_.begin(), watches_.end(), [id](Watch* w) { return w->id == id; });
  if (it == watches_.end()) return;
  Watch* watch = *it;
  watches_.erase(it);
  Failure copy;
  copy.kind = failure.kind;
  copy.message = failure.message;
  copy.stack = failure.stack;
  Hooks().settled(watch->waiter, nullptr, &copy);
  delete watch;
}

void IsolateHolder::AbandonWatches() {
  std::vector<Watch*> watches;
  watches.swap(watches_);
  for (Watch* watch : watches) {
    Failure failure;
    failure.kind = FailKind::kDisposedDuring;
    failure.message = "Promise was abandoned";
    Hooks().settled(watch->waiter, nullptr, &failure);
    delete watch;
  }
}

}  // namespace ivmhost
