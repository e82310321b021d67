// What a reader asks of a flopd's history (flopd.v1 ListResults, ListJobs,
// WatchResults): filters over results and jobs, and paging. The service
// checks a query with the functions below before running it, and flopctl
// runs the same checks before dialing, so both say the same words; error
// messages name the proto field ("filter.ops: unknown op 'x'; allowed: ...").
//
// Plain data and pure functions.
#ifndef FLOPD_COMMON_HISTORY_QUERY_H_
#define FLOPD_COMMON_HISTORY_QUERY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace flopd {

// Page sizes of every list call: 0 asks for the default; larger than the
// maximum is clamped to it (AIP-158); negative is INVALID_ARGUMENT.
inline constexpr int kDefaultPageSize = 100;
inline constexpr int kMaxPageSize = 1000;
// At most this many values in one repeated filter field.
inline constexpr int kMaxFilterValues = 100;

// The identity of a result that filters look at, and what the store
// indexes.
struct ResultIndex {
  std::string job_id;
  std::string run_id;
  std::string device;  // "cpu:0"
  std::string op;
  std::string impl;
  std::string params;  // PointSpec::ParamsLabel: "axis=1", "" for an op without params
  std::string dtype;   // "f32"
  int64_t n = 0;
  int64_t measured_unix_ms = 0;
  std::string timing;    // "hot" | "cold" | "graph"
  bool verified = true;  // verification passed
};

// Every non-empty field must match (a list: any of its values); empty
// fields match everything. Bounds: min_n <= n <= max_n; since_unix_ms <=
// measured_unix_ms < until_unix_ms; 0 = unbounded.
struct ResultFilter {
  std::vector<std::string> job_ids;
  std::vector<std::string> run_ids;
  std::vector<std::string> devices;
  std::vector<std::string> ops;
  std::vector<std::string> impls;
  std::vector<std::string> params;  // labels as results show them: "axis=1"
  std::vector<std::string> dtypes;
  int64_t min_n = 0;
  int64_t max_n = 0;
  int64_t since_unix_ms = 0;
  int64_t until_unix_ms = 0;

  bool Matches(const ResultIndex& result) const;
  // A text that is equal for equal filters (what page tokens are bound to).
  std::string Canonical() const;
};

// Checks `filter` and normalizes it in place (dtype spellings to "f32",
// params labels to their canonical order). INVALID_ARGUMENT naming the field
// under `prefix` ("filter.ops: unknown op 'conv'; allowed: matvec, outer")
// for: an unknown op, impl, dtype or param (or a param value its op does not
// allow), a device that is not BACKEND:INDEX, a job id that is not one, a
// run id CheckRunId refuses, a negative bound, min_n above max_n, since not
// before until, or more than kMaxFilterValues values in one field.
absl::Status NormalizeResultFilter(ResultFilter* filter, const std::string& prefix = "filter.");

// Jobs: by run id, device and state, and by when they were created
// (since_unix_ms <= created < until_unix_ms; 0 = unbounded).
struct JobFilter {
  std::vector<std::string> run_ids;
  std::vector<std::string> devices;
  std::vector<std::string> states;  // JobStateName values
  int64_t since_unix_ms = 0;
  int64_t until_unix_ms = 0;

  std::string Canonical() const;
};

// As NormalizeResultFilter, for jobs (unknown states are refused).
absl::Status NormalizeJobFilter(JobFilter* filter, const std::string& prefix = "filter.");

// Paging of a list call. The token is opaque to clients: the next_page_token
// of the previous page of the same query (same filter and order).
struct PageRequest {
  int page_size = 0;
  std::string page_token;
  bool newest_first = false;
};

// The number of items to serve for `requested` (see kMaxPageSize);
// INVALID_ARGUMENT "page_size: ..." when negative.
absl::StatusOr<int> EffectivePageSize(int requested);

// Whether `device` looks like a device id: BACKEND:INDEX ("cpu:0", "cuda:3").
bool IsDeviceId(const std::string& device);

}  // namespace flopd

#endif  // FLOPD_COMMON_HISTORY_QUERY_H_
