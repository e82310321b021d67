#include "common/job_plan.h"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/op_catalog.h"
#include "gtest/gtest.h"

namespace flopd {
namespace {

using Labels = std::vector<std::string>;

JobPlan Plan(const JobRequest& request, const std::string& backend,
             const std::string& default_sizes = "1000") {
  absl::StatusOr<JobPlan> plan = PlanJob(request, backend, default_sizes);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return plan.ok() ? *plan : JobPlan{};
}

Labels LabelsOf(const JobPlan& plan) {
  Labels labels;
  for (const PointSpec& point : plan.points) labels.push_back(point.Label());
  return labels;
}

// The message of a request that must be rejected with INVALID_ARGUMENT.
std::string ErrorOf(const JobRequest& request, const std::string& backend,
                    const std::string& default_sizes = "1000") {
  absl::StatusOr<JobPlan> plan = PlanJob(request, backend, default_sizes);
  if (plan.ok()) {
    ADD_FAILURE() << "accepted; expected INVALID_ARGUMENT";
    return "";
  }
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument) << plan.status();
  return std::string(plan.status().message());
}

bool StartsWith(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0;
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(PlanJobTest, AllImplsAndAxesOnCpuInNMajorOrder) {
  JobRequest request;
  request.ops = {"matvec", "outer"};
  request.sizes = "1000,2000";
  const JobPlan plan = Plan(request, "cpu");
  EXPECT_EQ(plan.sizes, (std::vector<int64_t>{1000, 2000}));
  // Per N: 2 matvec impls + 2 outer impls x 2 axes.
  EXPECT_EQ(LabelsOf(plan), (Labels{
                                "matvec/gemv f32 N=1000",
                                "matvec/gemm f32 N=1000",
                                "outer/library axis=0 f32 N=1000",
                                "outer/library axis=1 f32 N=1000",
                                "outer/fused axis=0 f32 N=1000",
                                "outer/fused axis=1 f32 N=1000",
                                "matvec/gemv f32 N=2000",
                                "matvec/gemm f32 N=2000",
                                "outer/library axis=0 f32 N=2000",
                                "outer/library axis=1 f32 N=2000",
                                "outer/fused axis=0 f32 N=2000",
                                "outer/fused axis=1 f32 N=2000",
                            }));
  for (const PointSpec& point : plan.points) {
    if (point.op == "matvec") {
      EXPECT_TRUE(point.params.empty()) << point.Label();
    } else {
      EXPECT_EQ(point.params.size(), 1u) << point.Label();
    }
  }
}

TEST(PlanJobTest, EveryPlannedPointIsResolvedToItsKernel) {
  JobRequest request;
  request.ops = {"matvec", "outer"};
  request.sizes = "10";
  for (const char* backend : {"cpu", "cuda"}) {
    const JobPlan plan = Plan(request, backend);
    ASSERT_FALSE(plan.points.empty());
    for (const PointSpec& point : plan.points) {
      ASSERT_NE(point.kernel, Kernel::kNone) << point.Label();
      EXPECT_EQ(KernelName(point.kernel), point.op + "/" + point.impl) << backend;
    }
  }
}

TEST(PlanJobTest, SeedSweepIs38SizesTimesSixPoints) {
  JobRequest request;
  request.ops = {"matvec", "outer"};
  request.sizes = "1000:20000:500";
  const JobPlan plan = Plan(request, "cpu");
  ASSERT_EQ(plan.sizes.size(), 38u);
  ASSERT_EQ(plan.points.size(), 38u * 6);
  EXPECT_EQ(plan.points.front().n, 1000);
  EXPECT_EQ(plan.points.back().n, 19500);
  for (size_t i = 0; i < plan.points.size(); ++i) {
    EXPECT_EQ(plan.points[i].n, plan.sizes[i / 6]) << i;
  }
}

TEST(PlanJobTest, DtypesInRequestOrderWithinEachN) {
  JobRequest request;
  request.ops = {"matvec"};
  request.dtypes = {"f64", "f32", "float64"};  // a repeat is dropped
  request.sizes = "10,20";
  EXPECT_EQ(LabelsOf(Plan(request, "cpu")), (Labels{
                                                "matvec/gemv f64 N=10",
                                                "matvec/gemm f64 N=10",
                                                "matvec/gemv f32 N=10",
                                                "matvec/gemm f32 N=10",
                                                "matvec/gemv f64 N=20",
                                                "matvec/gemm f64 N=20",
                                                "matvec/gemv f32 N=20",
                                                "matvec/gemm f32 N=20",
                                            }));
}

TEST(PlanJobTest, RepeatedOpsAreDropped) {
  JobRequest request;
  request.ops = {"matvec", "matvec"};
  EXPECT_EQ(Plan(request, "cpu").points.size(), 2u);
}

TEST(PlanJobTest, CudaBackendHasThreeMatvecImpls) {
  JobRequest request;
  request.ops = {"matvec"};
  request.sizes = "4096";
  EXPECT_EQ(LabelsOf(Plan(request, "cuda")), (Labels{
                                                 "matvec/gemm f32 N=4096",
                                                 "matvec/gemv f32 N=4096",
                                                 "matvec/custom f32 N=4096",
                                             }));
}

TEST(PlanJobTest, ImplFilter) {
  JobRequest request;
  request.ops = {"matvec", "outer"};
  request.impls = {"fused", "gemv"};
  EXPECT_EQ(LabelsOf(Plan(request, "cpu")), (Labels{
                                                "matvec/gemv f32 N=1000",
                                                "outer/fused axis=0 f32 N=1000",
                                                "outer/fused axis=1 f32 N=1000",
                                            }));
}

TEST(PlanJobTest, ParamFilter) {
  JobRequest request;
  request.ops = {"matvec", "outer"};
  request.params = {{"axis", {1}}};
  EXPECT_EQ(LabelsOf(Plan(request, "cpu")), (Labels{
                                                "matvec/gemv f32 N=1000",
                                                "matvec/gemm f32 N=1000",
                                                "outer/library axis=1 f32 N=1000",
                                                "outer/fused axis=1 f32 N=1000",
                                            }));
  for (const PointSpec& point : Plan(request, "cpu").points) {
    if (point.op == "outer") {
      EXPECT_EQ(point.Param("axis", -1), 1);
    }
  }
}

TEST(PlanJobTest, ParamValuesInRequestOrder) {
  JobRequest request;
  request.ops = {"outer"};
  request.impls = {"fused"};
  request.params = {{"axis", {1, 0}}};
  EXPECT_EQ(LabelsOf(Plan(request, "cpu")), (Labels{
                                                "outer/fused axis=1 f32 N=1000",
                                                "outer/fused axis=0 f32 N=1000",
                                            }));
}

TEST(PlanJobTest, EmptyBackendAcceptsAnImplOfAnyBackend) {
  JobRequest request;
  request.ops = {"matvec"};
  request.impls = {"custom"};
  EXPECT_EQ(LabelsOf(Plan(request, "")), (Labels{"matvec/custom f32 N=1000"}));
  // Without a filter: every backend's impls, each once, in catalog order.
  request.impls.clear();
  EXPECT_EQ(LabelsOf(Plan(request, "")), (Labels{
                                             "matvec/gemv f32 N=1000",
                                             "matvec/gemm f32 N=1000",
                                             "matvec/custom f32 N=1000",
                                         }));
}

TEST(PlanJobTest, DefaultSizesWhenTheRequestHasNone) {
  JobRequest request;
  request.ops = {"outer"};
  request.impls = {"fused"};
  request.params = {{"axis", {0}}};
  EXPECT_EQ(Plan(request, "cpu", "500:1501:500").sizes, (std::vector<int64_t>{500, 1000, 1500}));
  request.sizes = "64";
  EXPECT_EQ(Plan(request, "cpu", "500:1501:500").sizes, (std::vector<int64_t>{64}));
  // The default is not even parsed when the request names sizes.
  EXPECT_EQ(Plan(request, "cpu", "").sizes, (std::vector<int64_t>{64}));
}

TEST(PlanJobTest, RejectsEmptyOps) {
  const std::string message = ErrorOf(JobRequest{}, "cpu");
  EXPECT_TRUE(StartsWith(message, "ops:")) << message;
  EXPECT_TRUE(Contains(message, "matvec, outer")) << message;
}

TEST(PlanJobTest, RejectsUnknownOp) {
  JobRequest request;
  request.ops = {"matvec", "conv"};
  EXPECT_EQ(ErrorOf(request, "cpu"), "op: unknown op 'conv'; allowed: matvec, outer, chain, batched_mv, attention");
}

TEST(PlanJobTest, RejectsUnknownImplListingTheImplsPerOp) {
  JobRequest request;
  request.ops = {"matvec", "outer"};
  request.impls = {"gemv", "warp"};
  const std::string message = ErrorOf(request, "cpu");
  EXPECT_TRUE(StartsWith(message, "impl:")) << message;
  EXPECT_TRUE(Contains(message, "'warp'")) << message;
  EXPECT_TRUE(Contains(message, "backend cpu")) << message;
  EXPECT_TRUE(Contains(message, "matvec: gemv, gemm")) << message;
  EXPECT_TRUE(Contains(message, "outer: library, fused")) << message;
}

TEST(PlanJobTest, RejectsAnImplOfAnotherBackend) {
  JobRequest request;
  request.ops = {"matvec"};
  request.impls = {"custom"};
  const std::string message = ErrorOf(request, "cpu");
  EXPECT_TRUE(StartsWith(message, "impl:")) << message;
  EXPECT_TRUE(Contains(message, "'custom'")) << message;
  EXPECT_TRUE(Contains(message, "gemv, gemm")) << message;
  // An impl of another op is no impl of this one.
  request.impls = {"fused"};
  EXPECT_TRUE(StartsWith(ErrorOf(request, "cpu"), "impl:"));
}

TEST(PlanJobTest, RejectsAnOpWithNoneOfTheRequestedImpls) {
  JobRequest request;
  request.ops = {"matvec", "outer"};
  request.impls = {"gemv"};
  const std::string message = ErrorOf(request, "cpu");
  EXPECT_TRUE(StartsWith(message, "impl:")) << message;
  EXPECT_TRUE(Contains(message, "'outer'")) << message;
  EXPECT_TRUE(Contains(message, "library, fused")) << message;
  // On any backend, "custom" exists, but only for matvec.
  request.impls = {"custom"};
  EXPECT_TRUE(Contains(ErrorOf(request, ""), "'outer'"));
}

TEST(PlanJobTest, RejectsUnknownParam) {
  JobRequest request;
  request.ops = {"matvec", "outer"};
  request.params = {{"stride", {1}}};
  std::string message = ErrorOf(request, "cpu");
  EXPECT_TRUE(StartsWith(message, "params:")) << message;
  EXPECT_TRUE(Contains(message, "'stride'")) << message;
  EXPECT_TRUE(Contains(message, "axis (outer)")) << message;
  // matvec has no params at all, so "axis" is unknown to it.
  request.ops = {"matvec"};
  request.params = {{"axis", {0}}};
  message = ErrorOf(request, "cpu");
  EXPECT_TRUE(StartsWith(message, "params:")) << message;
  EXPECT_TRUE(Contains(message, "allowed: none")) << message;
}

TEST(PlanJobTest, RejectsParamValuesOutsideTheAllowedOnes) {
  JobRequest request;
  request.ops = {"outer"};
  request.params = {{"axis", {0, 2}}};
  EXPECT_EQ(ErrorOf(request, "cpu"), "axis: 2 is not allowed; allowed: 0, 1");
  request.params = {{"axis", {}}};
  EXPECT_EQ(ErrorOf(request, "cpu"), "axis: no values given; allowed: 0, 1");
  request.params = {{"axis", {0}}, {"axis", {1}}};
  EXPECT_EQ(ErrorOf(request, "cpu"), "params: 'axis' is given twice");
}

TEST(PlanJobTest, RejectsUnknownDtype) {
  JobRequest request;
  request.ops = {"matvec"};
  request.dtypes = {"f32", "f16"};
  EXPECT_EQ(ErrorOf(request, "cpu"), "dtype: unknown dtype 'f16'; allowed: f32, f64");
}

TEST(PlanJobTest, RejectsBadSizes) {
  JobRequest request;
  request.ops = {"matvec"};
  request.sizes = "10:5:1";
  EXPECT_TRUE(StartsWith(ErrorOf(request, "cpu"), "sizes:"));
  request.sizes = "";
  EXPECT_TRUE(StartsWith(ErrorOf(request, "cpu", "abc"), "sizes:"));
  EXPECT_TRUE(StartsWith(ErrorOf(request, "cpu", ""), "sizes:"));
}

// Found by tests/fuzz/run_request_fuzzer: a param value repeated many times
// was walked again for every point (sizes x impls x values), so one 1 MB
// RunRequest held a server thread for about a minute. The repeats are
// dropped once; the plan is the one of the value given once.
TEST(PlanJobTest, AParamValueRepeatedAMillionTimesIsPlannedOnce) {
  JobRequest once;
  once.ops = {"outer"};
  once.params = {{"axis", {0}}};
  once.sizes = "1:10001:1";
  JobRequest repeated = once;
  repeated.params = {{"axis", std::vector<int64_t>(1'000'000, 0)}};
  const auto start = std::chrono::steady_clock::now();
  const JobPlan plan = Plan(repeated, "cpu");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(plan.points.size(), 20000u);  // 10000 sizes x outer/{library,fused} x axis=0
  EXPECT_EQ(LabelsOf(plan), LabelsOf(Plan(once, "cpu")));
  // About 0.05 s (0.5 s under ASan); it was about 50 s on the build machine.
  EXPECT_LT(seconds, 5.0);
}

}  // namespace
}  // namespace flopd

