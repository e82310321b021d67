#include "server/backend/cpu/openblas_core.h"

#include <stdlib.h>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace flopd {
namespace {

TEST(OpenBlasCore, AFallbackCoreOnAnAvx512CpuIsUpgradedToSkylakeX) {
  // The H200 host's Xeon: Debian's OpenBLAS 0.3.21 did not know it and ran
  // Prescott (SSE3) kernels, 4x slower on matvec/gemv.
  EXPECT_EQ(UpgradedOpenBlasCore("Prescott", VectorIsa::kAvx512), "SkylakeX");
  EXPECT_EQ(UpgradedOpenBlasCore("Haswell", VectorIsa::kAvx512), "SkylakeX");
  EXPECT_EQ(UpgradedOpenBlasCore("Core2", VectorIsa::kAvx2Fma), "Haswell");
  EXPECT_EQ(UpgradedOpenBlasCore("Nehalem", VectorIsa::kAvx), "Sandybridge");
}

TEST(OpenBlasCore, ACoreAsWideAsTheCpuIsKept) {
  EXPECT_EQ(UpgradedOpenBlasCore("SkylakeX", VectorIsa::kAvx512), "");
  EXPECT_EQ(UpgradedOpenBlasCore("COOPERLAKE", VectorIsa::kAvx512), "");
  EXPECT_EQ(UpgradedOpenBlasCore("Haswell", VectorIsa::kAvx2Fma), "");
  EXPECT_EQ(UpgradedOpenBlasCore("Zen", VectorIsa::kAvx2Fma), "");
  EXPECT_EQ(UpgradedOpenBlasCore("Prescott", VectorIsa::kSse), "");
  // A core wider than the CPU (a user's override) is not flopd's to change.
  EXPECT_EQ(UpgradedOpenBlasCore("SkylakeX", VectorIsa::kAvx2Fma), "");
}

TEST(OpenBlasCore, ABadChoiceNamesTheFlagAndTheAllowedValues) {
  unsetenv("FLOPD_OPENBLAS_CORE_CHOICE");
  char* argv[] = {nullptr};
  absl::Status s = ApplyOpenBlasCoreChoice("Pentium4", argv);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "--openblas-coretype")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "auto, library, Sandybridge")) << s;
  // library never restarts.
  EXPECT_TRUE(ApplyOpenBlasCoreChoice("library", argv).ok());
}

TEST(OpenBlasCore, ACoreTheCpuCannotRunIsRefused) {
  if (CpuVectorIsa() == VectorIsa::kAvx512) GTEST_SKIP() << "this CPU has AVX-512";
  unsetenv("FLOPD_OPENBLAS_CORE_CHOICE");
  char* argv[] = {nullptr};
  absl::Status s = ApplyOpenBlasCoreChoice("SkylakeX", argv);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "needs AVX-512")) << s;
}

}  // namespace
}  // namespace flopd
