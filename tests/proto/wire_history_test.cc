// The wire layer's history conversions: run ids, filters, jobs, the store's
// state, and a result's index.
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "proto/wire/wire.h"

namespace flopd {
namespace {

TEST(WireHistory, RunIdTravelsInTheRequestAndIntoEveryResult) {
  JobSubmission submission;
  submission.request.ops = {"outer"};
  submission.run_id = "r-01hv3k7q2m-x7k2pq";
  const v1::RunRequest request = ToProto(submission);
  EXPECT_EQ(request.run_id(), "r-01hv3k7q2m-x7k2pq");
  EXPECT_EQ(FromProto(request).run_id, "r-01hv3k7q2m-x7k2pq");

  DeviceDescription device;
  device.id = "cpu:0";
  PointOutcome outcome;
  outcome.point.op = "outer";
  outcome.point.impl = "fused";
  outcome.point.params = {{"axis", 1}};
  outcome.point.n = 64;
  outcome.measured_unix_ms = 1234;
  outcome.verification.passed = false;
  outcome.settings.timing = TimingMode::kCold;
  const JobOrigin origin{"j-1", "h", "v", &device, "r-7"};
  const v1::Result result = ToProto(outcome, origin);
  EXPECT_EQ(result.run_id(), "r-7");

  const ResultIndex index = IndexOf(result);
  EXPECT_EQ(index.job_id, "j-1");
  EXPECT_EQ(index.run_id, "r-7");
  EXPECT_EQ(index.device, "cpu:0");
  EXPECT_EQ(index.op, "outer");
  EXPECT_EQ(index.impl, "fused");
  EXPECT_EQ(index.params, "axis=1");
  EXPECT_EQ(index.dtype, "f32");
  EXPECT_EQ(index.n, 64);
  EXPECT_EQ(index.measured_unix_ms, 1234);
  EXPECT_EQ(index.timing, "cold");
  EXPECT_FALSE(index.verified);
}

TEST(WireHistory, FiltersRoundTripFieldByField) {
  ResultFilter f;
  f.job_ids = {"j-a"};
  f.run_ids = {"r-a", "r-b"};
  f.devices = {"cuda:1"};
  f.ops = {"outer"};
  f.impls = {"fused"};
  f.params = {"axis=0"};
  f.dtypes = {"f64"};
  f.min_n = 10;
  f.max_n = 20;
  f.since_unix_ms = 30;
  f.until_unix_ms = 40;
  EXPECT_EQ(FromProto(ToProto(f)).Canonical(), f.Canonical());

  JobFilter j;
  j.run_ids = {"r-a"};
  j.devices = {"cpu:0"};
  j.states = {"queued", "running"};
  j.since_unix_ms = 5;
  j.until_unix_ms = 6;
  EXPECT_EQ(FromProto(ToProto(j)).Canonical(), j.Canonical());

  v1::ListResultsRequest request;
  request.set_page_size(7);
  request.set_page_token("t");
  request.set_newest_first(true);
  const PageRequest page = PageOf(request);
  EXPECT_EQ(page.page_size, 7);
  EXPECT_EQ(page.page_token, "t");
  EXPECT_TRUE(page.newest_first);
}

TEST(WireHistory, AJobRecordBecomesJobInfoWithItsFinalStatusOnlyOnceEnded) {
  JobRecord job;
  job.id = "j-01hv3k7q2m-x7k2pq";
  job.submission.request.ops = {"matvec"};
  job.submission.request.sizes = "100";
  job.submission.client = "flopctl pid 1";
  job.submission.run_id = "r-1";
  job.peer = "ipv4:1.2.3.4:5";
  job.device = "cuda:0";
  job.state = JobState::kRunning;
  job.points_total = 4;
  job.points_measured = 2;
  job.points_failed_verification = 1;
  job.created_unix_ms = 10;
  job.started_unix_ms = 11;
  v1::JobInfo info = ToProto(job, "gpu01");
  EXPECT_EQ(info.job_id(), job.id);
  EXPECT_EQ(info.run_id(), "r-1");
  EXPECT_EQ(info.state(), "running");
  EXPECT_EQ(info.device(), "cuda:0");
  EXPECT_EQ(info.client(), "flopctl pid 1");
  EXPECT_EQ(info.peer(), "ipv4:1.2.3.4:5");
  EXPECT_EQ(info.request().sizes(), "100");
  EXPECT_EQ(info.request().run_id(), "r-1");
  EXPECT_EQ(info.points_total(), 4);
  EXPECT_EQ(info.points_measured(), 2);
  EXPECT_EQ(info.points_failed_verification(), 1);
  EXPECT_EQ(info.hostname(), "gpu01");
  EXPECT_EQ(info.status_code(), "") << "no final status while running";

  // Cancelled but still stopping (Job::RecordAfterCancel): who cancelled it.
  job.status = absl::CancelledError("cancelled by CancelJob from token:boss");
  info = ToProto(job, "gpu01");
  EXPECT_EQ(info.state(), "running");
  EXPECT_EQ(info.status_code(), "CANCELLED");
  EXPECT_EQ(info.status_message(), "cancelled by CancelJob from token:boss");

  job.state = JobState::kInterrupted;
  job.ended_unix_ms = 12;
  job.status = absl::UnavailableError("flopd stopped");
  info = ToProto(job, "gpu01");
  EXPECT_EQ(info.state(), "interrupted");
  EXPECT_EQ(info.status_code(), "UNAVAILABLE");
  EXPECT_EQ(info.status_message(), "flopd stopped");
  EXPECT_EQ(info.ended_unix_ms(), 12);

  job.state = JobState::kFinished;
  job.status = absl::OkStatus();
  EXPECT_EQ(ToProto(job, "gpu01").status_code(), "OK");
}

TEST(WireHistory, StoreHealthBecomesStoreStatus) {
  StoreHealth health;
  health.state = "degraded";
  health.detail = "disk full";
  health.path = "/var/lib/flopd/flopd.db";
  health.results = 5;
  health.jobs = 2;
  health.bytes = 4096;
  health.results_not_stored = 1;
  health.retention = "30d";
  health.schema_version = 2;
  const v1::StoreStatus status = ToProto(health);
  EXPECT_EQ(status.state(), "degraded");
  EXPECT_EQ(status.detail(), "disk full");
  EXPECT_EQ(status.path(), "/var/lib/flopd/flopd.db");
  EXPECT_EQ(status.results(), 5);
  EXPECT_EQ(status.jobs(), 2);
  EXPECT_EQ(status.bytes(), 4096);
  EXPECT_EQ(status.results_not_stored(), 1);
  EXPECT_EQ(status.retention(), "30d");
  EXPECT_EQ(status.schema_version(), 2);
}

}  // namespace
}  // namespace flopd

