// History end to end: real flopd processes with their stores on disk, driven
// by the real flopctl (history, jobs, watch, cancel) and a raw gRPC stub.
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "client/result_format.h"
#include "flopd/v1/flopd.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "tests/integration/process_harness.h"
#include "tests/server/store/store_test_util.h"

namespace flopd::testing {
namespace {

using std::chrono::seconds;

const std::vector<std::string> kFast = {"--max-time", "0.05",          "--min-time",
                                        "0",          "--min-samples", "3"};

std::vector<std::string> With(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// The complete lines of a JSON Lines file that may still be being written.
std::vector<std::string> CompleteLines(const std::string& path) {
  std::string text = ReadFile(path);
  text.erase(text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1);
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

// A path under TempDir() no other test (or repetition) uses.
std::string FreshPath(const std::string& stem) {
  static int counter = 0;
  return TempDir() + "/" + stem + "." + std::to_string(++counter);
}

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

std::vector<v1::Result> Parse(const std::vector<std::string>& lines) {
  std::vector<v1::Result> results;
  for (const std::string& line : lines) {
    absl::StatusOr<v1::Result> r = FromJsonLine(line);
    EXPECT_TRUE(r.ok()) << r.status() << " in: " << line;
    if (r.ok()) results.push_back(*r);
  }
  return results;
}

std::unique_ptr<v1::Flopd::Stub> Stub(const Daemon& daemon) {
  return v1::Flopd::NewStub(
      grpc::CreateChannel(daemon.address(), grpc::InsecureChannelCredentials()));
}

grpc::Status ListResults(v1::Flopd::Stub& stub, const v1::ListResultsRequest& request,
                         v1::ListResultsResponse* response) {
  grpc::ClientContext context;
  return stub.ListResults(&context, request, response);
}

v1::HostInfo HostInfo(v1::Flopd::Stub& stub) {
  grpc::ClientContext context;
  v1::HostInfo info;
  EXPECT_TRUE(stub.GetHostInfo(&context, v1::GetHostInfoRequest(), &info).ok());
  return info;
}

std::string Health(const Daemon& daemon, const std::string& service) {
  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(daemon.address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = health->Check(&context, request, &response);
  if (!status.ok()) return status.error_message();
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
}

TEST(History, AfterKillNineEveryStreamedResultIsStoredByteForByteAndTheJobIsInterrupted) {
  const std::string state = FreshPath("kill9.state");
  auto daemon = Daemon::Start("kill9", {"--state-dir", state});
  const std::string out = FreshPath("kill9.jsonl");
  BackgroundCommand run({"run", "--host", daemon->address(), "--op", "matvec", "--impl", "gemv",
                         "--sizes", "64:6400:64", "--max-time", "0.05", "--min-time", "0.02",
                         "--min-samples", "3", "--out", out});
  // The --out file appears when the run ends; results arriving are on stderr.
  ASSERT_TRUE(WaitFor(
      [&] {
        int arrived = 0;
        for (absl::string_view line : absl::StrSplit(run.CurrentErr(), '\n')) {
          arrived += absl::StartsWith(line, daemon->name() + " matvec/gemv ");
        }
        return arrived >= 3;
      },
      seconds(60)))
      << run.CurrentErr();
  daemon->Signal(SIGKILL);  // mid-job, mid-point
  ASSERT_EQ(daemon->Wait(seconds(10)), 128 + SIGKILL);
  CommandResult ended = run.Wait();
  EXPECT_EQ(ended.exit_code, 1) << ended.err;
  const std::vector<std::string> streamed_lines = CompleteLines(out);
  std::vector<v1::Result> streamed = Parse(streamed_lines);
  ASSERT_GE(streamed.size(), 3u);
  const std::string job_id = streamed[0].job_id();
  const std::string old_address = daemon->address();

  auto again = Daemon::Start("kill9", {"--state-dir", state});
  auto stub = Stub(*again);
  v1::ListResultsRequest request;
  request.mutable_filter()->add_job_ids(job_id);
  request.set_page_size(1000);
  v1::ListResultsResponse stored;
  ASSERT_TRUE(ListResults(*stub, request, &stored).ok());
  // Each result is committed before it is streamed: at most the one in
  // flight when flopd died was stored and not received.
  ASSERT_GE(stored.results_size(), static_cast<int>(streamed.size()));
  EXPECT_LE(stored.results_size(), static_cast<int>(streamed.size()) + 1);
  for (size_t i = 0; i < streamed.size(); ++i) {
    streamed[i].clear_host_address();  // set by flopctl, not the daemon
    EXPECT_EQ(Deterministic(stored.results(static_cast<int>(i))), Deterministic(streamed[i])) << i;
  }

  grpc::ClientContext context;
  v1::GetJobRequest get;
  get.set_job_id(job_id);
  v1::JobInfo job;
  ASSERT_TRUE(stub->GetJob(&context, get, &job).ok());
  EXPECT_EQ(job.state(), "interrupted");
  EXPECT_EQ(job.status_code(), "UNAVAILABLE");
  EXPECT_EQ(job.points_measured(), stored.results_size());
  EXPECT_EQ(job.points_total(), 99);  // 64, 128, ..., 6336
  EXPECT_TRUE(absl::StrContains(ReadFile(again->log_path()), "marked 1 job(s)"));

  // flopctl history prints the very lines flopctl run wrote (the daemon
  // now answers on another port, which is the only difference).
  CommandResult history =
      RunFlopctl({"history", "--host", again->address(), "--job", job_id, "--format", "jsonl"});
  ASSERT_EQ(history.exit_code, 0) << history.err;
  std::vector<std::string> history_lines = absl::StrSplit(history.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(history_lines.size(), static_cast<size_t>(stored.results_size()));
  for (size_t i = 0; i < streamed_lines.size(); ++i) {
    EXPECT_EQ(absl::StrReplaceAll(history_lines[i], {{again->address(), old_address}}),
              streamed_lines[i])
        << i;
  }
  CommandResult jobs = RunFlopctl({"jobs", "--host", again->address()});
  ASSERT_EQ(jobs.exit_code, 0) << jobs.err;
  EXPECT_TRUE(absl::StrContains(jobs.out, job_id + "  interrupted")) << jobs.out;
}

TEST(History, AWatcherSeesAnotherClientsJobAndCancelStopsAJob) {
  auto daemon = Daemon::Start("watched");
  const std::string watched = FreshPath("watched.jsonl");
  BackgroundCommand watch({"watch", "--host", daemon->address(), "--out", watched});
  ASSERT_TRUE(
      WaitFor([&] { return absl::StrContains(watch.CurrentErr(), ": watching"); }, seconds(30)))
      << watch.CurrentErr();
  const std::string ran = FreshPath("watched-run.jsonl");
  CommandResult run = RunFlopctl(With({"run", "--host", daemon->address(), "--op", "outer",
                                       "--impl", "fused", "--sizes", "32,48", "--out", ran},
                                      kFast));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  // The --out file appears when the watch ends; results arriving are on stdout.
  ASSERT_TRUE(WaitFor([&] { return Lines(watch.CurrentOut()).size() >= 4; }, seconds(30)))
      << watch.CurrentOut();
  watch.Signal(SIGINT);
  CommandResult watch_end = watch.Wait(seconds(30));
  EXPECT_EQ(watch_end.exit_code, 0) << watch_end.err;
  EXPECT_EQ(CompleteLines(watched), CompleteLines(ran)) << "the watcher saw what run streamed";
  EXPECT_EQ(Lines(watch_end.out).size(), 4u) << watch_end.out;

  // A job started by one client, found and cancelled by another.
  BackgroundCommand long_run({"run", "--host", daemon->address(), "--op", "matvec", "--sizes",
                              "64:6400:64", "--max-time", "0.2", "--min-time", "0.1", "--quiet"});
  std::string job_id;
  ASSERT_TRUE(WaitFor(
      [&] {
        CommandResult jobs = RunFlopctl(
            {"jobs", "--host", daemon->address(), "--state", "running", "--format", "jsonl"});
        const size_t at = jobs.out.find("\"job_id\":\"");
        if (at == std::string::npos) return false;
        job_id = jobs.out.substr(at + 10, 19);
        return true;
      },
      seconds(30)));
  CommandResult cancel = RunFlopctl({"cancel", job_id, "--host", daemon->address()});
  EXPECT_EQ(cancel.exit_code, 0) << cancel.err;
  EXPECT_TRUE(absl::StrContains(cancel.out, job_id + ": cancelled")) << cancel.out;
  CommandResult cancelled = long_run.Wait();
  EXPECT_EQ(cancelled.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(cancelled.err, "CANCELLED: cancelled by CancelJob from"))
      << cancelled.err;
  CommandResult again = RunFlopctl({"cancel", job_id, "--host", daemon->address()});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(
      again.err, "FAILED_PRECONDITION: job_id: job " + job_id + " has already ended (cancelled)"))
      << again.err;
}

TEST(History, BadHistoryInputIsRefusedNamingTheFieldAndFlopdKeepsServing) {
  // flopctl refuses locally, in the daemon's words, without dialing.
  for (const auto& [args, expected] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"history", "--op", "conv"}, "filter.ops: unknown op 'conv'"},
           {{"history", "--since", "yesterday"}, "--since: 'yesterday' is not a time"},
           {{"history", "--since", "1h", "--until", "2h"}, "filter.since_unix_ms: "},
           {{"jobs", "--state", "done"}, "filter.states: unknown state 'done'"},
           {{"watch", "--axis", "7"}, "filter.params: axis=7 is not allowed"},
           {{"cancel", "job-1"}, "job_id: 'job-1' is not a job id"},
       }) {
    std::vector<std::string> full = args;
    full.insert(full.begin() + 1, {"--host", "127.0.0.1:1"});
    CommandResult refused = RunFlopctl(full);
    EXPECT_EQ(refused.exit_code, 2) << expected << ": " << refused.err;
    EXPECT_TRUE(absl::StrContains(refused.err, expected)) << expected << " not in " << refused.err;
  }

  // The daemon refuses on the wire with the field named.
  auto daemon = Daemon::Start("strict-history");
  auto stub = Stub(*daemon);
  v1::ListResultsResponse response;
  v1::ListResultsRequest request;
  request.mutable_filter()->add_impls("cudnn");
  grpc::Status status = ListResults(*stub, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StartsWith(status.error_message(), "filter.impls: unknown impl 'cudnn'"));
  request.Clear();
  request.set_page_token("AAAA");
  status = ListResults(*stub, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StartsWith(status.error_message(), "page_token: ")) << status.error_message();
  request.Clear();
  request.mutable_filter()->set_since_unix_ms(10);
  request.mutable_filter()->set_until_unix_ms(5);
  EXPECT_EQ(ListResults(*stub, request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  request.Clear();
  request.set_page_size(1000000);
  EXPECT_TRUE(ListResults(*stub, request, &response).ok()) << "clamped, not refused";
  request.set_page_size(-1);
  EXPECT_EQ(ListResults(*stub, request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  // Still serving: a job runs and is in the history.
  CommandResult run = RunFlopctl(With({"run", "--host", daemon->address(), "--op", "matvec",
                                       "--impl", "gemv", "--sizes", "32", "--run-id", "nightly-1"},
                                      kFast));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  CommandResult history =
      RunFlopctl({"history", "--host", daemon->address(), "--run", "nightly-1", "--format", "csv"});
  ASSERT_EQ(history.exit_code, 0) << history.err;
  EXPECT_EQ(Lines(history.out).size(), 2u) << history.out;
  CommandResult none = RunFlopctl({"history", "--host", daemon->address(), "--run", "nightly-2"});
  EXPECT_EQ(none.exit_code, 0) << none.err;
  EXPECT_TRUE(absl::StrContains(none.out, "no results")) << none.out;
}

TEST(History, AStoreThatCannotBeOpenedIsReportedAndFlopdStillMeasures) {
  // A corrupt file: refused, reported, never written.
  const std::string state = FreshPath("corrupt.state");
  mkdir(state.c_str(), 0700);
  const std::string garbage = "not a database: somebody's notes\n" + std::string(5000, '\x01');
  WriteBytes(state + "/flopd.db", garbage);
  auto corrupt = Daemon::Start("corrupt", {"--state-dir", state});
  auto stub = Stub(*corrupt);
  v1::HostInfo info = HostInfo(*stub);
  EXPECT_EQ(info.store().state(), "unavailable");
  EXPECT_TRUE(absl::StrContains(info.store().detail(), state + "/flopd.db"))
      << info.store().detail();
  EXPECT_TRUE(absl::StrContains(info.store().detail(), "left as it is")) << info.store().detail();
  EXPECT_EQ(Health(*corrupt, ""), "SERVING");
  EXPECT_EQ(Health(*corrupt, "flopd.store"), "NOT_SERVING");
  CommandResult run = RunFlopctl(With({"run", "--host", corrupt->address(), "--op", "outer",
                                       "--impl", "fused", "--axis", "0", "--sizes", "32"},
                                      kFast));
  EXPECT_EQ(run.exit_code, 0) << run.err;
  v1::ListResultsResponse response;
  grpc::Status status = ListResults(*stub, v1::ListResultsRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "its store is unavailable"));
  CommandResult shown = RunFlopctl({"info", "--host", corrupt->address()});
  EXPECT_TRUE(absl::StrContains(shown.out, "store: unavailable")) << shown.out;
  EXPECT_TRUE(absl::StrContains(ReadFile(corrupt->log_path()), "store unavailable"));
  EXPECT_EQ(ReadBytes(state + "/flopd.db"), garbage);

  // A state directory that cannot be made (a file is in the way; root
  // ignores permission bits, this it cannot ignore): the same.
  const std::string in_the_way = FreshPath("in-the-way");
  WriteBytes(in_the_way, "x");
  auto unwritable = Daemon::Start("unwritable", {"--state-dir", in_the_way + "/state"});
  auto stub2 = Stub(*unwritable);
  EXPECT_EQ(HostInfo(*stub2).store().state(), "unavailable");
  EXPECT_TRUE(
      absl::StrContains(HostInfo(*stub2).store().detail(), "cannot create the state directory"));
  run = RunFlopctl(With(
      {"run", "--host", unwritable->address(), "--op", "matvec", "--impl", "gemv", "--sizes", "32"},
      kFast));
  EXPECT_EQ(run.exit_code, 0) << run.err;

  // --no-store: off, by choice.
  auto off = Daemon::Start("off", {"--no-store"});
  auto stub3 = Stub(*off);
  EXPECT_EQ(HostInfo(*stub3).store().state(), "off");
}

}  // namespace
}  // namespace flopd::testing
