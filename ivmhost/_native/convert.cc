#include "convert.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "external_copy.h"  // ExternalCopy
#include "isolate_holder.h"

namespace ivmhost {

const HostHooks& Hooks();

namespace {

constexpr int kMaxDepth = 1000;
// Arrays at least this long leave through V8's serializer: measured with callgrind, it breaks even
// with the exact copier at about 100 records of two fields and saves a sixth at 10,000.
constexpr uint32_t kLongArray = 128;
constexpr size_t kStackReserve = 64 * 1024;  // kept free below a copy for the host's own frames

const char* TypedArrayFormat(v8::Local<v8::Value> v) {
  if (v->IsInt8Array()) return "b";
  if (v->IsUint8ClampedArray()) return "B";
  if (v->IsInt16Array()) return "h";
  if (v->IsUint16Array()) return "H";
  if (v->IsInt32Array()) return "i";
  if (v->IsUint32Array()) return "I";
  if (v->IsFloat32Array()) return "f";
  if (v->IsFloat64Array()) return "d";
  if (v->IsBigInt64Array()) return "q";
  if (v->IsBigUint64Array()) return "Q";
  return nullptr;
}

// A string may be far larger than the heap it lives in (`'x'.repeat(2**29)` is a small rope):
// copied, it could exhaust the host's memory. None larger than the isolate's memory limit crosses.
const char kStringTooLarge[] = "The string is too large to be copied (larger than the isolate's memory limit)";

bool StringFits(IsolateHolder& holder, v8::Local<v8::String> s) {
  size_t bytes = static_cast<size_t>(s->Length()) * (s->IsOneByte() ? 1 : 2);
  return bytes <= holder.memory_limit_bytes();
}

void CopyString(v8::Isolate* isolate, v8::Local<v8::String> s, Val* out) {
  out->kind = ValKind::kString;
  int length = s->Length();
  if (s->IsOneByte()) {
    out->one_byte = true;
    out->data.resize(length);
    s->WriteOneByte(isolate, reinterpret_cast<uint8_t*>(&out->data[0]), 0, length,
                    v8::String::NO_NULL_TERMINATION);
  } else {
    out->one_byte = false;
    out->data.resize(static_cast<size_t>(length) * 2);
    s->Write(isolate, reinterpret_cast<uint16_t*>(&out->data[0]), 0, length,
             v8::String::NO_NULL_TERMINATION);
  }
}

class Copier {
 public:
  // Made in the copy's outermost handle scope: object_prototype_ must outlive the per-element
  // scopes below it.
  Copier(IsolateHolder& holder, v8::Local<v8::Context> context, ResultMode mode, bool flat)
      : holder_(holder),
        isolate_(holder.isolate()),
        context_(context),
        mode_(mode),
        flat_(flat),
        object_prototype_(v8::Object::New(holder.isolate())->GetPrototype()) {}

  bool Copy(v8::Local<v8::Value> v, Val* out) {
    if (v->IsUndefined()) {
      out->kind = ValKind::kUndefined;
    } else if (v->IsNull()) {
      out->kind = ValKind::kNull;
    } else if (v->IsBoolean()) {
      out->kind = ValKind::kBool;
      out->boolean = v->IsTrue();
    } else if (v->IsNumber()) {
      out->kind = ValKind::kNumber;
      out->number = v.As<v8::Number>()->Value();
    } else if (v->IsString()) {
      if (!StringFits(holder_, v.As<v8::String>())) return Refuse(out, kStringTooLarge);
      CopyString(isolate_, v.As<v8::String>(), out);
    } else if (v->IsBigInt()) {
      v8::Local<v8::BigInt> big = v.As<v8::BigInt>();
      int count = big->WordCount();
      int sign = 0;
      out->kind = ValKind::kBigInt;
      out->data.resize(static_cast<size_t>(count) * 8);
      big->ToWordsArray(&sign, &count, reinterpret_cast<uint64_t*>(&out->data[0]));
      out->boolean = sign != 0;
    } else if (v->IsSymbol()) {
      return Refuse(out, "a Symbol cannot be copied");
    } else if (mode_ == ResultMode::kPrimitiveOrReference || mode_ == ResultMode::kReference) {
      out->kind = ValKind::kReference;
      out->handle = holder_.AddReference(context_, v);
      out->text = TypeOf(v);
    } else {
      return CopyObject(v.As<v8::Object>(), out);
    }
    return true;
  }

  const std::string& why() const { return why_; }

 private:
  static const char* TypeOf(v8::Local<v8::Value> v) {
    if (v->IsFunction()) return "function";
    return "object";
  }

  bool Refuse(Val* out, const char* why) {
    out->kind = ValKind::kUnsupported;
    if (why_.empty()) why_ = why;
    return false;
  }

