// Size specs: which N a job sweeps.
//
//   "2000"                  one size
//   "1000,2000,4000"        a list
//   "1000:20000:500"        start:stop:step, stop EXCLUSIVE like Python's
//                           range(): 1000, 1500, ..., 19500 (38 sizes)
//   "1000:20000:500,20000"  mixed: ranges and single sizes, comma separated
//
// The expansion keeps the order written and drops repeated sizes.
#ifndef FLOPD_COMMON_SIZE_SPEC_H_
#define FLOPD_COMMON_SIZE_SPEC_H_

#include <cstdint>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"

namespace flopd {

// Largest N a spec may name; anything larger overflows the byte models long
// before it could fit in any memory.
inline constexpr int64_t kMaxN = 100'000'000;
// Most sizes one spec may expand to.
inline constexpr int64_t kMaxSizesPerSpec = 10'000;

// One line for --help texts.
inline constexpr char kSizeSpecHelp[] =
    "N, a comma list, or start:stop:step with stop exclusive (as Python's range: "
    "1000:20000:500 is the 38 sizes 1000, 1500, ..., 19500); mixable: 1000:4000:1000,8000";

// On failure: INVALID_ARGUMENT starting with "sizes:" that quotes the bad part
// and says what is allowed (N >= 1, step >= 1, start < stop, ...).
absl::StatusOr<std::vector<int64_t>> ParseSizeSpec(absl::string_view spec);

}  // namespace flopd

#endif  // FLOPD_COMMON_SIZE_SPEC_H_
