#include "server/scheduler.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/job_record.h"
#include "common/op_catalog.h"
#include "common/roofline.h"
#include "common/sanitize.h"
#include "server/log.h"
#include "server/release_memory.h"

namespace flopd {
namespace {

using Clock = std::chrono::steady_clock;


int64_t UnixMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string TimingModeList(const std::vector<TimingMode>& modes) {
  std::vector<std::string> names;
  for (TimingMode m : modes) names.emplace_back(TimingModeName(m));
  return absl::StrJoin(names, ", ");
}

}  // namespace

Scheduler::Scheduler(DeviceSet devices, std::vector<JobObserver*> observers,
                     SchedulerLimits limits)
    : unavailable_(std::move(devices.unavailable)),
      observers_(std::move(observers)),
      limits_(limits),
      id_random_(std::random_device()()) {
  for (auto& device : devices.devices) {
    auto slot = std::make_unique<Slot>();
    slot->device = std::move(device);
    slots_.push_back(std::move(slot));
  }
  for (auto& slot : slots_) {
    Slot* raw = slot.get();
    raw->worker = std::thread([this, raw] { WorkerLoop(raw); });
  }
  watchdog_ = std::thread([this] { WatchdogLoop(); });
}

Scheduler::~Scheduler() {
  Shutdown();
  for (auto& slot : slots_) {
    if (slot->worker.joinable()) slot->worker.join();
  }
  if (watchdog_.joinable()) watchdog_.join();
}

void Scheduler::WatchdogLoop() {
  const int64_t limit_ms = static_cast<int64_t>(limits_.max_job_seconds * 1000);
  std::unique_lock<std::mutex> lock(watchdog_mu_);
  while (!shutting_down_.load()) {
    watchdog_cv_.wait_for(lock, std::chrono::milliseconds(100));
    const int64_t now = UnixMillis();
    for (auto& slot : slots_) {
      std::shared_ptr<Job> running;
      {
        std::lock_guard<std::mutex> slot_lock(slot->mu);
        running = slot->running;
      }
      if (running == nullptr || running->cancelled()) continue;
      const int64_t started = running->record().started_unix_ms;
      if (started > 0 && now - started > limit_ms) {
        running->Cancel(absl::DeadlineExceededError(absl::StrFormat(
            "job: ran longer than %g s, this flopd's limit (--max-job-time); the results "
            "measured so far are kept",
            limits_.max_job_seconds)));
      }
    }
  }
}

void Scheduler::Shutdown() {
  shutting_down_.store(true);
  watchdog_cv_.notify_all();
  const absl::Status reason = absl::UnavailableError("flopd is shutting down");
  for (auto& slot : slots_) {
    std::lock_guard<std::mutex> lock(slot->mu);
    for (auto& job : slot->queue) job->Cancel(reason);
    if (slot->running) slot->running->Cancel(reason);
    slot->cv.notify_all();
    slot->ceilings_cv.notify_all();
  }
}

int Scheduler::Waiting(const Slot& slot) {
  return static_cast<int>(std::count_if(slot.queue.begin(), slot.queue.end(),
                                        [](const std::shared_ptr<Job>& job) {
                                          return !job->cancelled();
                                        }));
}

int Scheduler::WaitingOf(const std::string& owner) const {
  int waiting = 0;
  for (const auto& slot : slots_) {
    std::lock_guard<std::mutex> lock(slot->mu);
    waiting += static_cast<int>(std::count_if(
        slot->queue.begin(), slot->queue.end(), [&owner](const std::shared_ptr<Job>& job) {
          return !job->cancelled() && job->owner() == owner;
        }));
  }
  return waiting;
}

int Scheduler::pending_jobs(int slot) const {
  std::lock_guard<std::mutex> lock(slots_[slot]->mu);
  return Waiting(*slots_[slot]) + (slots_[slot]->running ? 1 : 0);
}

Scheduler::QueueState Scheduler::queue_state(int slot) const {
  std::lock_guard<std::mutex> lock(slots_[slot]->mu);
  return {Waiting(*slots_[slot]), slots_[slot]->running != nullptr};
}

std::string Scheduler::NextJobId() {
  std::lock_guard<std::mutex> lock(id_mu_);
  return NewJobId(UnixMillis(), id_random_());
}

absl::StatusOr<SubmittedJob> Scheduler::Submit(const JobSubmission& submission,
                                               const std::string& peer,
                                               const std::string& owner) {
  if (shutting_down_.load()) return absl::UnavailableError("flopd is shutting down");
  if (draining_.load()) {
    return absl::UnavailableError(
        "flopd is draining: it takes no new job until an admin resumes it (flopctl drain "
        "--resume); its queued jobs still run");
  }
  if (absl::Status st = CheckRunId(submission.run_id); !st.ok()) return st;
  if (absl::Status st = CheckClientLabel(submission.client); !st.ok()) return st;

  const std::string device_id = submission.device.empty() ? "cpu:0" : submission.device;
  int slot_index = -1;
  std::vector<std::string> ids;
  for (size_t i = 0; i < slots_.size(); ++i) {
    ids.push_back(slots_[i]->device->Describe().id);
    if (ids.back() == device_id) slot_index = static_cast<int>(i);
  }
  if (slot_index < 0) {
    std::string why = unavailable_.empty()
                          ? std::string()
                          : absl::StrCat(" (not offered: ", absl::StrJoin(unavailable_, "; "), ")");
    return absl::NotFoundError(absl::StrCat("device: unknown device '",
                                            Sanitized(device_id, kQuotedValueBytes),
                                            "'; this host has: ", absl::StrJoin(ids, ", "), why));
  }
  Slot& slot = *slots_[slot_index];
  Device& device = *slot.device;
  const DeviceDescription& description = device.Describe();
  std::string health;
  if (!device.Healthy(&health)) {
    return absl::FailedPreconditionError(
        absl::StrCat("device: ", device_id, " is unhealthy: ", health));
  }

  absl::StatusOr<JobPlan> plan =
      PlanJob(submission.request, description.backend, description.default_sizes);
  if (!plan.ok()) return plan.status();
  if (static_cast<int64_t>(plan->points.size()) > limits_.max_points_per_job) {
    return absl::ResourceExhaustedError(
        absl::StrCat("sizes: the job has ", plan->points.size(), " points; this flopd allows at most ",
                     limits_.max_points_per_job, " a job (--max-points-per-job)"));
  }

  MeasureSettings settings;
  if (absl::Status st =
          ResolveMeasureSettings(submission.measure, description.default_settings, &settings);
      !st.ok()) {
    return st;
  }
  if (settings.cpu_threads > limits_.max_threads_per_job) {
    return absl::InvalidArgumentError(absl::StrCat(
        "settings.cpu_threads: ", settings.cpu_threads,
        " is out of range; this flopd allows 1..", limits_.max_threads_per_job,
        " threads per job (--max-threads-per-job; 0 = its default)"));
  }
  if (std::find(description.timing_modes.begin(), description.timing_modes.end(),
                settings.timing) == description.timing_modes.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "settings.timing: '", TimingModeName(settings.timing), "' is not supported on ", device_id,
        "; allowed: ", TimingModeList(description.timing_modes)));
  }
  for (const PointSpec& point : plan->points) {
    if (absl::Status fits = CheckPointFits(device, point, settings.timing); !fits.ok()) return fits;
  }

  JobRecord record;
  record.id = NextJobId();
  record.submission = submission;
  record.peer = peer;
  record.owner = owner;
  record.device = device_id;
  record.state = JobState::kQueued;
  record.points_total = static_cast<int>(plan->points.size());
  record.created_unix_ms = UnixMillis();
  SubmittedJob submitted;
  submitted.device = device_id;
  submitted.job = std::make_shared<Job>(std::move(record), slot_index, &description,
                                        *std::move(plan), settings);
  submitted.job->events().Bound(limits_.max_stream_buffer_bytes);
  std::lock_guard<std::mutex> admit(admit_mu_);
  if (const int waiting = WaitingOf(owner); waiting >= limits_.max_waiting_jobs_per_owner) {
    return absl::ResourceExhaustedError(absl::StrCat(
        Sanitized(owner, kQuotedValueBytes), " already has ", waiting,
        " jobs waiting on this flopd, its limit per caller (--max-queued-jobs-per-caller ",
        limits_.max_waiting_jobs_per_owner, "); try again when they have run"));
  }
  {
    // The observers learn of the job before its worker can start it.
    std::lock_guard<std::mutex> lock(slot.mu);
    if (shutting_down_.load()) return absl::UnavailableError("flopd is shutting down");
    if (Waiting(slot) >= limits_.max_waiting_jobs_per_device) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "device: ", limits_.max_waiting_jobs_per_device, " jobs already wait for ", device_id,
          ", this flopd's limit (--max-queued-jobs); try again later"));
    }
    submitted.queue_position = Waiting(slot) + (slot.running ? 1 : 0);
    const JobEvent accepted = AcceptedEvent(submitted);
    submitted.job->Apply(accepted, UnixMillis());
    for (JobObserver* observer : observers_) observer->OnJobAccepted(*submitted.job, accepted);
    slot.queue.push_back(submitted.job);
    ++slot.jobs_accepted;
  }
  slot.cv.notify_one();
  return submitted;
}