  bool CopyObject(v8::Local<v8::Object> obj, Val* out) {
    if (obj->IsProxy()) return Refuse(out, "Object is or has proxy");
    if (ReadReferenceObject(holder_, context_, obj, out)) return true;
    if (ReadExternalCopyObject(holder_, obj, out)) return true;
    if (obj->IsNativeError()) {
      ExceptionToFailureVal(obj, out);
      return true;
    }
    if (obj->IsDate()) {
      out->kind = ValKind::kDate;
      out->number = obj.As<v8::Date>()->ValueOf();
      return true;
    }
    if (obj->IsArrayBuffer()) {
      auto store = obj.As<v8::ArrayBuffer>()->GetBackingStore();
      out->kind = ValKind::kBytes;
      out->data.assign(static_cast<const char*>(store->Data()), store->ByteLength());
      return true;
    }
    if (obj->IsTypedArray()) {
      v8::Local<v8::TypedArray> view = obj.As<v8::TypedArray>();
      out->data.resize(view->ByteLength());
      if (!out->data.empty()) view->CopyContents(&out->data[0], out->data.size());
      if (obj->IsUint8Array()) {
        out->kind = ValKind::kBytes;
      } else {
        out->kind = ValKind::kTypedArray;
        out->text = TypedArrayFormat(obj);
      }
      return true;
    }
    if (obj->IsFunction()) return Refuse(out, "A function cannot be copied");
    if (depth_ >= max_depth_) return Refuse(out, "The value is nested too deeply to be copied");
    for (auto& seen : path_) {
      if (seen == obj) return Refuse(out, "The value contains a cycle; copy it with copy=True");
    }
    bool is_array = obj->IsArray();
    if (!is_array && !IsPlainObject(obj)) return Refuse(out, "A non-transferable value was passed");
    if (flat_ && buf_ == nullptr) {
      // The outermost composite: the whole tree goes into one flat buffer (see ValKind::kFlat).
      out->kind = ValKind::kFlat;
      buf_ = &out->data;
      side_ = &out->items;
      bool ok = WriteComposite(obj, is_array);
      buf_ = nullptr;
      side_ = nullptr;
      if (!ok) out->kind = ValKind::kUnsupported;
      return ok;
    }
    depth_++;
    path_.push_back(obj);
    bool ok = is_array ? CopyArray(obj.As<v8::Array>(), out) : CopyPlain(obj, out);
    path_.pop_back();
    depth_--;
    return ok;
  }

  // A plain object: its prototype is this context's Object.prototype or null (the fast check),
  // or its constructor is named Object (objects from other contexts).
  bool IsPlainObject(v8::Local<v8::Object> obj) {
    v8::Local<v8::Value> proto = obj->GetPrototype();
    if (proto->IsNull()) return true;
    if (proto == object_prototype_) return true;
    return obj->GetConstructorName()->StringEquals(v8::String::NewFromUtf8Literal(isolate_, "Object"));
  }

  bool CopyArray(v8::Local<v8::Array> array, Val* out) {
    out->kind = ValKind::kArray;
    uint32_t length = array->Length();
    // `length` is the guest's to set (`a.length = 2**32 - 1` costs it nothing): never size host
    // memory by it beyond what the isolate could really hold.
    if (length > holder_.memory_limit_bytes() / 8) return Refuse(out, "The array is too large to be copied");
    out->items.resize(length);
    for (uint32_t i = 0; i < length; ++i) {
      v8::HandleScope scope(isolate_);  // big arrays must not pile up handles for the GC to scan
      v8::Local<v8::Value> item;
      if (!array->Get(context_, i).ToLocal(&item)) return Refuse(out, "Property is getter");
      if (!Copy(item, &out->items[i])) return Refuse(out, "");
    }
    return true;
  }

  bool CopyPlain(v8::Local<v8::Object> obj, Val* out) {
    out->kind = ValKind::kObject;
    v8::Local<v8::Array> names;
    auto filter = static_cast<v8::PropertyFilter>(v8::ONLY_ENUMERABLE | v8::SKIP_SYMBOLS);
    if (!obj->GetOwnPropertyNames(context_, filter, v8::KeyConversionMode::kConvertToString)
             .ToLocal(&names))
      return Refuse(out, "Object is or has proxy");
    uint32_t length = names->Length();
    out->keys.resize(length);
    out->items.resize(length);
    for (uint32_t i = 0; i < length; ++i) {
      v8::HandleScope scope(isolate_);
      v8::Local<v8::Value> key, item;
      if (!names->Get(context_, i).ToLocal(&key) || !key->IsString())
        return Refuse(out, "A non-transferable value was passed");
      CopyString(isolate_, key.As<v8::String>(), &out->keys[i]);
      if (!obj->Get(context_, key).ToLocal(&item)) return Refuse(out, "Property is getter");
      if (!Copy(item, &out->items[i])) return Refuse(out, "");
    }
    return true;
  }

  // --- The flat encoding (engine.h, ValKind::kFlat) ---

  void Put(char tag) { buf_->push_back(tag); }
  template <typename T>
  void PutRaw(char tag, T value) {
    char raw[1 + sizeof(T)];
    raw[0] = tag;
    std::memcpy(raw + 1, &value, sizeof(T));
    buf_->append(raw, sizeof(raw));
  }