namespace flopd {
namespace {

// The README's grpcurl examples are requests this build accepts: each JSON
// body parses as its method's request (no unknown field) and its filter
// passes the daemon's checks.
TEST(WireHistory, TheReadmesGrpcurlExamplesAreValidRequests) {
  std::ifstream in(std::string(FLOPD_SOURCE_DIR) + "/README.md");
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string readme = buffer.str();
  const std::regex example(R"(-d '([^']*)'[\s\\]*[0-9.:]+ flopd\.v1\.Flopd/(\w+))");
  int checked = 0;
  for (auto it = std::sregex_iterator(readme.begin(), readme.end(), example);
       it != std::sregex_iterator(); ++it) {
    const std::string json = (*it)[1];
    const std::string method = (*it)[2];
    SCOPED_TRACE(method + " " + json);
    if (method == "ListResults") {
      v1::ListResultsRequest request;
      ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &request).ok());
      ResultFilter filter = FromProto(request.filter());
      EXPECT_TRUE(NormalizeResultFilter(&filter).ok());
    } else if (method == "ListJobs") {
      v1::ListJobsRequest request;
      ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &request).ok());
      JobFilter filter = FromProto(request.filter());
      EXPECT_TRUE(NormalizeJobFilter(&filter).ok());
    } else if (method == "WatchResults") {
      v1::WatchResultsRequest request;
      ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &request).ok());
      ResultFilter filter = FromProto(request.filter());
      EXPECT_TRUE(NormalizeResultFilter(&filter).ok());
    } else {
      ADD_FAILURE() << "no check for " << method;
    }
    ++checked;
  }
  EXPECT_GE(checked, 3) << "the README's examples were not found";
}

}  // namespace
}  // namespace flopd
