// Bad input: flopctl refuses it locally (exit 2, nothing sent) and flopd
// refuses it on the wire with the right status code, names the field and the
// allowed values, and keeps serving.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "flopd/v1/flopd.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "tests/integration/process_harness.h"

namespace flopd::testing {
namespace {

struct LocalCase {
  std::vector<std::string> args;
  std::string expected;
};

TEST(BadInput, FlopctlRejectsLocallyWithTheDaemonsWording) {
  const std::vector<LocalCase> cases = {
      {{"--sizes", "32"}, "ops: the op list is empty; allowed: matvec, outer, chain, batched_mv, attention"},
      {{"--op", "conv"}, "op: unknown op 'conv'; allowed: matvec, outer, chain, batched_mv, attention"},
      {{"--op", "matvec", "--impl", "cudnn"}, "impl: unknown impl 'cudnn'"},
      {{"--op", "matvec,outer", "--impl", "gemv"},
       "impl: op 'outer' has none of the requested impls (gemv)"},
      {{"--op", "outer", "--dtype", "f16"}, "dtype: unknown dtype 'f16'; allowed: f32, f64"},
      {{"--op", "outer", "--axis", "2"}, "axis: 2 is not allowed; allowed: 0, 1"},
      {{"--op", "matvec", "--axis", "0"}, "params: unknown param 'axis'"},
      {{"--op", "outer", "--sizes", "10:abc:5"}, "sizes: malformed size spec '10:abc:5'"},
      {{"--op", "outer", "--sizes", "0"}, "N must be >= 1, got 0"},
      {{"--op", "outer", "--sizes", "-7"}, "N must be >= 1, got -7"},
      {{"--op", "outer", "--noise-target", "0"}, "settings.noise_target: 0 is out of range"},
      {{"--op", "outer", "--noise-target", "abc"}, "--noise-target: 'abc' is not a number"},
      {{"--op", "outer", "--max-time", "0"}, "settings.max_time_s: 0 is out of range"},
      {{"--op", "outer", "--max-time", "99999"}, "settings.max_time_s: 99999 is out of range"},
      {{"--op", "outer", "--iterations", "0"}, "settings.iterations_per_sample: 0 is out of range"},
      {{"--op", "outer", "--iterations", "5000000000"},
       "settings.iterations_per_sample: 5000000000 is out of range"},
      {{"--op", "outer", "--samples", "0"}, "settings.fixed_samples: 0 is out of range"},
      {{"--op", "outer", "--timing", "warm"}, "allowed: hot, cold, graph"},
      {{"--op", "outer", "--format", "xml"}, "format: unknown format 'xml'"},
      {{"--op", "outer", "--bogus"}, "unknown flag --bogus"},
  };
  for (const LocalCase& c : cases) {
    std::vector<std::string> args = {"run", "--host", "127.0.0.1:1"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    CommandResult run = RunFlopctl(args);
    EXPECT_EQ(run.exit_code, 2) << c.expected << "\n" << run.err;
    EXPECT_TRUE(absl::StrContains(run.err, c.expected))
        << "expected '" << c.expected << "' in: " << run.err;
    EXPECT_FALSE(absl::StrContains(run.err, "unreachable")) << "flopctl dialed for: " << c.expected;
  }
}

class DaemonRejects : public ::testing::Test {
 protected:
  void SetUp() override {
    daemon_ = Daemon::Start("strict", {"--memory-limit-mib", "64"});
    channel_ = grpc::CreateChannel(daemon_->address(), grpc::InsecureChannelCredentials());
    stub_ = v1::Flopd::NewStub(channel_);
  }

  v1::RunRequest Valid() {
    v1::RunRequest request;
    request.add_ops("outer");
    request.set_sizes("32");
    request.mutable_settings()->set_max_time_s(0.02);
    request.mutable_settings()->set_min_time_s(0);
    return request;
  }

  // Runs `request`; returns the final status and counts result events.
  grpc::Status Run(const v1::RunRequest& request, int* results = nullptr) {
    grpc::ClientContext context;
    auto reader = stub_->Run(&context, request);
    v1::RunEvent event;
    int count = 0;
    while (reader->Read(&event)) count += event.has_result();
    if (results) *results = count;
    return reader->Finish();
  }

  void ExpectRejected(const v1::RunRequest& request, grpc::StatusCode code,
                      const std::vector<std::string>& words) {
    grpc::Status status = Run(request);
    EXPECT_EQ(status.error_code(), code) << status.error_message();
    for (const std::string& word : words) {
      EXPECT_TRUE(absl::StrContains(status.error_message(), word))
          << "expected '" << word << "' in: " << status.error_message();
    }
  }

  std::unique_ptr<Daemon> daemon_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Flopd::Stub> stub_;
};

TEST_F(DaemonRejects, EachBadFieldWithTheRightStatusAndKeepsServing) {
  using grpc::StatusCode;
  v1::RunRequest r;

  r = Valid();
  r.clear_ops();
  ExpectRejected(r, StatusCode::INVALID_ARGUMENT, {"ops:", "allowed: matvec, outer, chain, batched_mv, attention"});
  r = Valid();
  r.set_ops(0, "conv");
  ExpectRejected(r, StatusCode::INVALID_ARGUMENT, {"op: unknown op 'conv'", "matvec, outer"});
  r = Valid();
  r.add_impls("custom");  // a CUDA impl, not on the CPU backend
  ExpectRejected(r, StatusCode::INVALID_ARGUMENT,
                 {"impl: unknown impl 'custom' on backend cpu", "library, fused"});
  r = Valid();
  r.add_dtypes("bf16");
  ExpectRejected(r, StatusCode::INVALID_ARGUMENT, {"dtype: unknown dtype 'bf16'", "f32, f64"});
  r = Valid();
  r.set_device("cuda:7");
  ExpectRejected(r, StatusCode::NOT_FOUND, {"device: unknown device 'cuda:7'", "cpu:0"});
  r = Valid();
  auto* param = r.add_params();
  param->set_name("stride");
  param->add_values(1);
  ExpectRejected(r, StatusCode::INVALID_ARGUMENT, {"params: unknown param 'stride'", "axis"});
  r = Valid();
  param = r.add_params();
  param->set_name("axis");
  param->add_values(3);
  ExpectRejected(r, StatusCode::INVALID_ARGUMENT, {"axis: 3 is not allowed; allowed: 0, 1"});
  r = Valid();
  r.set_sizes("1:2:3:4");
  ExpectRejected(r, StatusCode::INVALID_ARGUMENT, {"sizes: malformed size spec"});
  r = Valid();
  r.set_sizes("-5");
  ExpectRejected(r, StatusCode::INVALID_ARGUMENT, {"sizes:", "N must be >= 1"});
  r = Valid();
  r.set_sizes("32,20000");  // 20000^2 floats = 1.6 GB > the 64 MiB limit
  ExpectRejected(r, StatusCode::RESOURCE_EXHAUSTED,
                 {"N=20000", "needs 1600", "bytes", "allows itself 67108864 bytes"});
  r = Valid();
  r.mutable_settings()->set_noise_target(0.9);
  ExpectRejected(r, StatusCode::INVALID_ARGUMENT, {"settings.noise_target", "(0, 0.5]"});
  r = Valid();
  r.mutable_settings()->set_max_time_s(-1);
  ExpectRejected(r, StatusCode::INVALID_ARGUMENT, {"settings.max_time_s", "(0, 3600]"});
  r = Valid();
  r.mutable_settings()->set_iterations_per_sample(2000000);
  ExpectRejected(r, StatusCode::INVALID_ARGUMENT, {"settings.iterations_per_sample", "1..1000000"});
  r = Valid();
  r.mutable_settings()->set_fixed_samples(0);
  ExpectRejected(r, StatusCode::INVALID_ARGUMENT, {"settings.fixed_samples", "1..100000"});
  r = Valid();
  r.mutable_settings()->set_timing("graph");
  ExpectRejected(r, StatusCode::INVALID_ARGUMENT,
                 {"settings.timing: 'graph' is not supported on cpu:0", "allowed: hot, cold"});

  // Still serving: health says so and a valid job runs to completion.
  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckResponse response;
  ASSERT_TRUE(health->Check(&context, {}, &response).ok());
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  int results = 0;
  grpc::Status ok = Run(Valid(), &results);
  EXPECT_TRUE(ok.ok()) << ok.error_message();
  EXPECT_EQ(results, 4);  // library and fused, axis 0 and 1
}

TEST_F(DaemonRejects, FlopctlReportsTheDaemonsErrorInOneLine) {
  CommandResult run = RunFlopctl({"run", "--host", daemon_->address(), "--op", "outer", "--device",
                                  "cuda:7", "--sizes", "32"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(
      run.err, daemon_->address() + ": NOT_FOUND: device: unknown device 'cuda:7'"))
      << run.err;
  CommandResult big = RunFlopctl({"run", "--host", daemon_->address(), "--op", "matvec",
                                  "--sizes", "30000"});
  EXPECT_EQ(big.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(big.err, "RESOURCE_EXHAUSTED: sizes: N=30000")) << big.err;
}

TEST_F(DaemonRejects, InfoOpsAndHealth) {
  CommandResult info = RunFlopctl({"info", "--host", daemon_->address()});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  for (const char* word : {"host strict", "health SERVING", "cpu:0", "openblas",
                           "not offered: cuda: disabled with --no-cuda", "flopd may use 0.1 GiB"}) {
    EXPECT_TRUE(absl::StrContains(info.out, word)) << word << " missing from:\n" << info.out;
  }
  CommandResult ops = RunFlopctl({"ops", "--host", daemon_->address()});
  ASSERT_EQ(ops.exit_code, 0) << ops.err;
  for (const char* word : {"matvec", "outer", "FLOPs:       2N^2 - N", "param axis in {0, 1}",
                           "(2N^2 + 3N) * sizeof(dtype)", "cuda  custom"}) {
    EXPECT_TRUE(absl::StrContains(ops.out, word)) << word << " missing from:\n" << ops.out;
  }
  CommandResult dead = RunFlopctl({"info", "--host", "127.0.0.1:1"});
  EXPECT_EQ(dead.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(dead.err, "127.0.0.1:1: unreachable (")) << dead.err;
}

// Whatever the build (with or without CUDA) and the machine (with or without
// a GPU), flopd serves its CPU and says why any GPU is not offered.
TEST(DeviceProbe, CpuIsServedAndAMissingGpuIsExplained) {
  auto daemon = Daemon::Start("probe", {}, /*probe_cuda=*/true);
  CommandResult info = RunFlopctl({"info", "--host", daemon->address()});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_TRUE(absl::StrContains(info.out, "cpu:0")) << info.out;
  EXPECT_TRUE(absl::StrContains(info.out, "cuda:0") ||
              absl::StrContains(info.out, "not offered: cuda: "))
      << info.out;
  CommandResult run = RunFlopctl({"run", "--host", daemon->address(), "--op", "outer", "--impl",
                                  "fused", "--sizes", "32", "--max-time", "0.02", "--min-time", "0"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
}

}  // namespace
}  // namespace flopd::testing
