// The fast way out for long arrays of plain data (ToVal takes it for arrays of 128 elements or
// more): see convert.h, CopyPlainFast.
//
// Walking a value through V8's API costs an API call per property and a key array per object
// (~15,000 instructions for a record of four fields). V8's ValueSerializer reads the same fields
// straight from the objects' layouts, without running JavaScript: under a
// DisallowJavascriptExecutionScope a getter throws instead, and a proxy is refused without its traps
// being touched. What the serializer does not check is the prototype: it writes a class instance as
// if it were a plain object. So two checks follow, and any doubt sends the value down the slow,
// exact path (the Copier in convert.cc), which then says what is wrong with it:
//   1. the serializer's output is translated into the flat encoding (engine.h, ValKind::kFlat),
//      taking only what the default copy takes (no holes, no shared or cyclic objects, no buffers,
//      maps, sets, errors or wrappers);
//   2. a function in a private context of the isolate walks the value and confirms every object
//      is an array or has Object.prototype (or null) as its prototype. It is safe to run: the
//      serializer just proved there is no proxy and no getter on the way, and the translation that
//      there are no holes, so reading the properties again touches nothing but data.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "convert.h"
#include "isolate_holder.h"

namespace ivmhost {
namespace {

// The check of step 2, compiled in the private context: its builtins are the pristine ones, and
// guest code never sees the function or anything it makes. `proto` is the caller context's
// Object.prototype; an enumerable property on it would make for-in read through to it, so then
// nothing is taken.
const char kPlainCheck[] = R"js(
(function () {
  'use strict';
  const isArray = Array.isArray;
  const getPrototypeOf = Object.getPrototypeOf;
  const call = Function.prototype.call;
  const getTime = Date.prototype.getTime;
  function isDate(v) {
    try {
      call.call(getTime, v);
      return true;
    } catch (e) {
      return false;
    }
  }
  function plain(v, proto) {
    if (isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const x = v[i];
        if (typeof x === 'object' && x !== null && !plain(x, proto)) return false;
      }
      return true;
    }
    const p = getPrototypeOf(v);
    if (p !== proto && p !== null) return isDate(v);
    for (const k in v) {
      const x = v[k];
      if (typeof x === 'object' && x !== null && !plain(x, proto)) return false;
    }
    return true;
  }
  return function check(v, proto) {
    for (const k in proto) return false;
    return plain(v, proto);
  };
})()
)js";

// V8's serialization tags (src/objects/value-serializer.cc), the ones a plain value uses.
enum Tag : uint8_t {
  kPadding = 0,
  kVerifyObjectCount = '?',
  kUndefined = '_',
  kNull = '0',
  kTrue = 'T',
  kFalse = 'F',
  kInt32 = 'I',
  kUint32 = 'U',
  kDouble = 'N',
  kBigInt = 'Z',
  kOneByteString = '"',
  kTwoByteString = 'c',
  kBeginJSObject = 'o',
  kEndJSObject = '{',
  kBeginSparseJSArray = 'a',
  kEndSparseJSArray = '@',
  kBeginDenseJSArray = 'A',
  kEndDenseJSArray = '$',
  kDate = 'D',
};

// The serializer's buffer, capped: a value bigger than the isolate could hold is not plain data
// worth the fast path (the slow path refuses what is too large, without building it first).
class CappedDelegate final : public v8::ValueSerializer::Delegate {
 public:
  CappedDelegate(v8::Isolate* isolate, size_t cap, IsolateHolder::SpareBuffer* spare)
      : isolate_(isolate), cap_(cap), spare_(spare) {}

  // The capacity of the buffer last handed to the serializer.
  size_t capacity() const { return capacity_; }

  void ThrowDataCloneError(v8::Local<v8::String> message) override {
    isolate_->ThrowException(v8::Exception::TypeError(message));
  }

  v8::Maybe<uint32_t> GetWasmModuleTransferId(v8::Isolate* isolate,
                                              v8::Local<v8::WasmModuleObject>) override {
    ThrowDataCloneError(v8::String::NewFromUtf8Literal(isolate, "not plain data"));
    return v8::Nothing<uint32_t>();
  }