  void WriteString(v8::Local<v8::String> s) {
    int length = s->Length();
    bool one_byte = s->IsOneByte();
    PutRaw(one_byte ? 's' : 'w', static_cast<uint32_t>(length));
    size_t at = buf_->size();
    buf_->resize(at + static_cast<size_t>(length) * (one_byte ? 1 : 2));
    if (one_byte) {
      s->WriteOneByte(isolate_, reinterpret_cast<uint8_t*>(&(*buf_)[at]), 0, length,
                      v8::String::NO_NULL_TERMINATION);
    } else {
      s->Write(isolate_, reinterpret_cast<uint16_t*>(&(*buf_)[at]), 0, length,
               v8::String::NO_NULL_TERMINATION);
    }
  }

  // Keys repeat across the records of a big value: each distinct key (an internalized string, so
  // identity is equality) is written once and then referred to by its index.
  void WriteKey(v8::Local<v8::String> key) {
    for (size_t i = 0; i < keys_.size(); ++i) {
      if (keys_[i] == key) return PutRaw('K', static_cast<uint32_t>(i));
    }
    // Global handles: the table outlives the per-element handle scopes the keys were read in.
    if (keys_.size() < kFlatKeyTable) keys_.emplace_back(isolate_, key);
    WriteString(key);
  }

  bool Write(v8::Local<v8::Value> v) {
    if (v->IsString()) {
      if (!StringFits(holder_, v.As<v8::String>())) return Fail(kStringTooLarge);
      WriteString(v.As<v8::String>());
    } else if (v->IsNumber()) {
      double d = v.As<v8::Number>()->Value();
      int32_t small = static_cast<int32_t>(d);
      if (d >= -2147483648.0 && d <= 2147483647.0 && small == d && !(small == 0 && std::signbit(d))) {
        PutRaw('i', small);
      } else {
        PutRaw('d', d);
      }
    } else if (v->IsUndefined()) {
      Put('u');
    } else if (v->IsNull()) {
      Put('n');
    } else if (v->IsBoolean()) {
      Put(v->IsTrue() ? 't' : 'f');
    } else if (v->IsObject() && IsInlineComposite(v.As<v8::Object>())) {
      return WriteComposite(v.As<v8::Object>(), v->IsArray());
    } else {
      // Everything else (dates, errors, buffers, references, ...) is an ordinary Val on the side.
      side_->emplace_back();
      PutRaw('v', static_cast<uint32_t>(side_->size() - 1));
      return Copy(v, &side_->back());
    }
    return true;
  }

  // An array, or an object whose prototype is this context's Object.prototype or null and that is
  // nothing special (no internal fields, not a proxy, date, error, buffer or function).
  bool IsInlineComposite(v8::Local<v8::Object> obj) {
    if (obj->IsArray()) return true;
    if (obj->InternalFieldCount() != 0 || obj->IsProxy() || obj->IsFunction() || obj->IsDate() ||
        obj->IsNativeError() || obj->IsArrayBuffer() || obj->IsArrayBufferView())
      return false;
    v8::Local<v8::Value> proto = obj->GetPrototype();
    return proto == object_prototype_ || proto->IsNull();
  }

  bool WriteComposite(v8::Local<v8::Object> obj, bool is_array) {
    if (depth_ >= max_depth_) return Fail("The value is nested too deeply to be copied");
    for (auto& seen : path_) {
      if (seen == obj) return Fail("The value contains a cycle; copy it with copy=True");
    }
    depth_++;
    path_.push_back(obj);
    bool ok = is_array ? WriteArray(obj.As<v8::Array>()) : WritePlain(obj);
    path_.pop_back();
    depth_--;
    return ok;
  }

  bool WriteArray(v8::Local<v8::Array> array) {
    uint32_t length = array->Length();
    if (length > holder_.memory_limit_bytes() / 8) return Fail("The array is too large to be copied");
    PutRaw('a', length);
    for (uint32_t i = 0; i < length; ++i) {
      v8::HandleScope scope(isolate_);
      v8::Local<v8::Value> item;
      if (!array->Get(context_, i).ToLocal(&item)) return Fail("Property is getter");
      if (!Write(item)) return false;
    }
    return true;
  }

  bool WritePlain(v8::Local<v8::Object> obj) {
    v8::Local<v8::Array> names;
    auto filter = static_cast<v8::PropertyFilter>(v8::ONLY_ENUMERABLE | v8::SKIP_SYMBOLS);
    if (!obj->GetOwnPropertyNames(context_, filter, v8::KeyConversionMode::kConvertToString)
             .ToLocal(&names))
      return Fail("Object is or has proxy");
    uint32_t length = names->Length();
    PutRaw('o', length);
    for (uint32_t i = 0; i < length; ++i) {
      v8::Local<v8::Value> key, item;
      if (!names->Get(context_, i).ToLocal(&key) || !key->IsString())
        return Fail("A non-transferable value was passed");
      WriteKey(key.As<v8::String>());
      v8::HandleScope scope(isolate_);
      if (!obj->Get(context_, key).ToLocal(&item)) return Fail("Property is getter");
      if (!Write(item)) return false;
    }
    return true;
  }

  bool Fail(const char* why) {
    if (why_.empty()) why_ = why;
    return false;
  }

  void ExceptionToFailureVal(v8::Local<v8::Object> error, Val* out) {
    Failure failure;
    ExceptionToFailure(holder_, context_, error, v8::Local<v8::Message>(), &failure);
    *out = std::move(failure.error);
  }

