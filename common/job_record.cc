#include "common/job_record.h"

#include "absl/strings/str_cat.h"
#include "common/sanitize.h"

namespace flopd {
namespace {

constexpr char kBase32[] = "0123456789abcdefghjkmnpqrstvwxyz";  // Crockford, lower case
constexpr int kTimeDigits = 10;                                 // 50 bits of milliseconds
constexpr int kRandomDigits = 6;                                // 30 random bits
constexpr size_t kMaxRunIdLength = 128;

bool IsBase32Digit(char c) {
  for (const char* d = kBase32; *d; ++d) {
    if (*d == c) return true;
  }
  return false;
}

}  // namespace

absl::string_view JobStateName(JobState state) {
  switch (state) {
    case JobState::kQueued:
      return "queued";
    case JobState::kRunning:
      return "running";
    case JobState::kFinished:
      return "finished";
    case JobState::kFailed:
      return "failed";
    case JobState::kCancelled:
      return "cancelled";
    case JobState::kInterrupted:
      return "interrupted";
  }
  return "failed";
}

std::string AllowedJobStates() {
  return "queued, running, finished, failed, cancelled, interrupted";
}

absl::StatusOr<JobState> ParseJobState(absl::string_view name, absl::string_view field) {
  for (JobState state : {JobState::kQueued, JobState::kRunning, JobState::kFinished,
                         JobState::kFailed, JobState::kCancelled, JobState::kInterrupted}) {
    if (JobStateName(state) == name) return state;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": unknown state '", Sanitized(name, kQuotedValueBytes),
                   "'; allowed: ", AllowedJobStates()));
}

bool IsTerminal(JobState state) {
  return state != JobState::kQueued && state != JobState::kRunning;
}

JobState EndStateOf(const absl::Status& status) {
  if (status.ok()) return JobState::kFinished;
  if (absl::IsCancelled(status)) return JobState::kCancelled;
  if (absl::IsUnavailable(status)) return JobState::kInterrupted;
  return JobState::kFailed;
}

std::string NewSortableId(char prefix, int64_t unix_ms, uint64_t random_bits) {
  std::string id = {prefix, '-'};
  for (int i = kTimeDigits - 1; i >= 0; --i) {
    id.push_back(kBase32[(static_cast<uint64_t>(unix_ms) >> (5 * i)) & 31]);
  }
  id.push_back('-');
  for (int i = kRandomDigits - 1; i >= 0; --i) id.push_back(kBase32[(random_bits >> (5 * i)) & 31]);
  return id;
}

bool IsSortableId(absl::string_view id, char prefix) {
  if (id.size() != 2 + kTimeDigits + 1 + kRandomDigits) return false;
  if (id[0] != prefix || id[1] != '-' || id[2 + kTimeDigits] != '-') return false;
  for (size_t i = 2; i < id.size(); ++i) {
    if (i == 2 + kTimeDigits) continue;
    if (!IsBase32Digit(id[i])) return false;
  }
  return true;
}

absl::Status CheckRunId(absl::string_view run_id, absl::string_view field) {
  if (run_id.size() > kMaxRunIdLength) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", run_id.size(), " characters; allowed at most ", kMaxRunIdLength));
  }
  for (size_t i = 0; i < run_id.size(); ++i) {
    if (run_id[i] <= ' ' || run_id[i] > '~') {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": character ", i + 1,
                       " is a space or not printable; allowed: printable ASCII "
                       "without spaces"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckClientLabel(absl::string_view label) {
  if (label.size() <= kMaxClientLabelBytes) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "client: '", Sanitized(label, kQuotedValueBytes), "' is ", label.size(),
      " bytes; allowed at most ", kMaxClientLabelBytes, " (a label such as 'flopctl pid 123')"));
}

}  // namespace flopd