  // The first buffer is the one the isolate's last big copy left (its pages are mapped already:
  // a fresh one page-faulted and was grown by copying every time).
  void* ReallocateBufferMemory(void* old_buffer, size_t size, size_t* actual_size) override {
    if (size > cap_) return nullptr;
    if (old_buffer == nullptr && spare_->data != nullptr && spare_->size >= size) {
      void* buffer = spare_->data;
      *actual_size = capacity_ = spare_->size;
      spare_->data = nullptr;
      spare_->size = 0;
      return buffer;
    }
    void* buffer = std::realloc(old_buffer, size);
    if (buffer != nullptr) *actual_size = capacity_ = size;
    return buffer;
  }

  void FreeBufferMemory(void* buffer) override { std::free(buffer); }

 private:
  v8::Isolate* isolate_;
  size_t cap_;
  IsolateHolder::SpareBuffer* spare_;
  size_t capacity_ = 0;
};

// Step 1: V8's wire format to the flat encoding. Every method returns false for "not plain data
// this path takes", never for an error of its own.
class WireToFlat {
 public:
  WireToFlat(const uint8_t* data, size_t size, size_t string_limit, int depth_budget, Val* out)
      : p_(data), end_(data + size), string_limit_(string_limit), depth_budget_(depth_budget),
        buf_(&out->data), side_(&out->items) {
    buf_->resize(size + size / 2 + 64);  // about what plain records take
    out_ = &(*buf_)[0];
    cap_ = buf_->size();
  }

  bool Translate() {
    // The header: kVersion and the version (any: the tags read here are the same since 13).
    if (end_ - p_ < 2 || *p_++ != 0xFF) return false;
    uint64_t version;
    if (!Varint(&version) || version < 13) return false;
    uint8_t tag;
    if (!NextTag(&tag) || (tag != kBeginDenseJSArray && tag != kBeginSparseJSArray)) return false;
    --p_;
    if (!Value(0) || p_ != end_) return false;
    buf_->resize(used_);
    return true;
  }

 private:
  // A key of the table: where its payload is in the flat output, its size and its flat tag.
  struct Key {
    size_t at;
    size_t size;
    char tag;
  };

  bool NextTag(uint8_t* tag) {
    while (p_ < end_ && *p_ == kPadding) ++p_;
    if (p_ >= end_) return false;
    *tag = *p_++;
    return true;
  }

  bool Varint(uint64_t* out) { return ReadWireVarint(&p_, end_, out); }

  bool ZigZag(int64_t* out) {
    uint64_t u;
    if (!Varint(&u) || u > 0xFFFFFFFFu) return false;
    *out = static_cast<int64_t>(u >> 1) ^ -static_cast<int64_t>(u & 1);
    return true;
  }

  // Room for n more bytes at out_ + used_.
  void Ensure(size_t n) {
    if (V8_UNLIKELY(cap_ - used_ < n)) {
      buf_->resize(std::max(2 * cap_, used_ + n + 256));
      out_ = &(*buf_)[0];
      cap_ = buf_->size();
    }
  }

  void Append(const char* data, size_t size) {
    Ensure(size);
    std::memcpy(out_ + used_, data, size);
    used_ += size;
  }

  void Put(char tag) {
    Ensure(1);
    out_[used_++] = tag;
  }

  template <typename T>
  void PutRaw(char tag, T value) {
    Ensure(1 + sizeof(T));
    out_[used_] = tag;
    std::memcpy(out_ + used_ + 1, &value, sizeof(T));
    used_ += 1 + sizeof(T);
  }

  void PutNumber(double d) {
    int32_t small = static_cast<int32_t>(d);
    if (d >= -2147483648.0 && d <= 2147483647.0 && small == d && !(small == 0 && std::signbit(d))) {
      PutRaw('i', small);
    } else {
      PutRaw('d', d);
    }
  }

  // A string's payload, after its tag: 's' or 'w' in the flat encoding.
  bool String(uint8_t tag, const uint8_t** data, size_t* size) {
    uint64_t n;
    if (!Varint(&n) || n > static_cast<uint64_t>(end_ - p_) || n > string_limit_) return false;
    if (tag == kTwoByteString && (n & 1)) return false;
    *data = p_;
    *size = static_cast<size_t>(n);
    p_ += n;
    return true;
  }

  void PutString(char tag, const char* data, size_t size) {
    PutRaw(tag, static_cast<uint32_t>(tag == 's' ? size : size / 2));
    Append(data, size);
  }