namespace flopd {
namespace {

// Without --sizes each op runs its own default sizes on the backend (the
// device's default for an op without any), N-major over their union.
TEST(PlanJobTest, EachOpRunsItsOwnDefaultSizesWithoutSizes) {
  JobRequest request;
  request.ops = {"chain", "matvec"};
  request.impls = {"fused", "gemv"};
  request.params = {{"k", {4}}};
  const JobPlan plan = Plan(request, "cpu", "1000,70000");
  EXPECT_EQ(plan.sizes, (std::vector<int64_t>{1000, 65536, 70000, 1048576, 8388608}));
  EXPECT_EQ(LabelsOf(plan), (Labels{
                                "matvec/gemv f32 N=1000",
                                "chain/fused k=4 f32 N=65536",
                                "matvec/gemv f32 N=70000",
                                "chain/fused k=4 f32 N=1048576",
                                "chain/fused k=4 f32 N=8388608",
                            }));
  // Given sizes apply to every op.
  request.sizes = "64,32";
  EXPECT_EQ(LabelsOf(Plan(request, "cuda")), (Labels{
                                                 "chain/fused k=4 f32 N=64",
                                                 "matvec/gemv f32 N=64",
                                                 "chain/fused k=4 f32 N=32",
                                                 "matvec/gemv f32 N=32",
                                             }));
}

// The new families' params are checked against the catalog like axis.
TEST(PlanJobTest, ChainAndBatchedParamsAreCheckedAgainstTheCatalog) {
  JobRequest request;
  request.ops = {"chain"};
  request.sizes = "100";
  request.params = {{"k", {3}}};
  EXPECT_EQ(ErrorOf(request, "cpu"), "k: 3 is not allowed; allowed: 1, 2, 4, 8, 16, 32, 64, 128, 256");
  request.ops = {"batched_mv"};
  request.params = {{"B", {128}}};
  EXPECT_EQ(ErrorOf(request, "cuda"), "B: 128 is not allowed; allowed: 1, 2, 4, 8, 16, 32, 64");
  request.params = {{"B", {2, 64}}};
  EXPECT_EQ(LabelsOf(Plan(request, "cuda")),
            (Labels{"batched_mv/loop B=2 f32 N=100", "batched_mv/loop B=64 f32 N=100",
                    "batched_mv/gemm B=2 f32 N=100", "batched_mv/gemm B=64 f32 N=100",
                    "batched_mv/custom B=2 f32 N=100", "batched_mv/custom B=64 f32 N=100"}));
}

}  // namespace
}  // namespace flopd
