#include "server/job.h"

namespace flopd {

void EventChannel::Push(JobEvent event) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(event));
  }
  cv_.notify_one();
}

bool EventChannel::PopFor(JobEvent* event, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_for(lock, timeout, [this] { return !events_.empty(); })) return false;
  *event = std::move(events_.front());
  events_.pop_front();
  return true;
}

void Job::Cancel(absl::Status reason) {
  std::lock_guard<std::mutex> lock(mu_);
  if (cancelled_.load()) return;
  cancel_reason_ = std::move(reason);
  cancelled_.store(true);
}

absl::Status Job::cancel_reason() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cancel_reason_;
}

}  // namespace flopd
