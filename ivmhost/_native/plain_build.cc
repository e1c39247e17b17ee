// The fast way in for big plain data (DeserializePlain takes it for values of 4 KiB or more of
// wire data): see external_copy.h, BuildPlain.
//
// V8's ValueDeserializer makes an object a property at a time: it reads each key, finds or makes
// the map transition, then commits the fields (~5,000 instructions for a record of four fields).
// An object literal in optimized code allocates the object with its final map and stores the fields.
// So the host's data (V8's format, as values.pxi writes it) is read here into
//   - leaves: every primitive, made through the API, and every list of more than 16 primitives
//     (ReadPackedList);
//   - a program for a driver function: push the next leaf, make an object of a known shape from
//     the top values of a stack, or fill a list with them;
//   - shape functions, one per distinct key sequence: (s, i) => ({"k0": s[i], "k1": s[i + 1]}),
//     or list length (up to 16): (s, i) => [s[i], s[i + 1]].
// The driver and the shapes are compiled in the receiving context (an object literal gets that
// context's Object.prototype) and kept in its embedder data, so V8 optimizes them once.
//
// Nothing the guest can reach runs: the functions read no global and call no method. They index
// only arrays this file made packed (in bounds, own elements: no prototype lookup) and an
// Int32Array (whose elements never come from a prototype); literals define their properties
// without setters; lists with objects inside are made here full of undefined, so filling them
// assigns own elements, never an inherited setter. A key "__proto__" (a literal would set the
// prototype with it) or anything unexpected leaves the value to V8's deserializer.
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "convert.h"
#include "external_copy.h"
#include "isolate_holder.h"

namespace ivmhost {
namespace {

constexpr int kShapeStoreSlot = 1;      // context embedder data: [driver, shape functions...]
// context embedder data: the context's number (cache key). Random per isolate, not counted from 1:
// a context restored from a snapshot may bring another isolate's number, which must not be ours.
constexpr int kContextIdSlot = 2;
constexpr size_t kMaxArity = 64;        // bigger objects: the deserializer
constexpr uint32_t kMaxListLiteral = 16;  // longer lists of primitives: one Array::New each
constexpr size_t kMaxNewShapes = 32;    // per value: more and the value has no regular records
constexpr uint32_t kMaxStore = 4096;    // shape functions kept per context
constexpr size_t kMaxShapeIndex = 1 << 16;
constexpr int kMaxDepth = 200;         // deeper values: the deserializer (this parser recurses)

constexpr int32_t kOpLeaf = -1;  // push the next leaf
constexpr int32_t kOpFill = -2;  // next int n: the next leaf is a list of n; fill it from the stack
// An op >= 0 is a shape (an index into S); the next int is its arity.

const char kDriver[] = R"js((function (L, P, S, stack, n) {
  'use strict';
  let sp = 0, li = 0;
  for (let pc = 0; pc < n; pc++) {
    const op = P[pc];
    if (op === -1) {
      stack[sp++] = L[li++];
    } else if (op >= 0) {
      const k = P[++pc];
      sp -= k;
      stack[sp] = S[op](stack, sp);
      sp++;
    } else {
      const k = P[++pc];
      const a = L[li++];
      sp -= k;
      for (let j = 0; j < k; j++) a[j] = stack[sp + j];
      stack[sp++] = a;
    }
  }
  return stack[0];
}))js";

// Appends `key` (UTF-16 code units) to JavaScript source as a string literal.
void AppendStringLiteral(const uint16_t* key, size_t n, std::string* out) {
  static const char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (size_t i = 0; i < n; ++i) {
    uint16_t c = key[i];
    if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
      out->push_back(static_cast<char>(c));
    } else {
      char esc[6] = {'\\', 'u', kHex[c >> 12], kHex[(c >> 8) & 15], kHex[(c >> 4) & 15],
                     kHex[c & 15]};
      out->append(esc, 6);
    }
  }
  out->push_back('"');
}

class Builder {
 public:
  Builder(IsolateHolder& holder, v8::Local<v8::Context> context, const std::string& data)
      : holder_(holder),
        isolate_(holder.isolate()),
        context_(context),
        p_(reinterpret_cast<const uint8_t*>(data.data())),
        end_(p_ + data.size()),
        signatures_at_(kMaxDepth + 1) {}

  // False: not for this path (nothing was thrown); the deserializer takes the value.
  bool Parse() {
    if (end_ - p_ < 2 || *p_++ != 0xFF) return false;
    uint64_t version;
    if (!Varint(&version)) return false;
    if (!Value(0) || p_ != end_) return false;
    return sp_ == 1;
  }

