#include "server/job.h"

namespace flopd {

void EventChannel::Bound(int64_t max_bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  max_bytes_ = max_bytes;
}

int64_t EventChannel::ApproximateBytes(const JobEvent& event) {
  int64_t bytes = sizeof(JobEvent);
  bytes += static_cast<int64_t>(event.result.samples.size() * sizeof(double));
  for (const std::string& warning : event.result.warnings) bytes += warning.size() + 32;
  for (const auto& [key, value] : event.result.observations) bytes += key.size() + value.size() + 64;
  bytes += static_cast<int64_t>(event.sizes.size() * sizeof(int64_t));
  bytes += static_cast<int64_t>(event.error.message().size());
  return bytes;
}

void EventChannel::Push(JobEvent event) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (overflowed_) return;
    const int64_t bytes = ApproximateBytes(event);
    if (max_bytes_ > 0 && !events_.empty() && bytes_ + bytes > max_bytes_) {
      overflowed_ = true;
      events_.clear();
      bytes_ = 0;
    } else {
      bytes_ += bytes;
      events_.push_back(std::move(event));
    }
  }
  cv_.notify_one();
}

bool EventChannel::PopFor(JobEvent* event, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_for(lock, timeout, [this] { return !events_.empty() || overflowed_; })) {
    return false;
  }
  if (overflowed_) return false;
  bytes_ -= ApproximateBytes(events_.front());
  *event = std::move(events_.front());
  events_.pop_front();
  return true;
}

bool EventChannel::overflowed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return overflowed_;
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

JobRecord Job::RecordAfterCancel() const {
  std::lock_guard<std::mutex> lock(mu_);
  JobRecord record = record_;
  if (cancelled_.load() && !IsTerminal(record.state)) record.status = cancel_reason_;
  return record;
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
      case JobEvent::Kind::kStatus:
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
