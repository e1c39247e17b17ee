// The units of work behind the engine API: each runs inside a locked, entered isolate.
#include <string>

#include "code_cache.h"
#include "convert.h"
#include "inspector.h"
#include "isolate_holder.h"
#include "v8_compat.h"

namespace ivmhost {
namespace {

v8::ScriptOrigin Origin(v8::Isolate* isolate, const CompileOptions& options) {
  v8::Local<v8::String> name = NewString(isolate, options.filename);
  return compat::MakeOrigin(isolate, name, options.line_offset, options.column_offset, false);
}

bool SourceString(IsolateHolder& holder, const StrArg& code, v8::Local<v8::String>* out,
                  Failure* failure) {
  *out = NewString(holder.isolate(), code);
  if (!out->IsEmpty()) return true;
  failure->kind = FailKind::kValue;
  failure->message = "The source code is too long for JavaScript";
  return false;
}

// Hands an op its result: a copy per `mode`, or with promise=True a promise to finish after the
// call's microtasks ran (IsolateHolder::FinishResultPromise).
void Deliver(IsolateHolder& holder, Op& op, v8::Local<v8::Context> context,
             v8::Local<v8::Value> value, ResultMode mode) {
  if (op.await_promise && value->IsPromise()) {
    holder.StashResultPromise(&op, context, value.As<v8::Promise>(), op.promise_mode);
    return;
  }
  if (op.await_promise) mode = op.promise_mode;
  ToVal(holder, context, value, mode, &op.result, &op.failure, true);
}

class CreateContextOp final : public Op {
 public:
  explicit CreateContextOp(bool inspector) : inspector_(inspector) {}
  void Run(IsolateHolder& holder) override {
    v8::Local<v8::Context> context = v8::Context::New(holder.isolate());
    if (context.IsEmpty()) {
      failure.kind = FailKind::kInternal;
      failure.message = "V8 could not create a context";
      return;
    }
    result.kind = ValKind::kNumber;
    result.handle = holder.AddContext(context);
    // (The host refuses inspector=True for an isolate made without the inspector.)
    if (inspector_ && holder.inspector() != nullptr) holder.inspector()->ContextCreated(context, result.handle);
  }

 private:
  bool inspector_;
};

class EvalOp final : public Op {
 public:
  EvalOp(uint64_t context, StrArg code, CompileOptions origin, ResultMode mode)
      : context_(context), code_(std::move(code)), origin_(std::move(origin)), mode_(mode) {}

  void Run(IsolateHolder& holder) override {
    v8::Isolate* isolate = holder.isolate();
    v8::Local<v8::Context> context = holder.GetContext(context_, &failure);
    if (context.IsEmpty()) return;
    v8::Context::Scope context_scope(context);
    v8::TryCatch try_catch(isolate);
    v8::Local<v8::String> code;
    if (!SourceString(holder, code_, &code, &failure)) return;
    v8::ScriptCompiler::Source source(code, Origin(isolate, origin_));
    v8::Local<v8::Script> script;
    v8::Local<v8::Value> value;
    if (!v8::ScriptCompiler::Compile(context, &source).ToLocal(&script) ||
        !script->Run(context).ToLocal(&value)) {
      holder.CatchFailure(context, try_catch, &failure);
      return;
    }
    Deliver(holder, *this, context, value, mode_);
  }

 private:
  uint64_t context_;
  StrArg code_;
  CompileOptions origin_;
  ResultMode mode_;
};

class EvalClosureOp final : public Op {
 public:
  EvalClosureOp(uint64_t context, StrArg code, CompileOptions origin, std::vector<Val> args,
                ResultMode mode)
      : context_(context),
        code_(std::move(code)),
        origin_(std::move(origin)),
        args_(std::move(args)),
        mode_(mode) {}

