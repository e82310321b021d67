#include "server/result_hub.h"

#include <algorithm>
#include <utility>

namespace flopd {

ResultHub::Subscription::~Subscription() { hub_->Remove(queue_.get()); }

ResultHub::Subscription::Next ResultHub::Subscription::Pop(HubResult* out,
                                                           std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(queue_->mu);
  queue_->cv.wait_for(lock, timeout, [&] {
    return !queue_->items.empty() || queue_->overflowed || queue_->closed;
  });
  if (!queue_->items.empty()) {
    *out = std::move(queue_->items.front());
    queue_->items.pop_front();
    return Next::kResult;
  }
  if (queue_->overflowed) return Next::kOverflow;
  if (queue_->closed) return Next::kClosed;
  return Next::kTimeout;
}

std::unique_ptr<ResultHub::Subscription> ResultHub::Subscribe(ResultFilter filter,
                                                              size_t capacity,
                                                              std::function<void()> on_overflow) {
  auto queue = std::make_shared<Subscription::Queue>();
  queue->filter = std::move(filter);
  queue->on_overflow = std::move(on_overflow);
  queue->capacity = std::max<size_t>(capacity, 1);
  std::lock_guard<std::mutex> lock(mu_);
  if (shut_down_) {
    queue->closed = true;
  } else {
    queues_.push_back(queue);
  }
  return std::unique_ptr<Subscription>(new Subscription(this, std::move(queue)));
}

void ResultHub::AddListener(Listener listener) {
  std::lock_guard<std::mutex> lock(mu_);
  listeners_.push_back(std::move(listener));
}

void ResultHub::Publish(const HubResult& result) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const Listener& listener : listeners_) listener(result);
  for (const auto& queue : queues_) {
    if (!queue->filter.Matches(result.index)) continue;
    {
      std::lock_guard<std::mutex> queue_lock(queue->mu);
      if (queue->overflowed) continue;
      if (queue->items.size() >= queue->capacity) {
        queue->overflowed = true;
        if (queue->on_overflow) queue->on_overflow();
      } else {
        queue->items.push_back(result);
      }
    }
    queue->cv.notify_all();
  }
}

void ResultHub::Shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  shut_down_ = true;
  for (const auto& queue : queues_) {
    {
      std::lock_guard<std::mutex> queue_lock(queue->mu);
      queue->closed = true;
    }
    queue->cv.notify_all();
  }
}

int ResultHub::subscribers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(queues_.size());
}

void ResultHub::Remove(const Subscription::Queue* queue) {
  std::lock_guard<std::mutex> lock(mu_);
  queues_.erase(std::remove_if(queues_.begin(), queues_.end(),
                               [&](const auto& q) { return q.get() == queue; }),
                queues_.end());
}

}  // namespace flopd
