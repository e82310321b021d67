#include "proto/wire/wire.h"

#include <string>
#include <tuple>

#include "gtest/gtest.h"

namespace flopd {
namespace {

JobSubmission FullSubmission() {
  JobSubmission s;
  s.request.ops = {"outer", "matvec"};
  s.request.impls = {"fused"};
  s.request.params = {{"axis", {1, 0}}};
  s.request.dtypes = {"f64"};
  s.request.sizes = "1000:3001:1000";
  s.measure.noise_target = 0.01;
  s.measure.min_samples = 5;
  s.measure.max_time_s = 2.5;
  s.measure.min_time_s = 0.1;
  s.measure.iterations_per_sample = 7;
  s.measure.fixed_samples = 3;
  s.measure.timing = "cold";
  s.measure.cpu_threads = 2;
  s.device = "cuda:1";
  s.client = "test client";
  return s;
}

TEST(WireTest, RunRequestRoundTripsEveryField) {
  const JobSubmission in = FullSubmission();
  const v1::RunRequest request = ToProto(in);
  EXPECT_EQ(request.params(0).name(), "axis");
  EXPECT_EQ(request.settings().timing(), "cold");
  const JobSubmission out = FromProto(request);
  EXPECT_EQ(out.request.ops, in.request.ops);
  EXPECT_EQ(out.request.impls, in.request.impls);
  EXPECT_EQ(out.request.params, in.request.params);
  EXPECT_EQ(out.request.dtypes, in.request.dtypes);
  EXPECT_EQ(out.request.sizes, in.request.sizes);
  EXPECT_EQ(out.device, in.device);
  EXPECT_EQ(out.client, in.client);
  EXPECT_EQ(out.measure.noise_target, in.measure.noise_target);
  EXPECT_EQ(out.measure.min_samples, in.measure.min_samples);
  EXPECT_EQ(out.measure.max_time_s, in.measure.max_time_s);
  EXPECT_EQ(out.measure.min_time_s, in.measure.min_time_s);
  EXPECT_EQ(out.measure.iterations_per_sample, in.measure.iterations_per_sample);
  EXPECT_EQ(out.measure.fixed_samples, in.measure.fixed_samples);
  EXPECT_EQ(out.measure.timing, in.measure.timing);
  EXPECT_EQ(out.measure.cpu_threads, in.measure.cpu_threads);
}

TEST(WireTest, UnsetSettingsStayUnset) {
  JobSubmission in;
  in.request.ops = {"matvec"};
  const JobSubmission out = FromProto(ToProto(in));
  EXPECT_FALSE(out.measure.noise_target.has_value());
  EXPECT_FALSE(out.measure.min_samples.has_value());
  EXPECT_FALSE(out.measure.max_time_s.has_value());
  EXPECT_FALSE(out.measure.timing.has_value());
  EXPECT_FALSE(out.measure.cpu_threads.has_value());
  EXPECT_FALSE(out.measure.fixed_samples.has_value());
}

PointOutcome Outcome() {
  PointOutcome o;
  o.point = *ResolvePoint(PointSpec{"outer", "library", {{"axis", 1}}, DType::kF64, 500});
  o.settings.timing = TimingMode::kCold;
  o.settings.noise_target = 0.02;
  o.samples = {1e-3, 2e-3, 3e-3};
  o.iterations_per_sample = 9;
  o.summary.count = 3;
  o.summary.median = 2e-3;
  o.summary.relative_noise = 0.25;
  o.flops = 499500;
  o.min_bytes = 4012000;
  o.flops_per_s = 2.4975e8;
  o.bytes_per_s = 2.006e9;
  o.stop_reason = "time_budget_spent";
  o.verification.passed = false;
  o.verification.max_rel_error = 0.5;
  o.verification.tolerance = 1e-12;
  o.verification.detail = "element 0";
  o.warnings = {"w1"};
  o.observations = {{"sm_clock_mhz_before", "1980"}};
  o.threads = 2;
  o.measured_unix_ms = 42;
  RooflinePlacement roof;
  roof.intensity = 0.125;
  roof.bound = Bound::kMemory;
  roof.efficiency = 0.5;
  o.roofline = roof;
  o.latency_threshold_seconds = 5e-6;
  o.ceilings_measured_unix_ms = 7;
  return o;
}

TEST(WireTest, ResultCarriesTheOutcomeAndItsOrigin) {
  DeviceDescription device;
  device.id = "cpu:0";
  device.name = "Some CPU";
  device.backend = "cpu";
  device.library = "OpenBLAS";
  const JobOrigin origin{"job-x", "host1", "0.1.0", &device, "r-1", "git abc, Release, GNU 12"};
  const v1::Result r = ToProto(Outcome(), origin);
  EXPECT_EQ(r.job_id(), "job-x");
  EXPECT_EQ(r.hostname(), "host1");
  EXPECT_EQ(r.flopd_version(), "0.1.0");
  EXPECT_EQ(r.flopd_build(), "git abc, Release, GNU 12");
  EXPECT_EQ(r.device(), "cpu:0");
  EXPECT_EQ(r.device_name(), "Some CPU");
  EXPECT_EQ(r.op(), "outer");
  EXPECT_EQ(r.impl(), "library");
  EXPECT_EQ(r.params().at("axis"), 1);
  EXPECT_EQ(r.dtype(), "f64");
  EXPECT_EQ(r.n(), 500);
  EXPECT_EQ(r.flops(), 499500);
  EXPECT_EQ(r.min_bytes(), 4012000);
  EXPECT_DOUBLE_EQ(r.gflops_per_s(), 0.24975) << "the outcome's rate, in GFLOP/s";
  EXPECT_DOUBLE_EQ(r.gbytes_per_s(), 2.006);
  EXPECT_EQ(r.timing(), "cold");
  EXPECT_EQ(r.samples(), 3);
  EXPECT_EQ(r.sample_seconds_size(), 3);
  EXPECT_EQ(r.iterations_per_sample(), 9);
  EXPECT_DOUBLE_EQ(r.time().median(), 2e-3);
  EXPECT_DOUBLE_EQ(r.relative_noise(), 0.25);
  EXPECT_DOUBLE_EQ(r.noise_target(), 0.02);
  EXPECT_EQ(r.stop_reason(), "time_budget_spent");
  EXPECT_FALSE(r.verification().passed()) << "a failed verification stays failed on the wire";
  EXPECT_EQ(r.verification().detail(), "element 0");
  EXPECT_EQ(r.warnings_size(), 1);
  EXPECT_EQ(r.observations().at("sm_clock_mhz_before"), "1980");
  EXPECT_EQ(r.threads(), 2);
  EXPECT_EQ(r.measured_unix_ms(), 42);
  ASSERT_TRUE(r.has_roofline());
  EXPECT_EQ(r.roofline().bound(), "memory");
  EXPECT_DOUBLE_EQ(r.roofline().intensity(), 0.125);
  EXPECT_DOUBLE_EQ(r.roofline().latency_threshold_seconds(), 5e-6);
  EXPECT_EQ(r.roofline().ceilings_measured_unix_ms(), 7);
}

TEST(WireTest, ResultPointKeyAndHostAreTheDomainView) {
  DeviceDescription device;
  device.id = "cpu:0";
  const v1::Result r = ToProto(Outcome(), JobOrigin{"j", "host1", "v", &device});
  const PointSpec point = ResultPoint(r);
  EXPECT_EQ(point.kernel, Kernel::kOuterLibrary);
  EXPECT_EQ(point.Label(), "outer/library axis=1 f64 N=500");
  EXPECT_EQ(ResultKey(r), (PointKey{"outer", "library", "axis=1", "f64", 500}));
  EXPECT_EQ(ResultHost(r), "host1");
  v1::Result dialled = r;
  dialled.set_host_address("10.0.0.1:50051");
  EXPECT_EQ(ResultHost(dialled), "10.0.0.1:50051");
  v1::Result future = r;
  future.set_op("attention");
  EXPECT_EQ(ResultPoint(future).kernel, Kernel::kNone) << "unknown to this build: unresolved";
  EXPECT_EQ(std::get<0>(ResultKey(future)), "attention");
}

TEST(WireTest, JobEventsBecomeTheirMessages) {
  DeviceDescription device;
  device.id = "cuda:0";
  const JobOrigin origin{"job-7", "h", "v", &device};
  JobEvent accepted;
  accepted.kind = JobEvent::Kind::kAccepted;
  accepted.queue_position = 2;
  accepted.points_total = 6;
  accepted.sizes = {10, 20};
  v1::RunEvent a = ToProto(accepted, origin);
  ASSERT_TRUE(a.has_accepted());
  EXPECT_EQ(a.accepted().job_id(), "job-7");
  EXPECT_EQ(a.accepted().device(), "cuda:0");
  EXPECT_EQ(a.accepted().queue_position(), 2);
  EXPECT_EQ(a.accepted().points_total(), 6);
  EXPECT_EQ(a.accepted().sizes_size(), 2);
  EXPECT_EQ(a.accepted().settings().timing(), "hot");

  JobEvent finished;
  finished.kind = JobEvent::Kind::kFinished;
  finished.points_measured = 6;
  finished.points_failed_verification = 1;
  finished.wall_seconds = 1.5;
  v1::RunEvent f = ToProto(finished, origin);
  ASSERT_TRUE(f.has_finished());
  EXPECT_EQ(f.finished().points_failed_verification(), 1);
  EXPECT_DOUBLE_EQ(f.finished().wall_seconds(), 1.5);

  JobEvent error;
  error.kind = JobEvent::Kind::kError;
  error.error = absl::UnavailableError("flopd is shutting down");
  error.points_measured = 3;
  v1::RunEvent e = ToProto(error, origin);
  ASSERT_TRUE(e.has_error());
  EXPECT_EQ(e.error().code(), "UNAVAILABLE");
  EXPECT_EQ(e.error().message(), "flopd is shutting down");
  EXPECT_EQ(e.error().points_measured(), 3);
}

TEST(WireTest, StatusesKeepCodeAndMessageBothWays) {
  const absl::Status status = absl::ResourceExhaustedError("too big");
  const grpc::Status wire = ToGrpcStatus(status);
  EXPECT_EQ(wire.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(wire.error_message(), "too big");
  EXPECT_EQ(FromGrpcStatus(wire), status);
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
}

// Ceilings carry their age, how often they were measured and why they may
// not be true (issue 11).
TEST(WireTest, CeilingsCarryEveryField) {
  DeviceCeilings c;
  c.bandwidth_bytes_per_s = 2.9e12;
  c.peak_flops = {{"f32", 61e12}};
  c.derived_peak_flops = {{"f32", 66.9e12}};
  c.clock_hz = 1.98e9;
  c.measured_unix_ms = 1764547200000;
  c.seconds_spent = 0.6;
  c.doubts = {"the copies' timed runs were 20% apart"};
  c.kernel_isa = "avx2+fma";
  c.kernel_isa_peak_flops = {{"f32", 30e12}};
  c.attempts = 2;
  c.derived_bandwidth_bytes_per_s = 3.35e12;
  const v1::DeviceCeilings p = ToProto(c);
  EXPECT_EQ(p.measured_unix_ms(), 1764547200000);
  EXPECT_EQ(p.attempts(), 2);
  EXPECT_DOUBLE_EQ(p.derived_bandwidth_bytes_per_s(), 3.35e12);
  ASSERT_EQ(p.doubts_size(), 1);
  EXPECT_EQ(p.doubts(0), "the copies' timed runs were 20% apart");
  EXPECT_DOUBLE_EQ(p.peak_flops_per_s().at("f32"), 61e12);
  EXPECT_DOUBLE_EQ(p.derived_peak_flops_per_s().at("f32"), 66.9e12);
  EXPECT_DOUBLE_EQ(p.kernel_isa_peak_flops_per_s().at("f32"), 30e12);
  EXPECT_EQ(ToProto(DeviceCeilings{}).attempts(), 1);  // measured once unless said otherwise
}

}  // namespace
}  // namespace flopd
