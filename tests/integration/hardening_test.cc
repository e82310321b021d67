// Findings of "safe to put on a network" (issue 9), each a regression test on
// real processes: exclusive ports and strict addresses in both binaries,
// flopctl never destroying a results file, and client strings escaped and
// bounded in flopd's log and in its error messages.
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/result_format.h"
#include "flopd/v1/flopd.grpc.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "tests/integration/process_harness.h"

namespace flopd::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

int LinesWith(const std::string& text, const std::string& word) {
  int count = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) count += absl::StrContains(line, word);
  return count;
}

// A fresh directory under TempDir(), so that a test can see every file left
// in it.
std::string FreshDir(const std::string& name) {
  const std::string dir = TempDir() + "/" + name;
  std::filesystem::create_directories(dir);
  return dir;
}

std::vector<std::string> Names(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::unique_ptr<v1::Flopd::Stub> Stub(const Daemon& daemon) {
  return v1::Flopd::NewStub(
      grpc::CreateChannel(daemon.address(), grpc::InsecureChannelCredentials()));
}

// ---------------------------------------------------------------------------
// Exclusive ports and strict addresses.

constexpr char kListenForm[] = "HOST:PORT or [IPV6]:PORT with PORT 0..65535";

// gRPC's SO_REUSEPORT let a second flopd start on the first one's address
// and take half its connections (and run jobs on the same device).
TEST(StrictAddresses, ASecondFlopdOnAnAddressInUseFailsWithOneLineAndNeverSaysItListens) {
  auto first = Daemon::Start("owner", {"--no-http"});
  CommandResult second = RunFlopd(
      {"--listen", first->address(), "--no-http", "--no-store", "--no-cuda"}, seconds(10));
  EXPECT_EQ(second.exit_code, 2) << second.out << second.err;
  EXPECT_FALSE(absl::StrContains(second.out, "listening on")) << second.out;
  EXPECT_TRUE(absl::StrContains(second.err, "flopd: --listen: cannot listen on " +
                                                first->address() +
                                                ": Address already in use; pick another with "
                                                "--listen\n"))
      << second.err;
  EXPECT_EQ(LinesWith(second.err, first->address()), 1) << second.err;
}

// `--listen 127.0.0.1:99999` bound some other port; `:abc` was reported as
// "connection refused" by the client.
TEST(StrictAddresses, FlopdRefusesAPortOutsideTheRangeOrNotANumberBeforeAnythingElse) {
  for (const std::string bad : {"127.0.0.1:99999", "127.0.0.1:65536", "127.0.0.1:abc",
                                "127.0.0.1:-1", "127.0.0.1:", "127.0.0.1", "::1"}) {
    CommandResult run =
        RunFlopd({"--listen", bad, "--no-http", "--no-store", "--no-cuda"}, seconds(5));
    EXPECT_EQ(run.exit_code, 2) << bad << "\n" << run.err;
    EXPECT_EQ(run.out, "") << bad;
    EXPECT_EQ(run.err, absl::StrCat("flopd: --listen: '", bad, "' is not allowed; allowed: ",
                                    kListenForm, "\n"))
        << bad;
  }
  CommandResult http = RunFlopd({"--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:99999",
                                 "--no-store", "--no-cuda"},
                                seconds(5));
  EXPECT_EQ(http.exit_code, 2) << http.err;
  EXPECT_EQ(http.out, "");
  EXPECT_EQ(http.err, absl::StrCat("flopd: --http-listen: '127.0.0.1:99999' is not allowed; "
                                   "allowed: ",
                                   kListenForm, "\n"));
}

// The HTTP listener was started after flopd had printed "listening on".
TEST(StrictAddresses, AnHttpAddressInUseFailsBeforeFlopdSaysItListens) {
  auto first = Daemon::Start("http-owner");
  CommandResult second = RunFlopd({"--listen", "127.0.0.1:0", "--http-listen",
                                   first->http_address(), "--no-store", "--no-cuda"},
                                  seconds(10));
  EXPECT_EQ(second.exit_code, 2) << second.err;
  EXPECT_FALSE(absl::StrContains(second.out, "listening on")) << second.out;
  EXPECT_TRUE(
      absl::StrContains(second.err, "--http-listen: cannot listen on " + first->http_address()))
      << second.err;
}

// `flopctl --host h:99999` dialled some other port and `h:abc` said
// "unreachable": every command refuses them before dialling (exit 2).
TEST(StrictAddresses, FlopctlRefusesAHostWithABadPortBeforeDialling) {
  const std::vector<std::vector<std::string>> commands = {
      {"run", "--op", "outer", "--sizes", "32"}, {"info"}, {"ops"}, {"history"}, {"jobs"},
      {"watch"}, {"cancel", "j-01hv3k7q2m-x7k2pq"}};
  for (const std::string host : {"127.0.0.1:99999", "127.0.0.1:abc", "127.0.0.1:0", "::1",
                                 "[::1]:65536", "127.0.0.1:1,h:x"}) {
    const std::string shown = host == "127.0.0.1:1,h:x" ? "h:x" : host;
    for (std::vector<std::string> args : commands) {
      // Every command with one bad host; every bad host with `run`.
      if (host != "127.0.0.1:99999" && args[0] != "run") continue;
      args.insert(args.begin() + 1, {"--host", host});
      CommandResult run = RunFlopctl(args, seconds(20));
      EXPECT_EQ(run.exit_code, 2) << args[0] << " --host " << host << "\n" << run.err;
      EXPECT_EQ(run.err, absl::StrCat("flopctl: --host: '", shown,
                                      "' is not allowed; allowed: HOST, HOST:PORT, [IPV6] or "
                                      "[IPV6]:PORT with PORT 1..65535, or unix:PATH\n"))
          << args[0] << " --host " << host;
    }
  }
}

// ---------------------------------------------------------------------------
// flopctl never destroys data.

// Result lines flopctl prints on stderr as results arrive (stderr is no
// terminal here): "ADDRESS matvec/gemv f32 N=..."
int ResultLines(const std::string& err, const Daemon& daemon) {
  return LinesWith(err, daemon.name() + " matvec/gemv ");
}

const std::vector<std::string> kSlowPoints = {"--op", "matvec", "--impl", "gemv", "--min-time",
                                              "0.1", "--max-time", "0.1", "--min-samples", "3"};

std::vector<std::string> RunArgs(const Daemon& daemon, const std::string& sizes,
                                 const std::string& out) {
  std::vector<std::string> args = {"run", "--host", daemon.address(), "--sizes", sizes,
                                   "--out", out};
  args.insert(args.end(), kSlowPoints.begin(), kSlowPoints.end());
  return args;
}

// Every result in `path`, whatever its format (by its name).
std::vector<v1::Result> ReadAnyResults(const std::string& path) {
  const std::string text = ReadFile(path);
  std::vector<v1::Result> results;
  if (absl::EndsWith(path, ".json")) {
    v1::ListResultsResponse list;
    const auto parsed = google::protobuf::util::JsonStringToMessage(
        absl::StrCat("{\"results\": ", text, "}"), &list);
    EXPECT_TRUE(parsed.ok()) << path << " is not a JSON array of results: " << text;
    results.assign(list.results().begin(), list.results().end());
  } else if (absl::EndsWith(path, ".csv")) {
    std::vector<std::string> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
    EXPECT_FALSE(lines.empty()) << path;
    if (!lines.empty()) {
      EXPECT_EQ(lines[0], CsvHeader()) << path;
    }
    results.resize(lines.empty() ? 0 : lines.size() - 1);  // the rows; their text is CsvSink's
  } else {
    for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
      absl::StatusOr<v1::Result> r = FromJsonLine(std::string(line));
      EXPECT_TRUE(r.ok()) << r.status() << " in line: " << line;
      if (r.ok()) results.push_back(*r);
    }
  }
  return results;
}