  IsolateHolder& holder_;
  v8::Isolate* isolate_;
  v8::Local<v8::Context> context_;
  ResultMode mode_;
  bool flat_;
  std::string* buf_ = nullptr;      // the flat buffer being written, when inside a composite
  std::vector<Val>* side_ = nullptr;
  std::vector<v8::Global<v8::String>> keys_;
  int depth_ = 0;
  v8::Local<v8::Value> object_prototype_;
  int max_depth_ = DepthBudget();
  std::vector<v8::Local<v8::Object>> path_;
  std::string why_;
};

// Reads a data property without running guest JavaScript; empty when absent or not plain data.
v8::Local<v8::Value> ReadPlain(v8::Local<v8::Context> context, v8::Local<v8::Object> obj,
                               const char* name) {
  v8::Isolate* isolate = context->GetIsolate();
  v8::TryCatch try_catch(isolate);
  v8::Isolate::DisallowJavascriptExecutionScope no_js(
      isolate, v8::Isolate::DisallowJavascriptExecutionScope::THROW_ON_FAILURE);
  v8::Local<v8::Value> value;
  v8::Local<v8::String> key = v8::String::NewFromUtf8(isolate, name).ToLocalChecked();
  if (!obj->Get(context, key).ToLocal(&value)) return {};
  return value;
}

std::string Location(v8::Isolate* isolate, v8::Local<v8::Context> context,
                     v8::Local<v8::Message> message) {
  if (message.IsEmpty()) return "";
  std::string file = ToUtf8(isolate, message->GetScriptResourceName());
  int line = message->GetLineNumber(context).FromMaybe(0);
  int column = message->GetStartColumn(context).FromMaybe(-1) + 1;
  return "    at " + file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

}  // namespace

int DepthBudget() {
  size_t left = StackRemaining();
  if (left <= kStackReserve) return 0;
  return static_cast<int>(std::min<size_t>(kMaxDepth, (left - kStackReserve) / 1024));
}

std::string ToUtf8(v8::Isolate* isolate, v8::Local<v8::Value> value) {
  if (value.IsEmpty() || !value->IsString()) return "";
  v8::String::Utf8Value utf8(isolate, value);
  return *utf8 ? std::string(*utf8, utf8.length()) : std::string();
}

v8::Local<v8::String> NewString(v8::Isolate* isolate, const StrArg& s) {
  v8::MaybeLocal<v8::String> made;
  if (s.one_byte) {
    made = v8::String::NewFromOneByte(isolate, reinterpret_cast<const uint8_t*>(s.data.data()),
                                      v8::NewStringType::kNormal, static_cast<int>(s.data.size()));
  } else {
    made = v8::String::NewFromTwoByte(isolate, reinterpret_cast<const uint16_t*>(s.data.data()),
                                      v8::NewStringType::kNormal,
                                      static_cast<int>(s.data.size() / 2));
  }
  v8::Local<v8::String> out;
  return made.ToLocal(&out) ? out : v8::Local<v8::String>();
}

std::string FormatCurrentStack(v8::Isolate* isolate) {
  v8::HandleScope scope(isolate);
  v8::Local<v8::StackTrace> trace = v8::StackTrace::CurrentStackTrace(isolate, 10);
  std::string out;
  for (int i = 0; i < trace->GetFrameCount(); ++i) {
    v8::Local<v8::StackFrame> frame = trace->GetFrame(isolate, i);
    std::string fn = ToUtf8(isolate, frame->GetFunctionName());
    std::string where = ToUtf8(isolate, frame->GetScriptName());
    if (where.empty()) where = "<anonymous>";
    where += ":" + std::to_string(frame->GetLineNumber()) + ":" + std::to_string(frame->GetColumn());
    if (!out.empty()) out += "\n";
    out += fn.empty() ? "    at " + where : "    at " + fn + " (" + where + ")";
  }
  return out;
}

bool ToVal(IsolateHolder& holder, v8::Local<v8::Context> context, v8::Local<v8::Value> value,
           ResultMode mode, Val* out, Failure* failure, bool flat) {
  if (mode == ResultMode::kIgnore) return true;
  v8::Isolate* isolate = holder.isolate();
  // The common case first: primitives need no scopes (nothing can run while reading them).
  if (value->IsNumber()) {
    out->kind = ValKind::kNumber;
    out->number = value.As<v8::Number>()->Value();
    return true;
  }
  if (value->IsString()) {
    if (!StringFits(holder, value.As<v8::String>())) {
      failure->kind = FailKind::kTransfer;
      failure->message = kStringTooLarge;
      return false;
    }
    CopyString(isolate, value.As<v8::String>(), out);
    return true;
  }
  if (value->IsBoolean() || value->IsNullOrUndefined()) {
    out->kind = value->IsUndefined() ? ValKind::kUndefined
                : value->IsNull()    ? ValKind::kNull
                                     : ValKind::kBool;
    out->boolean = value->IsTrue();
    return true;
  }
  if (mode == ResultMode::kExternalCopy) {
    if (value->IsObject() && ReadExternalCopyObject(holder, value.As<v8::Object>(), out)) return true;
    std::shared_ptr<ExternalCopy> copy = SerializeExternalCopy(holder, context, value, {}, failure);
    if (!copy) return false;
    out->kind = ValKind::kExternalCopy;
    out->copy = std::move(copy);
    return true;
  }
  // A long array (records, most likely) comes out through V8's serializer (plain_copy.cc), which
  // is the faster way for big values; whatever it is in doubt about is copied the exact way below.
  // Shorter values are copied that way directly: for them it is the cheaper one.
  PlainCopy fast = PlainCopy::kNotPlain;
  if (flat && value->IsArray() && value.As<v8::Array>()->Length() >= kLongArray &&
      mode != ResultMode::kPrimitiveOrReference && mode != ResultMode::kReference) {
    fast = CopyPlainFast(holder, context, value.As<v8::Array>(), out);
    if (fast == PlainCopy::kDone) return true;
  }
  v8::TryCatch try_catch(isolate);
  // Copying never runs guest JavaScript: a getter or trap reached here throws instead.
  v8::Isolate::DisallowJavascriptExecutionScope no_js(
      isolate, v8::Isolate::DisallowJavascriptExecutionScope::THROW_ON_FAILURE);
  Copier copier(holder, context, mode, flat);
  if (fast != PlainCopy::kTerminated && copier.Copy(value, out)) return true;
  if (fast == PlainCopy::kTerminated || try_catch.HasTerminated()) {
    failure->kind = FailKind::kTimeout;
    failure->message = "Script execution timed out.";
    return false;
  }
  if (mode == ResultMode::kCopyOrUndefined) {
    *out = Val();
    return true;
  }
  failure->kind = FailKind::kTransfer;
  failure->message = copier.why().empty() ? "A non-transferable value was passed" : copier.why();
  return false;
}

namespace {

// Marks a JavaScript error made from a host exception, so the host can chain the original.
v8::Local<v8::Private> HostErrorKey(v8::Isolate* isolate) {
  return v8::Private::ForApi(isolate, v8::String::NewFromUtf8Literal(isolate, "ivmhost.hostError"));
}

}  // namespace

void ExceptionToFailure(IsolateHolder& holder, v8::Local<v8::Context> context,
                        v8::Local<v8::Value> exception, v8::Local<v8::Message> message,
                        Failure* failure) {
  v8::Isolate* isolate = holder.isolate();
  Val& error = failure->error;
  if (exception->IsNativeError()) {
    v8::Local<v8::Object> obj = exception.As<v8::Object>();
    v8::Local<v8::Value> host_error;
    if (obj->GetPrivate(context, HostErrorKey(isolate)).ToLocal(&host_error) && host_error->IsNumber())
      error.handle = static_cast<uint64_t>(host_error.As<v8::Number>()->Value());
    v8::Local<v8::Value> name = ReadPlain(context, obj, "name");
    v8::Local<v8::Value> text = ReadPlain(context, obj, "message");
    v8::Local<v8::Value> stack = ReadPlain(context, obj, "stack");
    error.kind = ValKind::kError;
    error.text = name.IsEmpty() || !name->IsString() ? "Error" : ToUtf8(isolate, name);
    if (!text.IsEmpty() && (text->IsNumber() || text->IsBoolean() || text->IsBigInt())) {
      text = text->ToString(context).FromMaybe(v8::Local<v8::String>());
    }
    error.data = ToUtf8(isolate, text);
    error.stack = ToUtf8(isolate, stack);
    if (error.stack.empty()) {
      error.stack = error.text + (error.data.empty() ? "" : ": " + error.data);
    }
    if (error.stack.find("\n    at ") == std::string::npos) {
      // Compile errors carry no frames: point at the source like a frame would.
      if (message.IsEmpty()) message = v8::Exception::CreateMessage(isolate, exception);
      std::string where = Location(isolate, context, message);
      if (!where.empty()) error.stack += "\n" + where;
    }
    failure->message = error.data;
    failure->stack = error.stack;
    return;
  }
  failure->message =
      "An object was thrown from supplied code within ivmhost, but that object was not an "
      "instance of `Error`.";
  Failure ignored;
  ToVal(holder, context, exception, ResultMode::kCopyOrUndefined, &error, &ignored);
  if (message.IsEmpty()) message = v8::Exception::CreateMessage(isolate, exception);
  failure->stack = Location(isolate, context, message);
}

// ---------------------------------------------------------------------------------------------
// Pooled values

void Val::Reset() {
  constexpr size_t kKeep = 1024;  // larger buffers are freed, not kept for the next call
  kind = ValKind::kUndefined;
  boolean = false;
  one_byte = true;
  number = 0;
  handle = 0;
  if (data.capacity() > kKeep) {
    std::string().swap(data);
  } else if (!data.empty()) {
    data.clear();
  }
  if (!text.empty()) std::string().swap(text);
  if (!stack.empty()) std::string().swap(stack);
  if (keys.capacity() != 0) std::vector<Val>().swap(keys);
  if (items.capacity() != 0) std::vector<Val>().swap(items);
  if (host) host.reset();
  view = nullptr;
  view_size = 0;
  if (copy) copy.reset();
}

// ---------------------------------------------------------------------------------------------
// Val -> V8

namespace {

// The values of a host call (arguments, result, failure), reused per thread: a callback allocates
// nothing for them and resets only what it used (the hot path of every JavaScript -> Python
// call). Leases nest: a callback that calls back in takes another scratch.
struct CallScratch {
  std::vector<Val> args;
  Val result;
  Failure failure;
};

class ScratchLease {
 public:
  explicit ScratchLease(size_t count) : count_(count) {
    Pool& pool = ThreadPool();
    if (pool.depth < kPooled) {
      CallScratch*& slot = pool.scratches[pool.depth];
      if (slot == nullptr) slot = new CallScratch();
      scratch_ = slot;
    } else {
      scratch_ = new CallScratch();  // deeper than any real callback chain: not pooled
    }
    pool.depth++;
    if (scratch_->args.size() < count) scratch_->args.resize(count);
  }
  ~ScratchLease() {
    if (--ThreadPool().depth >= kPooled) {
      delete scratch_;
      return;
    }
    if (count_ > kPooledArgs) {
      std::vector<Val>().swap(scratch_->args);  // keep the slot, not its many arguments
    } else {
      for (size_t i = 0; i < count_; ++i) scratch_->args[i].Recycle();
    }
    scratch_->result.Recycle();
    if (scratch_->failure.kind != FailKind::kNone) scratch_->failure = Failure();
  }
  ScratchLease(const ScratchLease&) = delete;
  ScratchLease& operator=(const ScratchLease&) = delete;
  Val* args() { return scratch_->args.data(); }
  Val& result() { return scratch_->result; }
  Failure& failure() { return scratch_->failure; }

