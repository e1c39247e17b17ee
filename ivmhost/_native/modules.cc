// ES modules: compile, link through a host resolver, evaluate (top-level await), namespace.
#include "code_cache.h"
#include "convert.h"
#include "isolate_holder.h"
#include "v8_compat.h"

namespace ivmhost {

void IsolateHolder::InitializeImportMeta(v8::Local<v8::Context> context, v8::Local<v8::Module> module,
                                         v8::Local<v8::Object> meta) {
  IsolateHolder* self = From(context->GetIsolate());
  uint64_t id = self->ModuleId(module);
  std::shared_ptr<HostFunction> filler = id != 0 ? self->ModuleMeta(id) : nullptr;
  if (!filler) return;
  // The host fills import.meta through a Reference to it (args: the reference's id).
  std::vector<Val> args(1);
  args[0].kind = ValKind::kNumber;
  args[0].handle = self->AddReference(context, meta);
  args[0].number = static_cast<double>(args[0].handle);
  Val result;
  Failure failure;
  if (!Hooks().call(filler->fn, args.data(), args.size(), &result, &failure)) ThrowFailure(*self, context, failure);
}

namespace {

v8::MaybeLocal<v8::Module> ResolveModule(v8::Local<v8::Context> context, v8::Local<v8::String> specifier,
                                         v8::Local<v8::FixedArray>, v8::Local<v8::Module> referrer) {
  v8::Isolate* isolate = context->GetIsolate();
  IsolateHolder& holder = *IsolateHolder::From(isolate);
  std::string name = ToUtf8(isolate, specifier);
  Failure failure;
  if (holder.resolver == nullptr) {
    failure.kind = FailKind::kType;
    failure.message = "No resolver for '" + name + "'";
    ThrowFailure(holder, context, failure);
    return {};
  }
  std::vector<Val> args(2);
  Failure ignored;
  ToVal(holder, context, specifier, ResultMode::kCopyStrict, &args[0], &ignored);
  args[1].kind = ValKind::kNumber;
  args[1].number = static_cast<double>(holder.ModuleId(referrer));
  Val result;
  if (!Hooks().call(holder.resolver->fn, args.data(), args.size(), &result, &failure)) {
    bool host_exception = failure.kind == FailKind::kHostException;
    ThrowFailure(holder, context, failure);
    // A host BaseException only requests termination; V8 needs an exception pending here.
    if (host_exception) isolate->ThrowException(v8::Undefined(isolate));
    return {};
  }
  v8::Local<v8::Module> module;
  uint64_t id = result.kind == ValKind::kNumber ? static_cast<uint64_t>(result.number) : 0;
  if (id != 0) module = holder.GetModule(id, &failure);
  // A dependency is linked into the context of the module that imports it.
  if (!module.IsEmpty() && holder.ModuleContext(id).IsEmpty()) holder.SetModuleContext(id, context);
  if (module.IsEmpty()) {
    failure = Failure();
    failure.kind = FailKind::kType;
    failure.message = "Resolved dependency was not a Module: '" + name + "'";
    ThrowFailure(holder, context, failure);
    return {};
  }
  return module;
}

void ReturnData(const v8::FunctionCallbackInfo<v8::Value>& info) {
  info.GetReturnValue().Set(info.Data());
}

// Rejects `resolver` with what the TryCatch caught, or with a TypeError saying `why`.
v8::Local<v8::Promise> Rejected(v8::Local<v8::Context> context, v8::Local<v8::Promise::Resolver> resolver,
                                v8::TryCatch& try_catch, const std::string& why) {
  v8::Isolate* isolate = context->GetIsolate();
  v8::Local<v8::Value> error;
  if (try_catch.HasCaught() && !try_catch.HasTerminated()) {
    error = try_catch.Exception();
    try_catch.Reset();
  } else {
    error = v8::Exception::TypeError(v8::String::NewFromUtf8(isolate, why.c_str()).ToLocalChecked());
  }
  resolver->Reject(context, error).FromMaybe(false);  // Nothing only while terminating
  return resolver->GetPromise();
}

}  // namespace

// import(): the host's hook picks the module (instantiating it, with the same hook resolving its
// imports, if it is new); the promise settles with its namespace once it has evaluated.
v8::MaybeLocal<v8::Promise> IsolateHolder::ImportDynamically(v8::Local<v8::Context> context,
                                                             v8::Local<v8::Data>,
                                                             v8::Local<v8::Value> resource_name,
                                                             v8::Local<v8::String> specifier,
                                                             v8::Local<v8::FixedArray>) {
  v8::Isolate* isolate = context->GetIsolate();
  IsolateHolder& holder = *From(isolate);
  v8::Local<v8::Promise::Resolver> resolver;
  if (!v8::Promise::Resolver::New(context).ToLocal(&resolver)) return {};
  v8::TryCatch try_catch(isolate);
  std::string name = ToUtf8(isolate, specifier);
  std::shared_ptr<HostFunction> hook = holder.ImportHook();
  if (!hook) {
    return Rejected(context, resolver, try_catch,
                    "import('" + name + "') is not available: the host set no import_module hook");
  }
  std::vector<Val> args(2);
  Failure failure;
  ToVal(holder, context, specifier, ResultMode::kCopyStrict, &args[0], &failure);
  ToVal(holder, context, resource_name, ResultMode::kCopyStrict, &args[1], &failure);
  Val result;
  if (!Hooks().call(hook->fn, args.data(), args.size(), &result, &failure)) {
    ThrowFailure(holder, context, failure);
    return Rejected(context, resolver, try_catch, "import('" + name + "') failed");
  }
  uint64_t id = result.kind == ValKind::kNumber ? static_cast<uint64_t>(result.number) : 0;
  v8::Local<v8::Module> module = id != 0 ? holder.GetModule(id, &failure) : v8::Local<v8::Module>();
  if (module.IsEmpty()) {
    return Rejected(context, resolver, try_catch, "Resolved dependency was not a Module: '" + name + "'");
  }
  if (module->GetStatus() == v8::Module::kUninstantiated) {
    if (holder.resolver != nullptr) {
      return Rejected(context, resolver, try_catch,
                      "import('" + name + "') during a module instantiation is not supported");
    }
    holder.resolver = hook.get();
    bool ok = module->InstantiateModule(context, ResolveModule).FromMaybe(false);
    holder.resolver = nullptr;
    if (!ok) return Rejected(context, resolver, try_catch, "import('" + name + "') could not be linked");
    holder.SetModuleContext(id, context);
  }
  if (module->GetStatus() == v8::Module::kEvaluating || module->GetStatus() == v8::Module::kInstantiating) {
    // V8 aborts on Evaluate of a module mid-evaluation (a module importing itself or its importer).
    return Rejected(context, resolver, try_catch,
                    "import('" + name + "'): the module is still being evaluated (a cycle through import())");
  }
  v8::Local<v8::Value> evaluated;
  if (!module->Evaluate(context).ToLocal(&evaluated)) {
    return Rejected(context, resolver, try_catch, "import('" + name + "') failed to evaluate");
  }
  v8::Local<v8::Function> namespace_of;
  if (!v8::Function::New(context, ReturnData, module->GetModuleNamespace()).ToLocal(&namespace_of)) {
    return Rejected(context, resolver, try_catch, "import('" + name + "') failed");
  }
  // Always answer with a promise of the caller's context, settled by the module's evaluation.
  if (evaluated->IsPromise()) {
    v8::Local<v8::Promise> done;
    if (!evaluated.As<v8::Promise>()->Then(context, namespace_of).ToLocal(&done)) {
      return Rejected(context, resolver, try_catch, "import('" + name + "') failed");
    }
    resolver->Resolve(context, done).FromMaybe(false);
  } else {
    resolver->Resolve(context, module->GetModuleNamespace()).FromMaybe(false);
  }
  return resolver->GetPromise();
}

namespace {

class CompileModuleOp final : public Op {
 public:
  CompileModuleOp(StrArg code, CompileOptions origin, std::shared_ptr<HostFunction> meta)
      : code_(std::move(code)), origin_(std::move(origin)), meta_(std::move(meta)) {}

