// HTTP for dashboards end to end: real flopd processes serving /api/v1,
// /metrics, /healthz, /readyz and the watch stream, driven by the real
// flopctl and read with an HTTP client (cpp-httplib) and a raw gRPC stub.
#include <signal.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "flopd/v1/flopd.grpc.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "tests/integration/process_harness.h"

namespace flopd::testing {
namespace {

using google::protobuf::util::MessageDifferencer;
using std::chrono::seconds;

const std::vector<std::string> kFast = {"--max-time", "0.05",          "--min-time",
                                        "0",          "--min-samples", "3"};

struct Reply {
  int status = 0;  // 0: no answer
  std::string body;
  std::string content_type;
};

Reply Get(const Daemon& daemon, const std::string& path) {
  httplib::Client client("127.0.0.1", daemon.http_port());
  client.set_read_timeout(30, 0);
  httplib::Result res = client.Get(path);
  if (!res) return {};
  return {res->status, res->body, res->get_header_value("Content-Type")};
}

template <typename Message>
Message FromJson(const std::string& json) {
  Message message;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &message);
  EXPECT_TRUE(status.ok()) << status.ToString() << " in " << json;
  return message;
}

std::unique_ptr<v1::Flopd::Stub> Stub(const Daemon& daemon) {
  return v1::Flopd::NewStub(
      grpc::CreateChannel(daemon.address(), grpc::InsecureChannelCredentials()));
}

CommandResult RunSmallJob(const Daemon& daemon, const std::string& sizes = "32,64") {
  std::vector<std::string> args = {"run",   "--host",  daemon.address(), "--op",    "matvec,outer",
                                   "--impl", "gemv,fused", "--sizes",    sizes,     "--quiet",
                                   "--format", "jsonl"};
  args.insert(args.end(), kFast.begin(), kFast.end());
  return RunFlopctl(args);
}

// A watch stream read in the background, its text collected.
class SseReader {
 public:
  SseReader(const Daemon& daemon, const std::string& path) : client_("127.0.0.1", daemon.http_port()) {
    client_.set_read_timeout(60, 0);
    thread_ = std::thread([this, path] {
      httplib::Result res = client_.Get(
          path,
          [this](const httplib::Response& response) {
            std::lock_guard<std::mutex> lock(mu_);
            status_ = response.status;
            return true;
          },
          [this](const char* data, size_t length) {
            std::lock_guard<std::mutex> lock(mu_);
            text_.append(data, length);
            return !stop_.load();
          });
      done_.store(true);
    });
  }
  ~SseReader() {
    stop_.store(true);
    client_.stop();
    thread_.join();
  }
  std::string text() const {
    std::lock_guard<std::mutex> lock(mu_);
    return text_;
  }
  int status() const {
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
  }
  bool done() const { return done_.load(); }
  int Count(const std::string& what) const {
    const std::string t = text();
    int count = 0;
    for (size_t at = t.find(what); at != std::string::npos; at = t.find(what, at + 1)) ++count;
    return count;
  }

