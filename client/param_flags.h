// One flopctl flag per param of the op catalog (--axis, --k, --B, ...), for
// run's job and for the result filters of history and watch: the catalog
// declares the params, so a new op's params need no client code.
#ifndef FLOPD_CLIENT_PARAM_FLAGS_H_
#define FLOPD_CLIENT_PARAM_FLAGS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/command_line.h"

namespace flopd {

// A flag "NAME" with values "V[,V...]" for every distinct param name of the
// catalog, in catalog order; the help names the ops and the allowed values.
std::vector<FlagSpec> CatalogParamFlags();

// The values of each catalog-param flag given, in the order given, as run's
// JobRequest::params wants them. INVALID_ARGUMENT "k: 'x' is not allowed;
// allowed: 1, 2, ..." for a value that is not an integer (PlanJob checks
// integers against the catalog).
absl::StatusOr<std::vector<std::pair<std::string, std::vector<int64_t>>>> ParseCatalogParams(
    const ParsedFlags& flags);

}  // namespace flopd

#endif  // FLOPD_CLIENT_PARAM_FLAGS_H_