  void Run(IsolateHolder& holder) override {
    v8::Isolate* isolate = holder.isolate();
    v8::Local<v8::Context> context = holder.DefaultContext();
    v8::Context::Scope context_scope(context);
    v8::TryCatch try_catch(isolate);
    v8::Local<v8::String> code = NewString(isolate, code_);
    if (code.IsEmpty()) {
      failure.kind = FailKind::kValue;
      failure.message = "The source code is too long for JavaScript";
      return;
    }
    v8::ScriptOrigin origin = compat::MakeOrigin(isolate, NewString(isolate, origin_.filename),
                                                 origin_.line_offset, origin_.column_offset, true);
    std::unique_ptr<v8::ScriptCompiler::Source> source = CacheSource(code, origin, origin_);
    v8::Local<v8::Module> module;
    if (!v8::ScriptCompiler::CompileModule(isolate, source.get(), CacheMode(origin_)).ToLocal(&module)) {
      holder.CatchFailure(context, try_catch, &failure);
      return;
    }
    result.kind = ValKind::kNumber;
    result.handle = holder.AddModule(module, meta_);
    ReportCache(origin_, *source, module->GetUnboundModuleScript(), &result);
    v8::Local<v8::FixedArray> requests = module->GetModuleRequests();
    for (int i = 0; i < requests->Length(); ++i) {
      Val specifier;
      Failure ignored;
      ToVal(holder, context, compat::ModuleRequestSpecifier(context, requests, i),
            ResultMode::kCopyStrict, &specifier, &ignored);
      result.items.push_back(std::move(specifier));
    }
  }

