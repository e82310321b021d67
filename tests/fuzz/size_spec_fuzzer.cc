// The size-spec parser (common/size_spec.h) on arbitrary bytes: whatever the
// spec, it returns a list within its documented bounds or an INVALID_ARGUMENT
// starting with "sizes:", and never allocates more than kMaxSizesPerSpec
// sizes (a huge range is refused, not expanded).
#include <cstddef>
#include <cstdint>
#include <unordered_set>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "common/size_spec.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view spec(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<std::vector<int64_t>> sizes = flopd::ParseSizeSpec(spec);
  if (!sizes.ok()) {
    FUZZ_CHECK(sizes.status().code() == absl::StatusCode::kInvalidArgument);
    FUZZ_CHECK(absl::StartsWith(sizes.status().message(), "sizes: "));
    return 0;
  }
  FUZZ_CHECK(!sizes->empty());
  FUZZ_CHECK(static_cast<int64_t>(sizes->size()) <= flopd::kMaxSizesPerSpec);
  std::unordered_set<int64_t> seen;
  for (int64_t n : *sizes) {
    FUZZ_CHECK(n >= 1 && n <= flopd::kMaxN);
    FUZZ_CHECK(seen.insert(n).second);  // repeats are dropped
  }
  return 0;
}