 private:
  httplib::Client client_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::string text_;
  int status_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> done_{false};
};

TEST(Http, TheJsonApiServesWhatGrpcServesInOneSchema) {
  auto daemon = Daemon::Start("http-api");
  CommandResult run = RunSmallJob(*daemon);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto stub = Stub(*daemon);

  // Results: the very messages ListResults answers, through the JSON mapping.
  const Reply results = Get(*daemon, "/api/v1/results?op=outer&page_size=1000");
  ASSERT_EQ(results.status, 200) << results.body;
  EXPECT_EQ(results.content_type, "application/json");
  EXPECT_TRUE(absl::StrContains(results.body, "\"n\":\"32\"")) << "int64 as JSON strings";
  const auto over_http = FromJson<v1::ListResultsResponse>(results.body);
  v1::ListResultsRequest request;
  request.mutable_filter()->add_ops("outer");
  request.set_page_size(1000);
  v1::ListResultsResponse over_grpc;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub->ListResults(&context, request, &over_grpc).ok());
  }
  ASSERT_EQ(over_grpc.results_size(), 4);  // fused, axis 0 and 1, two sizes
  EXPECT_TRUE(MessageDifferencer::Equals(over_http, over_grpc));

  // Jobs, one job, the host, the catalog.
  const auto jobs = FromJson<v1::ListJobsResponse>(Get(*daemon, "/api/v1/jobs").body);
  ASSERT_EQ(jobs.jobs_size(), 1);
  EXPECT_EQ(jobs.jobs(0).state(), "finished");
  const Reply job = Get(*daemon, "/api/v1/jobs/" + jobs.jobs(0).job_id());
  ASSERT_EQ(job.status, 200) << job.body;
  {
    grpc::ClientContext context;
    v1::GetJobRequest get;
    get.set_job_id(jobs.jobs(0).job_id());
    v1::JobInfo info;
    ASSERT_TRUE(stub->GetJob(&context, get, &info).ok());
    EXPECT_TRUE(MessageDifferencer::Equals(FromJson<v1::JobInfo>(job.body), info));
  }
  const auto host = FromJson<v1::HostInfo>(Get(*daemon, "/api/v1/host").body);
  EXPECT_EQ(host.hostname(), "http-api");
  ASSERT_EQ(host.devices_size(), 1);
  EXPECT_EQ(host.devices(0).id(), "cpu:0");
  EXPECT_EQ(host.store().state(), "ok");
  EXPECT_EQ(host.limits().max_queued_jobs_per_device(), 64);  // the defaults
  EXPECT_EQ(host.limits().max_points_per_job(), 100000);
  EXPECT_EQ(host.limits().max_job_seconds(), 6 * 3600);
  EXPECT_EQ(host.store().results(), 6);  // gemv and fused on both axes, two sizes
  const auto ops = FromJson<v1::ListOpsResponse>(Get(*daemon, "/api/v1/ops").body);
  EXPECT_GE(ops.ops_size(), 2);

  // Paging over HTTP: page tokens carry over, no duplicates.
  const auto first = FromJson<v1::ListResultsResponse>(
      Get(*daemon, "/api/v1/results?page_size=3").body);
  ASSERT_EQ(first.results_size(), 3);
  ASSERT_FALSE(first.next_page_token().empty());
  const auto second = FromJson<v1::ListResultsResponse>(
      Get(*daemon, "/api/v1/results?page_size=100&page_token=" + first.next_page_token()).body);
  EXPECT_EQ(second.results_size(), 3);
  EXPECT_TRUE(second.next_page_token().empty());

  // omit_samples: the same results without their raw samples.
  const auto lean = FromJson<v1::ListResultsResponse>(
      Get(*daemon, "/api/v1/results?op=outer&page_size=1000&omit_samples=true").body);
  ASSERT_EQ(lean.results_size(), over_grpc.results_size());
  for (int i = 0; i < lean.results_size(); ++i) {
    v1::Result full = over_grpc.results(i);
    EXPECT_GT(full.sample_seconds_size(), 0);
    full.clear_sample_seconds();
    EXPECT_TRUE(MessageDifferencer::Equals(lean.results(i), full)) << i;
  }

  EXPECT_EQ(Get(*daemon, "/healthz").status, 200);
  EXPECT_EQ(Get(*daemon, "/favicon.ico").status, 204);
  const Reply ready = Get(*daemon, "/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_TRUE(absl::StrContains(ready.body, "\"ready\": true")) << ready.body;
}

TEST(Http, BadInputIsAnErrorNamingTheFieldAndFlopdKeepsServing) {
  auto daemon = Daemon::Start("http-bad");
  struct Case {
    std::string path;
    int status;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"/api/v1/results?op=nosuch", 400, "ops"},
      {"/api/v1/results?dtype=f16", 400, "dtypes"},
      {"/api/v1/results?params=axis=7", 400, "params"},
      {"/api/v1/results?since_unix_ms=20&until_unix_ms=10", 400, "until_unix_ms"},
      {"/api/v1/results?page_token=garbage", 400, "page_token"},
      {"/api/v1/results?page_size=-1", 400, "page_size"},
      {"/api/v1/results?min_n=ten", 400, "min_n: 'ten'"},
      {"/api/v1/results?colour=red", 400, "unknown parameter 'colour'"},
      {"/api/v1/jobs?state=sleeping", 400, "state"},
      {"/api/v1/jobs/j-nosuchjob", 400, "is not a job id"},
      {"/api/v1/jobs/j-0000000000-000000", 404, "job_id"},
      {"/api/v1/watch?until_unix_ms=5", 400, "until_unix_ms"},
      {"/api/v1/watch?op=nosuch", 400, "ops"},
      {"/api/v1/nothing", 404, "no such path"},
  };
  for (const Case& c : cases) {
    const Reply reply = Get(*daemon, c.path);
    EXPECT_EQ(reply.status, c.status) << c.path << ": " << reply.body;
    EXPECT_EQ(reply.content_type, "application/json") << c.path;
    EXPECT_TRUE(absl::StrContains(reply.body, c.says)) << c.path << ": " << reply.body;
    EXPECT_TRUE(absl::StrContains(reply.body, "\"code\": ")) << c.path << ": " << reply.body;
  }
  // A huge page size is served as the largest page.
  EXPECT_EQ(Get(*daemon, "/api/v1/results?page_size=1000000000").status, 200);
  // Writes are gRPC's: the HTTP API is read-only.
  httplib::Client client("127.0.0.1", daemon->http_port());
  httplib::Result post = client.Post("/api/v1/jobs", "{}", "application/json");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
  EXPECT_TRUE(absl::StrContains(post->body, "read-only")) << post->body;
  // Still serving, HTTP and gRPC.
  EXPECT_EQ(Get(*daemon, "/healthz").status, 200);
  CommandResult run = RunSmallJob(*daemon, "16");
  EXPECT_EQ(run.exit_code, 0) << run.err;
}

