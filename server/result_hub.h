// The result hub: every result flopd measures, broadcast to whoever is
// watching (WatchResults streams, and any other live reader such as an HTTP
// event stream). The recorder publishes each result once, after it is
// stored; each subscriber has its own bounded buffer and filter.
//
// Publishing never waits for a subscriber: a subscriber whose buffer is full
// is marked overflowed and gets nothing more (its reader ends the watch with
// RESOURCE_EXHAUSTED), so a slow watcher never slows a device.
//
// Thread-safe. The hub must outlive its subscriptions.
#ifndef FLOPD_SERVER_RESULT_HUB_H_
#define FLOPD_SERVER_RESULT_HUB_H_

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "common/history_query.h"
#include "flopd/v1/flopd.pb.h"

namespace flopd {

struct HubResult {
  int64_t id = 0;  // its row id in the store; 0 when it was not stored
  std::shared_ptr<const v1::Result> result;
  ResultIndex index;
};

class ResultHub {
 public:
  static constexpr size_t kDefaultCapacity = 1024;

  class Subscription {
   public:
    enum class Next {
      kResult,    // *out is the next result
      kTimeout,   // nothing arrived in time
      kOverflow,  // results were dropped because the buffer was full
      kClosed,    // the hub shut down
    };
    ~Subscription();
    // Waits up to `timeout` for the next result matching the filter. An
    // overflow is reported once the results buffered before it are taken.
    Next Pop(HubResult* out, std::chrono::milliseconds timeout);

   private:
    friend class ResultHub;
    struct Queue {
      ResultFilter filter;
      size_t capacity = 0;
      std::mutex mu;
      std::condition_variable cv;
      std::deque<HubResult> items;
      bool overflowed = false;
      bool closed = false;
      std::function<void()> on_overflow;
    };
    Subscription(ResultHub* hub, std::shared_ptr<Queue> queue)
        : hub_(hub), queue_(std::move(queue)) {}
    ResultHub* hub_;
    std::shared_ptr<Queue> queue_;
  };

  ResultHub() = default;
  ResultHub(const ResultHub&) = delete;
  ResultHub& operator=(const ResultHub&) = delete;

  // Results published from now on that match `filter` (its time bounds
  // included) reach the subscription, up to `capacity` waiting at once.
  // After Shutdown, the subscription is closed at once. `on_overflow`, if
  // given, is called once when the buffer overflows, on the publishing
  // thread under the hub's locks: it must be quick and must not call back
  // into the hub (e.g. set a flag that a reaper reads, server/stream_registry.h).
  std::unique_ptr<Subscription> Subscribe(ResultFilter filter, size_t capacity = kDefaultCapacity,
                                          std::function<void()> on_overflow = nullptr);
  // A reader that must see every result, with no buffer and no filter
  // (e.g. /metrics): called by Publish on the publishing thread (a device's
  // worker), so it must be quick and must not call back into the hub. Add
  // listeners before results are published; they must outlive the hub.
  using Listener = std::function<void(const HubResult&)>;
  void AddListener(Listener listener);
  // Hands `result` to every listener, then to every matching subscriber,
  // without waiting.
  void Publish(const HubResult& result);
  // Closes every subscription (their readers end) and refuses new ones.
  void Shutdown();
  int subscribers() const;

 private:
  void Remove(const Subscription::Queue* queue);

  mutable std::mutex mu_;
  std::vector<Listener> listeners_;
  std::vector<std::shared_ptr<Subscription::Queue>> queues_;
  bool shut_down_ = false;
};

}  // namespace flopd

#endif  // FLOPD_SERVER_RESULT_HUB_H_