  // Keys repeat across the records of a big value. As the Copier does (and the host's reader
  // expects), every key written out in full while the table holds fewer than 64 goes into it, and
  // a key found there is written as 'K' and its index.
  bool PutKey() {
    uint8_t tag;
    if (!NextTag(&tag)) return false;
    const char* data;
    size_t size;
    char flat_tag = tag == kTwoByteString ? 'w' : 's';
    char digits[24];
    if (tag == kInt32) {  // an index key of an object with elements
      int64_t index;
      if (!ZigZag(&index) || index < 0) return false;
      size = static_cast<size_t>(std::snprintf(digits, sizeof digits, "%lld", static_cast<long long>(index)));
      data = digits;
    } else if (tag == kOneByteString || tag == kTwoByteString) {
      const uint8_t* raw;
      if (!String(tag, &raw, &size)) return false;
      data = reinterpret_cast<const char*>(raw);
    } else {
      return false;
    }
    for (size_t i = 0; i < key_count_; ++i) {
      const Key& k = keys_[i];
      if (k.size == size && k.tag == flat_tag && std::memcmp(out_ + k.at, data, size) == 0) {
        PutRaw('K', static_cast<uint32_t>(i));
        return true;
      }
    }
    PutString(flat_tag, data, size);
    if (key_count_ < kFlatKeyTable) keys_[key_count_++] = Key{used_ - size, size, flat_tag};
    return true;
  }

  bool Value(int depth) {
    uint8_t tag;
    if (!NextTag(&tag)) return false;
    switch (tag) {
      case kUndefined:
        Put('u');
        return true;
      case kNull:
        Put('n');
        return true;
      case kTrue:
        Put('t');
        return true;
      case kFalse:
        Put('f');
        return true;
      case kInt32: {
        int64_t v;
        if (!ZigZag(&v)) return false;
        PutRaw('i', static_cast<int32_t>(v));
        return true;
      }
      case kUint32: {
        uint64_t v;
        if (!Varint(&v) || v > 0xFFFFFFFFu) return false;
        PutNumber(static_cast<double>(v));
        return true;
      }
      case kDouble:
      case kDate: {
        double d;
        if (end_ - p_ < 8) return false;
        std::memcpy(&d, p_, 8);
        p_ += 8;
        if (tag == kDouble) {
          PutNumber(d);
          return true;
        }
        side_->emplace_back();
        side_->back().kind = ValKind::kDate;
        side_->back().number = d;
        PutRaw('v', static_cast<uint32_t>(side_->size() - 1));
        return true;
      }
      case kBigInt: {
        uint64_t bitfield;
        if (!Varint(&bitfield)) return false;
        uint64_t n = (bitfield >> 1) & 0x3FFFFFFF;
        if ((n & 7) || n > static_cast<uint64_t>(end_ - p_)) return false;
        side_->emplace_back();
        Val& big = side_->back();
        big.kind = ValKind::kBigInt;
        big.boolean = bitfield & 1;
        big.data.assign(reinterpret_cast<const char*>(p_), static_cast<size_t>(n));
        p_ += n;
        PutRaw('v', static_cast<uint32_t>(side_->size() - 1));
        return true;
      }
      case kOneByteString:
      case kTwoByteString: {
        const uint8_t* data;
        size_t size;
        if (!String(tag, &data, &size)) return false;
        PutString(tag == kOneByteString ? 's' : 'w', reinterpret_cast<const char*>(data), size);
        return true;
      }
      case kBeginJSObject:
        return depth < depth_budget_ && Object(depth);
      case kBeginDenseJSArray:
      case kBeginSparseJSArray:
        return depth < depth_budget_ && Array(tag == kBeginDenseJSArray, depth);
      default:
        // Holes, references to objects already written (shared or cyclic), buffers, maps, sets,
        // regexps, errors, wrapper objects, host objects: the slow path decides.
        return false;
    }
  }

  bool Object(int depth) {
    size_t count_at = used_ + 1;
    PutRaw('o', uint32_t{0});
    uint32_t count = 0;
    for (;;) {
      while (p_ < end_ && *p_ == kPadding) ++p_;
      if (p_ >= end_) return false;
      if (*p_ == kEndJSObject) {
        ++p_;
        uint64_t written;
        if (!Varint(&written) || written != count) return false;
        std::memcpy(out_ + count_at, &count, sizeof count);
        return true;
      }
      if (*p_ == kVerifyObjectCount) return false;
      if (!PutKey() || !Value(depth + 1)) return false;
      ++count;
    }
  }

