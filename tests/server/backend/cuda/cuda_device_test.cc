// Tests of the CUDA backend through the Device interface. They need a GPU:
// without one (or in a build without CUDA) each test skips with the reason
// CreateCudaDevices gave, except the factory test, which checks that reason.
// Points are resolved by the op catalog (ResolvePoint), as PlanJob does.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/measure_settings.h"
#include "common/op_catalog.h"
#include "common/point.h"
#include "common/roofline.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/backend/device.h"
#include "server/backend/registry.h"
#include "server/measure_point.h"

namespace flopd {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;

using DeviceList = std::vector<std::unique_ptr<Device>>;

// The process's CUDA devices, created on first use and never at static
// initialization: gtest_discover_tests runs this binary on build machines
// (no GPU, maybe no driver) to list the tests.
const absl::StatusOr<DeviceList>& Devices() {
  static const auto* const devices = new absl::StatusOr<DeviceList>(CreateCudaDevices({}));
  return *devices;
}

class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Devices().ok()) GTEST_SKIP() << "no CUDA devices: " << Devices().status().ToString();
  }
  static Device& device(size_t index) { return *(*Devices())[index]; }
  static size_t device_count() { return Devices()->size(); }
};

// The point, resolved against the op catalog (point.kernel set).
PointSpec MakePoint(const std::string& op, const std::string& impl, int axis, DType dtype,
                    int64_t n) {
  PointSpec point;
  point.op = op;
  point.impl = impl;
  if (op == "outer") point.params["axis"] = axis;
  point.dtype = dtype;
  point.n = n;
  absl::StatusOr<PointSpec> resolved = ResolvePoint(point);
  if (!resolved.ok()) {
    ADD_FAILURE() << "ResolvePoint(" << point.Label() << "): " << resolved.status();
    return point;
  }
  return *resolved;
}

MeasureSettings Settings(TimingMode timing) {
  MeasureSettings settings;
  settings.timing = timing;
  return settings;
}

// Prepare, verify, time, verify again (the timed executions must leave the
// point in a state that still computes the same bits: split counters
// rewound, buffers intact). Returns "" or what went wrong.
std::string RunPoint(Device& device, const PointSpec& point, TimingMode timing) {
  const std::string label =
      absl::StrCat(device.Describe().id, " ", point.Label(), " ", TimingModeName(timing), ": ");
  absl::StatusOr<std::unique_ptr<PreparedPoint>> prepared = device.Prepare(point, Settings(timing));
  if (!prepared.ok()) return label + "Prepare: " + prepared.status().ToString();
  absl::StatusOr<VerificationResult> first = (*prepared)->Verify();
  if (!first.ok()) return label + "Verify: " + first.status().ToString();
  if (!first->passed) return label + "wrong result: " + first->detail;
  for (int64_t iterations : {1, 3, 3, 40}) {
    absl::StatusOr<double> seconds = (*prepared)->TimeBatch(iterations);
    if (!seconds.ok()) return label + "TimeBatch: " + seconds.status().ToString();
    if (!(*seconds > 0)) return absl::StrCat(label, "TimeBatch(", iterations, ") = ", *seconds);
  }
  absl::StatusOr<VerificationResult> second = (*prepared)->Verify();
  if (!second.ok()) return label + "second Verify: " + second.status().ToString();
  if (!second->passed) return label + "wrong result after timing: " + second->detail;
  // Every impl sums in an order fixed by N and the launch shape.
  if (second->max_rel_error != first->max_rel_error) {
    return absl::StrCat(label, "not deterministic: max relative error ", first->max_rel_error,
                        " then ", second->max_rel_error);
  }
  std::vector<std::string> warnings;
  (*prepared)->CollectWarnings(&warnings);
  return "";
}

// ---------------------------------------------------------------------------

