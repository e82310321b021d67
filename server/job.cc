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

JobRecord Job::record() const {
  std::lock_guard<std::mutex> lock(mu_);
  return record_;
}

void Job::Apply(const JobEvent& event, int64_t unix_ms) {
  bool ended = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    switch (event.kind) {
      case JobEvent::Kind::kAccepted:
        record_.points_total = event.points_total;
        break;
      case JobEvent::Kind::kStarted:
        record_.state = JobState::kRunning;
        record_.started_unix_ms = event.started_unix_ms;
        break;
      case JobEvent::Kind::kResult:
        ++record_.points_measured;
        if (!event.result.verification.passed) ++record_.points_failed_verification;
        break;
      case JobEvent::Kind::kFinished:
        record_.status = absl::OkStatus();
        record_.state = JobState::kFinished;
        record_.ended_unix_ms = unix_ms;
        ended = true;
        break;
      case JobEvent::Kind::kError:
        record_.status = event.error;
        record_.state = EndStateOf(event.error);
        record_.ended_unix_ms = unix_ms;
        ended = true;
        break;
    }
  }
  if (ended) ended_cv_.notify_all();
}

bool Job::WaitEnded(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return ended_cv_.wait_for(lock, timeout, [this] { return IsTerminal(record_.state); });
}

}  // namespace flopd