// `flopctl run --out FILE` truncated FILE before it even dialled.
// Issue 9: under a tight ulimit flopd used to print "listening on" and then
// abort on an uncaught std::system_error (a thread it could not start). Now
// every thread starts before that line, and a start short of memory or
// threads ends with one line and a non-zero status. Each limit either lets
// flopd run (until `timeout` stops it: 124) or makes it fail without ever
// claiming to listen; the smallest surely fails.
TEST(FailedStart, ShortOfMemoryOrThreadsFlopdSaysSoInOneLineAndNeverThatItListens) {
  if (std::getenv("ASAN_OPTIONS") != nullptr || std::getenv("TSAN_OPTIONS") != nullptr) {
    GTEST_SKIP() << "a sanitizer's shadow memory does not fit under ulimit -v";
  }
  int failed_starts = 0;
  for (const int kib : {3000000, 900000, 600000, 400000, 200000}) {
    const std::string out = TempDir() + "/ulimit.out", err = TempDir() + "/ulimit.err";
    const std::string command = absl::StrCat(
        "timeout -s TERM 3 bash -c 'ulimit -v ", kib, "; exec ", FlopdBinary(),
        " --no-cuda --no-store --listen 127.0.0.1:0 --http-listen 127.0.0.1:0' >", out, " 2>",
        err);
    const int status = std::system(command.c_str());
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    const std::string said = ReadFile(out), why = ReadFile(err);
    if (absl::StrContains(said, "listening on")) {
      EXPECT_EQ(code, 124) << "ulimit -v " << kib << ": it said it listens, then: " << why;
      continue;
    }
    ++failed_starts;
    // 2: flopd's own line; 134: a library's abort(), which flopd names; 127:
    // the dynamic loader could not even map flopd's libraries (cuBLAS, in a
    // CUDA build), with its own one line.
    EXPECT_TRUE(code == 2 || code == 134 || code == 127) << kib << ": " << code << "\n" << why;
    EXPECT_TRUE(absl::StrContains(why, "flopd: cannot go on: ") ||
                absl::StrContains(why, "flopd: aborted (a library gave up") ||
                absl::StrContains(why, "error while loading shared libraries"))
        << "ulimit -v " << kib << ":\n" << why;
  }
  EXPECT_GT(failed_starts, 0) << "no limit was tight enough to test a failed start";
}

