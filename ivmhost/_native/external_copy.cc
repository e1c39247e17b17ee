// ExternalCopy: structured clones outside any heap (see external_copy.h).
#include "external_copy.h"

#include <atomic>
#include <cstring>
#include <vector>

#include "convert.h"
#include "isolate_holder.h"
#include "v8_compat.h"

namespace ivmhost {
namespace {

std::atomic<int64_t> g_total_size{0};

size_t StoreBytes(const ExternalCopy::Stores& stores) {
  size_t total = 0;
  for (auto& store : stores) total += store ? store->ByteLength() : 0;
  return total;
}

void Fail(Failure* failure, FailKind kind, std::string message) {
  failure->kind = kind;
  failure->message = std::move(message);
}

// The message of whatever the serializer threw (a DataCloneError, or the error a getter raised
// under DisallowJavascriptExecutionScope).
void CloneFailure(IsolateHolder& holder, v8::Local<v8::Context> context, v8::TryCatch& try_catch,
                  const char* what, Failure* failure) {
  if (try_catch.HasTerminated()) {
    // The isolate holder replaces this with the reason it stopped (timeout, memory, dispose).
    Fail(failure, FailKind::kTimeout, "Script execution timed out.");
    return;
  }
  std::string message;
  if (try_catch.HasCaught() && try_catch.Exception()->IsNativeError()) {
    Failure thrown;
    ExceptionToFailure(holder, context, try_catch.Exception(), try_catch.Message(), &thrown);
    message = thrown.message;
  }
  Fail(failure, FailKind::kTransfer, std::string(what) + (message.empty() ? "" : ": " + message));
}

class SerializerDelegate final : public v8::ValueSerializer::Delegate {
 public:
  explicit SerializerDelegate(v8::Isolate* isolate) : isolate_(isolate) {}

  void ThrowDataCloneError(v8::Local<v8::String> message) override {
    isolate_->ThrowException(v8::Exception::TypeError(message));
  }

  // SharedArrayBuffers are shared, never copied: the copy keeps their backing stores.
  v8::Maybe<uint32_t> GetSharedArrayBufferId(v8::Isolate* isolate,
                                             v8::Local<v8::SharedArrayBuffer> buffer) override {
    for (size_t i = 0; i < buffers_.size(); ++i) {
      if (buffers_[i] == buffer) return v8::Just(static_cast<uint32_t>(i));
    }
    buffers_.push_back(buffer);
    shared.push_back(buffer->GetBackingStore());
    return v8::Just(static_cast<uint32_t>(shared.size() - 1));
  }

  // A WebAssembly.Module cannot be cloned outside an isolate; V8 10.2 would otherwise write
  // nothing for it and report success, leaving a corrupt copy.
  v8::Maybe<uint32_t> GetWasmModuleTransferId(v8::Isolate* isolate,
                                              v8::Local<v8::WasmModuleObject> module) override {
    refused = true;
    isolate->ThrowException(v8::Exception::TypeError(v8::String::NewFromUtf8Literal(
        isolate, "A WebAssembly.Module cannot be copied")));
    return v8::Nothing<uint32_t>();
  }

  ExternalCopy::Stores shared;
  bool refused = false;

 private:
  v8::Isolate* isolate_;
  std::vector<v8::Local<v8::SharedArrayBuffer>> buffers_;
};

class DeserializerDelegate final : public v8::ValueDeserializer::Delegate {
 public:
  explicit DeserializerDelegate(ExternalCopy::Stores shared) : shared_(std::move(shared)) {}

  v8::MaybeLocal<v8::SharedArrayBuffer> GetSharedArrayBufferFromId(v8::Isolate* isolate,
                                                                    uint32_t id) override {
    if (id >= shared_.size() || !shared_[id]) {
      isolate->ThrowException(v8::Exception::TypeError(
          v8::String::NewFromUtf8Literal(isolate, "Unknown SharedArrayBuffer in a copy")));
      return {};
    }
    return v8::SharedArrayBuffer::New(isolate, shared_[id]);
  }

