// A job inside flopd: its plan and settings, its cancellation flag, and the
// channel its events reach the submitter through (so a slow or vanished
// reader never blocks a device). Created by the scheduler on Submit.
//
// Thread-safe: every public method may be called from any thread.
#ifndef FLOPD_SERVER_JOB_H_
#define FLOPD_SERVER_JOB_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "common/job.h"
#include "common/job_plan.h"
#include "common/measure_settings.h"

namespace flopd {

// A closable multi-producer queue of a job's events.
class EventChannel {
 public:
  void Push(JobEvent event);
  // Waits up to `timeout` for an event. False on timeout.
  bool PopFor(JobEvent* event, std::chrono::milliseconds timeout);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<JobEvent> events_;
};

class Job {
 public:
  Job(std::string id, int device_slot, JobPlan plan, MeasureSettings settings)
      : id_(std::move(id)), device_slot_(device_slot), plan_(std::move(plan)),
        settings_(settings) {}

  const std::string& id() const { return id_; }
  int device_slot() const { return device_slot_; }
  const JobPlan& plan() const { return plan_; }
  const MeasureSettings& settings() const { return settings_; }
  EventChannel& events() { return events_; }

  // Asks the job to stop; the device notices within one sample. The first
  // reason given wins and ends the job with that status.
  void Cancel(absl::Status reason);
  bool cancelled() const { return cancelled_.load(); }
  const std::atomic<bool>& cancel_flag() const { return cancelled_; }
  absl::Status cancel_reason() const;

 private:
  const std::string id_;
  const int device_slot_;
  const JobPlan plan_;
  const MeasureSettings settings_;
  EventChannel events_;
  std::atomic<bool> cancelled_{false};
  mutable std::mutex mu_;
  absl::Status cancel_reason_;
};

}  // namespace flopd

#endif  // FLOPD_SERVER_JOB_H_