TEST(FlopctlOut, AnExistingFileIsUntouchedUntilTheRunEndsThenReplacedWhole) {
  auto daemon = Daemon::Start("keep");
  const std::string dir = FreshDir("keep");
  const std::string path = dir + "/results.jsonl";
  WriteFile(path, "precious\n");
  BackgroundCommand run(RunArgs(*daemon, "100:600:100", path));
  ASSERT_TRUE(WaitFor([&] { return ResultLines(run.CurrentErr(), *daemon) >= 1; }, seconds(60)))
      << run.CurrentErr();
  EXPECT_EQ(ReadFile(path), "precious\n") << "replaced before the run ended";
  CommandResult done = run.Wait();
  ASSERT_EQ(done.exit_code, 0) << done.err;
  EXPECT_EQ(ReadAnyResults(path).size(), 5u);
  EXPECT_TRUE(absl::StrContains(done.err, "flopctl: wrote 5 results to " + path)) << done.err;
  EXPECT_EQ(Names(dir), (std::vector<std::string>{"results.jsonl"}));
}

TEST(FlopctlOut, ACommandThatFailedBeforeAnyResultLeavesTheFileAsItWasAndSaysSo) {
  const std::string dir = FreshDir("failed");
  const std::string path = dir + "/results.json";
  WriteFile(path, "precious\n");
  const std::string said = "flopctl: --out: no results arrived; " + path + " was left as it was";
  CommandResult run =
      RunFlopctl({"run", "--host", "127.0.0.1:1", "--op", "outer", "--sizes", "32", "--out", path});
  EXPECT_EQ(run.exit_code, 1) << run.err;
  EXPECT_TRUE(absl::StrContains(run.err, said)) << run.err;
  EXPECT_EQ(ReadFile(path), "precious\n");
  CommandResult history = RunFlopctl({"history", "--host", "127.0.0.1:1", "--out", path});
  EXPECT_EQ(history.exit_code, 1) << history.err;
  EXPECT_TRUE(absl::StrContains(history.err, said)) << history.err;
  EXPECT_EQ(ReadFile(path), "precious\n");
  CommandResult watch = RunFlopctl({"watch", "--host", "127.0.0.1:1", "--out", path});
  EXPECT_EQ(watch.exit_code, 1) << watch.err;
  EXPECT_TRUE(absl::StrContains(watch.err, said)) << watch.err;
  EXPECT_EQ(ReadFile(path), "precious\n");
  EXPECT_EQ(Names(dir), (std::vector<std::string>{"results.json"}));
}

