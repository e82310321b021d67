// End to end in one process: the real flopd service (scheduler, measurement
// loop, wire) over the fake device (tests/server/fake_device.h), dialled by
// flopctl's own fan-out and rendered by flopctl's own ending, so a wrong
// output and a known execution time are followed from the device to the
// table and the exit status. No flopd can be told to compute a wrong
// answer, which is why this is not done with the real binaries.
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/run_command.h"
#include "client/run_fan_out.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "server/flopd_service.h"
#include "tests/server/fake_device.h"

namespace flopd {
namespace {

class FakeDeviceRun : public ::testing::Test {
 protected:
  void Start(FakeDeviceOptions options) {
    scheduler_ = std::make_unique<Scheduler>(FakeDevices(std::move(options)));
    service_ = std::make_unique<FlopdService>(scheduler_.get(), "fakehost");
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
  }

  void TearDown() override {
    if (scheduler_) scheduler_->Shutdown();
    if (server_) server_->Shutdown();
  }

  // flopctl run ARGS against the service: its exit status, stdout, stderr.
  int Run(std::vector<std::string> args, std::string* out, std::string* err) {
    args.insert(args.end(), {"--host", absl::StrCat("127.0.0.1:", port_), "--quiet",
                             "--min-samples", "3", "--min-time", "0"});
    absl::StatusOr<RunPlan> plan = ParseRunCommand(args);
    EXPECT_TRUE(plan.ok()) << plan.status();
    if (!plan.ok()) return -1;
    RunOutcome outcome = FanOut(*plan, {});
    std::ostringstream out_stream, err_stream;
    const int status = RenderRun(*plan, std::move(outcome), out_stream, err_stream);
    *out = out_stream.str();
    *err = err_stream.str();
    return status;
  }

  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<FlopdService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

// The cells of the table row starting with `op impl`.
std::vector<std::string> Row(const std::string& table, const std::string& op,
                             const std::string& impl, const std::string& params = "") {
  for (absl::string_view line : absl::StrSplit(table, '\n')) {
    std::vector<std::string> cells = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (cells.size() > 3 && cells[0] == op && cells[1] == impl &&
        (params.empty() || cells[2] == params)) {
      return cells;
    }
  }
  return {};
}

TEST_F(FakeDeviceRun, AWrongOutputIsFailInTheTableAndFlopctlExitsOne) {
  FakeDeviceOptions options;
  options.wrong_output = true;
  Start(options);
  std::string out, err;
  EXPECT_EQ(Run({"--op", "outer", "--impl", "fused", "--sizes", "32"}, &out, &err), 1) << err;
  for (const char* axis : {"axis=0", "axis=1"}) {
    const std::vector<std::string> row = Row(out, "outer", "fused", axis);
    ASSERT_FALSE(row.empty()) << out;
    EXPECT_EQ(row.back(), "FAIL") << out;
  }
  EXPECT_EQ(err, "flopctl: 2 result(s) FAILED verification\n");

  // The same job as JSON Lines carries the failure and its warning.
  EXPECT_EQ(Run({"--op", "matvec", "--impl", "gemv", "--sizes", "16", "--format", "jsonl"}, &out,
                &err),
            1);
  EXPECT_TRUE(absl::StrContains(out, "\"passed\":false")) << out;
  EXPECT_TRUE(absl::StrContains(out, "verification FAILED: ")) << out;
}

TEST_F(FakeDeviceRun, AKnownExecutionTimeIsTheTablesMedianRateAndRatio) {
  FakeDeviceOptions options;
  // gemm 4 ms, gemv 1 ms per execution at N=1000.
  options.seconds_per_execution = [](const PointSpec& p) {
    return p.impl == "gemm" ? 4e-3 : 1e-3;
  };
  Start(options);
  std::string out, err;
  EXPECT_EQ(Run({"--op", "matvec", "--sizes", "1000"}, &out, &err), 0) << err;
  // ..., N, median (2 cells), GFLOP/s, GB/s, noise, vs matvec, verified
  const std::vector<std::string> gemv = Row(out, "matvec", "gemv");
  ASSERT_EQ(gemv.size(), 11u) << out;
  EXPECT_EQ(gemv[3], "1000");
  EXPECT_EQ(gemv[4] + " " + gemv[5], "1 ms") << out;
  EXPECT_EQ(gemv[6], "1.999") << "1999000 FLOPs / 1 ms, in GFLOP/s\n" << out;
  EXPECT_EQ(gemv[7], "4.008") << "(N^2 + 2N) x 4 bytes / 1 ms, in GB/s\n" << out;
  EXPECT_EQ(gemv[8], "0.00%") << out;
  EXPECT_EQ(gemv[9], "0.25x") << out;
  EXPECT_EQ(gemv[10], "ok") << out;
  const std::vector<std::string> gemm = Row(out, "matvec", "gemm");
  ASSERT_EQ(gemm.size(), 11u) << out;
  EXPECT_EQ(gemm[4] + " " + gemm[5], "4 ms") << out;
  EXPECT_EQ(gemm[6], "0.4998") << out;
  EXPECT_EQ(gemm[9], "1.00x") << out;
  EXPECT_EQ(err, "");
}

}  // namespace
}  // namespace flopd