TEST(CudaFactoryTest, DevicesOrTheReasonWhyNot) {
  const absl::StatusOr<DeviceList>& devices = Devices();
  if (!devices.ok()) {
    EXPECT_THAT(devices.status().code(),
                AnyOf(absl::StatusCode::kUnimplemented, absl::StatusCode::kFailedPrecondition,
                      absl::StatusCode::kUnavailable));
    EXPECT_FALSE(devices.status().message().empty());
    if (devices.status().code() == absl::StatusCode::kFailedPrecondition) {
      EXPECT_THAT(devices.status().message(), HasSubstr("no CUDA device"));
    }
    GTEST_SKIP() << "no CUDA devices: " << devices.status().ToString();
  }
  ASSERT_FALSE(devices->empty());
  for (size_t i = 0; i < devices->size(); ++i) {
    EXPECT_EQ((*devices)[i]->Describe().id, absl::StrCat("cuda:", i));
    EXPECT_EQ((*devices)[i]->Describe().index, static_cast<int>(i));
  }
}

TEST_F(CudaTest, DescribeFillsEveryField) {
  for (size_t i = 0; i < device_count(); ++i) {
    const DeviceDescription& d = device(i).Describe();
    SCOPED_TRACE(d.id);
    EXPECT_EQ(d.backend, "cuda");
    EXPECT_FALSE(d.name.empty());
    EXPECT_GT(d.cores, 0);
    EXPECT_GT(d.memory_bytes, int64_t{1} << 30);
    EXPECT_THAT(d.library, HasSubstr("cuBLAS"));
    EXPECT_THAT(d.library, HasSubstr("TF32 off"));  // every result carries the TF32 state
    for (const char* key : {"uuid", "pci_bus_id", "sms", "l2_bytes", "memory", "sm_clock_max_mhz",
                            "memory_clock_mhz", "memory_bus_width_bits", "driver_version",
                            "cuda_runtime_version", "cublas_version", "compute_capability", "tf32",
                            "sm_clock_source", "sm_clock_mhz_last", "health", "cold_flush_bytes"}) {
      ASSERT_TRUE(d.properties.count(key)) << key;
      EXPECT_FALSE(d.properties.at(key).empty()) << key;
    }
    EXPECT_EQ(d.properties.at("sms"), absl::StrCat(d.cores));
    EXPECT_THAT(d.properties.at("uuid"), HasSubstr("GPU-"));
    EXPECT_THAT(d.properties.at("tf32"), HasSubstr("off"));
    EXPECT_EQ(d.properties.at("health"), "ok");
    EXPECT_EQ(d.default_sizes, "1000:20000:500");
    EXPECT_EQ(std::set<TimingMode>(d.timing_modes.begin(), d.timing_modes.end()),
              (std::set<TimingMode>{TimingMode::kHot, TimingMode::kCold, TimingMode::kGraph}));
    EXPECT_DOUBLE_EQ(d.default_settings.noise_target, 0.005);
    EXPECT_EQ(d.default_settings.min_samples, 10);
    EXPECT_DOUBLE_EQ(d.default_settings.min_time_s, 0.02);
    EXPECT_DOUBLE_EQ(d.default_settings.max_time_s, 2.0);
    EXPECT_GT(d.min_sample_seconds, 0);
    EXPECT_LE(d.min_sample_seconds, 1e-3);
    std::string detail;
    EXPECT_TRUE(device(i).Healthy(&detail)) << detail;
  }
}

TEST_F(CudaTest, ClockReadingsAppearAfterAPoint) {
  ASSERT_EQ(
      RunPoint(device(0), MakePoint("outer", "fused", 0, DType::kF32, 4097), TimingMode::kHot), "");
  const DeviceDescription& d = device(0).Describe();
  const double mhz = std::atof(d.properties.at("sm_clock_mhz_last").c_str());
  EXPECT_GT(mhz, 100);  // any GPU's SM clock under load
  EXPECT_LT(mhz, 5000);
  EXPECT_THAT(d.properties.at("sm_clock_last_read"), HasSubstr("outer/fused"));
}

