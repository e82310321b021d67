#include "server/stream_registry.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/release_memory.h"

namespace flopd {

StreamRegistry::StreamRegistry(Options options)
    : options_(options), reaper_([this] { ReaperLoop(); }) {}

StreamRegistry::~StreamRegistry() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  reaper_.join();
}

absl::StatusOr<std::unique_ptr<StreamRegistry::Slot>> StreamRegistry::Open(
    const std::string& what) {
  std::lock_guard<std::mutex> lock(mu_);
  if (static_cast<int>(entries_.size()) >= options_.max_streams) {
    return absl::ResourceExhaustedError(absl::StrCat(
        what, ": ", options_.max_streams,
        " Run and WatchResults streams are open on this flopd, its limit (--max-streams); try "
        "again when one has ended"));
  }
  entries_.emplace_back();
  return std::unique_ptr<Slot>(new Slot(this, std::prev(entries_.end())));
}

int StreamRegistry::open() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(entries_.size());
}

StreamRegistry::Slot::~Slot() {
  std::lock_guard<std::mutex> lock(registry_->mu_);
  registry_->entries_.erase(entry_);
}

void StreamRegistry::Slot::Watch(std::function<bool()> behind, std::function<void()> end) {
  std::lock_guard<std::mutex> lock(registry_->mu_);
  entry_->behind = std::move(behind);
  entry_->end = std::move(end);
}

bool StreamRegistry::Slot::ended_by_reaper() const {
  std::lock_guard<std::mutex> lock(registry_->mu_);
  return entry_->ended;
}

void StreamRegistry::ReaperLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  bool had_streams = false;
  while (!stopping_) {
    cv_.wait_for(lock, options_.poll, [this] { return stopping_; });
    // The last stream ended: what the streams and their calls held is free.
    if (had_streams && entries_.empty()) {
      lock.unlock();
      ReleaseFreedMemory();
      lock.lock();
    }
    had_streams = !entries_.empty();
    const auto now = std::chrono::steady_clock::now();
    // Under mu_, so that no slot (and no stream its `end` touches) goes
    // away meanwhile; `behind` and `end` are quick and never call back.
    for (Slot::Entry& entry : entries_) {
      if (entry.ended || !entry.behind) continue;
      if (!entry.behind()) {
        entry.behind_since = {};
        continue;
      }
      if (entry.behind_since == std::chrono::steady_clock::time_point{}) {
        entry.behind_since = now;
      } else if (now - entry.behind_since >= options_.grace) {
        entry.ended = true;
        entry.end();
      }
    }
  }
}

}  // namespace flopd