  // Dense arrays hold their elements in order; sparse ones (any array whose elements kind is
  // holey, such as the result of map()) hold index/value pairs, taken only when every index from
  // 0 is there, in order, and nothing else: a hole would make the check of step 2 read through to
  // the prototype chain.
  bool Array(bool dense, int depth) {
    uint64_t length;
    if (!Varint(&length) || length > static_cast<uint64_t>(end_ - p_)) return false;
    PutRaw('a', static_cast<uint32_t>(length));
    for (uint64_t i = 0; i < length; ++i) {
      if (!dense) {
        uint8_t tag;
        int64_t index;
        if (!NextTag(&tag) || tag != kInt32 || !ZigZag(&index) || static_cast<uint64_t>(index) != i)
          return false;
      }
      if (!Value(depth + 1)) return false;
    }
    uint8_t tag;
    uint64_t properties, end_length;
    if (!NextTag(&tag) || tag != (dense ? kEndDenseJSArray : kEndSparseJSArray)) return false;
    if (!Varint(&properties) || !Varint(&end_length)) return false;
    return properties == (dense ? 0 : length) && end_length == length;
  }

  const uint8_t* p_;
  const uint8_t* end_;
  size_t string_limit_;
  int depth_budget_;
  // The output grows by doubling and is written in place (a std::string append per tag would
  // cost as much as the rest of the translation); used_ bytes of it are written.
  std::string* buf_;
  char* out_;
  size_t cap_;
  size_t used_ = 0;
  std::vector<Val>* side_;
  Key keys_[kFlatKeyTable];
  size_t key_count_ = 0;
};

}  // namespace

v8::Local<v8::Function> IsolateHolder::PlainCheck() {
  if (!plain_check_.IsEmpty()) return plain_check_.Get(isolate_);
  v8::EscapableHandleScope scope(isolate_);
  v8::Local<v8::Context> context = v8::Context::New(isolate_);
  v8::Context::Scope context_scope(context);
  v8::Local<v8::Script> script;
  v8::Local<v8::Value> check;
  if (!v8::Script::Compile(context, v8::String::NewFromUtf8Literal(isolate_, kPlainCheck)).ToLocal(&script) ||
      !script->Run(context).ToLocal(&check) || !check->IsFunction())
    return {};
  plain_check_.Reset(isolate_, check.As<v8::Function>());
  return scope.Escape(check.As<v8::Function>());
}

PlainCopy CopyPlainFast(IsolateHolder& holder, v8::Local<v8::Context> context,
                        v8::Local<v8::Array> value, Val* out) {
  v8::Isolate* isolate = holder.isolate();
  size_t limit = holder.memory_limit_bytes();
  std::pair<uint8_t*, size_t> wire{nullptr, 0};
  size_t capacity = 0;
  {
    v8::TryCatch try_catch(isolate);
    v8::Isolate::DisallowJavascriptExecutionScope no_js(
        isolate, v8::Isolate::DisallowJavascriptExecutionScope::THROW_ON_FAILURE);
    CappedDelegate delegate(isolate, 2 * limit, &holder.spare_wire_buffer());
    v8::ValueSerializer serializer(isolate, &delegate);
    serializer.WriteHeader();
    if (!serializer.WriteValue(context, value).FromMaybe(false)) {
      return try_catch.HasTerminated() ? PlainCopy::kTerminated : PlainCopy::kNotPlain;
    }
    wire = serializer.Release();
    capacity = delegate.capacity();
  }
  out->Reset();
  out->kind = ValKind::kFlat;
  WireToFlat translator(wire.first, wire.second, limit, DepthBudget(), out);
  bool translated = translator.Translate();
  holder.KeepSpareWireBuffer(wire.first, capacity);
  if (!translated) {
    out->Reset();
    return PlainCopy::kNotPlain;
  }

  v8::TryCatch try_catch(isolate);
  v8::Local<v8::Function> check = holder.PlainCheck();
  v8::Local<v8::Value> object_prototype = v8::Object::New(isolate)->GetPrototype();
  v8::Local<v8::Value> args[2] = {value, object_prototype};
  v8::Local<v8::Value> plain;
  if (check.IsEmpty() || !check->Call(context, v8::Undefined(isolate), 2, args).ToLocal(&plain)) {
    out->Reset();
    return try_catch.HasTerminated() ? PlainCopy::kTerminated : PlainCopy::kNotPlain;
  }
  if (plain->IsTrue()) return PlainCopy::kDone;
  out->Reset();
  return PlainCopy::kNotPlain;
}

}  // namespace ivmhost
