// The JavaScript face of References: an object with isolated-vm's camelCase methods (applySync,
// getSync, copySync, deref...), over a host object lent by the host or over a JavaScript value.
// Its prototype is frozen; methods check their receiver (a signature), so they cannot be
// borrowed onto another object.
#include "convert.h"
#include "isolate_holder.h"

namespace ivmhost {
namespace {

constexpr int kHostField = 0;    // External(HostFunction*) for a host object, else undefined
constexpr int kTargetField = 1;  // the JavaScript value, else undefined
constexpr int kFieldCount = 2;
constexpr uint32_t kMaxApplyArguments = 65535;

struct MethodName {
  RefMethod method;
  const char* name;
};

constexpr MethodName kMethods[] = {
    {RefMethod::kApply, "apply"},          {RefMethod::kApplySync, "applySync"},
    {RefMethod::kApplyIgnored, "applyIgnored"}, {RefMethod::kApplySyncPromise, "applySyncPromise"},
    {RefMethod::kGet, "get"},              {RefMethod::kGetSync, "getSync"},
    {RefMethod::kSet, "set"},              {RefMethod::kSetSync, "setSync"},
    {RefMethod::kSetIgnored, "setIgnored"}, {RefMethod::kDelete, "delete"},
    {RefMethod::kDeleteSync, "deleteSync"}, {RefMethod::kDeleteIgnored, "deleteIgnored"},
    {RefMethod::kCopy, "copy"},            {RefMethod::kCopySync, "copySync"},
    {RefMethod::kDeref, "deref"},          {RefMethod::kDerefInto, "derefInto"},
    {RefMethod::kRelease, "release"},
};

bool IsAsync(RefMethod m) {
  return m == RefMethod::kApply || m == RefMethod::kGet || m == RefMethod::kSet ||
         m == RefMethod::kDelete || m == RefMethod::kCopy;
}

bool IsIgnored(RefMethod m) {
  return m == RefMethod::kApplyIgnored || m == RefMethod::kSetIgnored ||
         m == RefMethod::kDeleteIgnored;
}

void Fail(Failure* failure, FailKind kind, const char* message) {
  failure->kind = kind;
  failure->message = message;
}

// The arguments of an apply: the elements of the array in `info[1]`.
bool ApplyArguments(v8::Local<v8::Context> context, const v8::FunctionCallbackInfo<v8::Value>& info,
                    std::vector<v8::Local<v8::Value>>* out, Failure* failure) {
  if (info.Length() < 2 || info[1]->IsNullOrUndefined()) return true;
  if (!info[1]->IsArray()) {
    Fail(failure, FailKind::kType, "The arguments of apply must be an array");
    return false;
  }
  v8::Local<v8::Array> array = info[1].As<v8::Array>();
  if (array->Length() > kMaxApplyArguments) {
    Fail(failure, FailKind::kValue, "Too many arguments for apply");
    return false;
  }
  out->resize(array->Length());
  for (uint32_t i = 0; i < array->Length(); ++i) {
    if (!array->Get(context, i).ToLocal(&(*out)[i])) return false;
  }
  return true;
}

// set and delete work on plain objects only: a proxy's traps would run guest code.
bool WritableTarget(v8::Local<v8::Value> target, Failure* failure) {
  if (target->IsObject() && !target->IsProxy()) return true;
  Fail(failure, FailKind::kType, target->IsProxy() ? "Object is or has proxy" : "Reference is not an object");
  return false;
}

// A method on a JavaScript value: runs right here, in the value's own isolate.
bool RunOnTarget(IsolateHolder& holder, v8::Local<v8::Context> context, v8::Local<v8::Object> self,
                 v8::Local<v8::Value> target, RefMethod method,
                 const v8::FunctionCallbackInfo<v8::Value>& info, v8::Local<v8::Value>* out,
                 Failure* failure) {
  v8::Isolate* isolate = holder.isolate();
  v8::Local<v8::Value> key = info.Length() > 0 ? info[0] : v8::Undefined(isolate).As<v8::Value>();
  switch (method) {
    case RefMethod::kApply:
    case RefMethod::kApplySync:
    case RefMethod::kApplyIgnored:
    case RefMethod::kApplySyncPromise: {
      if (!target->IsFunction()) {
        Fail(failure, FailKind::kType, "Reference is not a function");
        return false;
      }
      std::vector<v8::Local<v8::Value>> argv;
      if (!ApplyArguments(context, info, &argv, failure)) return false;
      return target.As<v8::Function>()
          ->Call(context, key, static_cast<int>(argv.size()), argv.data())
          .ToLocal(out);
    }
    case RefMethod::kGet:
    case RefMethod::kGetSync:
      if (!target->IsObject()) {
        Fail(failure, FailKind::kType, "Reference is not an object");
        return false;
      }
      if (!ReadOwnOrInherited(holder, context, target.As<v8::Object>(), key, false, out, failure))
        return false;
      if ((*out)->IsObject()) {
        // isolated-vm's rule: objects come back as References, primitives as themselves.
        v8::Local<v8::Object> ref;
        if (!NewReferenceObject(holder, context, nullptr, *out,
                                (*out)->IsFunction() ? "function" : "object")
                 .ToLocal(&ref))
          return false;
        *out = ref;
      }
      return true;
    case RefMethod::kSet:
    case RefMethod::kSetSync:
    case RefMethod::kSetIgnored: {
      if (!WritableTarget(target, failure)) return false;
      v8::Local<v8::Name> name;
      if (!key->ToString(context).ToLocal(&name)) return false;
      v8::Local<v8::Value> value = info.Length() > 1 ? info[1] : v8::Undefined(isolate).As<v8::Value>();
      *out = v8::Boolean::New(isolate, target.As<v8::Object>()->CreateDataProperty(context, name, value).FromMaybe(false));
      return true;
    }
    case RefMethod::kDelete:
    case RefMethod::kDeleteSync:
    case RefMethod::kDeleteIgnored: {
      if (!WritableTarget(target, failure)) return false;
      v8::Maybe<bool> deleted = target.As<v8::Object>()->Delete(context, key);
      if (deleted.IsNothing()) return false;
      *out = v8::Boolean::New(isolate, deleted.FromJust());
      return true;
    }
    case RefMethod::kCopy:
    case RefMethod::kCopySync: {
      Val copy;
      if (!ToVal(holder, context, target, ResultMode::kCopyStrict, &copy, failure)) return false;
      return FromVal(holder, context, copy, failure).ToLocal(out);
    }
    case RefMethod::kDeref:
    case RefMethod::kDerefInto:
      *out = target;
      return true;
    case RefMethod::kRelease:
      self->SetInternalField(kTargetField, v8::Undefined(isolate));
      *out = v8::Undefined(isolate);
      return true;
  }
  return false;
}

// A method on a host object: the host runs it (the GIL is taken for the call).
bool RunOnHost(IsolateHolder& holder, v8::Local<v8::Context> context, v8::Local<v8::Object> self,
               HostFunction* host, RefMethod method, const v8::FunctionCallbackInfo<v8::Value>& info,
               v8::Local<v8::Value>* out, Failure* failure) {
  v8::Isolate* isolate = holder.isolate();
  if (StackRemaining() < 128 * 1024) {
    Fail(failure, FailKind::kValue, "Maximum call stack size exceeded");
    return false;
  }
  if (method == RefMethod::kRelease) {
    self->SetInternalField(kHostField, v8::Undefined(isolate));
    *out = v8::Undefined(isolate);
    return true;
  }
  if (method == RefMethod::kDeref || method == RefMethod::kDerefInto) {
    Fail(failure, FailKind::kType, "Cannot dereference this from current isolate");
    return false;
  }
  std::vector<v8::Local<v8::Value>> values;
  if (method == RefMethod::kApply || method == RefMethod::kApplySync ||
      method == RefMethod::kApplyIgnored || method == RefMethod::kApplySyncPromise) {
    if (!ApplyArguments(context, info, &values, failure)) return false;
  } else {
    for (int i = 0; i < info.Length() && i < 2; ++i) values.push_back(info[i]);
  }
  std::vector<Val> args(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    if (!ToVal(holder, context, values[i], ResultMode::kCopyStrict, &args[i], failure, true)) return false;
  }
  Val result;
  if (!Hooks().reference(host->fn, method, args, &result, failure)) return false;
  return FromVal(holder, context, result, failure).ToLocal(out);
}

void Method(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  IsolateHolder& holder = *IsolateHolder::From(isolate);
  auto method = static_cast<RefMethod>(info.Data().As<v8::Int32>()->Value());
  v8::Local<v8::Object> self = info.This();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::Local<v8::Value> host_field = self->GetInternalField(kHostField).As<v8::Value>();
  v8::Local<v8::Value> target = self->GetInternalField(kTargetField).As<v8::Value>();
  v8::TryCatch try_catch(isolate);
  Failure failure;
  v8::Local<v8::Value> out;
  bool ok;
  if (host_field->IsExternal()) {
    auto* host = static_cast<HostFunction*>(host_field.As<v8::External>()->Value());
    ok = RunOnHost(holder, context, self, host, method, info, &out, &failure);
  } else if (!target->IsUndefined() || method == RefMethod::kRelease) {
    ok = RunOnTarget(holder, context, self, target, method, info, &out, &failure);
  } else {
    Fail(&failure, FailKind::kReleased, "Reference has been released");
    ok = false;
  }
  if (!ok && failure.kind == FailKind::kHostException) {
    // KeyboardInterrupt & co.: not JavaScript's to catch, ignored call or not.
    ThrowFailure(holder, context, failure);
    return;
  }
  if (IsIgnored(method)) {
    info.GetReturnValue().SetUndefined();
    return;  // errors of ignored calls are dropped (a termination still propagates)
  }
  if (!ok && !try_catch.HasCaught() && !try_catch.HasTerminated()) {
    ThrowFailure(holder, context, failure);
  }
  if (!IsAsync(method)) {
    if (ok) info.GetReturnValue().Set(out);
    else if (try_catch.HasCaught()) try_catch.ReThrow();
    return;
  }
  // The async twins answer with a promise, settled already: the work ran synchronously.
  if (try_catch.HasTerminated() || isolate->IsExecutionTerminating() ||
      (!ok && !try_catch.HasCaught()))
    return;
  v8::Local<v8::Promise::Resolver> resolver;
  if (!v8::Promise::Resolver::New(context).ToLocal(&resolver)) return;
  if (ok) {
    resolver->Resolve(context, out).FromMaybe(false);  // Nothing only while terminating
  } else {
    v8::Local<v8::Value> error = try_catch.Exception();
    try_catch.Reset();
    resolver->Reject(context, error).FromMaybe(false);  // Nothing only while terminating
  }
  info.GetReturnValue().Set(resolver->GetPromise());
}

void Construct(const v8::FunctionCallbackInfo<v8::Value>& info) {
  info.GetIsolate()->ThrowException(v8::Exception::TypeError(v8::String::NewFromUtf8Literal(
      info.GetIsolate(), "References are made by the host; they cannot be constructed here")));
}

}  // namespace

v8::Local<v8::FunctionTemplate> IsolateHolder::ReferenceTemplate() {
  if (!reference_template_.IsEmpty()) return reference_template_.Get(isolate_);
  v8::Local<v8::FunctionTemplate> tmpl = v8::FunctionTemplate::New(isolate_, Construct);
  tmpl->SetClassName(v8::String::NewFromUtf8Literal(isolate_, "Reference"));
  tmpl->InstanceTemplate()->SetInternalFieldCount(kFieldCount);
  v8::Local<v8::Signature> signature = v8::Signature::New(isolate_, tmpl);
  for (const MethodName& m : kMethods) {
    v8::Local<v8::FunctionTemplate> fn = v8::FunctionTemplate::New(
        isolate_, Method, v8::Int32::New(isolate_, static_cast<int>(m.method)), signature, 0,
        v8::ConstructorBehavior::kThrow);
    tmpl->PrototypeTemplate()->Set(v8::String::NewFromUtf8(isolate_, m.name).ToLocalChecked(), fn,
                                   v8::DontEnum);
  }
  reference_template_.Reset(isolate_, tmpl);
  return tmpl;
}

v8::MaybeLocal<v8::Object> NewReferenceObject(IsolateHolder& holder, v8::Local<v8::Context> context,
                                              std::shared_ptr<HostFunction> host,
                                              v8::Local<v8::Value> target, const std::string& type) {
  v8::Isolate* isolate = holder.isolate();
  v8::Local<v8::Function> ctor;
  if (!holder.ReferenceTemplate()->GetFunction(context).ToLocal(&ctor)) return {};
  v8::Local<v8::Value> proto;
  if (!ctor->Get(context, v8::String::NewFromUtf8Literal(isolate, "prototype")).ToLocal(&proto) ||
      !proto->IsObject())
    return {};
  // Plugins must not reach the host through a patched prototype: freeze it, once per context.
  v8::Local<v8::Private> frozen = v8::Private::ForApi(isolate, v8::String::NewFromUtf8Literal(isolate, "ivmhost.frozen"));
  if (!proto.As<v8::Object>()->HasPrivate(context, frozen).FromMaybe(true)) {
    proto.As<v8::Object>()->SetPrivate(context, frozen, v8::True(isolate)).FromMaybe(false);  // Nothing only while terminating
    proto.As<v8::Object>()->SetIntegrityLevel(context, v8::IntegrityLevel::kFrozen).FromMaybe(false);  // Nothing only while terminating
    ctor->SetIntegrityLevel(context, v8::IntegrityLevel::kFrozen).FromMaybe(false);  // Nothing only while terminating
  }
  v8::Local<v8::Object> obj;
  if (!holder.ReferenceTemplate()->InstanceTemplate()->NewInstance(context).ToLocal(&obj)) return {};
  if (host) {
    holder.KeepHostFunction(obj, host);
    obj->SetInternalField(kHostField, v8::External::New(isolate, host.get()));
  } else {
    obj->SetInternalField(kHostField, v8::Undefined(isolate));
  }
  obj->SetInternalField(kTargetField, target.IsEmpty() ? v8::Undefined(isolate).As<v8::Value>() : target);
  obj->DefineOwnProperty(context, v8::String::NewFromUtf8Literal(isolate, "typeof"),
                         v8::String::NewFromUtf8(isolate, type.c_str()).ToLocalChecked(),
                         static_cast<v8::PropertyAttribute>(v8::ReadOnly | v8::DontDelete))
      .FromMaybe(false);  // Nothing only while terminating
  // Nothing may be shadowed on the instance either (host code may call its methods).
  obj->SetIntegrityLevel(context, v8::IntegrityLevel::kFrozen).FromMaybe(false);
  return obj;
}

}  // namespace ivmhost

namespace ivmhost {

bool ReadReferenceObject(IsolateHolder& holder, v8::Local<v8::Context> context,
                         v8::Local<v8::Object> obj, Val* out) {
  if (!holder.ReferenceTemplate()->HasInstance(obj)) return false;
  v8::Local<v8::Value> host_field = obj->GetInternalField(kHostField).As<v8::Value>();
  v8::Local<v8::Value> target = obj->GetInternalField(kTargetField).As<v8::Value>();
  if (host_field->IsExternal()) {
    out->kind = ValKind::kHostReference;
    out->host = holder.FindHostFunction(static_cast<HostFunction*>(host_field.As<v8::External>()->Value()));
    return static_cast<bool>(out->host);
  }
  if (target->IsUndefined()) return false;
  out->kind = ValKind::kReference;
  out->handle = holder.AddReference(context, target);
  out->text = target->IsFunction() ? "function" : "object";
  return true;
}

}  // namespace ivmhost