absl::StatusOr<std::shared_ptr<Job>> Scheduler::Cancel(const std::string& job_id,
                                                       absl::Status reason,
                                                       const std::string* only_owner) {
  auto not_theirs = [&](const Job& job) {
    return absl::PermissionDeniedError(absl::StrCat(
        "job_id: job ", job.id(), " was run by ", Sanitized(job.owner(), kQuotedValueBytes),
        ", not ", Sanitized(*only_owner, kQuotedValueBytes),
        "; cancelling another caller's job needs the admin role"));
  };
  for (auto& slot : slots_) {
    std::shared_ptr<Job> dequeued;
    {
      std::lock_guard<std::mutex> lock(slot->mu);
      if (slot->running && slot->running->id() == job_id) {
        if (only_owner != nullptr && slot->running->owner() != *only_owner) {
          return not_theirs(*slot->running);
        }
        // Its last event is out, but its worker has not let go of it yet.
        if (slot->running->WaitEnded(std::chrono::milliseconds(0))) {
          return absl::FailedPreconditionError(
              absl::StrCat("job_id: job ", job_id, " has already ended (",
                           JobStateName(slot->running->record().state), ")"));
        }
        slot->running->Cancel(reason);
        return slot->running;
      }
      for (auto it = slot->queue.begin(); it != slot->queue.end(); ++it) {
        if ((*it)->id() != job_id) continue;
        if (only_owner != nullptr && (*it)->owner() != *only_owner) return not_theirs(**it);
        dequeued = *it;
        slot->queue.erase(it);
        ++slot->jobs_left_queue;
        break;
      }
    }
    if (dequeued) {
      // Out of the queue, so no worker will see it: it ends here.
      dequeued->Cancel(reason);
      JobEvent error;
      error.kind = JobEvent::Kind::kError;
      error.error = dequeued->cancel_reason();
      Emit(*dequeued, std::move(error));
      return dequeued;
    }
  }
  return absl::NotFoundError(
      absl::StrCat("job_id: no queued or running job '", Sanitized(job_id, kQuotedValueBytes),
                   "' on this host"));
}

