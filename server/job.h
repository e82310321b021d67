// A job inside flopd: its plan and settings, its cancellation flag, its
// record (common/job_record.h: state, times, counts, kept current as its
// events happen), and the channel its events reach the submitter through (so
// a slow or vanished reader never blocks a device). Created by the scheduler
// on Submit.
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
#include "common/device_description.h"
#include "common/job.h"
#include "common/job_plan.h"
#include "common/job_record.h"
#include "common/measure_settings.h"

namespace flopd {

// A multi-producer queue of a job's events, bounded in bytes (Bound): when
// the events waiting for the reader would exceed the bound, the reader is
// too far behind: the waiting events are dropped (they are in the store:
// observers hear every event before the channel does), nothing more is
// queued, and overflowed() turns true. Push never waits, so a slow or
// vanished reader never holds a device back.
class EventChannel {
 public:
  // At most `max_bytes` (ApproximateBytes) may wait at once; one event is
  // always accepted however big. 0 = unbounded (the default). Call before
  // the first Push.
  void Bound(int64_t max_bytes);
  void Push(JobEvent event);
  // Waits up to `timeout` for an event. False on timeout, and at once once
  // the channel has overflowed.
  bool PopFor(JobEvent* event, std::chrono::milliseconds timeout);
  bool overflowed() const;
  // What an event costs in the channel: its struct plus its samples,
  // warnings and observations (the proto it becomes is about as big).
  static int64_t ApproximateBytes(const JobEvent& event);

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<JobEvent> events_;  // guarded by mu_
  int64_t max_bytes_ = 0;        // guarded by mu_
  int64_t bytes_ = 0;            // guarded by mu_: of events_
  bool overflowed_ = false;      // guarded by mu_
};

class Job {
 public:
  // `record` is the job as accepted (id, submission, peer, device, points,
  // created time). `device` is not owned and outlives the job.
  Job(JobRecord record, int device_slot, const DeviceDescription* device, JobPlan plan,
      MeasureSettings settings)
      : id_(record.id), run_id_(record.submission.run_id), owner_(record.owner),
        device_slot_(device_slot),
        device_(device), plan_(std::move(plan)), settings_(settings), record_(std::move(record)) {}

  const std::string& id() const { return id_; }
  const std::string& run_id() const { return run_id_; }
  // Who submitted it (JobRecord::owner).
  const std::string& owner() const { return owner_; }
  int device_slot() const { return device_slot_; }
  const DeviceDescription& device() const { return *device_; }
  const JobPlan& plan() const { return plan_; }
  const MeasureSettings& settings() const { return settings_; }
  EventChannel& events() { return events_; }

  // The job as it stands now (a copy).
  JobRecord record() const;
  // The answer to a CancelJob: record(), except that a cancelled job that has
  // not ended yet (its sample, or the device's ceilings, finish first) carries
  // its cancel reason as its status, so the caller learns who cancelled it.
  JobRecord RecordAfterCancel() const;
  // Brings the record up to date with `event` (started: running; a result:
  // one more point; finished or an error: ended with its state and status)
  // and, for the last event, wakes WaitEnded. The scheduler calls it once
  // per event, before anyone is told of the event.
  void Apply(const JobEvent& event, int64_t unix_ms);
  // Waits up to `timeout` for the job's last event; true once it has ended.
  bool WaitEnded(std::chrono::milliseconds timeout) const;

  // Asks the job to stop; the device notices within one sample. The first
  // reason given wins and ends the job with that status.
  void Cancel(absl::Status reason);
  bool cancelled() const { return cancelled_.load(); }
  const std::atomic<bool>& cancel_flag() const { return cancelled_; }
  absl::Status cancel_reason() const;

 private:
  const std::string id_;
  const std::string run_id_;
  const std::string owner_;
  const int device_slot_;
  const DeviceDescription* const device_;
  const JobPlan plan_;
  const MeasureSettings settings_;
  EventChannel events_;
  std::atomic<bool> cancelled_{false};
  mutable std::mutex mu_;
  mutable std::condition_variable ended_cv_;
  absl::Status cancel_reason_;  // guarded by mu_
  JobRecord record_;            // guarded by mu_
};

}  // namespace flopd

#endif  // FLOPD_SERVER_JOB_H_
