// Startup snapshots (isolated-vm's Isolate.createSnapshot). A snapshot is machine code and heap
// state: accept it only from trusted sources.
#include <v8.h>

#include "convert.h"
#include "isolate_holder.h"
#include "v8_compat.h"

namespace ivmhost {
namespace {

// A JavaScript error in a snapshot script, with its name, message and file:line:col.
void SnapshotFailure(v8::Isolate* isolate, v8::Local<v8::Context> context, v8::TryCatch& try_catch,
                     Failure* failure) {
  failure->kind = FailKind::kJSException;
  Val& error = failure->error;
  error.kind = ValKind::kError;
  error.text = "Error";
  v8::Local<v8::Value> exception = try_catch.Exception();
  if (!exception.IsEmpty() && exception->IsNativeError()) {
    v8::Local<v8::Value> name, message;
    v8::Local<v8::Object> obj = exception.As<v8::Object>();
    if (obj->Get(context, v8::String::NewFromUtf8Literal(isolate, "name")).ToLocal(&name) && name->IsString())
      error.text = ToUtf8(isolate, name);
    if (obj->Get(context, v8::String::NewFromUtf8Literal(isolate, "message")).ToLocal(&message))
      error.data = ToUtf8(isolate, message);
  } else if (!exception.IsEmpty()) {
    v8::Local<v8::String> text;
    if (exception->ToString(context).ToLocal(&text)) error.data = ToUtf8(isolate, text);
  }
  error.stack = error.text + (error.data.empty() ? "" : ": " + error.data);
  v8::Local<v8::Message> where = try_catch.Message();
  if (!where.IsEmpty()) {
    error.stack += "\n    at " + ToUtf8(isolate, where->GetScriptResourceName()) + ":" +
                   std::to_string(where->GetLineNumber(context).FromMaybe(0)) + ":" +
                   std::to_string(where->GetStartColumn(context).FromMaybe(0) + 1);
  }
  failure->message = error.data;
  failure->stack = error.stack;
}

bool RunScript(v8::Isolate* isolate, v8::Local<v8::Context> context, const StrArg& code,
               const StrArg& filename, Failure* failure) {
  v8::TryCatch try_catch(isolate);
  v8::Local<v8::String> source = NewString(isolate, code);
  if (source.IsEmpty()) {
    failure->kind = FailKind::kValue;
    failure->message = "A snapshot script is too long for JavaScript";
    return false;
  }
  v8::ScriptOrigin origin = compat::MakeOrigin(isolate, NewString(isolate, filename), 0, 0, false);
  v8::ScriptCompiler::Source compiled(source, origin);
  v8::Local<v8::Script> script;
  v8::Local<v8::Value> ignored;
  if (!v8::ScriptCompiler::Compile(context, &compiled).ToLocal(&script) ||
      !script->Run(context).ToLocal(&ignored)) {
    SnapshotFailure(isolate, context, try_catch, failure);
    return false;
  }
  return true;
}

bool MakeBlob(v8::StartupData* existing, const std::vector<std::pair<StrArg, StrArg>>& scripts,
              const StrArg* warmup, std::string* blob, Failure* failure) {
  v8::SnapshotCreator creator(nullptr, existing);
  v8::Isolate* isolate = creator.GetIsolate();
  {
    v8::HandleScope scope(isolate);
    if (warmup != nullptr) {
      // Run the warm-up in a throw-away context: only the code it compiled is kept.
      v8::Local<v8::Context> scratch = v8::Context::New(isolate);
      v8::Context::Scope context_scope(scratch);
      StrArg name{"<warmup>", true};
      if (!RunScript(isolate, scratch, *warmup, name, failure)) return false;
    }
  }
  {
    v8::HandleScope scope(isolate);
    v8::Local<v8::Context> context = v8::Context::New(isolate);
    {
      v8::Context::Scope context_scope(context);
      for (const auto& script : scripts) {
        if (!RunScript(isolate, context, script.first, script.second, failure)) return false;
      }
    }
    creator.SetDefaultContext(context);
  }
  // Compiled code is kept: an isolate from the snapshot then starts without recompiling it
  // (measured: ~1 ms faster per isolate than kClear here).
  v8::StartupData data = creator.CreateBlob(v8::SnapshotCreator::FunctionCodeHandling::kKeep);
  if (data.data == nullptr) {
    failure->kind = FailKind::kInternal;
    failure->message = "V8 could not create the snapshot";
    return false;
  }
  blob->assign(data.data, data.raw_size);
  delete[] data.data;
  return true;
}

}  // namespace

bool CreateSnapshot(const std::vector<std::pair<StrArg, StrArg>>& scripts, const StrArg* warmup,
                    std::string* blob, Failure* failure) {
  EnsureV8();
  if (warmup == nullptr) return MakeBlob(nullptr, scripts, nullptr, blob, failure);
  // The scripts' state first (cold), then a second pass from it that keeps warmed-up code.
  std::string cold;
  if (!MakeBlob(nullptr, scripts, nullptr, &cold, failure)) return false;
  v8::StartupData existing{cold.data(), static_cast<int>(cold.size())};
  std::vector<std::pair<StrArg, StrArg>> none;
  return MakeBlob(&existing, none, warmup, blob, failure);
}

}  // namespace ivmhost