  // Runs the driver; empty when it threw (termination included).
  v8::MaybeLocal<v8::Value> Build() {
    // A value that is one leaf (a list of primitives) is made already: no JavaScript runs.
    if (program_.size() == 1) return leaves_[0];
    v8::Local<v8::Array> store;
    double context_id;
    if (!Store(&store, &context_id)) return {};
    std::vector<v8::Local<v8::Value>> shapes;
    shapes.reserve(signatures_.size());
    size_t compiled = 0;
    std::string key;
    for (const std::string& signature : signatures_) {
      key.assign(reinterpret_cast<const char*>(&context_id), sizeof context_id);
      key += signature;
      auto& index = holder_.plain_shapes();
      auto it = index.find(key);
      uint32_t at;
      if (it != index.end()) {
        at = it->second;
      } else {
        if (++compiled > kMaxNewShapes || store->Length() >= kMaxStore ||
            index.size() >= kMaxShapeIndex)
          return {};
        v8::Local<v8::Value> fn;
        if (!Compile(ShapeSource(signature)).ToLocal(&fn)) return {};
        at = store->Length();
        // Defined, never set: a set would find an index setter the guest put on Array.prototype.
        if (!store->CreateDataProperty(context_, at, fn).FromMaybe(false)) return {};
        index.emplace(key, at);
      }
      v8::Local<v8::Value> fn;
      if (!store->Get(context_, at).ToLocal(&fn) || !fn->IsFunction()) return {};
      shapes.push_back(fn);
    }
    v8::Local<v8::Value> driver;
    if (!store->Get(context_, 0).ToLocal(&driver) || !driver->IsFunction()) return {};
    // The program's memory goes to the buffer as it is: no copy, and no allocation through the
    // isolate's ArrayBuffer allocator (V8 aborts the process when that one refuses).
    size_t ops = program_.size();
    auto* program = new std::vector<int32_t>(std::move(program_));
    std::shared_ptr<v8::BackingStore> store_of_program = v8::ArrayBuffer::NewBackingStore(
        program->data(), ops * sizeof(int32_t),
        [](void*, size_t, void* owned) { delete static_cast<std::vector<int32_t>*>(owned); },
        program);
    v8::Local<v8::ArrayBuffer> buffer = v8::ArrayBuffer::New(isolate_, std::move(store_of_program));
    Undefineds(max_sp_);
    v8::Local<v8::Value> args[5] = {
        v8::Array::New(isolate_, leaves_.data(), leaves_.size()),
        v8::Int32Array::New(buffer, 0, ops),
        v8::Array::New(isolate_, shapes.data(), shapes.size()),
        v8::Array::New(isolate_, undefineds_.data(), max_sp_),
        v8::Integer::New(isolate_, static_cast<int32_t>(ops)),
    };
    return driver.As<v8::Function>()->Call(context_, v8::Undefined(isolate_), 5, args);
  }

 private:
  bool Varint(uint64_t* out) { return ReadWireVarint(&p_, end_, out); }

  bool Bytes(size_t n, const uint8_t** at) {
    if (static_cast<size_t>(end_ - p_) < n) return false;
    *at = p_;
    p_ += n;
    return true;
  }

  void Leaf(v8::Local<v8::Value> v) {
    leaves_.push_back(v);
    program_.push_back(kOpLeaf);
    Push(1);
  }

  void Push(size_t n) {
    sp_ += n;
    if (sp_ > max_sp_) max_sp_ = sp_;
  }

  bool Value(int depth) {
    if (p_ >= end_ || depth > kMaxDepth) return false;
    uint8_t tag = *p_++;
    switch (tag) {
      case 'I': {
        uint64_t u;
        if (!Varint(&u) || u > 0xFFFFFFFFu) return false;
        Leaf(v8::Integer::New(isolate_, static_cast<int32_t>((u >> 1) ^ (~(u & 1) + 1))));
        return true;
      }
      case 'N': {
        const uint8_t* at;
        double d;
        if (!Bytes(8, &at)) return false;
        std::memcpy(&d, at, 8);
        Leaf(v8::Number::New(isolate_, d));
        return true;
      }
      case '"':
      case 'c': {
        uint64_t n;
        const uint8_t* at;
        if (!Varint(&n) || n > 0x3FFFFFFF || !Bytes(n, &at)) return false;
        v8::Local<v8::String> s;
        if (tag == '"') {
          if (!v8::String::NewFromOneByte(isolate_, at, v8::NewStringType::kNormal,
                                          static_cast<int>(n))
                   .ToLocal(&s))
            return false;
        } else {
          if (n & 1) return false;
          units_.resize(n / 2);
          if (n) std::memcpy(&units_[0], at, n);
          if (!v8::String::NewFromTwoByte(isolate_, units_.data(), v8::NewStringType::kNormal,
                                          static_cast<int>(n / 2))
                   .ToLocal(&s))
            return false;
        }
        Leaf(s);
        return true;
      }
      case '\\': {
        const uint8_t* at;
        uint32_t size, count;
        if (!Bytes(4, &at)) return false;
        std::memcpy(&size, at, 4);
        if (size < 4 || !Bytes(size, &at)) return false;
        std::memcpy(&count, at, 4);
        if (count <= kMaxListLiteral) return ListLiteral(at + 4, at + size, count);
        v8::TryCatch try_catch(isolate_);  // a malformed list: the deserializer reports it
        v8::Local<v8::Array> list;
        if (!ReadPackedList(isolate_, at, size, &items_).ToLocal(&list)) return false;
        Leaf(list);
        return true;
      }
      case 'o':
        return Object(depth);
      case 'A':
        return Array(depth);
      default: {
        v8::Local<v8::Value> constant = WireConstant(isolate_, tag);
        if (constant.IsEmpty()) return false;
        Leaf(constant);
        return true;
      }
    }
  }

