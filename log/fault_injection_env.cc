#include "log/fault_injection_env.h"

#include <leveldb/helpers/memenv.h>

#include <algorithm>
#include <vector>

namespace synod::log {

namespace {

// Forwards to the real file and reports appends/syncs to the env.
class TrackedFile final : public leveldb::WritableFile {
 public:
  TrackedFile(FaultInjectionEnv& env, std::string name, leveldb::WritableFile* target)
      : env_(env), name_(std::move(name)), target_(target) {}
  leveldb::Status Append(const leveldb::Slice& data) override {
    if (env_.fail_writes()) return leveldb::Status::IOError(name_, "injected write failure");
    leveldb::Status status = target_->Append(data);
    if (status.ok()) env_.OnAppend(name_, data.size());
    return status;
  }
  leveldb::Status Close() override { return target_->Close(); }
  leveldb::Status Flush() override { return target_->Flush(); }
  leveldb::Status Sync() override {
    if (env_.fail_writes() || env_.fail_syncs()) {
      return leveldb::Status::IOError(name_, "injected sync failure");
    }
    leveldb::Status status = target_->Sync();
    if (status.ok()) env_.OnSync(name_);
    return status;
  }

 private:
  FaultInjectionEnv& env_;
  std::string name_;
  std::unique_ptr<leveldb::WritableFile> target_;
};

}  // namespace

InMemoryEnvHolder::InMemoryEnvHolder() : in_memory(leveldb::NewMemEnv(leveldb::Env::Default())) {}

FaultInjectionEnv::FaultInjectionEnv()
    : InMemoryEnvHolder(), leveldb::EnvWrapper(in_memory.get()) {}

FaultInjectionEnv::~FaultInjectionEnv() = default;

leveldb::Status FaultInjectionEnv::NewWritableFile(const std::string& name,
                                                   leveldb::WritableFile** result) {
  leveldb::WritableFile* file = nullptr;
  leveldb::Status status = target()->NewWritableFile(name, &file);
  if (!status.ok()) return status;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    files_[name] = FileState{};
  }
  *result = new TrackedFile(*this, name, file);
  return status;
}

leveldb::Status FaultInjectionEnv::NewAppendableFile(const std::string& name,
                                                     leveldb::WritableFile** result) {
  uint64_t size = 0;
  bool existed = target()->GetFileSize(name, &size).ok();
  leveldb::WritableFile* file = nullptr;
  leveldb::Status status = target()->NewAppendableFile(name, &file);
  if (!status.ok()) return status;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!files_.count(name)) files_[name] = FileState{existed ? size : 0, existed ? size : 0};
  }
  *result = new TrackedFile(*this, name, file);
  return status;
}

leveldb::Status FaultInjectionEnv::RemoveFile(const std::string& name) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    files_.erase(name);
  }
  return target()->RemoveFile(name);
}

leveldb::Status FaultInjectionEnv::RenameFile(const std::string& from, const std::string& to) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = files_.find(from);
    if (it != files_.end()) {
      files_[to] = it->second;
      files_.erase(from);
    } else {
      files_.erase(to);
    }
  }
  return target()->RenameFile(from, to);
}

void FaultInjectionEnv::OnAppend(const std::string& name, size_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  files_[name].size += bytes;
}

void FaultInjectionEnv::OnSync(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  FileState& state = files_[name];
  state.synced = state.size;
}

void FaultInjectionEnv::SetFailWrites(bool fail) {
  std::lock_guard<std::mutex> lock(mutex_);
  fail_writes_ = fail;
}

void FaultInjectionEnv::SetFailSyncs(bool fail) {
  std::lock_guard<std::mutex> lock(mutex_);
  fail_syncs_ = fail;
}

bool FaultInjectionEnv::fail_syncs() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return fail_syncs_;
}

bool FaultInjectionEnv::fail_writes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return fail_writes_;
}

void FaultInjectionEnv::Crash(size_t keep_unsynced) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& [name, state] : files_) {
    if (state.synced >= state.size) continue;
    // Keep the synced prefix and up to keep_unsynced bytes of the tail.
    const size_t keep = state.synced + std::min(keep_unsynced, state.size - state.synced);
    std::string kept;
    leveldb::SequentialFile* in = nullptr;
    if (keep > 0 && target()->NewSequentialFile(name, &in).ok()) {
      std::vector<char> buffer(keep);
      leveldb::Slice read;
      if (in->Read(keep, &read, buffer.data()).ok()) kept.assign(read.data(), read.size());
      delete in;
    }
    leveldb::WritableFile* out = nullptr;
    if (target()->NewWritableFile(name, &out).ok()) {
      out->Append(kept);
      out->Sync();
      out->Close();
      delete out;
    }
    state.size = state.synced = kept.size();
  }
}

}  // namespace synod::log
