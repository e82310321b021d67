// Jobs and their scheduling. Each device has one worker thread and a FIFO
// queue: one job at a time per device, jobs on different devices run
// concurrently. A job's events reach its submitter through the job's own
// channel, so a slow or vanished reader never blocks a device.
//
// Thread-safe: every public method may be called from any thread.
#ifndef FLOPD_SERVER_SCHEDULER_H_
#define FLOPD_SERVER_SCHEDULER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/job_plan.h"
#include "common/measure_settings.h"
#include "server/backend/registry.h"
#include "server/measure_point.h"

namespace flopd {

struct JobEvent {
  enum class Kind { kStarted, kResult, kFinished, kError };
  Kind kind = Kind::kStarted;
  PointOutcome result;        // kResult
  absl::Status error;         // kError
  int points_measured = 0;    // kFinished, kError
  int points_failed_verification = 0;  // kFinished
  double wall_seconds = 0;    // kFinished
  int64_t started_unix_ms = 0;  // kStarted
};

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

// What a client asked for, before validation against a device.
struct JobSubmission {
  JobRequest request;
  MeasureRequest measure;
  std::string device;  // empty = "cpu:0"
  std::string client;
};

struct SubmittedJob {
  std::shared_ptr<Job> job;
  int queue_position = 0;  // jobs ahead of it on its device
  std::string device;
};

class Scheduler {
 public:
  // Takes ownership of the devices and starts one worker per device.
  explicit Scheduler(DeviceSet devices);
  ~Scheduler();  // Shutdown() then join.

  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Validates the submission against the catalog and the device (names,
  // ranges, memory) and queues it. Errors: INVALID_ARGUMENT (bad names,
  // ranges, spec), NOT_FOUND (no such device), RESOURCE_EXHAUSTED (a size
  // does not fit), FAILED_PRECONDITION (device unhealthy), UNAVAILABLE
  // (shutting down).
  absl::StatusOr<SubmittedJob> Submit(const JobSubmission& submission);

  // Cancels every queued and running job with UNAVAILABLE "flopd is shutting
  // down" and refuses new ones. Idempotent.
  void Shutdown();

  int device_count() const { return static_cast<int>(slots_.size()); }
  const Device& device(int slot) const { return *slots_[slot]->device; }
  // Jobs queued or running on the device.
  int pending_jobs(int slot) const;
  const std::vector<std::string>& unavailable() const { return unavailable_; }

  // Ceilings (common/roofline.h). Each device's are measured once, by its
  // worker, before its first job or when asked, and cached; never while a
  // job runs on the device. Every result of a job is placed on the roofline
  // when they are known.
  //
  // The cached ceilings; FAILED_PRECONDITION "not measured yet" before the
  // first attempt, else the measurement's error (UNIMPLEMENTED for a backend
  // that cannot measure them).
  absl::StatusOr<DeviceCeilings> ceilings(int slot) const;
  // Asks the device's worker to measure them (when not attempted yet, or
  // again with `remeasure`) between jobs and waits up to `timeout` for it.
  // Returns ceilings(slot) afterwards, or DEADLINE_EXCEEDED when the device
  // stayed busy (the measurement still happens once the device is free).
  absl::StatusOr<DeviceCeilings> MeasureCeilings(int slot, bool remeasure,
                                                 std::chrono::milliseconds timeout);

 private:
  struct Slot {
    std::unique_ptr<Device> device;
    mutable std::mutex mu;
    std::condition_variable cv;
    std::deque<std::shared_ptr<Job>> queue;
    std::shared_ptr<Job> running;
    std::thread worker;
    // Ceilings, guarded by mu.
    bool ceilings_attempted = false;
    absl::StatusOr<DeviceCeilings> ceilings =
        absl::FailedPreconditionError("not measured yet");
    bool ceilings_requested = false;
    int64_t ceilings_generation = 0;  // measurements completed
    std::condition_variable ceilings_cv;
  };

  void WorkerLoop(Slot* slot);
  // Measures on the calling (worker) thread and stores the outcome.
  void MeasureCeilingsNow(Slot* slot);
  void RunJob(Slot* slot, Job& job);

  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<std::string> unavailable_;
  std::atomic<bool> shutting_down_{false};
  std::atomic<int64_t> next_job_number_{1};
};

}  // namespace flopd

#endif  // FLOPD_SERVER_SCHEDULER_H_