  // A short list of primitives (values.pxi, wire_packed_list): its items are leaves, and an array
  // literal of its length makes it (an API call per list cost more than the rest of a record).
  bool ListLiteral(const uint8_t* p, const uint8_t* end, uint32_t count) {
    for (uint32_t i = 0; i < count; ++i) {
      v8::Local<v8::Value> item;
      const char* error;
      if (!ReadListItem(isolate_, &p, end, &item, &error)) return false;
      Leaf(item);
    }
    if (p != end) return false;
    char signature[5] = {'L'};
    std::memcpy(signature + 1, &count, 4);
    return Shape(std::string(signature, 5), count);
  }

  // Emits the op making an object (or a short list) of `signature` from the top `arity` values.
  bool Shape(const std::string& signature, size_t arity) {
    int32_t shape;
    if (signature == last_signature_ && last_shape_ >= 0) {
      shape = last_shape_;
    } else {
      auto it = shape_of_.find(signature);
      if (it == shape_of_.end()) {
        if (signatures_.size() >= kMaxNewShapes * 4) return false;
        it = shape_of_.emplace(signature, static_cast<int32_t>(signatures_.size())).first;
        signatures_.push_back(signature);
      }
      shape = it->second;
      last_signature_ = signature;
      last_shape_ = shape;
    }
    program_.push_back(shape);
    program_.push_back(static_cast<int32_t>(arity));
    sp_ -= arity;
    Push(1);
    return true;
  }

  bool Object(int depth) {
    // Reused: no allocation per record. Sized once (Value refuses depth > kMaxDepth): a resize here
    // would move the strings callers further up are still writing.
    std::string& signature = signatures_at_[depth];
    signature.clear();
    size_t arity = 0;
    for (;;) {
      if (p_ >= end_) return false;
      uint8_t tag = *p_++;
      if (tag == '{') break;
      uint64_t n;
      const uint8_t* at;
      if ((tag != '"' && tag != 'c') || !Varint(&n) || n > 0xFFFFFF || !Bytes(n, &at)) return false;
      if (tag == '"' && n == 9 && std::memcmp(at, "__proto__", 9) == 0) return false;
      if (tag == 'c' && n == 18) {
        static const uint16_t kProto[] = {'_', '_', 'p', 'r', 'o', 't', 'o', '_', '_'};
        if (std::memcmp(at, kProto, 18) == 0) return false;
      }
      if (++arity > kMaxArity) return false;
      uint32_t n32 = static_cast<uint32_t>(n);
      signature.push_back(static_cast<char>(tag));
      signature.append(reinterpret_cast<const char*>(&n32), 4);
      signature.append(reinterpret_cast<const char*>(at), n);
      if (!Value(depth + 1)) return false;
    }
    uint64_t count;
    if (!Varint(&count) || count != arity) return false;
    return Shape(signature, arity);
  }

  bool Array(int depth) {
    uint64_t n, properties, length;
    if (!Varint(&n) || n > static_cast<uint64_t>(end_ - p_)) return false;
    for (uint64_t i = 0; i < n; ++i) {
      if (!Value(depth + 1)) return false;
    }
    if (p_ >= end_ || *p_++ != '$' || !Varint(&properties) || !Varint(&length) || properties != 0 ||
        length != n)
      return false;
    // The list itself, made full of undefined: the driver assigns own elements only.
    Undefineds(n);
    leaves_.push_back(v8::Array::New(isolate_, undefineds_.data(), n));
    program_.push_back(kOpFill);
    program_.push_back(static_cast<int32_t>(n));
    sp_ -= n;
    Push(1);
    return true;
  }

