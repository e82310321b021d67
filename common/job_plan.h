// Turns a job request (ops x impls x params x dtypes x sizes) into the list
// of points to measure, rejecting anything the catalog does not allow with an
// INVALID_ARGUMENT that names the field and the allowed values. The daemon
// runs this against its device's backend; flopctl runs it too, before
// dialing, so both say the same words.
#ifndef FLOPD_COMMON_JOB_PLAN_H_
#define FLOPD_COMMON_JOB_PLAN_H_

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/point.h"

namespace flopd {

struct JobRequest {
  std::vector<std::string> ops;
  std::vector<std::string> impls;  // empty = all of each op's impls on the backend
  std::vector<std::pair<std::string, std::vector<int64_t>>> params;  // unset = all allowed values
  std::vector<std::string> dtypes;  // empty = {"f32"}
  std::string sizes;                // empty = the device's default spec
};

struct JobPlan {
  std::vector<int64_t> sizes;
  // Ordered N-major (then dtype, op, impl, params), so that every op of one N
  // is measured before the next N starts, as the seed's loop does.
  std::vector<PointSpec> points;
};

// `backend` selects the impls ("cpu", "cuda"); an empty backend accepts an
// impl that any backend has (flopctl's local check, before it knows the
// host's devices). When request.sizes is empty each op runs its own default
// sizes on `backend` (OpSpec::default_sizes), or `default_sizes` (the
// device's) when it has none.
absl::StatusOr<JobPlan> PlanJob(const JobRequest& request, absl::string_view backend,
                                absl::string_view default_sizes);

}  // namespace flopd

#endif  // FLOPD_COMMON_JOB_PLAN_H_