TEST(Http, AWatchStreamSeesAJobStartedByAnotherClientAndReplaysHistory) {
  auto daemon = Daemon::Start("http-watch");
  {
    SseReader live(*daemon, "/api/v1/watch?op=outer");
    ASSERT_TRUE(WaitFor([&] { return live.Count("event: caught_up") == 1; }, seconds(30)))
        << live.text();
    EXPECT_EQ(live.status(), 200);
    CommandResult run = RunSmallJob(*daemon);
    ASSERT_EQ(run.exit_code, 0) << run.err;
    // The filter applies: outer's four results, not matvec's.
    ASSERT_TRUE(WaitFor([&] { return live.Count("event: result") == 4; }, seconds(30)))
        << live.text();
    EXPECT_TRUE(absl::StrContains(live.text(), "data: {\"job_id\":\"j-")) << live.text();
    EXPECT_FALSE(absl::StrContains(live.text(), "\"op\":\"matvec\"")) << live.text();
  }
  // A late reader replays the stored results first, then says it caught up.
  SseReader replay(*daemon, "/api/v1/watch?since_unix_ms=1&omit_samples=true");
  ASSERT_TRUE(WaitFor([&] { return replay.Count("event: caught_up") == 1; }, seconds(30)))
      << replay.text();
  EXPECT_EQ(replay.Count("event: result"), 6);
  EXPECT_TRUE(absl::StrContains(replay.text(), "data: {\"replayed\":6}")) << replay.text();
  EXPECT_EQ(replay.Count("\"sample_seconds\":[]"), 6) << replay.text();

  // Shutting down ends the stream with a final event saying why.
  daemon->Signal(SIGTERM);
  ASSERT_TRUE(WaitFor([&] { return replay.done(); }, seconds(15))) << replay.text();
  EXPECT_TRUE(absl::StrContains(replay.text(), "event: end\ndata: {\"code\": \"UNAVAILABLE\""))
      << replay.text();
  EXPECT_EQ(daemon->Wait(seconds(15)), 0) << ReadFile(daemon->log_path());
}

TEST(Http, MetricsSurviveARestartFromTheStore) {
  const std::string state = TempDir() + "/metrics.state";
  double median = 0;
  {
    auto daemon = Daemon::Start("http-metrics", {"--state-dir", state});
    CommandResult run = RunSmallJob(*daemon, "48");
    ASSERT_EQ(run.exit_code, 0) << run.err;
    const Reply metrics = Get(*daemon, "/metrics");
    ASSERT_EQ(metrics.status, 200);
    EXPECT_TRUE(absl::StartsWith(metrics.content_type, "text/plain; version=0.0.4"));
    EXPECT_TRUE(absl::StrContains(metrics.body, "flopd_results_total{device=\"cpu:0\"} 3"))
        << metrics.body;
    EXPECT_TRUE(absl::StrContains(metrics.body,
                                  "flopd_jobs_total{device=\"cpu:0\",state=\"finished\"} 1"))
        << metrics.body;
    const auto stored = FromJson<v1::ListResultsResponse>(
        Get(*daemon, "/api/v1/results?op=matvec").body);
    ASSERT_EQ(stored.results_size(), 1);
    median = stored.results(0).time().median();
    daemon->Signal(SIGKILL);
    daemon->Wait(seconds(10));
  }
  auto again = Daemon::Start("http-metrics", {"--state-dir", state});
  const Reply metrics = Get(*again, "/metrics");
  // The point's gauge is back with the stored median; counters restart.
  const std::string line = absl::StrCat(
      "flopd_point_median_seconds{device=\"cpu:0\",dtype=\"f32\",impl=\"gemv\",n=\"48\",op=\"matvec\","
      "params=\"\",timing=\"hot\"} ");
  const size_t at = metrics.body.find(line);
  ASSERT_NE(at, std::string::npos) << metrics.body;
  const double restored = std::stod(metrics.body.substr(at + line.size()));
  EXPECT_NEAR(restored, median, median * 1e-9);
  EXPECT_FALSE(absl::StrContains(metrics.body, "flopd_results_total{")) << metrics.body;
  EXPECT_TRUE(absl::StrContains(metrics.body, "flopd_metrics_points 3")) << metrics.body;
}

TEST(Http, ListenerFlags) {
  // A port already taken is a startup error naming the flag, not a missing
  // listener.
  auto first = Daemon::Start("http-first");
  std::string error;
  auto second = Daemon::TryStart("http-second", {"--http-listen", first->http_address()}, false,
                                 &error);
  EXPECT_EQ(second, nullptr);
  EXPECT_TRUE(absl::StrContains(error, "--http-listen: cannot listen on " + first->http_address()))
      << error;
  EXPECT_TRUE(absl::StrContains(
      Daemon::TryStart("http-bad-addr", {"--http-listen", "nonsense"}, false, &error) == nullptr
          ? error
          : "",
      "--http-listen: 'nonsense' is not allowed"))
      << error;
  // --no-http: gRPC only.
  auto grpc_only = Daemon::Start("http-off", {"--no-http"});
  EXPECT_EQ(grpc_only->http_port(), 0);
  EXPECT_EQ(RunSmallJob(*grpc_only, "16").exit_code, 0);
}

}  // namespace
}  // namespace flopd::testing