// Observations are recorded whichever of CollectWarnings and
// CollectObservations the caller runs first, with one reading after sampling.
TEST_F(CudaTest, ObservationsCarryTheClockBeforeAndAfter) {
  for (bool warnings_first : {true, false}) {
    SCOPED_TRACE(warnings_first ? "warnings first" : "observations first");
    absl::StatusOr<std::unique_ptr<PreparedPoint>> prepared = device(0).Prepare(
        MakePoint("matvec", "custom", 0, DType::kF32, 2048), Settings(TimingMode::kHot));
    ASSERT_TRUE(prepared.ok()) << prepared.status();
    ASSERT_TRUE((*prepared)->Verify().ok());
    ASSERT_TRUE((*prepared)->TimeBatch(20).ok());
    std::vector<std::string> warnings;
    std::map<std::string, std::string> observations;
    if (warnings_first) (*prepared)->CollectWarnings(&warnings);
    (*prepared)->CollectObservations(&observations);
    if (!warnings_first) (*prepared)->CollectWarnings(&warnings);
    for (const char* key : {"sm_clock_mhz_before", "sm_clock_mhz_after"}) {
      ASSERT_TRUE(observations.count(key)) << key;
      const double mhz = std::atof(observations.at(key).c_str());
      EXPECT_GT(mhz, 100) << key << " = " << observations.at(key);
      EXPECT_LT(mhz, 5000) << key << " = " << observations.at(key);
    }
    ASSERT_TRUE(observations.count("sm_clock_source"));
    EXPECT_THAT(observations.at("sm_clock_source"), HasSubstr("probe kernel"));
    if (observations.count("sm_clock_mhz_after_nvml")) {
      EXPECT_THAT(observations.at("sm_clock_source"), HasSubstr("NVML"));
    }
  }
}

// Hot mode times its executions behind the stream gate, in batches, and says
// so; more executions than one batch holds are still all timed.
TEST_F(CudaTest, HotModeQueuesItsExecutionsBehindTheStreamGate) {
  absl::StatusOr<std::unique_ptr<PreparedPoint>> prepared = device(0).Prepare(
      MakePoint("matvec", "custom", 0, DType::kF32, 2048), Settings(TimingMode::kHot));
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  absl::StatusOr<double> one = (*prepared)->TimeBatch(40);
  absl::StatusOr<double> many = (*prepared)->TimeBatch(600);  // more than one gated batch
  ASSERT_TRUE(one.ok()) << one.status();
  ASSERT_TRUE(many.ok()) << many.status();
  // 15x the executions take 15x the time, give or take the card's jitter.
  EXPECT_GT(*many / *one, 10.0);
  EXPECT_LT(*many / *one, 20.0);
  std::map<std::string, std::string> observations;
  std::vector<std::string> warnings;
  (*prepared)->CollectObservations(&observations);
  (*prepared)->CollectWarnings(&warnings);
  ASSERT_TRUE(observations.count("hot_launch_queue"));
  EXPECT_THAT(observations.at("hot_launch_queue"), HasSubstr("gated: up to "));
  for (const std::string& warning : warnings) EXPECT_THAT(warning, Not(HasSubstr("gate")));
}