void Scheduler::Emit(Job& job, JobEvent event) {
  job.Apply(event, UnixMillis());
  for (JobObserver* observer : observers_) observer->OnJobEvent(job, event);
  job.events().Push(std::move(event));
}

JobEvent AcceptedEvent(const SubmittedJob& submitted) {
  JobEvent event;
  event.kind = JobEvent::Kind::kAccepted;
  event.queue_position = submitted.queue_position;
  event.points_total = static_cast<int>(submitted.job->plan().points.size());
  event.settings = submitted.job->settings();
  event.sizes = submitted.job->plan().sizes;
  return event;
}

absl::StatusOr<DeviceCeilings> Scheduler::ceilings(int slot) const {
  std::lock_guard<std::mutex> lock(slots_[slot]->mu);
  return slots_[slot]->ceilings;
}

absl::StatusOr<DeviceCeilings> Scheduler::MeasureCeilings(int slot_index, bool remeasure,
                                                          std::chrono::milliseconds timeout) {
  Slot& slot = *slots_[slot_index];
  std::unique_lock<std::mutex> lock(slot.mu);
  if (slot.ceilings_attempted && !remeasure) return slot.ceilings;
  if (shutting_down_.load()) return absl::UnavailableError("flopd is shutting down");
  const int64_t generation = slot.ceilings_generation;
  if (!slot.ceilings_requested) slot.ceilings_after = slot.jobs_accepted;
  slot.ceilings_requested = true;
  slot.cv.notify_all();
  if (!slot.ceilings_cv.wait_for(lock, timeout, [&] {
        return slot.ceilings_generation > generation || shutting_down_.load();
      })) {
    return absl::DeadlineExceededError(absl::StrCat(
        "ceilings: ", slot.device->Describe().id,
        " is busy with a job; they will be measured when it is free"));
  }
  if (slot.ceilings_generation == generation) {
    return absl::UnavailableError("flopd is shutting down");
  }
  return slot.ceilings;
}

std::string Scheduler::ceilings_note(int slot) const {
  std::lock_guard<std::mutex> lock(slots_[slot]->mu);
  return slots_[slot]->ceilings_note;
}