 private:
  ExternalCopy::Stores shared_;
};

// Runs `code` in `context` (the caller holds a TryCatch and a context scope).
bool RunCode(IsolateHolder& holder, v8::Local<v8::Context> context, const StrArg& code,
             v8::TryCatch& try_catch, v8::Local<v8::Value>* out, Failure* failure) {
  v8::Isolate* isolate = holder.isolate();
  v8::Local<v8::String> source_text = NewString(isolate, code);
  if (source_text.IsEmpty()) {
    Fail(failure, FailKind::kValue, "The source code is too long for JavaScript");
    return false;
  }
  StrArg filename{"<ivmhost>", true};
  v8::ScriptCompiler::Source source(
      source_text, compat::MakeOrigin(isolate, NewString(isolate, filename), 0, 0, false));
  v8::Local<v8::Script> script;
  if (!v8::ScriptCompiler::Compile(context, &source).ToLocal(&script) ||
      !script->Run(context).ToLocal(out)) {
    holder.CatchFailure(context, try_catch, failure);
    return false;
  }
  return true;
}

bool AddTransfer(v8::Local<v8::Value> value, std::vector<v8::Local<v8::ArrayBuffer>>* list,
                 Failure* failure) {
  if (value->IsArrayBufferView()) value = value.As<v8::ArrayBufferView>()->Buffer();
  if (!value->IsArrayBuffer()) {
    Fail(failure, FailKind::kType,
         value->IsSharedArrayBuffer()
             ? "A SharedArrayBuffer is shared by a copy, never transferred: leave it out of the "
               "transfer list"
             : "Only ArrayBuffers (or typed arrays over them) can be transferred");
    return false;
  }
  for (auto& seen : *list) {
    if (seen == value) return true;
  }
  list->push_back(value.As<v8::ArrayBuffer>());
  return true;
}

class ExternalCopyOfOp final : public Op {
 public:
  ExternalCopyOfOp(uint64_t context, StrArg code, StrArg transfer_code, bool transfer_out)
      : context_(context),
        code_(std::move(code)),
        transfer_code_(std::move(transfer_code)),
        transfer_out_(transfer_out) {}

  void Run(IsolateHolder& holder) override {
    v8::Isolate* isolate = holder.isolate();
    v8::Local<v8::Context> context = holder.GetContext(context_, &failure);
    if (context.IsEmpty()) return;
    v8::Context::Scope context_scope(context);
    v8::TryCatch try_catch(isolate);
    v8::Local<v8::Value> value, transfer;
    if (!RunCode(holder, context, code_, try_catch, &value, &failure)) return;
    std::vector<v8::Local<v8::ArrayBuffer>> transfer_list;
    if (!transfer_code_.data.empty()) {
      if (!RunCode(holder, context, transfer_code_, try_catch, &transfer, &failure)) return;
      if (!transfer->IsArray()) {
        Fail(&failure, FailKind::kType, "The transfer list must be an array of ArrayBuffers");
        return;
      }
      v8::Local<v8::Array> array = transfer.As<v8::Array>();
      v8::Isolate::DisallowJavascriptExecutionScope no_js(
          isolate, v8::Isolate::DisallowJavascriptExecutionScope::THROW_ON_FAILURE);
      for (uint32_t i = 0; i < array->Length(); ++i) {
        v8::Local<v8::Value> item;
        if (!array->Get(context, i).ToLocal(&item)) {
          Fail(&failure, FailKind::kType, "The transfer list must be an array of ArrayBuffers");
          return;
        }
        if (!AddTransfer(item, &transfer_list, &failure)) return;
      }
    }
    if (transfer_out_ && !AddTransfer(value, &transfer_list, &failure)) return;
    result.copy = SerializeExternalCopy(holder, context, value, transfer_list, &failure);
    if (result.copy) result.kind = ValKind::kExternalCopy;
  }

