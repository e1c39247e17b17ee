// V8's code cache for scripts and modules (isolated-vm's cachedData / produceCachedData).
// Cache data is machine code: accept it only from trusted sources. V8 checks its header, its
// flags and a checksum, so garbage is rejected, never run.
#pragma once

#include <v8.h>

#include <memory>

#include "engine.h"

namespace ivmhost {

// The Source to compile `code` from, consuming `options.cached_data` when given.
inline std::unique_ptr<v8::ScriptCompiler::Source> CacheSource(v8::Local<v8::String> code,
                                                               const v8::ScriptOrigin& origin,
                                                               const CompileOptions& options) {
  v8::ScriptCompiler::CachedData* cache = nullptr;
  if (options.consume_cache) {
    cache = new v8::ScriptCompiler::CachedData(
        reinterpret_cast<const uint8_t*>(options.cached_data.data()),
        static_cast<int>(options.cached_data.size()));  // BufferNotOwned: the op keeps the bytes
  }
  return std::make_unique<v8::ScriptCompiler::Source>(code, origin, cache);
}

inline v8::ScriptCompiler::CompileOptions CacheMode(const CompileOptions& options) {
  return options.consume_cache ? v8::ScriptCompiler::kConsumeCodeCache
                               : v8::ScriptCompiler::kNoCompileOptions;
}

// Fills `result` (see CompileOptions) after a successful compile of `unbound`.
template <typename Unbound>
void ReportCache(const CompileOptions& options, v8::ScriptCompiler::Source& source,
                 v8::Local<Unbound> unbound, Val* result) {
  if (options.consume_cache) {
    result->number = 1;
    const v8::ScriptCompiler::CachedData* used = source.GetCachedData();
    result->boolean = used == nullptr || used->rejected;
  }
  if (options.produce_cache) {
    std::unique_ptr<v8::ScriptCompiler::CachedData> made(v8::ScriptCompiler::CreateCodeCache(unbound));
    result->one_byte = made != nullptr;
    if (made) result->data.assign(reinterpret_cast<const char*>(made->data), made->length);
  }
}

}  // namespace ivmhost