void Scheduler::MeasureCeilingsNow(Slot* slot) {
  absl::StatusOr<DeviceCeilings> measured = slot->device->MeasureCeilings(shutting_down_);
  {
    std::lock_guard<std::mutex> lock(slot->mu);
    // Good ceilings are replaced only by plausible ones (and never by an
    // error): every user's roofline rests on them.
    absl::Status plausible = absl::OkStatus();
    if (slot->ceilings.ok()) {
      plausible = measured.ok() ? CheckPlausibleRemeasurement(*slot->ceilings, *measured)
                                : absl::FailedPreconditionError(absl::StrCat(
                                      "re-measurement failed (", measured.status().ToString(),
                                      "); the previous ceilings are kept"));
    }
    slot->ceilings_note = std::string(plausible.message());
    if (plausible.ok()) {
      slot->ceilings = std::move(measured);
    } else {
      LogLine(absl::StrCat(slot->device->Describe().id, ": ceilings ", plausible.message()));
    }
    slot->ceilings_attempted = true;
    ++slot->ceilings_generation;
  }
  slot->ceilings_cv.notify_all();
}

void Scheduler::WorkerLoop(Slot* slot) {
  while (true) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(slot->mu);
      slot->cv.wait(lock, [&] {
        return shutting_down_.load() || !slot->queue.empty() || slot->ceilings_requested;
      });
      if (slot->ceilings_requested && !shutting_down_.load() &&
          slot->jobs_left_queue >= slot->ceilings_after) {
        slot->ceilings_requested = false;
        lock.unlock();
        MeasureCeilingsNow(slot);
        continue;
      }
      if (slot->queue.empty()) {  // shutting down with nothing left
        slot->ceilings_cv.notify_all();
        return;
      }
      job = slot->queue.front();
      slot->queue.pop_front();
      ++slot->jobs_left_queue;
      slot->running = job;
    }
    RunJob(slot, *job);
    {
      std::lock_guard<std::mutex> lock(slot->mu);
      slot->running.reset();
    }
    ReleaseFreedMemory();  // the job's buffers are freed by now
  }
}

void Scheduler::RunJob(Slot* slot, Job& job) {
  const Clock::time_point start = Clock::now();
  JobEvent event;
  int measured = 0;
  int failed_verification = 0;
  auto end_with_error = [&](absl::Status status) {
    JobEvent error;
    error.kind = JobEvent::Kind::kError;
    error.error = std::move(status);
    error.points_measured = measured;
    Emit(job, std::move(error));
  };
  if (job.cancelled()) return end_with_error(job.cancel_reason());

  // First job on the device: measure its ceilings before the first point.
  bool attempted;
  {
    std::lock_guard<std::mutex> lock(slot->mu);
    attempted = slot->ceilings_attempted;
  }
  if (!attempted) {
    JobEvent status;
    status.kind = JobEvent::Kind::kStatus;
    status.status_phase = "measuring_ceilings";
    status.status_message = absl::StrCat(
        "measuring ", slot->device->Describe().id,
        "'s peak FLOP/s and memory bandwidth first (once per flopd start; the roofline needs them)");
    Emit(job, std::move(status));
    MeasureCeilingsNow(slot);
  }
  if (job.cancelled()) return end_with_error(job.cancel_reason());
  const absl::StatusOr<DeviceCeilings> ceilings = this->ceilings(job.device_slot());

  event.kind = JobEvent::Kind::kStarted;
  event.started_unix_ms = UnixMillis();
  Emit(job, std::move(event));

  for (const PointSpec& point : job.plan().points) {
    if (job.cancelled()) return end_with_error(job.cancel_reason());
    absl::StatusOr<PointOutcome> outcome =
        MeasurePoint(*slot->device, point, job.settings(), ceilings.ok() ? &*ceilings : nullptr,
                     job.cancel_flag());
    if (!outcome.ok()) {
      if (job.cancelled()) return end_with_error(job.cancel_reason());
      return end_with_error(absl::Status(
          outcome.status().code(), absl::StrCat(point.Label(), ": ", outcome.status().message())));
    }
    ++measured;
    if (!outcome->verification.passed) ++failed_verification;
    JobEvent result;
    result.kind = JobEvent::Kind::kResult;
    result.result = *std::move(outcome);
    Emit(job, std::move(result));
  }
  JobEvent finished;
  finished.kind = JobEvent::Kind::kFinished;
  finished.points_measured = measured;
  finished.points_failed_verification = failed_verification;
  finished.wall_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  Emit(job, std::move(finished));
}

}  // namespace flopd