// Ctrl-C with `--out x.json` left a 0-byte file although results had
// arrived: every format keeps what arrived, as a whole document, and flopctl
// says so, shows the table of what arrived and exits 128+signal.
TEST(FlopctlOut, AnInterruptedRunKeepsWhatArrivedInEveryFormat) {
  auto daemon = Daemon::Start("interrupted");
  const std::string dir = FreshDir("interrupted");
  for (const auto& [name, signal_number] :
       std::vector<std::pair<std::string, int>>{{"r.json", SIGINT}, {"r.csv", SIGINT},
                                                {"r.jsonl", SIGTERM}}) {
    const std::string path = dir + "/" + name;
    BackgroundCommand run(RunArgs(*daemon, "100:5000:100", path));
    ASSERT_TRUE(WaitFor([&] { return ResultLines(run.CurrentErr(), *daemon) >= 2; }, seconds(60)))
        << run.CurrentErr();
    run.Signal(signal_number);
    CommandResult done = run.Wait(seconds(20));
    EXPECT_EQ(done.exit_code, 128 + signal_number) << name << "\n" << done.err;
    const int arrived = ResultLines(done.err, *daemon);
    EXPECT_GE(arrived, 2) << done.err;
    EXPECT_TRUE(absl::StrContains(done.err, absl::StrCat("flopctl: wrote ", arrived,
                                                         " results to ", path)))
        << name << "\n" << done.err;
    EXPECT_TRUE(absl::StrContains(done.err, "CANCELLED: interrupted")) << done.err;
    EXPECT_TRUE(absl::StrContains(done.out, "matvec  gemv")) << "the table of what arrived\n"
                                                             << done.out;
    EXPECT_EQ(static_cast<int>(ReadAnyResults(path).size()), arrived) << name;
  }
  EXPECT_EQ(Names(dir), (std::vector<std::string>{"r.csv", "r.json", "r.jsonl"}))
      << "no temporary file is left behind";
}

// ---------------------------------------------------------------------------
// Client strings in flopd's log and in its error messages.

v1::RunRequest SmallJob() {
  v1::RunRequest request;
  request.add_ops("outer");
  request.add_impls("fused");
  request.set_sizes("16");
  request.mutable_settings()->set_max_time_s(0.02);
  request.mutable_settings()->set_min_time_s(0);
  request.mutable_settings()->set_min_samples(3);
  return request;
}

grpc::Status RunJob(v1::Flopd::Stub& stub, const v1::RunRequest& request) {
  grpc::ClientContext context;
  auto reader = stub.Run(&context, request);
  v1::RunEvent event;
  while (reader->Read(&event)) {
  }
  return reader->Finish();
}