 private:
  static constexpr int kPooled = 8;
  static constexpr size_t kPooledArgs = 16;
  struct Pool {
    int depth = 0;
    CallScratch* scratches[kPooled] = {};
  };
  // Leaked with the thread on purpose: a few small scratches per thread that ever called back.
  static Pool& ThreadPool() {
    static thread_local Pool pool IVMHOST_TLS_FAST;
    return pool;
  }
  CallScratch* scratch_;
  size_t count_;
};

void CallHostFunction(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  IsolateHolder& holder = *IsolateHolder::From(isolate);
  auto* fn = static_cast<HostFunction*>(info.Data().As<v8::External>()->Value());
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  if (StackRemaining() < 2 * kStackReserve) {
    // The host needs stack of its own: JavaScript recursed too close to the limit to call out.
    isolate->ThrowException(v8::Exception::RangeError(
        v8::String::NewFromUtf8Literal(isolate, "Maximum call stack size exceeded")));
    return;
  }
  size_t count = static_cast<size_t>(info.Length());
  ScratchLease lease(count);
  Val* args = lease.args();
  Failure& failure = lease.failure();
  for (int i = 0; i < info.Length(); ++i) {
    if (!ToVal(holder, context, info[i], ResultMode::kCopyStrict, &args[i], &failure, true)) {
      ThrowFailure(holder, context, failure);
      return;
    }
  }
  if (fn->flags & kHostAsync) {
    // JavaScript gets a promise now; the host settles it when its work is done.
    v8::Local<v8::Promise::Resolver> resolver;
    if (!v8::Promise::Resolver::New(context).ToLocal(&resolver)) return;
    PromiseTicket ticket = holder.AddHostPromise(resolver);
    Hooks().call_async(fn->fn, args, count, ticket);
    info.GetReturnValue().Set(resolver->GetPromise());
    return;
  }
  Val& result = lease.result();
  bool ok = Hooks().call(fn->fn, args, count, &result, &failure);
  if (fn->flags & kHostIgnored) {
    if (!ok && failure.kind == FailKind::kHostException) ThrowFailure(holder, context, failure);
    return;  // the result and ordinary errors are dropped
  }
  v8::Local<v8::Value> out;
  if (!ok || !FromVal(holder, context, result, &failure).ToLocal(&out)) {
    ThrowFailure(holder, context, failure);
    return;
  }
  info.GetReturnValue().Set(out);
}

v8::Local<v8::Value> MakeError(v8::Isolate* isolate, v8::Local<v8::Context> context,
                               const Val& val) {
  v8::Local<v8::String> message =
      v8::String::NewFromUtf8(isolate, val.data.c_str(), v8::NewStringType::kNormal,
                              static_cast<int>(val.data.size()))
          .ToLocalChecked();
  v8::Local<v8::Value> error;
  if (val.text == "TypeError") {
    error = v8::Exception::TypeError(message);
  } else if (val.text == "RangeError") {
    error = v8::Exception::RangeError(message);
  } else if (val.text == "SyntaxError") {
    error = v8::Exception::SyntaxError(message);
  } else if (val.text == "ReferenceError") {
    error = v8::Exception::ReferenceError(message);
  } else {
    error = v8::Exception::Error(message);
    if (!val.text.empty() && val.text != "Error") {
      error.As<v8::Object>()
          ->Set(context, v8::String::NewFromUtf8Literal(isolate, "name"),
                v8::String::NewFromUtf8(isolate, val.text.c_str()).ToLocalChecked())
          .FromMaybe(false);  // Nothing only while terminating
    }
  }
  if (val.handle != 0) {
    error.As<v8::Object>()
        ->SetPrivate(context, HostErrorKey(isolate), v8::Number::New(isolate, static_cast<double>(val.handle)))
        .FromMaybe(false);  // Nothing only while terminating
  }
  return error;
}

// Property names are internalized once here (V8 would do it on every property add anyway).
bool NewKey(v8::Isolate* isolate, const Val& key, v8::Local<v8::Value>* out, Failure* failure) {
  if (key.kind != ValKind::kString) {
    failure->kind = FailKind::kTransfer;
    failure->message = "Object keys must be strings";
    return false;
  }
  v8::MaybeLocal<v8::String> made =
      key.one_byte
          ? v8::String::NewFromOneByte(isolate, reinterpret_cast<const uint8_t*>(key.data.data()),
                                       v8::NewStringType::kInternalized, static_cast<int>(key.data.size()))
          : v8::String::NewFromTwoByte(isolate, reinterpret_cast<const uint16_t*>(key.data.data()),
                                       v8::NewStringType::kInternalized,
                                       static_cast<int>(key.data.size() / 2));
  v8::Local<v8::String> str;
  if (!made.ToLocal(&str)) {
    failure->kind = FailKind::kTransfer;
    failure->message = "The key is too long for JavaScript";
    return false;
  }
  *out = str;
  return true;
}

v8::Local<v8::TypedArray> MakeTypedArray(v8::Local<v8::ArrayBuffer> buffer, char format,
                                         size_t bytes) {
  switch (format) {
    case 'b': return v8::Int8Array::New(buffer, 0, bytes);
    case 'B': return v8::Uint8Array::New(buffer, 0, bytes);
    case 'h': return v8::Int16Array::New(buffer, 0, bytes / 2);
    case 'H': return v8::Uint16Array::New(buffer, 0, bytes / 2);
    case 'i': return v8::Int32Array::New(buffer, 0, bytes / 4);
    case 'I': return v8::Uint32Array::New(buffer, 0, bytes / 4);
    case 'f': return v8::Float32Array::New(buffer, 0, bytes / 4);
    case 'd': return v8::Float64Array::New(buffer, 0, bytes / 8);
    case 'q': return v8::BigInt64Array::New(buffer, 0, bytes / 8);
    case 'Q': return v8::BigUint64Array::New(buffer, 0, bytes / 8);
    default: return v8::Uint8Array::New(buffer, 0, bytes);
  }
}

}  // namespace

void ThrowFailure(IsolateHolder& holder, v8::Local<v8::Context> context, Failure& failure) {
  v8::Isolate* isolate = holder.isolate();
  if (failure.kind == FailKind::kHostException) {
    holder.StopForHostException(failure.host_exception);
    failure.host_exception = nullptr;
    return;
  }
  // While JavaScript is being terminated nothing may be thrown (it would replace the
  // termination with a catchable error) and V8's API answers Nothing.
  if (isolate->IsExecutionTerminating()) return;
  if (failure.kind == FailKind::kJSException) {
    Failure ignored;
    v8::Local<v8::Value> error;
    if (FromVal(holder, context, failure.error, &ignored).ToLocal(&error)) {
      isolate->ThrowException(error);
      return;
    }
  }
  std::string text = failure.message.empty() ? "A non-transferable value was passed" : failure.message;
  v8::Local<v8::String> message = v8::String::NewFromUtf8(isolate, text.c_str()).ToLocalChecked();
  isolate->ThrowException(failure.kind == FailKind::kReleased || failure.kind == FailKind::kInternal
                              ? v8::Exception::Error(message)
                              : v8::Exception::TypeError(message));
}

v8::MaybeLocal<v8::Value> FromVal(IsolateHolder& holder, v8::Local<v8::Context> context,
                                  const Val& val, Failure* failure) {
  v8::Isolate* isolate = holder.isolate();
  switch (val.kind) {
    case ValKind::kUndefined:
      return v8::Undefined(isolate);
    case ValKind::kNull:
      return v8::Null(isolate);
    case ValKind::kBool:
      return v8::Boolean::New(isolate, val.boolean);
    case ValKind::kNumber:
      return v8::Number::New(isolate, val.number);
    case ValKind::kBigInt: {
      v8::Local<v8::BigInt> big;
      if (v8::BigInt::NewFromWords(context, val.boolean ? 1 : 0, static_cast<int>(val.data.size() / 8),
                                   reinterpret_cast<const uint64_t*>(val.data.data()))
              .ToLocal(&big))
        return big;
      break;
    }
    case ValKind::kString: {
      StrArg s{val.data, val.one_byte};
      v8::Local<v8::String> str = NewString(isolate, s);
      if (!str.IsEmpty()) return str;
      failure->kind = FailKind::kTransfer;
      failure->message = "The string is too long for JavaScript";
      return {};
    }
    case ValKind::kBytes:
    case ValKind::kTypedArray: {
      // One copy, into memory the isolate's allocator accounts for (NewBackingStore would zero
      // it first, and it aborts the process when the allocator refuses: check the limit here).
      size_t size = val.bytes_size();
      std::shared_ptr<v8::BackingStore> store = holder.NewBackingStore(size);
      if (!store) {
        failure->kind = FailKind::kTransfer;
        failure->message = "A buffer of " + std::to_string(size) +
                           " bytes does not fit in the isolate's memory limit";
        return {};
      }
      if (size != 0) std::memcpy(store->Data(), val.bytes_data(), size);
      v8::Local<v8::ArrayBuffer> buffer = v8::ArrayBuffer::New(isolate, store);
      return MakeTypedArray(buffer, val.kind == ValKind::kBytes ? 'B' : val.text[0], size);
    }
    case ValKind::kArray: {
      // Each composite gets its own scope: only its result survives, so a big value does not
      // leave a handle per element for every GC to scan.
      v8::EscapableHandleScope scope(isolate);
      std::vector<v8::Local<v8::Value>> items(val.items.size());
      for (size_t i = 0; i < items.size(); ++i) {
        if (!FromVal(holder, context, val.items[i], failure).ToLocal(&items[i])) return {};
      }
      return scope.Escape(v8::Array::New(isolate, items.data(), items.size()));
    }
    case ValKind::kObject: {
      v8::EscapableHandleScope scope(isolate);
      v8::Local<v8::Object> obj = v8::Object::New(isolate);
      for (size_t i = 0; i < val.items.size(); ++i) {
        v8::HandleScope item_scope(isolate);
        v8::Local<v8::Value> key, item;
        if (!NewKey(isolate, val.keys[i], &key, failure)) return {};
        if (!FromVal(holder, context, val.items[i], failure).ToLocal(&item)) return {};
        // A data property of its own: never calls a setter on the prototype chain.
        if (!obj->CreateDataProperty(context, key.As<v8::Name>(), item).FromMaybe(false)) {
          failure->kind = FailKind::kTransfer;
          failure->message = "Could not set a property while copying an object";
          return {};
        }
      }
      return scope.Escape(obj);
    }
    case ValKind::kDate: {
      v8::Local<v8::Value> date;
      if (v8::Date::New(context, val.number).ToLocal(&date)) return date;
      break;
    }
    case ValKind::kError:
      return MakeError(isolate, context, val);
    case ValKind::kReference: {
      // A Reference arrives as a Reference (isolated-vm's rule); derefInto() passes the value.
      v8::Local<v8::Context> ref_context;
      v8::Local<v8::Value> value;
      if (!holder.GetReference(val.handle, &ref_context, &value, failure)) return {};
      v8::Local<v8::Object> ref;
      if (NewReferenceObject(holder, context, nullptr, value, val.text).ToLocal(&ref)) return ref;
      break;
    }
    case ValKind::kDerefInto: {
      v8::Local<v8::Context> ref_context;
      v8::Local<v8::Value> value;
      if (!holder.GetReference(val.handle, &ref_context, &value, failure)) return {};
      return value;
    }
    case ValKind::kHostReference: {
      v8::Local<v8::Object> ref;
      if (NewReferenceObject(holder, context, val.host, v8::Local<v8::Value>(), val.text).ToLocal(&ref))
        return ref;
      break;
    }
    case ValKind::kPending:
      break;
    case ValKind::kCallback: {
      if (val.host->flags & kHostPromise) {
        v8::Local<v8::Promise::Resolver> resolver;
        if (!v8::Promise::Resolver::New(context).ToLocal(&resolver)) break;
        PromiseTicket ticket = holder.AddHostPromise(resolver);
        std::vector<Val> no_args;
        Hooks().call_async(val.host->fn, no_args.data(), 0, ticket);
        return resolver->GetPromise();
      }
      v8::Local<v8::External> data = v8::External::New(isolate, val.host.get());
      v8::Local<v8::Function> fn;
      if (v8::Function::New(context, CallHostFunction, data, 0, v8::ConstructorBehavior::kThrow)
              .ToLocal(&fn)) {
        if (!val.host->name.empty()) {
          fn->SetName(v8::String::NewFromUtf8(isolate, val.host->name.c_str()).ToLocalChecked());
        }
        holder.KeepHostFunction(fn, val.host);
        return fn;
      }
      break;
    }
    // ExternalCopy: the single-use result of copy_into() materialises the clone here.
    case ValKind::kExternalCopy:
      if (val.copy) return DeserializeExternalCopy(holder, context, *val.copy, val.boolean, failure);
      break;
    case ValKind::kSerialized:
      return DeserializePlain(holder, context, val.data, failure);
    case ValKind::kFlat:
      break;  // made for the host only (ToVal's `flat`)
    case ValKind::kExternalCopyObject: {
      v8::Local<v8::Object> obj;
      if (val.copy && NewExternalCopyObject(holder, context, val.copy).ToLocal(&obj)) return obj;
      break;
    }
    case ValKind::kUnsupported:
      failure->kind = FailKind::kTransfer;
      failure->message = val.text.empty() ? "A non-transferable value was passed" : val.text;
      return {};
  }
  if (failure->ok()) {
    failure->kind = FailKind::kTransfer;
    failure->message = "A non-transferable value was passed";
  }
  return {};
}

}  // namespace ivmhost
