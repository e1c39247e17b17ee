// Every call whose signature differs between the V8 versions ivmhost builds against (10.2 on
// Debian 12, 11.3 on Debian 13) lives here, so the rest of _native/ is version-free.
#pragma once

#include <v8-inspector.h>
#include <v8.h>

#include <memory>

namespace ivmhost {
namespace compat {

inline v8::ScriptOrigin MakeOrigin(v8::Isolate* isolate, v8::Local<v8::Value> name, int line,
                                   int column, bool is_module) {
#if V8_MAJOR_VERSION >= 12
  (void)isolate;
  return v8::ScriptOrigin(name, line, column, false, -1, v8::Local<v8::Value>(), false, false,
                          is_module);
#else
  return v8::ScriptOrigin(isolate, name, line, column, false, -1, v8::Local<v8::Value>(), false,
                          false, is_module);
#endif
}

// The OOM handler's signature changed in V8 11.
#if V8_MAJOR_VERSION >= 11
#define IVMHOST_OOM_HANDLER(name, location, is_heap) \
  void name(const char* location, const v8::OOMDetails& details_)
#define IVMHOST_OOM_IS_HEAP (details_.is_heap_oom)
#else
#define IVMHOST_OOM_HANDLER(name, location, is_heap) \
  void name(const char* location, bool is_heap_oom_)
#define IVMHOST_OOM_IS_HEAP (is_heap_oom_)
#endif

// ExternalCopy: ArrayBuffer::Detach() returns Maybe<bool> (and takes a detach key) from V8 11.
inline bool DetachArrayBuffer(v8::Local<v8::ArrayBuffer> buffer) {
#if V8_MAJOR_VERSION >= 11
  return buffer->Detach(v8::Local<v8::Value>()).FromMaybe(false);
#else
  buffer->Detach();
  return true;
#endif
}

inline v8::Local<v8::String> ModuleRequestSpecifier(v8::Local<v8::Context> context,
                                                   v8::Local<v8::FixedArray> requests, int i) {
  return requests->Get(context, i).As<v8::ModuleRequest>()->GetSpecifier();
}

// V8 11 asks how far an inspector client is trusted; ours is the embedder itself.
inline std::unique_ptr<v8_inspector::V8InspectorSession> ConnectInspector(
    v8_inspector::V8Inspector* inspector, int context_group,
    v8_inspector::V8Inspector::Channel* channel) {
#if V8_MAJOR_VERSION >= 11
  return inspector->connect(context_group, channel, v8_inspector::StringView(),
                            v8_inspector::V8Inspector::kFullyTrusted);
#else
  return inspector->connect(context_group, channel, v8_inspector::StringView());
#endif
}

}  // namespace compat
}  // namespace ivmhost