  void Undefineds(size_t n) {
    if (undefineds_.size() < n) undefineds_.resize(n, v8::Undefined(isolate_));
  }

  std::string ShapeSource(const std::string& signature) {
    if (signature[0] == 'L') {  // a list: [s[i], s[i + 1], ...]
      uint32_t count;
      std::memcpy(&count, signature.data() + 1, 4);
      std::string source = "(function (s, i) {\n  'use strict';\n  return [";
      for (uint32_t k = 0; k < count; ++k) source += (k ? ", s[i + " : "s[i + ") + std::to_string(k) + "]";
      return source + "];\n})";
    }
    std::string source = "(function (s, i) {\n  'use strict';\n  return {";
    std::vector<uint16_t> key;
    const char* p = signature.data();
    const char* end = p + signature.size();
    for (int i = 0; p < end; ++i) {
      char tag = *p++;
      uint32_t n;
      std::memcpy(&n, p, 4);
      p += 4;
      if (tag == '"') {
        key.assign(reinterpret_cast<const uint8_t*>(p), reinterpret_cast<const uint8_t*>(p) + n);
      } else {
        key.resize(n / 2);
        if (n) std::memcpy(&key[0], p, n);
      }
      p += n;
      if (i) source += ", ";
      AppendStringLiteral(key.data(), key.size(), &source);
      source += ": s[i + " + std::to_string(i) + "]";
    }
    return source + "};\n})";
  }

  v8::MaybeLocal<v8::Value> Compile(const std::string& source) {
    v8::Local<v8::String> text;
    v8::Local<v8::Script> script;
    if (!v8::String::NewFromUtf8(isolate_, source.data(), v8::NewStringType::kNormal,
                                 static_cast<int>(source.size()))
             .ToLocal(&text) ||
        !v8::Script::Compile(context_, text).ToLocal(&script))
      return {};
    return script->Run(context_);
  }

  // This context's store of compiled functions ([driver, shapes...]) and its number.
  bool Store(v8::Local<v8::Array>* store, double* context_id) {
    if (context_->GetNumberOfEmbedderDataFields() > kContextIdSlot) {
      v8::Local<v8::Value> id = context_->GetEmbedderData(kContextIdSlot);
      v8::Local<v8::Value> held = context_->GetEmbedderData(kShapeStoreSlot);
      if (id->IsNumber() && held->IsArray()) {
        *context_id = id.As<v8::Number>()->Value();
        *store = held.As<v8::Array>();
        return true;
      }
    }
    v8::Local<v8::Value> driver;
    if (!Compile(kDriver).ToLocal(&driver) || !driver->IsFunction()) return false;
    *store = v8::Array::New(isolate_, &driver, 1);
    if (!(*store)->SetPrototype(context_, v8::Null(isolate_)).FromMaybe(false)) return false;
    *context_id = holder_.NextPlainContextId();
    context_->SetEmbedderData(kShapeStoreSlot, *store);
    context_->SetEmbedderData(kContextIdSlot, v8::Number::New(isolate_, *context_id));
    return true;
  }

  IsolateHolder& holder_;
  v8::Isolate* isolate_;
  v8::Local<v8::Context> context_;
  const uint8_t* p_;
  const uint8_t* end_;
  std::vector<v8::Local<v8::Value>> leaves_;
  std::vector<int32_t> program_;
  size_t sp_ = 0;
  size_t max_sp_ = 0;
  std::vector<std::string> signatures_;  // the shapes of this value, by local index
  std::unordered_map<std::string, int32_t> shape_of_;
  std::vector<std::string> signatures_at_;  // the signature being read, per depth
  std::string last_signature_;
  int32_t last_shape_ = -1;
  std::vector<v8::Local<v8::Value>> undefineds_;
  std::vector<v8::Local<v8::Value>> items_;
  std::vector<uint16_t> units_;
};

}  // namespace

PlainBuild BuildPlain(IsolateHolder& holder, v8::Local<v8::Context> context,
                      const std::string& data, v8::Local<v8::Value>* out) {
  v8::Isolate* isolate = holder.isolate();
  v8::EscapableHandleScope scope(isolate);
  v8::Context::Scope context_scope(context);  // arrays made here are the receiving context's
  v8::TryCatch try_catch(isolate);  // whatever is thrown here, the deserializer meets it again
  Builder builder(holder, context, data);
  v8::Local<v8::Value> value;
  if (!builder.Parse() || !builder.Build().ToLocal(&value)) {
    return try_catch.HasTerminated() ? PlainBuild::kTerminated : PlainBuild::kNotTaken;
  }
  *out = scope.Escape(value);
  return PlainBuild::kBuilt;
}

}  // namespace ivmhost