 private:
  uint64_t context_;
  StrArg code_;
  StrArg transfer_code_;
  bool transfer_out_;
};

void DeleteString(void* data, size_t length, void* deleter_data) {
  delete static_cast<std::string*>(deleter_data);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// ExternalCopy

ExternalCopy::ExternalCopy(std::string blob, Stores transferred, Stores shared)
    : blob_(std::move(blob)), transferred_(std::move(transferred)), shared_(std::move(shared)) {
  counted_ = blob_.size() + StoreBytes(transferred_) + StoreBytes(shared_);
  g_total_size += static_cast<int64_t>(counted_);
}

ExternalCopy::~ExternalCopy() { g_total_size -= static_cast<int64_t>(counted_); }

size_t ExternalCopy::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counted_;
}

bool ExternalCopy::Transferred(bool take, Stores* out) {
  std::lock_guard<std::mutex> lock(mu_);
  if (taken_) return false;
  if (!take) {
    *out = transferred_;
    return true;
  }
  size_t moved = StoreBytes(transferred_);
  counted_ -= moved;
  g_total_size -= static_cast<int64_t>(moved);
  out->swap(transferred_);
  taken_ = true;
  return true;
}

ExternalCopy::Stores ExternalCopy::shared() const { return shared_; }

bool ExternalCopy::Buffer(bool shared, size_t index, const char** data, size_t* length) const {
  std::lock_guard<std::mutex> lock(mu_);
  const Stores& stores = shared ? shared_ : transferred_;
  if (index >= stores.size() || !stores[index]) return false;
  *data = static_cast<const char*>(stores[index]->Data());
  *length = stores[index]->ByteLength();
  return true;
}

std::shared_ptr<ExternalCopy> SerializeExternalCopy(
    IsolateHolder& holder, v8::Local<v8::Context> context, v8::Local<v8::Value> value,
    const std::vector<v8::Local<v8::ArrayBuffer>>& transfer_list, Failure* failure) {
  v8::Isolate* isolate = holder.isolate();
  v8::TryCatch try_catch(isolate);
  SerializerDelegate delegate(isolate);
  v8::ValueSerializer serializer(isolate, &delegate);
  serializer.WriteHeader();
  for (size_t i = 0; i < transfer_list.size(); ++i) {
    if (transfer_list[i]->WasDetached() || !transfer_list[i]->IsDetachable()) {
      Fail(failure, FailKind::kTransfer,
           "An ArrayBuffer in the transfer list is detached or cannot be detached");
      return nullptr;
    }
    serializer.TransferArrayBuffer(static_cast<uint32_t>(i), transfer_list[i]);
  }
  bool written;
  {
    // Copying never runs guest JavaScript: a getter reached here throws instead.
    v8::Isolate::DisallowJavascriptExecutionScope no_js(
        isolate, v8::Isolate::DisallowJavascriptExecutionScope::THROW_ON_FAILURE);
    written = serializer.WriteValue(context, value).FromMaybe(false);
  }
  if (!written || delegate.refused) {
    CloneFailure(holder, context, try_catch, "A non-transferable value was passed", failure);
    return nullptr;
  }
  std::pair<uint8_t*, size_t> buffer = serializer.Release();
  std::string blob(reinterpret_cast<const char*>(buffer.first), buffer.second);
  delegate.FreeBufferMemory(buffer.first);
  ExternalCopy::Stores transferred;
  for (auto& item : transfer_list) {
    transferred.push_back(item->GetBackingStore());
    // A buffer left attached would alias the copy's memory: refuse rather than share it.
    if (!compat::DetachArrayBuffer(item)) {
      Fail(failure, FailKind::kTransfer, "An ArrayBuffer in the transfer list could not be detached");
      return nullptr;
    }
  }
  return std::make_shared<ExternalCopy>(std::move(blob), std::move(transferred),
                                        std::move(delegate.shared));
}

namespace {

v8::MaybeLocal<v8::Array> ListFailure(v8::Isolate* isolate, const char* message) {
  isolate->ThrowException(v8::Exception::RangeError(v8::String::NewFromUtf8(isolate, message).ToLocalChecked()));
  return {};
}

v8::MaybeLocal<v8::Array> MalformedList(v8::Isolate* isolate) {
  return ListFailure(isolate, "ivmhost internal error: a malformed list in plain data");
}

}  // namespace

v8::Local<v8::Value> WireConstant(v8::Isolate* isolate, uint8_t tag) {
  switch (tag) {
    case 'T':
      return v8::True(isolate);
    case 'F':
      return v8::False(isolate);
    case '0':
      return v8::Null(isolate);
    case '_':
      return v8::Undefined(isolate);
    default:
      return {};
  }
}

bool ReadListItem(v8::Isolate* isolate, const uint8_t** at, const uint8_t* end,
                  v8::Local<v8::Value>* out, const char** error) {
  const uint8_t* p = *at;
  *error = "ivmhost internal error: a malformed list in plain data";
  if (p >= end) return false;
  uint8_t tag = *p++;
  switch (tag) {
    case 's': {
      uint32_t n;
      if (end - p < 4) return false;
      std::memcpy(&n, p, 4);
      p += 4;
      if (static_cast<size_t>(end - p) < n) return false;
      v8::Local<v8::String> text;
      if (!v8::String::NewFromOneByte(isolate, p, v8::NewStringType::kNormal, static_cast<int>(n))
               .ToLocal(&text)) {
        *error = "A string in the value is too long for JavaScript";
        return false;
      }
      *out = text;
      p += n;
      break;
    }
    case 'i': {
      int32_t v;
      if (end - p < 4) return false;
      std::memcpy(&v, p, 4);
      p += 4;
      *out = v8::Integer::New(isolate, v);
      break;
    }
    case 'd': {
      double v;
      if (end - p < 8) return false;
      std::memcpy(&v, p, 8);
      p += 8;
      *out = v8::Number::New(isolate, v);
      break;
    }
    default:
      *out = WireConstant(isolate, tag);
      if (out->IsEmpty()) return false;
  }
  *at = p;
  return true;
}

v8::MaybeLocal<v8::Array> ReadPackedList(v8::Isolate* isolate, const uint8_t* p, size_t size,
                                         std::vector<v8::Local<v8::Value>>* scratch) {
  const uint8_t* end = p + size;
  uint32_t count;
  if (size < 4) return MalformedList(isolate);
  std::memcpy(&count, p, 4);
  p += 4;
  if (count > size) return MalformedList(isolate);  // every item takes a byte at least
  v8::EscapableHandleScope scope(isolate);
  std::vector<v8::Local<v8::Value>>& items = *scratch;
  items.resize(count);
  const char* error;
  for (uint32_t i = 0; i < count; ++i) {
    if (!ReadListItem(isolate, &p, end, &items[i], &error)) return ListFailure(isolate, error);
  }
  if (p != end) return MalformedList(isolate);
  return scope.Escape(v8::Array::New(isolate, items.data(), count));
}

namespace {

// The host objects of plain data are lists of primitives (values.pxi, wire_packed_list).
class PackedListReader final : public v8::ValueDeserializer::Delegate {
 public:
  void set_deserializer(v8::ValueDeserializer* deserializer) { deserializer_ = deserializer; }