TEST_F(CudaTest, MeasureCeilingsIsPlausible) {
  Device& d = device(0);
  const int64_t available = d.BytesAvailable();
  const std::atomic<bool> no_stop{false};
  absl::StatusOr<DeviceCeilings> measured = d.MeasureCeilings(no_stop);
  ASSERT_TRUE(measured.ok()) << measured.status();
  const DeviceCeilings& c = *measured;
  SCOPED_TRACE(absl::StrCat("method: ", c.method, "\nclock: ", c.clock_method,
                            "\nderived: ", c.derived_method));
  EXPECT_GT(c.bandwidth_bytes_per_s, 1e11);
  EXPECT_LT(c.bandwidth_bytes_per_s, 1e13);
  ASSERT_TRUE(c.peak_flops.count("f32"));
  ASSERT_TRUE(c.peak_flops.count("f64"));
  const double f32 = c.peak_flops.at("f32");
  const double f64 = c.peak_flops.at("f64");
  EXPECT_GT(f64, 0);
  EXPECT_GT(f32, f64);
  EXPECT_GT(c.clock_hz, 5e8);
  EXPECT_LT(c.clock_hz, 3e9);
  EXPECT_FALSE(c.clock_method.empty());
  EXPECT_FALSE(c.method.empty());
  EXPECT_FALSE(c.derived_method.empty());
  if (c.derived_peak_flops.count("f32")) {
    const double derived = c.derived_peak_flops.at("f32");
    // The measured peak cannot beat the lanes' peak (30% slack for the
    // clock's movement); below half of it the kernel is not FMA-bound.
    EXPECT_LT(f32, 1.3 * derived);
    EXPECT_GT(f32, 0.5 * derived);
  } else {
    EXPECT_THAT(c.derived_method, HasSubstr("unknown"));
  }
  if (c.derived_peak_flops.count("f64")) {
    EXPECT_LT(f64, 1.3 * c.derived_peak_flops.at("f64"));
  }
  EXPECT_DOUBLE_EQ(c.latency_threshold_seconds, 10e-6);
  EXPECT_GT(c.measured_unix_ms, int64_t{1600000000000});
  EXPECT_GT(c.seconds_spent, 0);
  EXPECT_LT(c.seconds_spent, 3.0);
  // Its buffers are freed again.
  EXPECT_NEAR(static_cast<double>(d.BytesAvailable()), static_cast<double>(available),
              static_cast<double>(int64_t{64} << 20));
  std::string detail;
  EXPECT_TRUE(d.Healthy(&detail)) << detail;
}

// The memory check is the measurement loop's (CheckPointFits, once per
// point, before Prepare): a point larger than the free memory fails there
// with RESOURCE_EXHAUSTED before anything is allocated on the host or GPU.
TEST_F(CudaTest, TooLargeIsResourceExhaustedBeforeAllocating) {
  Device& d = device(0);
  const int64_t available = d.BytesAvailable();
  ASSERT_GT(available, 0);
  // A matvec whose A alone is four times the free memory.
  const int64_t n = static_cast<int64_t>(std::sqrt(static_cast<double>(available) / 4.0)) * 2;
  const PointSpec point = MakePoint("matvec", "custom", 0, DType::kF32, n);
  const int64_t needed = d.BytesNeeded(point, TimingMode::kHot);
  ASSERT_GT(needed, available);

  const std::atomic<bool> cancelled{false};
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<PointOutcome> outcome =
      MeasurePoint(d, point, Settings(TimingMode::kHot), nullptr, cancelled);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(outcome.status().message(), HasSubstr("needs"));
  EXPECT_THAT(outcome.status().message(), HasSubstr(absl::StrCat(needed)));
  EXPECT_THAT(outcome.status().message(), HasSubstr(d.Describe().id));
  // Filling N^2 inputs on the host would take many seconds.
  EXPECT_LT(seconds, 1.0);
  // Nothing was allocated (and nothing leaked).
  EXPECT_NEAR(static_cast<double>(d.BytesAvailable()), static_cast<double>(available),
              static_cast<double>(int64_t{32} << 20));
  std::string detail;
  EXPECT_TRUE(d.Healthy(&detail)) << detail;
}

// Prepare itself does not compare BytesNeeded with BytesAvailable; called
// directly with a point that does not fit, the failing cudaMalloc is
// RESOURCE_EXHAUSTED, and what was allocated before it is freed.
TEST_F(CudaTest, FailedAllocationIsResourceExhausted) {
  Device& d = device(0);
  const int64_t available = d.BytesAvailable();
  ASSERT_GT(available, 0);
  for (const char* op : {"matvec", "outer"}) {
    SCOPED_TRACE(op);
    // matvec: A is four times the free memory (its first buffer); outer:
    // the library's N x N product is (after u, v and the output).
    const int64_t n = static_cast<int64_t>(std::sqrt(static_cast<double>(available) / 4.0)) * 2;
    const PointSpec point = std::string(op) == "matvec"
                                ? MakePoint("matvec", "custom", 0, DType::kF32, n)
                                : MakePoint("outer", "library", 1, DType::kF32, n);
    absl::StatusOr<std::unique_ptr<PreparedPoint>> prepared =
        d.Prepare(point, Settings(TimingMode::kHot));
    ASSERT_FALSE(prepared.ok());
    EXPECT_EQ(prepared.status().code(), absl::StatusCode::kResourceExhausted);
    EXPECT_THAT(prepared.status().message(), HasSubstr("cudaMalloc"));
    EXPECT_NEAR(static_cast<double>(d.BytesAvailable()), static_cast<double>(available),
                static_cast<double>(int64_t{32} << 20));
    std::string detail;
    EXPECT_TRUE(d.Healthy(&detail)) << detail;
  }
}