  void Run(IsolateHolder& holder) override {
    v8::Isolate* isolate = holder.isolate();
    v8::Local<v8::Context> context = holder.GetContext(context_, &failure);
    if (context.IsEmpty()) return;
    v8::Context::Scope context_scope(context);
    v8::TryCatch try_catch(isolate);
    v8::Local<v8::String> code;
    if (!SourceString(holder, code_, &code, &failure)) return;
    std::vector<v8::Local<v8::String>> names(args_.size());
    std::vector<v8::Local<v8::Value>> argv(args_.size());
    for (size_t i = 0; i < args_.size(); ++i) {
      names[i] = v8::String::NewFromUtf8(isolate, ("$" + std::to_string(i)).c_str()).ToLocalChecked();
      if (!FromVal(holder, context, args_[i], &failure).ToLocal(&argv[i])) return;
    }
    v8::ScriptCompiler::Source source(code, Origin(isolate, origin_));
    v8::Local<v8::Function> fn;
    v8::Local<v8::Value> value;
    if (!v8::ScriptCompiler::CompileFunction(context, &source, names.size(), names.data())
             .ToLocal(&fn) ||
        !fn->Call(context, v8::Undefined(isolate), static_cast<int>(argv.size()), argv.data())
             .ToLocal(&value)) {
      holder.CatchFailure(context, try_catch, &failure);
      return;
    }
    Deliver(holder, *this, context, value, mode_);
  }

 private:
  uint64_t context_;
  StrArg code_;
  CompileOptions origin_;
  std::vector<Val> args_;
  ResultMode mode_;
};

class CompileScriptOp final : public Op {
 public:
  CompileScriptOp(StrArg code, CompileOptions origin)
      : code_(std::move(code)), origin_(std::move(origin)) {}

  void Run(IsolateHolder& holder) override {
    v8::Isolate* isolate = holder.isolate();
    v8::Local<v8::Context> context = holder.DefaultContext();
    v8::Context::Scope context_scope(context);
    v8::TryCatch try_catch(isolate);
    v8::Local<v8::String> code;
    if (!SourceString(holder, code_, &code, &failure)) return;
    std::unique_ptr<v8::ScriptCompiler::Source> source = CacheSource(code, Origin(isolate, origin_), origin_);
    v8::Local<v8::UnboundScript> script;
    if (!v8::ScriptCompiler::CompileUnboundScript(isolate, source.get(), CacheMode(origin_)).ToLocal(&script)) {
      holder.CatchFailure(context, try_catch, &failure);
      return;
    }
    result.kind = ValKind::kNumber;
    result.handle = holder.AddScript(script);
    ReportCache(origin_, *source, script, &result);
  }

 private:
  StrArg code_;
  CompileOptions origin_;
};

class RunScriptOp final : public Op {
 public:
  RunScriptOp(uint64_t script, uint64_t context, bool release, ResultMode mode)
      : script_(script), context_(context), release_(release), mode_(mode) {}

  void Run(IsolateHolder& holder) override {
    v8::Isolate* isolate = holder.isolate();
    v8::Local<v8::UnboundScript> unbound = holder.GetScript(script_, &failure);
    if (unbound.IsEmpty()) return;
    v8::Local<v8::Context> context = holder.GetContext(context_, &failure);
    if (context.IsEmpty()) return;
    if (release_) holder.ForgetHandleNow(script_);
    v8::Context::Scope context_scope(context);
    v8::TryCatch try_catch(isolate);
    v8::Local<v8::Value> value;
    if (!unbound->BindToCurrentContext()->Run(context).ToLocal(&value)) {
      holder.CatchFailure(context, try_catch, &failure);
      return;
    }
    Deliver(holder, *this, context, value, mode_);
  }

 private:
  uint64_t script_;
  uint64_t context_;
  bool release_;
  ResultMode mode_;
};

class GlobalReferenceOp final : public Op {
 public:
  explicit GlobalReferenceOp(uint64_t context) : context_(context) {}
  void Run(IsolateHolder& holder) override {
    v8::Local<v8::Context> context = holder.GetContext(context_, &failure);
    if (context.IsEmpty()) return;
    result.kind = ValKind::kReference;
    result.text = "object";
    result.handle = holder.AddReference(context, context->Global());
  }

