// CPU profiles in Chrome's .cpuprofile shape (isolated-vm's startCpuProfiler / stopCpuProfiler).
//
// V8's sampler samples the thread that first started its CpuProfiler. An isolate here runs on its
// executor thread and, for sync calls, on each calling thread; so while a profile is being
// recorded, every thread that enters the isolate gets a profiler of its own (started for every
// active title), and stopping a title returns one profile per thread, as isolated-vm does.
#include <v8-profiler.h>

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "isolate_holder.h"

namespace ivmhost {
namespace {

void AppendJsonString(std::string* out, const char* text) {
  out->push_back('"');
  for (const unsigned char* p = reinterpret_cast<const unsigned char*>(text); *p; ++p) {
    switch (*p) {
      case '"': *out += "\\\""; break;
      case '\\': *out += "\\\\"; break;
      case '\n': *out += "\\n"; break;
      case '\r': *out += "\\r"; break;
      case '\t': *out += "\\t"; break;
      default:
        if (*p < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x", *p);
          *out += escaped;
        } else {
          out->push_back(static_cast<char>(*p));  // UTF-8 passes through
        }
    }
  }
  out->push_back('"');
}

void AppendNodes(const v8::CpuProfileNode* node, std::string* out) {
  if (out->back() != '[') out->push_back(',');
  *out += "{\"id\":" + std::to_string(node->GetNodeId()) + ",\"callFrame\":{\"functionName\":";
  AppendJsonString(out, node->GetFunctionNameStr());
  *out += ",\"scriptId\":\"" + std::to_string(node->GetScriptId()) + "\",\"url\":";
  AppendJsonString(out, node->GetScriptResourceNameStr());
  // V8 counts lines and columns from 1; DevTools' callFrames count from 0 (-1: unknown).
  *out += ",\"lineNumber\":" + std::to_string(node->GetLineNumber() - 1) +
          ",\"columnNumber\":" + std::to_string(node->GetColumnNumber() - 1) + "}";
  *out += ",\"hitCount\":" + std::to_string(node->GetHitCount()) + ",\"children\":[";
  int count = node->GetChildrenCount();
  for (int i = 0; i < count; ++i) {
    if (i) out->push_back(',');
    *out += std::to_string(node->GetChild(i)->GetNodeId());
  }
  *out += "]}";
  for (int i = 0; i < count; ++i) AppendNodes(node->GetChild(i), out);
}

std::string ProfileJson(const v8::CpuProfile* profile) {
  std::string out = "{\"nodes\":[";
  AppendNodes(profile->GetTopDownRoot(), &out);
  int64_t start = profile->GetStartTime();
  out += "],\"startTime\":" + std::to_string(start) +
         ",\"endTime\":" + std::to_string(profile->GetEndTime()) + ",\"samples\":[";
  int samples = profile->GetSamplesCount();
  for (int i = 0; i < samples; ++i) {
    if (i) out.push_back(',');
    out += std::to_string(profile->GetSample(i)->GetNodeId());
  }
  out += "],\"timeDeltas\":[";
  int64_t previous = start;
  for (int i = 0; i < samples; ++i) {
    if (i) out.push_back(',');
    int64_t at = profile->GetSampleTimestamp(i);
    out += std::to_string(at - previous);
    previous = at;
  }
  out += "]}";
  return out;
}

uint64_t CurrentThreadId() { return static_cast<uint64_t>(syscall(SYS_gettid)); }

}  // namespace

void IsolateHolder::EnsureThreadProfiler() {
  if (profile_titles_.empty()) return;
  uint64_t thread = CurrentThreadId();
  for (auto& entry : profilers_) {
    if (entry.first == thread) return;
  }
  // Created and first started on this thread: V8's sampler samples the thread that started it.
  v8::CpuProfiler* profiler = v8::CpuProfiler::New(isolate_);
  for (const std::string& title : profile_titles_) {
    v8::HandleScope scope(isolate_);
    profiler->StartProfiling(v8::String::NewFromUtf8(isolate_, title.c_str()).ToLocalChecked(), true);
  }
  profilers_.emplace_back(thread, profiler);
}

void IsolateHolder::StartCpuProfiler(const std::string& title) {
  if (std::find(profile_titles_.begin(), profile_titles_.end(), title) != profile_titles_.end()) return;
  profile_titles_.push_back(title);
  v8::HandleScope scope(isolate_);
  v8::Local<v8::String> name = v8::String::NewFromUtf8(isolate_, title.c_str()).ToLocalChecked();
  for (auto& entry : profilers_) entry.second->StartProfiling(name, true);
  EnsureThreadProfiler();
}

std::vector<std::pair<uint64_t, std::string>> IsolateHolder::StopCpuProfiler(const std::string& title) {
  std::vector<std::pair<uint64_t, std::string>> out;
  auto it = std::find(profile_titles_.begin(), profile_titles_.end(), title);
  if (it == profile_titles_.end()) return out;  // never started: nothing to report
  profile_titles_.erase(it);
  v8::HandleScope scope(isolate_);
  v8::Local<v8::String> name = v8::String::NewFromUtf8(isolate_, title.c_str()).ToLocalChecked();
  for (auto& entry : profilers_) {
    v8::CpuProfile* profile = entry.second->StopProfiling(name);
    if (profile == nullptr) continue;
    out.emplace_back(entry.first, ProfileJson(profile));
    profile->Delete();
  }
  if (profile_titles_.empty()) DisposeProfilers();
  return out;
}

void IsolateHolder::DisposeProfilers() {
  // Profiles still recording are stopped first: a profiler disposed mid-recording leaves V8's
  // sampling thread behind (a crash when the process exits).
  v8::HandleScope scope(isolate_);
  for (const std::string& title : profile_titles_) {
    v8::Local<v8::String> name = v8::String::NewFromUtf8(isolate_, title.c_str()).ToLocalChecked();
    for (auto& entry : profilers_) {
      if (v8::CpuProfile* profile = entry.second->StopProfiling(name)) profile->Delete();
    }
  }
  for (auto& entry : profilers_) entry.second->Dispose();
  profilers_.clear();
  profile_titles_.clear();
}

namespace {

class StartCpuProfilerOp final : public Op {
 public:
  explicit StartCpuProfilerOp(std::string title) : title_(std::move(title)) {}
  void Run(IsolateHolder& holder) override { holder.StartCpuProfiler(title_); }

 private:
  std::string title_;
};

class StopCpuProfilerOp final : public Op {
 public:
  explicit StopCpuProfilerOp(std::string title) : title_(std::move(title)) {}
  void Run(IsolateHolder& holder) override {
    result.kind = ValKind::kArray;
    for (auto& profile : holder.StopCpuProfiler(title_)) {
      Val item;
      item.kind = ValKind::kString;  // the profile's JSON (UTF-8); number: the thread id
      item.number = static_cast<double>(profile.first);
      item.data = std::move(profile.second);
      result.items.push_back(std::move(item));
    }
  }

 private:
  std::string title_;
};

}  // namespace

std::shared_ptr<Op> MakeStartCpuProfiler(std::string title) {
  return std::make_shared<StartCpuProfilerOp>(std::move(title));
}

std::shared_ptr<Op> MakeStopCpuProfiler(std::string title) {
  return std::make_shared<StopCpuProfilerOp>(std::move(title));
}

}  // namespace ivmhost
