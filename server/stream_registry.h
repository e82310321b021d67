// The long-lived streams a flopd serves (Run and WatchResults): a bound on
// how many may be open at once over all callers (--max-streams), and a
// reaper that ends a stream whose reader fell too far behind.
//
// Why the reaper: gRPC's synchronous ServerWriter::Write blocks while the
// client's flow-control window is full, i.e. while it does not read. A
// handler blocked there never sees that its buffer overflowed, and would
// hold its thread (and its stream slot) for as long as the client keeps
// the connection open. Once a stream's `behind` has said true for `grace`
// and the stream is still open, the reaper calls its `end` (the service's
// ServerContext::TryCancel), which unblocks the Write. A handler that is
// not blocked sees the overflow itself within its poll interval and ends
// the stream with its own RESOURCE_EXHAUSTED status, which the grace lets
// reach a reader that is slow but reading; one that does not read at all
// gets CANCELLED (a cancelled call carries no message).
//
// Thread-safe. The registry must outlive its slots.
#ifndef FLOPD_SERVER_STREAM_REGISTRY_H_
#define FLOPD_SERVER_STREAM_REGISTRY_H_

#include <chrono>
#include <condition_variable>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace flopd {

class StreamRegistry {
 public:
  struct Options {
    int max_streams = 256;
    // How long a stream may stay open after its reader fell behind.
    std::chrono::milliseconds grace{5000};
    // How often the reaper looks.
    std::chrono::milliseconds poll{100};
  };

  // One open stream; closing it (the destructor) frees its place.
  class Slot {
   public:
    ~Slot();
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    // From now on the reaper asks `behind` (quick, thread-safe) whether the
    // reader fell too far behind, and ends the stream with `end` once
    // `behind` has been true for the grace. Both are called on the reaper's
    // thread, never after this slot is destroyed. Call at most once.
    void Watch(std::function<bool()> behind, std::function<void()> end);
    // Whether the reaper ended the stream.
    bool ended_by_reaper() const;

   private:
    friend class StreamRegistry;
    struct Entry {
      std::function<bool()> behind;
      std::function<void()> end;
      std::chrono::steady_clock::time_point behind_since{};
      bool ended = false;
    };
    Slot(StreamRegistry* registry, std::list<Entry>::iterator entry)
        : registry_(registry), entry_(entry) {}
    StreamRegistry* const registry_;
    const std::list<Entry>::iterator entry_;
  };

  explicit StreamRegistry(Options options);
  ~StreamRegistry();  // stops the reaper
  StreamRegistry(const StreamRegistry&) = delete;
  StreamRegistry& operator=(const StreamRegistry&) = delete;

  // A place for one more stream, or RESOURCE_EXHAUSTED naming --max-streams
  // when max_streams are open. `what` names the call in the message.
  absl::StatusOr<std::unique_ptr<Slot>> Open(const std::string& what);
  int open() const;
  const Options& options() const { return options_; }

 private:
  void ReaperLoop();

  const Options options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::list<Slot::Entry> entries_;  // guarded by mu_
  bool stopping_ = false;           // guarded by mu_
  std::thread reaper_;
};

}  // namespace flopd

#endif  // FLOPD_SERVER_STREAM_REGISTRY_H_