 private:
  uint64_t context_;
};

}  // namespace

// isolated-vm's Reference.get: own properties only (the prototype chain too with unsafe_inherit);
// a getter or a proxy anywhere on the way is refused and none of them ever runs.
bool ReadOwnOrInherited(IsolateHolder& holder, v8::Local<v8::Context> context,
                        v8::Local<v8::Object> object, v8::Local<v8::Value> key, bool inherit,
                        v8::Local<v8::Value>* out, Failure* failure) {
  v8::Isolate* isolate = holder.isolate();
  v8::TryCatch try_catch(isolate);
  v8::Isolate::DisallowJavascriptExecutionScope no_js(
      isolate, v8::Isolate::DisallowJavascriptExecutionScope::THROW_ON_FAILURE);
  uint32_t index = 0;
  bool is_index = key->IsNumber() && key.As<v8::Number>()->Value() >= 0 &&
                  key.As<v8::Number>()->Value() < 4294967295.0 &&
                  key.As<v8::Number>()->Value() == (index = static_cast<uint32_t>(key.As<v8::Number>()->Value()));
  v8::Local<v8::Name> name;
  if (!is_index) {
    if (key->IsName()) {
      name = key.As<v8::Name>();
    } else if (!key->ToString(context).ToLocal(&name)) {
      failure->kind = FailKind::kType;
      failure->message = "Invalid property key";
      return false;
    }
  }
  for (v8::Local<v8::Object> holder_object = object;;) {
    if (holder_object->IsProxy()) {
      failure->kind = FailKind::kType;
      failure->message = "Object is or has proxy";
      return false;
    }
    bool own = is_index ? holder_object->HasRealIndexedProperty(context, index).FromMaybe(false)
                        : holder_object->HasRealNamedProperty(context, name).FromMaybe(false);
    if (own) {
      bool ok = is_index ? holder_object->Get(context, index).ToLocal(out)
                         : holder_object->Get(context, name).ToLocal(out);
      if (!ok) {
        failure->kind = FailKind::kType;
        failure->message = "Property is getter";
        return false;
      }
      return true;
    }
    if (!inherit) break;
    v8::Local<v8::Value> proto = holder_object->GetPrototype();
    if (!proto->IsObject()) break;
    holder_object = proto.As<v8::Object>();
  }
  *out = v8::Undefined(isolate);
  return true;
}

namespace {

// The shared first half of Reference.get/set/delete: the object, its context and the key.
class ReferenceOp : public Op {
 protected:
  ReferenceOp(uint64_t reference, Val key) : reference_(reference), key_(std::move(key)) {}

  bool Prepare(IsolateHolder& holder, v8::Local<v8::Context>* context,
               v8::Local<v8::Object>* object, v8::Local<v8::Value>* key) {
    v8::Local<v8::Value> value;
    if (!holder.GetReference(reference_, context, &value, &failure)) return false;
    if (!value->IsObject()) {
      failure.kind = FailKind::kType;
      failure.message = "Reference is not an object";
      return false;
    }
    *object = value.As<v8::Object>();
    if ((*object)->IsProxy()) {
      failure.kind = FailKind::kType;
      failure.message = "Object is or has proxy";
      return false;
    }
    return FromVal(holder, *context, key_, &failure).ToLocal(key);
  }

  uint64_t reference_;
  Val key_;
};

class ReferenceGetOp final : public ReferenceOp {
 public:
  ReferenceGetOp(uint64_t reference, Val key, ResultMode mode, bool inherit)
      : ReferenceOp(reference, std::move(key)), mode_(mode), inherit_(inherit) {}

  void Run(IsolateHolder& holder) override {
    v8::Local<v8::Context> context;
    v8::Local<v8::Object> object;
    v8::Local<v8::Value> key;
    if (!Prepare(holder, &context, &object, &key)) return;
    v8::Context::Scope context_scope(context);
    v8::Local<v8::Value> value;
    if (!ReadOwnOrInherited(holder, context, object, key, inherit_, &value, &failure)) return;
    ToVal(holder, context, value, mode_, &result, &failure, true);
  }