// The client label was logged raw: a "\n" in it forged a log line, and a
// 1 MB label made a 1 MB line (labels are now at most 256 bytes, and a
// longer one is refused: limits_test.cc).
TEST(SanitizedInput, AClientLabelCannotForgeALogLineNorMakeAHugeOne) {
  auto daemon = Daemon::Start("labels");
  auto stub = Stub(*daemon);
  v1::RunRequest forged = SmallJob();
  forged.set_client("me\n2030-01-01T00:00:00 flopd: forged\x1b[2J");
  ASSERT_TRUE(RunJob(*stub, forged).ok());
  v1::RunRequest huge = SmallJob();
  huge.set_client(std::string(256, 'x'));
  ASSERT_TRUE(RunJob(*stub, huge).ok());
  v1::RunRequest rejected = SmallJob();
  rejected.set_client("bad\nline");
  rejected.set_device("cuda:\n7");
  EXPECT_EQ(RunJob(*stub, rejected).error_code(), grpc::StatusCode::NOT_FOUND);

  ASSERT_TRUE(WaitFor([&] { return LinesWith(ReadFile(daemon->log_path()), "finished") >= 2; },
                      seconds(10)));
  const std::string log = ReadFile(daemon->log_path());
  EXPECT_TRUE(absl::StrContains(log, "(me\\n2030-01-01T00:00:00 flopd: forged\\x1b[2J)")) << log;
  EXPECT_TRUE(absl::StrContains(log, "(" + std::string(200, 'x') + "…(" +
                                         std::to_string(256 - 200) + " more bytes))"))
      << log.substr(0, 2000);
  EXPECT_TRUE(absl::StrContains(log, "device: unknown device 'cuda:\\n7'")) << log;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    EXPECT_FALSE(absl::StartsWith(line, "2030-01-01")) << "a forged line: " << line;
    EXPECT_FALSE(absl::StartsWith(line, "line")) << "a forged line: " << line;
    EXPECT_LT(line.size(), 1000u) << line.substr(0, 200);
    EXPECT_FALSE(absl::StrContains(line, "\x1b")) << line;
  }
}

// A bad field of ~8 KB was echoed whole into the status message, so the
// client saw "received initial metadata size exceeds limit" instead of the
// error: the message quotes a bounded prefix and keeps its code.
TEST(SanitizedInput, AnOversizedBadFieldGetsItsOwnErrorWithABoundedQuote) {
  auto daemon = Daemon::Start("big-fields");
  auto stub = Stub(*daemon);
  const std::string big(8 * 1024, 'z');
  auto expect = [&](const grpc::Status& status, grpc::StatusCode code, const std::string& start) {
    EXPECT_EQ(status.error_code(), code) << status.error_message().substr(0, 300);
    EXPECT_TRUE(absl::StartsWith(status.error_message(), start))
        << status.error_message().substr(0, 300);
    EXPECT_TRUE(absl::StrContains(status.error_message(), "zzz…(")) << status.error_message();
    EXPECT_LT(status.error_message().size(), 400u);
  };
  v1::RunRequest op = SmallJob();
  op.set_ops(0, big);
  expect(RunJob(*stub, op), grpc::StatusCode::INVALID_ARGUMENT, "op: unknown op 'zzz");
  v1::RunRequest impl = SmallJob();
  impl.set_impls(0, big);
  expect(RunJob(*stub, impl), grpc::StatusCode::INVALID_ARGUMENT, "impl: unknown impl 'zzz");
  v1::RunRequest sizes = SmallJob();
  sizes.set_sizes(big);
  expect(RunJob(*stub, sizes), grpc::StatusCode::INVALID_ARGUMENT,
         "sizes: malformed size spec 'zzz");
  v1::RunRequest device = SmallJob();
  device.set_device(big);
  expect(RunJob(*stub, device), grpc::StatusCode::NOT_FOUND, "device: unknown device 'zzz");
  {
    grpc::ClientContext context;
    v1::ListResultsRequest request;
    request.mutable_filter()->add_ops(big);
    v1::ListResultsResponse response;
    expect(stub->ListResults(&context, request, &response), grpc::StatusCode::INVALID_ARGUMENT,
           "filter.ops: unknown op 'zzz");
  }
  {
    grpc::ClientContext context;
    v1::CancelJobRequest request;
    request.set_job_id(big);
    v1::JobInfo response;
    expect(stub->CancelJob(&context, request, &response), grpc::StatusCode::INVALID_ARGUMENT,
           "job_id: 'zzz");
  }
}

}  // namespace
}  // namespace flopd::testing
