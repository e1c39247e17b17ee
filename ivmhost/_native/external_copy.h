// ExternalCopy: a structured clone held outside any heap (isolated-vm's ExternalCopy).
//
// The clone is V8's own serialization format (what ValueSerializer writes), plus the contents of
// the ArrayBuffers moved into it (a transfer list) and the SharedArrayBuffers it shares. Python
// reads and writes the same format itself (_pyx/external_copy.pxi); isolates use V8's
// ValueSerializer and ValueDeserializer, so Date, RegExp, Map, Set, BigInt, typed arrays and
// cycles survive a trip between isolates.
#pragma once

#include <v8.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine.h"

namespace ivmhost {

class ExternalCopy {
 public:
  using Stores = std::vector<std::shared_ptr<v8::BackingStore>>;
  ExternalCopy(std::string blob, Stores transferred, Stores shared);
  ~ExternalCopy();
  ExternalCopy(const ExternalCopy&) = delete;
  ExternalCopy& operator=(const ExternalCopy&) = delete;

  const std::string& blob() const { return blob_; }
  // Bytes this copy holds, as counted in ExternalCopyTotalSize().
  size_t size() const;
  // The transferred stores: shared with the copy, or moved out of it (`take`, for transfer_in).
  // False when an earlier transfer_in took them.
  bool Transferred(bool take, Stores* out);
  Stores shared() const;
  // For the Python reader: a buffer's bytes, or false when the index is unknown or taken.
  bool Buffer(bool shared, size_t index, const char** data, size_t* length) const;

 private:
  mutable std::mutex mu_;
  const std::string blob_;
  Stores transferred_;
  const Stores shared_;
  size_t counted_ = 0;
  bool taken_ = false;
};

// Serializes `value` (with the ArrayBuffers in `transfer_list` moved, not copied, and detached
// in this isolate). Never runs guest JavaScript: a getter makes the value non-transferable.
std::shared_ptr<ExternalCopy> SerializeExternalCopy(IsolateHolder& holder,
                                                    v8::Local<v8::Context> context,
                                                    v8::Local<v8::Value> value,
                                                    const std::vector<v8::Local<v8::ArrayBuffer>>& transfer_list,
                                                    Failure* failure);

// Materialises the clone in `context`. With `transfer_in`, moved ArrayBuffers are handed over
// without a copy (and the copy loses them); otherwise each use gets its own copy.
v8::MaybeLocal<v8::Value> DeserializeExternalCopy(IsolateHolder& holder,
                                                  v8::Local<v8::Context> context,
                                                  ExternalCopy& copy, bool transfer_in,
                                                  Failure* failure);

// Builds plain data the host wrote in V8's serialization format (ValKind::kSerialized): V8's own
// fast paths make the objects. The data holds no buffers; its only host objects are lists of
// primitives, read into packed arrays.
v8::MaybeLocal<v8::Value> DeserializePlain(IsolateHolder& holder, v8::Local<v8::Context> context,
                                           const std::string& data, Failure* failure);

// Big plain data the host wrote (ValKind::kSerialized) made by compiled object literals instead of
// V8's deserializer (plain_build.cc). kNotTaken: nothing was made (a shape it does not take, or
// anything unexpected); the deserializer then reads the data. kTerminated: execution was stopped.
enum class PlainBuild { kBuilt, kNotTaken, kTerminated };
PlainBuild BuildPlain(IsolateHolder& holder, v8::Local<v8::Context> context, const std::string& data,
                      v8::Local<v8::Value>* out);

// A list of primitives as the host writes it (values.pxi, wire_packed_list: a u32 count, then the
// items), made into a packed array: the kind JSON.parse or an array literal makes, where V8's
// deserializer makes every array holey (and its serializer reads a holey array a key lookup at a
// time when it is copied back out). Throws and returns empty when the data is malformed.
v8::MaybeLocal<v8::Array> ReadPackedList(v8::Isolate* isolate, const uint8_t* data, size_t size,
                                         std::vector<v8::Local<v8::Value>>* scratch);
// The constant a one-byte tag stands for, in V8's format and in the host's lists alike ('T' true,
// 'F' false, '0' null, '_' undefined); empty for any other byte.
v8::Local<v8::Value> WireConstant(v8::Isolate* isolate, uint8_t tag);
// One item of such a list at *at (moved past it); false with `error` saying why when it cannot
// be made (malformed data, or a string too long for JavaScript).
bool ReadListItem(v8::Isolate* isolate, const uint8_t** at, const uint8_t* end,
                  v8::Local<v8::Value>* out, const char** error);

// An ExternalCopy as JavaScript sees it: an object with isolated-vm's copy(), copyInto() and
// release() (a frozen prototype; the object holds the copy until it is collected or released).
v8::MaybeLocal<v8::Object> NewExternalCopyObject(IsolateHolder& holder, v8::Local<v8::Context> context,
                                                 std::shared_ptr<ExternalCopy> copy);
// That object back to a Val (kExternalCopy), or false when `obj` is not one.
bool ReadExternalCopyObject(IsolateHolder& holder, v8::Local<v8::Object> obj, Val* out);

}  // namespace ivmhost