 private:
  ResultMode mode_;
  bool inherit_;
};

class ReferenceSetOp final : public ReferenceOp {
 public:
  ReferenceSetOp(uint64_t reference, Val key, Val value)
      : ReferenceOp(reference, std::move(key)), value_(std::move(value)) {}

  void Run(IsolateHolder& holder) override {
    v8::Local<v8::Context> context;
    v8::Local<v8::Object> object;
    v8::Local<v8::Value> key, value;
    if (!Prepare(holder, &context, &object, &key)) return;
    v8::Context::Scope context_scope(context);
    v8::TryCatch try_catch(holder.isolate());
    if (!FromVal(holder, context, value_, &failure).ToLocal(&value)) return;
    v8::Local<v8::Name> name;
    bool ok;
    if (key->IsNumber() && key.As<v8::Number>()->Value() >= 0 &&
        key.As<v8::Number>()->Value() < 4294967295.0 &&
        key.As<v8::Number>()->Value() == static_cast<uint32_t>(key.As<v8::Number>()->Value())) {
      ok = object->CreateDataProperty(context, static_cast<uint32_t>(key.As<v8::Number>()->Value()), value)
               .FromMaybe(false);
    } else if (key->IsName() || key->ToString(context).ToLocal(&name)) {
      if (name.IsEmpty()) name = key.As<v8::Name>();
      ok = object->CreateDataProperty(context, name, value).FromMaybe(false);
    } else {
      ok = false;
    }
    if (!ok) {
      if (try_catch.HasCaught()) {
        holder.CatchFailure(context, try_catch, &failure);
      } else {
        failure.kind = FailKind::kType;
        failure.message = "The property could not be set";
      }
      return;
    }
    result.kind = ValKind::kBool;
    result.boolean = true;
  }

 private:
  Val value_;
};

class ReferenceDeleteOp final : public ReferenceOp {
 public:
  ReferenceDeleteOp(uint64_t reference, Val key) : ReferenceOp(reference, std::move(key)) {}

  void Run(IsolateHolder& holder) override {
    v8::Local<v8::Context> context;
    v8::Local<v8::Object> object;
    v8::Local<v8::Value> key;
    if (!Prepare(holder, &context, &object, &key)) return;
    v8::Context::Scope context_scope(context);
    v8::TryCatch try_catch(holder.isolate());
    v8::Maybe<bool> deleted = object->Delete(context, key);
    if (deleted.IsNothing()) {
      holder.CatchFailure(context, try_catch, &failure);
      return;
    }
    result.kind = ValKind::kBool;
    result.boolean = deleted.FromJust();
  }
};

class ReferenceApplyOp final : public Op {
 public:
  ReferenceApplyOp(uint64_t reference, Val receiver, std::vector<Val> args, ResultMode mode)
      : reference_(reference), receiver_(std::move(receiver)), args_(std::move(args)), mode_(mode) {}

  void Run(IsolateHolder& holder) override {
    v8::Isolate* isolate = holder.isolate();
    v8::Local<v8::Context> context;
    v8::Local<v8::Value> target;
    if (!holder.GetReference(reference_, &context, &target, &failure)) return;
    if (!target->IsFunction()) {
      failure.kind = FailKind::kType;
      failure.message = "Reference is not a function";
      return;
    }
    v8::Context::Scope context_scope(context);
    v8::TryCatch try_catch(isolate);
    v8::Local<v8::Value> receiver;
    if (!FromVal(holder, context, receiver_, &failure).ToLocal(&receiver)) return;
    std::vector<v8::Local<v8::Value>> argv(args_.size());
    for (size_t i = 0; i < args_.size(); ++i) {
      if (!FromVal(holder, context, args_[i], &failure).ToLocal(&argv[i])) return;
    }
    v8::Local<v8::Value> value;
    if (!target.As<v8::Function>()
             ->Call(context, receiver, static_cast<int>(argv.size()), argv.data())
             .ToLocal(&value)) {
      holder.CatchFailure(context, try_catch, &failure);
      return;
    }
    Deliver(holder, *this, context, value, mode_);
  }

