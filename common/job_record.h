// A job as flopd remembers it: what was asked, by whom, on which device, when
// it was queued, started and ended, how far it got and how it ended. The
// scheduler keeps one per live job (server/job.h), the store one per job ever
// accepted (server/store/), and the wire layer turns it into a
// flopd.v1.JobInfo. Also the ids: job ids are made here (time-sortable and
// globally unique, never a per-process counter), and flopctl's run ids the
// same way. Plain data and pure functions.
#ifndef FLOPD_COMMON_JOB_RECORD_H_
#define FLOPD_COMMON_JOB_RECORD_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/job.h"

namespace flopd {

// queued -> running -> finished | failed | cancelled | interrupted; a queued
// job may also end cancelled or interrupted without running. "interrupted":
// flopd stopped (SIGTERM, or found at the next start after kill -9 or a
// crash) before the job ended.
enum class JobState { kQueued, kRunning, kFinished, kFailed, kCancelled, kInterrupted };

// "queued" | "running" | "finished" | "failed" | "cancelled" | "interrupted".
absl::string_view JobStateName(JobState state);
// The inverse; INVALID_ARGUMENT naming `field` and the allowed names.
absl::StatusOr<JobState> ParseJobState(absl::string_view name, absl::string_view field = "state");
// "queued, running, finished, failed, cancelled, interrupted"
std::string AllowedJobStates();
bool IsTerminal(JobState state);
// The state a job ends in with `status`: OK finished, CANCELLED cancelled,
// UNAVAILABLE interrupted (flopd shutting down, a device lost), anything
// else failed.
JobState EndStateOf(const absl::Status& status);

struct JobRecord {
  std::string id;            // see NewJobId
  JobSubmission submission;  // as received: run_id and client label included
  std::string peer;          // the client's address as gRPC saw it
  std::string owner;         // who ran it (server/auth: "token:NAME", "cert:CN", "peer:ADDR")
  std::string device;        // the device id it runs on ("cpu:0")
  JobState state = JobState::kQueued;
  int points_total = 0;
  int points_measured = 0;
  int points_failed_verification = 0;
  int64_t created_unix_ms = 0;  // accepted
  int64_t started_unix_ms = 0;  // 0 until started
  int64_t ended_unix_ms = 0;    // 0 until ended
  absl::Status status;          // the final status once ended (OK when finished)
};

// "j-01hv3k7q2m-x7k2pq": a prefix letter, the Unix time in milliseconds as
// 10 Crockford base-32 digits (so ids sort by creation time as strings), and
// 30 random bits as 6 more. REQUIRES: unix_ms >= 0.
std::string NewSortableId(char prefix, int64_t unix_ms, uint64_t random_bits);
inline std::string NewJobId(int64_t unix_ms, uint64_t random_bits) {
  return NewSortableId('j', unix_ms, random_bits);
}
inline std::string NewRunId(int64_t unix_ms, uint64_t random_bits) {
  return NewSortableId('r', unix_ms, random_bits);
}
// Whether `id` has NewSortableId's shape with `prefix`.
bool IsSortableId(absl::string_view id, char prefix);
inline bool IsJobId(absl::string_view id) { return IsSortableId(id, 'j'); }

// A run id is a client-chosen label (flopctl makes one per `run` with
// NewRunId): 1..128 printable ASCII characters without spaces. OK for an
// empty one (no run). INVALID_ARGUMENT naming `field` otherwise.
absl::Status CheckRunId(absl::string_view run_id, absl::string_view field = "run_id");

// A client label (JobSubmission::client: free-form, logged escaped) is at
// most kMaxClientLabelBytes bytes; INVALID_ARGUMENT "client: ..." quoting a
// bounded prefix otherwise.
inline constexpr size_t kMaxClientLabelBytes = 256;
absl::Status CheckClientLabel(absl::string_view label);

}  // namespace flopd

#endif  // FLOPD_COMMON_JOB_RECORD_H_
