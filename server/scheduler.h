// Scheduling. Each device has one worker thread and a FIFO queue: one job at
// a time per device, jobs on different devices run concurrently. A job's
// events (accepted is the caller's; started, results, finished or error are
// the worker's) reach the observers (server/job_observer.h) and then its
// submitter through the job's own channel (server/job.h). Job ids are
// globally unique (NewJobId: time-sortable, with random bits), never a
// per-process counter. Links the Device interface only, no backend.
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
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/job.h"
#include "common/job_plan.h"
#include "common/measure_settings.h"
#include "server/backend/device.h"
#include "server/job.h"
#include "server/job_observer.h"
#include "server/measure_point.h"

namespace flopd {

struct SubmittedJob {
  std::shared_ptr<Job> job;
  int queue_position = 0;  // jobs ahead of it on its device
  std::string device;
};

// The kAccepted event of a job just submitted.
JobEvent AcceptedEvent(const SubmittedJob& submitted);

// What one job, and the jobs waiting for a device, may take (flopd's
// --max-* flags; reported in HostInfo.limits). Submissions beyond them are
// RESOURCE_EXHAUSTED naming the limit; a job running longer than
// max_job_seconds ends with DEADLINE_EXCEEDED within a sample slice
// (server/measure_point.h), the results it measured kept.
struct SchedulerLimits {
  int max_waiting_jobs_per_device = 64;
  // Over all devices, per JobRecord::owner (one token, certificate or, with
  // authorization off, one address).
  int max_waiting_jobs_per_owner = 16;
  int64_t max_points_per_job = 100000;
  double max_job_seconds = 6 * 3600;
  // settings.cpu_threads above it is INVALID_ARGUMENT (flopd's default:
  // the CPUs it may run on, --max-threads-per-job).
  int max_threads_per_job = 1024;
  // Bytes of events one job's channel holds for a reader that is behind
  // (EventChannel::Bound; --max-stream-buffer-kib); 0 = unbounded.
  int64_t max_stream_buffer_bytes = int64_t{4} << 20;
};

class Scheduler {
 public:
  // Takes ownership of the devices and starts one worker per device.
  // `observers` (not owned) must outlive the scheduler; they must not call
  // back into it.
  explicit Scheduler(DeviceSet devices, std::vector<JobObserver*> observers = {},
                     SchedulerLimits limits = {});
  ~Scheduler();  // Shutdown() then join.

  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Validates the submission against the catalog and the device (names,
  // ranges, memory) and queues it. Errors: INVALID_ARGUMENT (bad names,
  // ranges, spec), NOT_FOUND (no such device), RESOURCE_EXHAUSTED (a size
  // does not fit), FAILED_PRECONDITION (device unhealthy), UNAVAILABLE
  // (shutting down). `peer` is where the submission came from and `owner`
  // who sent it (server/auth's identity); both are recorded, and the jobs
  // one owner may have waiting are bounded (RESOURCE_EXHAUSTED).
  absl::StatusOr<SubmittedJob> Submit(const JobSubmission& submission,
                                      const std::string& peer = "",
                                      const std::string& owner = "");

  // Cancels a queued or running job with `reason` (which becomes its final
  // status): a queued job leaves its queue and ends now, on this thread; a
  // running one stops within one sample (Job::WaitEnded waits for it).
  // NOT_FOUND when no queued or running job has that id; FAILED_PRECONDITION
  // ("has already ended (STATE)") for a job that has ended but whose worker
  // still holds it. With
  // `only_owner`, a job of another owner is left alone: PERMISSION_DENIED.
  absl::StatusOr<std::shared_ptr<Job>> Cancel(const std::string& job_id, absl::Status reason,
                                              const std::string* only_owner = nullptr);

  // Cancels every queued and running job with UNAVAILABLE "flopd is shutting
  // down" and refuses new ones. Idempotent.
  void Shutdown();

  int device_count() const { return static_cast<int>(slots_.size()); }
  const Device& device(int slot) const { return *slots_[slot]->device; }
  // Jobs queued or running on the device.
  int pending_jobs(int slot) const;
  // The device's queue now: jobs waiting, and whether one is running.
  struct QueueState {
    int waiting = 0;
    bool running = false;
  };
  QueueState queue_state(int slot) const;
  // False once Shutdown began: Submit refuses every job.
  bool accepting_jobs() const { return !shutting_down_.load(); }
  // Draining: Submit refuses new jobs (UNAVAILABLE "draining"); queued and
  // running ones go on. Reversible, unlike Shutdown.
  void SetDraining(bool draining) { draining_.store(draining); }
  bool draining() const { return draining_.load(); }
  const SchedulerLimits& limits() const { return limits_; }
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
  // again with `remeasure`) and waits up to `timeout` for it. The request
  // queues like a job: after the jobs already queued, before later ones.
  // Returns ceilings(slot) afterwards, or DEADLINE_EXCEEDED when the device
  // stayed busy (the measurement still happens once the device is free).
  // A re-measurement replaces good ceilings only when plausible next to them
  // (CheckPlausibleRemeasurement); otherwise they stay and ceilings_note()
  // says why.
  absl::StatusOr<DeviceCeilings> MeasureCeilings(int slot, bool remeasure,
                                                 std::chrono::milliseconds timeout);
  std::string ceilings_note(int slot) const;

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
    // A requested measurement queues like a job: it waits until every job
    // accepted before it has left the queue (started or cancelled).
    int64_t jobs_accepted = 0;
    int64_t jobs_left_queue = 0;
    int64_t ceilings_after = 0;  // jobs_left_queue needed before measuring
    int64_t ceilings_generation = 0;  // measurements completed
    // Why the last re-measurement was not taken (implausible next to the
    // ceilings kept); empty when it was.
    std::string ceilings_note;
    std::condition_variable ceilings_cv;
  };

  // Jobs in the slot's queue that are still to run: a job cancelled while
  // queued (Job::Cancel; it leaves the queue when the worker reaches it)
  // counts in no queue length and no queue position. REQUIRES: slot.mu.
  static int Waiting(const Slot& slot);
  // Jobs of `owner` waiting on any device.
  int WaitingOf(const std::string& owner) const;
  void WorkerLoop(Slot* slot);
  void WatchdogLoop();
  // Brings the job's record up to date, tells the observers, then the
  // submitter (the job's channel).
  void Emit(Job& job, JobEvent event);
  std::string NextJobId();
  // Measures on the calling (worker) thread and stores the outcome.
  void MeasureCeilingsNow(Slot* slot);
  void RunJob(Slot* slot, Job& job);

  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<std::string> unavailable_;
  const std::vector<JobObserver*> observers_;
  const SchedulerLimits limits_;
  std::atomic<bool> shutting_down_{false};
  std::atomic<bool> draining_{false};
  // Ends running jobs that outlive limits_.max_job_seconds.
  std::mutex watchdog_mu_;
  std::condition_variable watchdog_cv_;
  std::thread watchdog_;
  // Held over the per-owner count and the queueing, so that two submissions
  // of one owner to two devices cannot both pass the bound.
  std::mutex admit_mu_;
  std::mutex id_mu_;
  std::mt19937_64 id_random_;  // guarded by id_mu_
};

}  // namespace flopd

#endif  // FLOPD_SERVER_SCHEDULER_H_