 private:
  uint64_t reference_;
  Val receiver_;
  std::vector<Val> args_;
  ResultMode mode_;
};

class ReferenceCopyOp final : public Op {
 public:
  explicit ReferenceCopyOp(uint64_t reference) : reference_(reference) {}
  void Run(IsolateHolder& holder) override {
    v8::Local<v8::Context> context;
    v8::Local<v8::Value> value;
    if (!holder.GetReference(reference_, &context, &value, &failure)) return;
    v8::Context::Scope context_scope(context);
    ToVal(holder, context, value, ResultMode::kCopyStrict, &result, &failure, true);
  }

 private:
  uint64_t reference_;
};

class HeapStatisticsOp final : public Op {
 public:
  void Run(IsolateHolder& holder) override {
    v8::HeapStatistics stats;
    holder.isolate()->GetHeapStatistics(&stats);
    const double values[] = {
        static_cast<double>(stats.total_heap_size()),
        static_cast<double>(stats.total_heap_size_executable()),
        static_cast<double>(stats.total_physical_size()),
        static_cast<double>(stats.total_available_size()),
        static_cast<double>(stats.used_heap_size()),
        static_cast<double>(stats.heap_size_limit()),
        static_cast<double>(stats.malloced_memory()),
        static_cast<double>(stats.external_memory()),
        static_cast<double>(stats.peak_malloced_memory()),
        static_cast<double>(stats.number_of_native_contexts()),
        static_cast<double>(stats.number_of_detached_contexts()),
        static_cast<double>(stats.does_zap_garbage()),
        static_cast<double>(holder.external_bytes()),
    };
    result.kind = ValKind::kArray;
    for (double v : values) {
      Val item;
      item.kind = ValKind::kNumber;
      item.number = v;
      result.items.push_back(std::move(item));
    }
  }
};

}  // namespace

std::shared_ptr<Op> MakeCreateContext(bool inspector) {
  return std::make_shared<CreateContextOp>(inspector);
}

std::shared_ptr<Op> MakeEval(uint64_t context, StrArg code, CompileOptions origin, ResultMode mode) {
  return std::make_shared<EvalOp>(context, std::move(code), std::move(origin), mode);
}

std::shared_ptr<Op> MakeEvalClosure(uint64_t context, StrArg code, CompileOptions origin,
                                    std::vector<Val> args, ResultMode mode) {
  return std::make_shared<EvalClosureOp>(context, std::move(code), std::move(origin),
                                         std::move(args), mode);
}

std::shared_ptr<Op> MakeCompileScript(StrArg code, CompileOptions origin) {
  return std::make_shared<CompileScriptOp>(std::move(code), std::move(origin));
}

std::shared_ptr<Op> MakeRunScript(uint64_t script, uint64_t context, bool release, ResultMode mode) {
  return std::make_shared<RunScriptOp>(script, context, release, mode);
}

std::shared_ptr<Op> MakeGlobalReference(uint64_t context) {
  return std::make_shared<GlobalReferenceOp>(context);
}

std::shared_ptr<Op> MakeReferenceGet(uint64_t reference, Val key, ResultMode mode, bool inherit) {
  return std::make_shared<ReferenceGetOp>(reference, std::move(key), mode, inherit);
}

std::shared_ptr<Op> MakeReferenceApply(uint64_t reference, Val receiver, std::vector<Val> args,
                                       ResultMode mode) {
  return std::make_shared<ReferenceApplyOp>(reference, std::move(receiver), std::move(args), mode);
}

std::shared_ptr<Op> MakeReferenceCopy(uint64_t reference) {
  return std::make_shared<ReferenceCopyOp>(reference);
}

std::shared_ptr<Op> MakeReferenceSet(uint64_t reference, Val key, Val value) {
  return std::make_shared<ReferenceSetOp>(reference, std::move(key), std::move(value));
}

std::shared_ptr<Op> MakeReferenceDelete(uint64_t reference, Val key) {
  return std::make_shared<ReferenceDeleteOp>(reference, std::move(key));
}

std::shared_ptr<Op> MakeHeapStatistics() { return std::make_shared<HeapStatisticsOp>(); }

}  // namespace ivmhost