  v8::MaybeLocal<v8::Object> ReadHostObject(v8::Isolate* isolate) override {
    const void* raw;
    uint32_t size;
    if (!deserializer_->ReadRawBytes(4, &raw)) return Malformed(isolate);
    std::memcpy(&size, raw, 4);
    if (!deserializer_->ReadRawBytes(size, &raw)) return Malformed(isolate);
    v8::Local<v8::Array> list;
    if (!ReadPackedList(isolate, static_cast<const uint8_t*>(raw), size, &items_).ToLocal(&list)) return {};
    return list;
  }

 private:
  static v8::MaybeLocal<v8::Object> Malformed(v8::Isolate* isolate) {
    MalformedList(isolate);
    return {};
  }

  v8::ValueDeserializer* deserializer_ = nullptr;
  std::vector<v8::Local<v8::Value>> items_;  // reused: one list is read at a time
};

}  // namespace

// Smaller data is made by V8's deserializer: the builder's fixed costs (a call into JavaScript, a
// few arrays) outweigh what it saves on a handful of objects.
constexpr size_t kBuildPlainBytes = 4096;

v8::MaybeLocal<v8::Value> DeserializePlain(IsolateHolder& holder, v8::Local<v8::Context> context,
                                           const std::string& data, Failure* failure) {
  if (data.size() >= kBuildPlainBytes) {
    v8::Local<v8::Value> built;
    switch (BuildPlain(holder, context, data, &built)) {
      case PlainBuild::kBuilt:
        return built;
      case PlainBuild::kTerminated:
        Fail(failure, FailKind::kTimeout, "Script execution timed out.");
        return {};
      case PlainBuild::kNotTaken:
        break;
    }
  }
  v8::TryCatch try_catch(holder.isolate());
  PackedListReader reader;
  v8::ValueDeserializer deserializer(holder.isolate(), reinterpret_cast<const uint8_t*>(data.data()),
                                     data.size(), &reader);
  reader.set_deserializer(&deserializer);
  v8::Local<v8::Value> value;
  if (deserializer.ReadHeader(context).FromMaybe(false) && deserializer.ReadValue(context).ToLocal(&value))
    return value;
  CloneFailure(holder, context, try_catch, "The value could not be made in the isolate", failure);
  return {};
}

v8::MaybeLocal<v8::Value> DeserializeExternalCopy(IsolateHolder& holder,
                                                  v8::Local<v8::Context> context,
                                                  ExternalCopy& copy, bool transfer_in,
                                                  Failure* failure) {
  v8::Isolate* isolate = holder.isolate();
  ExternalCopy::Stores transferred;
  if (!copy.Transferred(false, &transferred)) {
    Fail(failure, FailKind::kReleased, "Copy has been released");
    return {};
  }
  // ArrayBuffer::New aborts the process when the allocator refuses: check the limit first. The
  // blob bounds the ArrayBuffers written inline; moved buffers are copied unless transferred in.
  size_t needed = copy.blob().size() + (transfer_in ? 0 : StoreBytes(transferred));
  if (holder.external_bytes() + needed > holder.memory_limit_bytes()) {
    Fail(failure, FailKind::kTransfer,
         "A copy of " + std::to_string(needed) +
             " bytes does not fit in the isolate's memory limit (" +
             std::to_string(holder.memory_limit_bytes() >> 20) + " MB)");
    return {};
  }
  if (transfer_in && !copy.Transferred(true, &transferred)) {
    Fail(failure, FailKind::kReleased, "Copy has been released");
    return {};
  }
  // No DisallowJavascriptExecutionScope here: reading a Map or Set calls the context's original
  // Map.prototype.set / Set.prototype.add builtins (never what guest code put there), and V8
  // counts that as JavaScript. The deserializer runs no other code: no getters, setters or traps.
  v8::TryCatch try_catch(isolate);
  DeserializerDelegate delegate(copy.shared());
  v8::ValueDeserializer deserializer(isolate,
                                     reinterpret_cast<const uint8_t*>(copy.blob().data()),
                                     copy.blob().size(), &delegate);
  if (!deserializer.ReadHeader(context).FromMaybe(false)) {
    CloneFailure(holder, context, try_catch, "The copy could not be read", failure);
    return {};
  }
  for (size_t i = 0; i < transferred.size(); ++i) {
    const std::shared_ptr<v8::BackingStore>& store = transferred[i];
    v8::Local<v8::ArrayBuffer> buffer;
    if (transfer_in) {
      buffer = v8::ArrayBuffer::New(isolate, store);
    } else {
      buffer = v8::ArrayBuffer::New(isolate, store->ByteLength());
      if (store->ByteLength() > 0) {
        std::memcpy(buffer->GetBackingStore()->Data(), store->Data(), store->ByteLength());
      }
    }
    deserializer.TransferArrayBuffer(static_cast<uint32_t>(i), buffer);
  }
  v8::Local<v8::Value> value;
  if (!deserializer.ReadValue(context).ToLocal(&value)) {
    CloneFailure(holder, context, try_catch, "The copy could not be read", failure);
    return {};
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// engine.h

std::shared_ptr<ExternalCopy> NewExternalCopy(std::string blob,
                                              std::vector<std::string> transferred) {
  EnsureV8();
  ExternalCopy::Stores stores;
  for (auto& contents : transferred) {
    // The store owns the bytes: a transfer_in hands them to an isolate without another copy.
    auto* owned = new std::string(std::move(contents));
    void* data = owned->empty() ? nullptr : &(*owned)[0];
    stores.push_back(
        v8::ArrayBuffer::NewBackingStore(data, owned->size(), DeleteString, owned));
  }
  return std::make_shared<ExternalCopy>(std::move(blob), std::move(stores), ExternalCopy::Stores());
}

const std::string& ExternalCopyBlob(const ExternalCopy* copy) { return copy->blob(); }

size_t ExternalCopySize(const ExternalCopy* copy) { return copy->size(); }

bool ExternalCopyBuffer(const ExternalCopy* copy, bool shared, size_t index, const char** data,
                        size_t* length) {
  return copy->Buffer(shared, index, data, length);
}

int64_t ExternalCopyTotalSize() { return g_total_size.load(); }

std::shared_ptr<Op> MakeExternalCopyOf(uint64_t context, StrArg code, StrArg transfer_code,
                                       bool transfer_out) {
  return std::make_shared<ExternalCopyOfOp>(context, std::move(code), std::move(transfer_code),
                                            transfer_out);
}

// ---------------------------------------------------------------------------------------------
// The JavaScript face of an ExternalCopy

namespace {

struct CopyHolder final : WeakTie {
  CopyHolder(IsolateHolder* h, std::shared_ptr<ExternalCopy> c) : holder(h), copy(std::move(c)) {}
  IsolateHolder* holder;
  std::shared_ptr<ExternalCopy> copy;
  v8::Global<v8::Object> owner;
};

void CopyHolderCollected(const v8::WeakCallbackInfo<CopyHolder>& info) {
  CopyHolder* held = info.GetParameter();
  held->owner.Reset();
  held->holder->DropTie(held);
}

// Options ({release, transferIn}) read without running guest code: a getter counts as false.
bool Option(v8::Local<v8::Context> context, v8::Local<v8::Value> options, const char* name) {
  if (!options->IsObject() || options->IsProxy()) return false;
  v8::Isolate* isolate = context->GetIsolate();
  v8::TryCatch try_catch(isolate);
  v8::Isolate::DisallowJavascriptExecutionScope no_js(
      isolate, v8::Isolate::DisallowJavascriptExecutionScope::THROW_ON_FAILURE);
  v8::Local<v8::Value> value;
  return options.As<v8::Object>()
             ->Get(context, v8::String::NewFromUtf8(isolate, name).ToLocalChecked())
             .ToLocal(&value) &&
         value->IsTrue();
}

enum CopyMethod { kCopyMethod = 0, kCopyIntoMethod = 1, kReleaseMethod = 2 };

void CopyObjectMethod(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  IsolateHolder& holder = *IsolateHolder::From(isolate);
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  auto method = static_cast<CopyMethod>(info.Data().As<v8::Int32>()->Value());
  v8::Local<v8::Value> field = info.This()->GetInternalField(0).As<v8::Value>();
  CopyHolder* held = field->IsExternal() ? static_cast<CopyHolder*>(field.As<v8::External>()->Value()) : nullptr;
  if (held == nullptr || !held->copy) {
    isolate->ThrowException(v8::Exception::Error(
        v8::String::NewFromUtf8Literal(isolate, "Copy has been released")));
    return;
  }
  if (method == kReleaseMethod) {
    held->copy.reset();
    return;
  }
  v8::Local<v8::Value> options = info.Length() > 0 ? info[0] : v8::Undefined(isolate).As<v8::Value>();
  bool release = Option(context, options, "release");
  bool transfer_in = Option(context, options, "transferIn");
  Failure failure;
  v8::Local<v8::Value> value;
  std::shared_ptr<ExternalCopy> copy = held->copy;
  if (release) held->copy.reset();
  if (!DeserializeExternalCopy(holder, context, *copy, transfer_in, &failure).ToLocal(&value)) {
    ThrowFailure(holder, context, failure);
    return;
  }
  info.GetReturnValue().Set(value);
}

}  // namespace

v8::Local<v8::FunctionTemplate> IsolateHolder::ExternalCopyTemplate() {
  if (!external_copy_template_.IsEmpty()) return external_copy_template_.Get(isolate_);
  v8::Local<v8::FunctionTemplate> tmpl = v8::FunctionTemplate::New(isolate_);
  tmpl->SetClassName(v8::String::NewFromUtf8Literal(isolate_, "ExternalCopy"));
  tmpl->InstanceTemplate()->SetInternalFieldCount(1);
  v8::Local<v8::Signature> signature = v8::Signature::New(isolate_, tmpl);
  const std::pair<CopyMethod, const char*> methods[] = {
      {kCopyMethod, "copy"}, {kCopyIntoMethod, "copyInto"}, {kReleaseMethod, "release"}};
  for (const auto& m : methods) {
    tmpl->PrototypeTemplate()->Set(
        v8::String::NewFromUtf8(isolate_, m.second).ToLocalChecked(),
        v8::FunctionTemplate::New(isolate_, CopyObjectMethod, v8::Int32::New(isolate_, m.first),
                                  signature, 0, v8::ConstructorBehavior::kThrow),
        v8::DontEnum);
  }
  external_copy_template_.Reset(isolate_, tmpl);
  return tmpl;
}

v8::MaybeLocal<v8::Object> NewExternalCopyObject(IsolateHolder& holder, v8::Local<v8::Context> context,
                                                 std::shared_ptr<ExternalCopy> copy) {
  v8::Isolate* isolate = holder.isolate();
  v8::Local<v8::FunctionTemplate> tmpl = holder.ExternalCopyTemplate();
  v8::Local<v8::Function> ctor;
  v8::Local<v8::Value> proto;
  if (!tmpl->GetFunction(context).ToLocal(&ctor) ||
      !ctor->Get(context, v8::String::NewFromUtf8Literal(isolate, "prototype")).ToLocal(&proto) ||
      !proto->IsObject())
    return {};
  proto.As<v8::Object>()->SetIntegrityLevel(context, v8::IntegrityLevel::kFrozen).FromMaybe(false);
  v8::Local<v8::Object> obj;
  if (!tmpl->InstanceTemplate()->NewInstance(context).ToLocal(&obj)) return {};
  auto* held = new CopyHolder(&holder, std::move(copy));
  held->owner.Reset(isolate, obj);
  held->owner.SetWeak(held, CopyHolderCollected, v8::WeakCallbackType::kParameter);
  holder.AddTie(held);
  obj->SetInternalField(0, v8::External::New(isolate, held));
  obj->SetIntegrityLevel(context, v8::IntegrityLevel::kFrozen).FromMaybe(false);
  return obj;
}

bool ReadExternalCopyObject(IsolateHolder& holder, v8::Local<v8::Object> obj, Val* out) {
  if (!holder.ExternalCopyTemplate()->HasInstance(obj)) return false;
  v8::Local<v8::Value> field = obj->GetInternalField(0).As<v8::Value>();
  CopyHolder* held = field->IsExternal() ? static_cast<CopyHolder*>(field.As<v8::External>()->Value()) : nullptr;
  if (held == nullptr || !held->copy) return false;
  out->kind = ValKind::kExternalCopy;
  out->copy = held->copy;
  return true;
}

}  // namespace ivmhost