TEST_F(CudaTest, BytesNeededCountsTheFlushBufferAndNeverOverflows) {
  Device& d = device(0);
  const PointSpec point = MakePoint("outer", "fused", 1, DType::kF32, 20000);
  const int64_t l2 = std::atoll(d.Describe().properties.at("l2_bytes").c_str());
  EXPECT_GE(d.BytesNeeded(point, TimingMode::kHot), BufferBytes(point));
  EXPECT_GE(d.BytesNeeded(point, TimingMode::kCold) - d.BytesNeeded(point, TimingMode::kHot),
            2 * l2);
  EXPECT_EQ(d.BytesNeeded(point, TimingMode::kGraph), d.BytesNeeded(point, TimingMode::kHot));
  const PointSpec huge = MakePoint("matvec", "gemv", 0, DType::kF64, int64_t{1} << 40);
  EXPECT_GT(d.BytesNeeded(huge, TimingMode::kHot), d.BytesAvailable());
}

// The backend dispatches on point.kernel; an unresolved point cannot come
// from PlanJob, and is an internal error naming the kernel. N and the axis
// are still checked.
TEST_F(CudaTest, RejectsUnresolvedPointsAndOutOfRangeParams) {
  Device& d = device(0);
  PointSpec unresolved = MakePoint("matvec", "custom", 0, DType::kF32, 100);
  unresolved.kernel = Kernel::kNone;
  absl::StatusOr<std::unique_ptr<PreparedPoint>> bad_kernel =
      d.Prepare(unresolved, Settings(TimingMode::kHot));
  EXPECT_EQ(bad_kernel.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(bad_kernel.status().message(), HasSubstr("kNone"));
  PointSpec bad_axis_point = MakePoint("outer", "fused", 0, DType::kF32, 100);
  bad_axis_point.params["axis"] = 2;
  absl::StatusOr<std::unique_ptr<PreparedPoint>> bad_axis =
      d.Prepare(bad_axis_point, Settings(TimingMode::kHot));
  EXPECT_EQ(bad_axis.status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::unique_ptr<PreparedPoint>> bad_n =
      d.Prepare(MakePoint("outer", "fused", 0, DType::kF32, 0), Settings(TimingMode::kHot));
  EXPECT_EQ(bad_n.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CudaTest, TwoGpusMeasureConcurrently) {
  if (device_count() < 2) {
    GTEST_SKIP() << "needs two GPUs; this machine has " << device_count();
  }
  const std::vector<PointSpec> points = {
      MakePoint("outer", "fused", 0, DType::kF32, 4097),
      MakePoint("matvec", "custom", 0, DType::kF32, 4097),
      MakePoint("outer", "library", 1, DType::kF64, 1023),
      MakePoint("matvec", "gemv", 0, DType::kF32, 2048),
  };
  std::vector<std::string> errors(2);
  std::vector<std::thread> workers;
  for (int g = 0; g < 2; ++g) {
    workers.emplace_back([&, g] {
      for (int round = 0; round < 3 && errors[g].empty(); ++round) {
        for (const PointSpec& point : points) {
          for (TimingMode timing : {TimingMode::kHot, TimingMode::kGraph}) {
            const std::string error = RunPoint(device(g), point, timing);
            if (!error.empty() && errors[g].empty()) errors[g] = error;
          }
        }
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  EXPECT_EQ(errors[0], "");
  EXPECT_EQ(errors[1], "");
}

// ---------------------------------------------------------------------------
// Every cuda impl of the op catalog, with representative values of its op's
// params (every value of a param with up to three), x dtype x N x timing mode: a new op's points are tested here
// without a line of this file changing.

struct Case {
  PointSpec point;  // resolved
  TimingMode timing;
};

// A param's values to test: all of up to three, else the first, the middle
// and the last (chain's k: 1, 16, 256).
std::vector<int64_t> RepresentativeValues(const ParamSpec& param) {
  const std::vector<int64_t>& all = param.allowed_values;
  if (all.size() <= 3) return all;
  return {all.front(), all[all.size() / 2], all.back()};
}

// The catalog's cuda points of one dtype and N.
std::vector<PointSpec> CatalogPoints(DType dtype, int64_t n) {
  std::vector<PointSpec> points;
  for (const OpSpec& op : OpCatalog()) {
    std::vector<ParamMap> combinations = {{}};
    for (const ParamSpec& param : op.params) {
      std::vector<ParamMap> next;
      for (const ParamMap& combination : combinations) {
        for (int64_t value : RepresentativeValues(param)) {
          ParamMap params = combination;
          params[param.name] = value;
          next.push_back(params);
        }
      }
      combinations = next;
    }
    for (const std::string& impl : op.ImplNames("cuda")) {
      for (const ParamMap& params : combinations) {
        PointSpec point;
        point.op = op.name;
        point.impl = impl;
        point.params = params;
        point.dtype = dtype;
        point.n = n;
        absl::StatusOr<PointSpec> resolved = ResolvePoint(point);
        if (!resolved.ok()) {
          ADD_FAILURE() << "ResolvePoint(" << point.Label() << "): " << resolved.status();
          continue;
        }
        points.push_back(*resolved);
      }
    }
  }
  return points;
}

std::vector<Case> AllCases() {
  // Odd sizes take the kernels' scalar heads and tails (rows not 16-byte
  // aligned); 1024 and 4100 the vector paths; 4097 splits over many blocks.
  const int64_t kSizes[] = {1, 2, 33, 1023, 1024, 4097, 4100};
  std::vector<Case> cases;
  for (DType dtype : {DType::kF32, DType::kF64}) {
    for (int64_t n : kSizes) {
      for (const PointSpec& point : CatalogPoints(dtype, n)) {
        for (TimingMode timing : {TimingMode::kHot, TimingMode::kGraph, TimingMode::kCold}) {
          cases.push_back({point, timing});
        }
      }
    }
  }
  return cases;
}

// What gtest prints for a case (instead of its bytes).
void PrintTo(const Case& c, std::ostream* os) {
  *os << c.point.Label() << " " << TimingModeName(c.timing);
}

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  const Case& c = info.param;
  std::string name = absl::StrCat(c.point.op, "_", c.point.impl);
  for (const auto& [param, value] : c.point.params) absl::StrAppend(&name, "_", param, value);
  absl::StrAppend(&name, "_", DTypeName(c.point.dtype), "_N", c.point.n, "_",
                  TimingModeName(c.timing));
  return name;
}

class CudaPointTest : public CudaTest, public ::testing::WithParamInterface<Case> {};

TEST_P(CudaPointTest, VerifiesAndTimes) {
  const Case& c = GetParam();
  EXPECT_EQ(RunPoint(device(0), c.point, c.timing), "");
}

INSTANTIATE_TEST_SUITE_P(AllImpls, CudaPointTest, ::testing::ValuesIn(AllCases()), CaseName);

// Larger odd sizes where the split kernels use many chunks and the last
// tile is partly empty.
TEST_F(CudaTest, LargeOddSizes) {
  for (const PointSpec& point : {MakePoint("outer", "fused", 0, DType::kF32, 12345),
                                 MakePoint("outer", "fused", 1, DType::kF64, 12345),
                                 MakePoint("outer", "library", 0, DType::kF32, 12345),
                                 MakePoint("outer", "library", 0, DType::kF64, 12344),
                                 MakePoint("matvec", "custom", 0, DType::kF32, 12345),
                                 MakePoint("matvec", "custom", 0, DType::kF64, 12344)}) {
    EXPECT_EQ(RunPoint(device(0), point, TimingMode::kHot), "");
  }
}

}  // namespace
}  // namespace flopd