 private:
  StrArg code_;
  CompileOptions origin_;
  std::shared_ptr<HostFunction> meta_;
};

class InstantiateModuleOp final : public Op {
 public:
  InstantiateModuleOp(uint64_t module, uint64_t context, std::shared_ptr<HostFunction> resolver)
      : module_(module), context_(context), resolver_(std::move(resolver)) {}

  void Run(IsolateHolder& holder) override {
    v8::Local<v8::Module> module = holder.GetModule(module_, &failure);
    if (module.IsEmpty()) return;
    v8::Local<v8::Context> context = holder.GetContext(context_, &failure);
    if (context.IsEmpty()) return;
    result.kind = ValKind::kUndefined;
    if (holder.resolver != nullptr) {
      // V8 reports a module half-way through linking as uninstantiated: a nested link would
      // run on a half-linked graph.
      failure.kind = FailKind::kValue;
      failure.message = "A module is being instantiated: instantiate may not be called from a resolver";
      return;
    }
    // Instantiating again after success is a no-op (isolated-vm's rule).
    if (module->GetStatus() != v8::Module::kUninstantiated) return;
    v8::Context::Scope context_scope(context);
    v8::TryCatch try_catch(holder.isolate());
    HostFunction* outer = holder.resolver;
    holder.resolver = resolver_.get();
    bool ok = module->InstantiateModule(context, ResolveModule).FromMaybe(false);
    holder.resolver = outer;
    if (!ok) {
      // V8 has reset the module: a later instantiate may succeed.
      holder.CatchFailure(context, try_catch, &failure);
      return;
    }
    holder.SetModuleContext(module_, context);
  }

 private:
  uint64_t module_;
  uint64_t context_;
  std::shared_ptr<HostFunction> resolver_;
};

bool InstantiatedModule(IsolateHolder& holder, uint64_t id, v8::Local<v8::Module>* module,
                        v8::Local<v8::Context>* context, Failure* failure) {
  *module = holder.GetModule(id, failure);
  if (module->IsEmpty()) return false;
  *context = holder.ModuleContext(id);
  if (context->IsEmpty() || (*module)->GetStatus() < v8::Module::kInstantiated) {
    failure->kind = FailKind::kValue;
    failure->message = "Module has not been instantiated.";
    return false;
  }
  return true;
}

class EvaluateModuleOp final : public Op {
 public:
  explicit EvaluateModuleOp(uint64_t module) : module_(module) {}

  void Run(IsolateHolder& holder) override {
    v8::Local<v8::Module> module;
    v8::Local<v8::Context> context;
    if (!InstantiatedModule(holder, module_, &module, &context, &failure)) return;
    if (module->GetStatus() == v8::Module::kEvaluating) {
      failure.kind = FailKind::kValue;
      failure.message = "Module is being evaluated";
      return;
    }
    v8::Context::Scope context_scope(context);
    v8::TryCatch try_catch(holder.isolate());
    v8::Local<v8::Value> value;
    if (!module->Evaluate(context).ToLocal(&value)) {
      holder.CatchFailure(context, try_catch, &failure);
      return;
    }
    // With top-level await, evaluation is a promise: the caller waits for it (await_promise).
    if (value->IsPromise() && await_promise) {
      holder.StashResultPromise(this, context, value.As<v8::Promise>(), ResultMode::kIgnore);
      return;
    }
    result.kind = ValKind::kUndefined;
  }

 private:
  uint64_t module_;
};

class ModuleNamespaceOp final : public Op {
 public:
  explicit ModuleNamespaceOp(uint64_t module) : module_(module) {}

  void Run(IsolateHolder& holder) override {
    v8::Local<v8::Module> module;
    v8::Local<v8::Context> context;
    if (!InstantiatedModule(holder, module_, &module, &context, &failure)) return;
    v8::Context::Scope context_scope(context);  // the namespace object is made in it
    result.kind = ValKind::kReference;
    result.text = "object";
    result.handle = holder.AddReference(context, module->GetModuleNamespace());
  }

 private:
  uint64_t module_;
};

}  // namespace

std::shared_ptr<Op> MakeCompileModule(StrArg code, CompileOptions origin, std::shared_ptr<HostFunction> meta) {
  return std::make_shared<CompileModuleOp>(std::move(code), std::move(origin), std::move(meta));
}

std::shared_ptr<Op> MakeInstantiateModule(uint64_t module, uint64_t context,
                                          std::shared_ptr<HostFunction> resolver) {
  return std::make_shared<InstantiateModuleOp>(module, context, std::move(resolver));
}

std::shared_ptr<Op> MakeEvaluateModule(uint64_t module) {
  return std::make_shared<EvaluateModuleOp>(module);
}

std::shared_ptr<Op> MakeModuleNamespace(uint64_t module) {
  return std::make_shared<ModuleNamespaceOp>(module);
}

}  // namespace ivmhost
