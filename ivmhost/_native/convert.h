// Copying values between V8 and `Val` trees, and JavaScript exceptions into `Failure`s.
#pragma once

#include <v8.h>

#include "engine.h"

namespace ivmhost {

class IsolateHolder;

// Copies `value` out of the isolate. Never runs guest JavaScript: getters, proxies and anything
// that would call into JavaScript make the value non-transferable. Returns false with `failure`
// filled (kTransfer) when `mode` does not allow a non-copyable value. With `flat`, arrays and plain
// objects come out as one kFlat buffer: only for values the host reads, never for FromVal.
bool ToVal(IsolateHolder& holder, v8::Local<v8::Context> context, v8::Local<v8::Value> value,
           ResultMode mode, Val* out, Failure* failure, bool flat = false);

// The flat encoding's key table holds this many keys (engine.h, ValKind::kFlat).
constexpr size_t kFlatKeyTable = 64;

// How deep a value may be copied on this thread: every level costs stack in the copier and again
// in the host's conversion, so the budget follows the stack that is left (~1 KiB a level).
int DepthBudget();

// A varint of V8's serialization format at *p, which moves past it; false when it runs past `end`.
inline bool ReadWireVarint(const uint8_t** p, const uint8_t* end, uint64_t* out) {
  if (V8_LIKELY(*p < end && **p < 0x80)) {
    *out = *(*p)++;
    return true;
  }
  uint64_t v = 0;
  for (int shift = 0; shift < 64 && *p < end; shift += 7) {
    uint8_t b = *(*p)++;
    v |= static_cast<uint64_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) {
      *out = v;
      return true;
    }
  }
  return false;
}

enum class PlainCopy { kDone, kNotPlain, kTerminated };

// The fast path of ToVal's `flat` copies of long arrays (plain_copy.cc): an array made only of
// arrays, plain objects, primitives and dates, read by V8's serializer into `out` (kFlat). Never
// runs guest JavaScript. kNotPlain (out reset) when the value is anything else or in doubt: the
// caller copies it the exact way, which says what is wrong with it.
PlainCopy CopyPlainFast(IsolateHolder& holder, v8::Local<v8::Context> context,
                        v8::Local<v8::Array> value, Val* out);

// Makes a JavaScript value from `val`. Returns an empty handle with `failure` filled on error.
v8::MaybeLocal<v8::Value> FromVal(IsolateHolder& holder, v8::Local<v8::Context> context,
                                  const Val& val, Failure* failure);

// Fills `failure` (kind already set by the caller) from a thrown value.
void ExceptionToFailure(IsolateHolder& holder, v8::Local<v8::Context> context,
                        v8::Local<v8::Value> exception, v8::Local<v8::Message> message,
                        Failure* failure);

}  // namespace ivmhost

namespace ivmhost {

// isolated-vm's Reference.get: own properties only (the prototype chain too with `inherit`); a
// getter or proxy on the way is refused ("Property is getter", "Object is or has proxy").
bool ReadOwnOrInherited(IsolateHolder& holder, v8::Local<v8::Context> context,
                        v8::Local<v8::Object> object, v8::Local<v8::Value> key, bool inherit,
                        v8::Local<v8::Value>* out, Failure* failure);

// A Reference as JavaScript sees it: over a host object (`host`) or a JavaScript value (`target`).
v8::MaybeLocal<v8::Object> NewReferenceObject(IsolateHolder& holder, v8::Local<v8::Context> context,
                                              std::shared_ptr<HostFunction> host,
                                              v8::Local<v8::Value> target, const std::string& type);

// A JavaScript Reference object back to a Val (kHostReference or a new kReference handle).
bool ReadReferenceObject(IsolateHolder& holder, v8::Local<v8::Context> context,
                         v8::Local<v8::Object> obj, Val* out);

// Throws `failure` into JavaScript as an exception (or stops it for a host BaseException).
void ThrowFailure(IsolateHolder& holder, v8::Local<v8::Context> context, Failure& failure);

}  // namespace ivmhost
