// Limits of issue 9 ("safe to put on a network"), each a regression test on a
// real flopd: threads per job, request size and field lengths, concurrent
// streams, and the bounded buffer of a stream whose reader falls behind.
#include <sched.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "flopd/v1/flopd.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/support/channel_arguments.h"
#include "gtest/gtest.h"
#include "tests/integration/process_harness.h"

namespace flopd::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::unique_ptr<v1::Flopd::Stub> Stub(const Daemon& daemon) {
  return v1::Flopd::NewStub(
      grpc::CreateChannel(daemon.address(), grpc::InsecureChannelCredentials()));
}

// A client whose flow-control window stays small (no BDP probing, 16 KiB of
// lookahead), so that a reader that stops reading blocks flopd's writes
// after a few dozen small results instead of megabytes.
std::unique_ptr<v1::Flopd::Stub> SmallWindowStub(const Daemon& daemon) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 16 * 1024);
  return v1::Flopd::NewStub(grpc::CreateCustomChannel(
      daemon.address(), grpc::InsecureChannelCredentials(), args));
}

int UsableCpusHere() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0) {
    return CPU_COUNT(&set);
  }
  return static_cast<int>(std::thread::hardware_concurrency());
}

// Threads of a process now.
int ThreadsOf(pid_t pid) {
  int count = 0;
  for ([[maybe_unused]] const auto& entry :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    ++count;
  }
  return count;
}

v1::RunRequest TinyJob(const std::string& sizes = "16", int samples = 3) {
  v1::RunRequest request;
  request.add_ops("matvec");
  request.add_impls("gemv");
  request.set_sizes(sizes);
  request.mutable_settings()->set_fixed_samples(samples);
  request.mutable_settings()->set_iterations_per_sample(1);
  return request;
}

grpc::Status RunJob(v1::Flopd::Stub& stub, const v1::RunRequest& request,
                    std::string* job_id = nullptr) {
  grpc::ClientContext context;
  auto reader = stub.Run(&context, request);
  v1::RunEvent event;
  while (reader->Read(&event)) {
    if (event.has_accepted() && job_id != nullptr) *job_id = event.accepted().job_id();
  }
  return reader->Finish();
}

v1::HostInfo Info(v1::Flopd::Stub& stub) {
  grpc::ClientContext context;
  v1::HostInfo info;
  EXPECT_TRUE(stub.GetHostInfo(&context, v1::GetHostInfoRequest(), &info).ok());
  return info;
}

int StoredResultsOf(v1::Flopd::Stub& stub, const std::string& job_id) {
  int count = 0;
  v1::ListResultsRequest request;
  request.mutable_filter()->add_job_ids(job_id);
  request.set_page_size(1000);
  request.set_omit_samples(true);
  while (true) {
    grpc::ClientContext context;
    v1::ListResultsResponse response;
    if (!stub.ListResults(&context, request, &response).ok()) return -1;
    count += response.results_size();
    if (response.next_page_token().empty()) return count;
    request.set_page_token(response.next_page_token());
  }
}

// ---------------------------------------------------------------------------
// Threads per job.

// `--threads 1024` was accepted: flopd started ~1,084 threads that were
// never freed, and results said 1,024 threads although far fewer ran.
TEST(ThreadsPerJob, AJobAskingForMoreThanTheLimitIsRefusedAndStartsNoThread) {
  auto daemon = Daemon::Start("threads");
  auto stub = Stub(*daemon);
  const int cpus = UsableCpusHere();
  EXPECT_EQ(Info(*stub).limits().max_threads_per_job(), cpus);  // the default
  ASSERT_TRUE(RunJob(*stub, TinyJob()).ok());
  const int baseline = ThreadsOf(daemon->pid());

  const CommandResult run =
      RunFlopctl({"run", "--host", daemon->address(), "--op", "matvec", "--impl", "gemv",
                  "--sizes", "16", "--threads", "1024", "--samples", "3"});
  EXPECT_NE(run.exit_code, 0) << run.out;
  EXPECT_TRUE(absl::StrContains(
      run.err, absl::StrCat("INVALID_ARGUMENT: settings.cpu_threads: 1024 is out of range; this "
                            "flopd allows 1..",
                            cpus, " threads per job (--max-threads-per-job")))
      << run.err;
  // Jobs at the limit reuse the threads the first one started.
  v1::RunRequest at_limit = TinyJob();
  at_limit.mutable_settings()->set_cpu_threads(cpus);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(RunJob(*stub, at_limit).ok());
  EXPECT_LE(ThreadsOf(daemon->pid()), baseline + 2);  // gRPC may start a poller or two
}

TEST(ThreadsPerJob, TheLimitIsAFlagAndResultsReportTheThreadsThatRan) {
  auto daemon = Daemon::Start("threads-flag", {"--max-threads-per-job", "3"});
  auto stub = Stub(*daemon);
  EXPECT_EQ(Info(*stub).limits().max_threads_per_job(), 3);
  v1::RunRequest three = TinyJob();
  three.mutable_settings()->set_cpu_threads(3);
  grpc::ClientContext context;
  auto reader = stub->Run(&context, three);
  v1::RunEvent event;
  int results = 0;
  while (reader->Read(&event)) {
    if (!event.has_result()) continue;
    ++results;
    EXPECT_EQ(event.result().threads(), 3);
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(results, 1);
  v1::RunRequest four = TinyJob();
  four.mutable_settings()->set_cpu_threads(4);
  const grpc::Status refused = RunJob(*stub, four);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(refused.error_message(), "allows 1..3 threads per job"))
      << refused.error_message();
}

TEST(ThreadsPerJob, FlopdsOwnThreadsAreBoundedByTheCpusUnlessTheLimitIsRaised) {
  const int cpus = UsableCpusHere();
  const CommandResult too_many =
      RunFlopd({"--listen", "127.0.0.1:0", "--no-cuda", "--no-store", "--no-http", "--threads",
                std::to_string(cpus + 1)},
               seconds(20));
  EXPECT_EQ(too_many.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(
      too_many.err, absl::StrCat("--threads: '", cpus + 1, "' is not allowed; allowed 1..", cpus,
                                 " (the ", cpus, " CPUs flopd may run on")))
      << too_many.err;
  const CommandResult beyond = RunFlopd(
      {"--listen", "127.0.0.1:0", "--no-cuda", "--no-store", "--max-threads-per-job", "1025"},
      seconds(20));
  EXPECT_EQ(beyond.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(beyond.err, "--max-threads-per-job: '1025' is not allowed; "
                                            "allowed 1..1024"))
      << beyond.err;
  // Oversubscribing on purpose is still possible.
  auto daemon = Daemon::Start("threads-raised", {"--max-threads-per-job", std::to_string(cpus + 1),
                                                 "--threads", std::to_string(cpus + 1)});
  EXPECT_EQ(Info(*Stub(*daemon)).limits().max_threads_per_job(), cpus + 1);
}

// ---------------------------------------------------------------------------
// Request size and field lengths.

TEST(RequestSize, AnOversizedRequestIsRefusedByGrpcAndALongLabelByFlopd) {
  auto daemon = Daemon::Start("request-size");
  auto stub = Stub(*daemon);
  const v1::HostInfo info = Info(*stub);
  EXPECT_EQ(info.limits().max_request_bytes(), 1 << 20);
  EXPECT_EQ(info.limits().max_client_label_bytes(), 256);

  v1::RunRequest huge = TinyJob();
  huge.set_client(std::string(2 << 20, 'x'));  // under gRPC's default 4 MiB
  const grpc::Status too_big = RunJob(*stub, huge);
  EXPECT_EQ(too_big.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << too_big.error_message().substr(0, 300);

  v1::RunRequest long_label = TinyJob();
  long_label.set_client(std::string(1000, 'y'));
  const grpc::Status refused = RunJob(*stub, long_label);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StartsWith(refused.error_message(), "client: 'yyy")) << refused.error_message();
  EXPECT_TRUE(absl::StrContains(refused.error_message(),
                                "…(936 more bytes)' is 1000 bytes; allowed at most 256"))
      << refused.error_message();
  EXPECT_LT(refused.error_message().size(), 200u);

  v1::RunRequest fine = TinyJob();
  fine.set_client(std::string(256, 'z'));
  EXPECT_TRUE(RunJob(*stub, fine).ok());
}

// ---------------------------------------------------------------------------
// Concurrent streams.

TEST(Streams, MoreThanMaxStreamsAreRefusedNamingTheFlagAndAPlaceFreesWhenOneEnds) {
  auto daemon = Daemon::Start("streams", {"--max-streams", "2"});
  auto stub = Stub(*daemon);
  EXPECT_EQ(Info(*stub).limits().max_streams(), 2);
  auto open_watch = [&](grpc::ClientContext* context) {
    auto reader = stub->WatchResults(context, v1::WatchResultsRequest());
    v1::WatchEvent caught_up;
    EXPECT_TRUE(reader->Read(&caught_up));
    EXPECT_TRUE(caught_up.has_caught_up());
    return reader;
  };
  grpc::ClientContext first_context, second_context;
  auto first = open_watch(&first_context);
  auto second = open_watch(&second_context);

  const grpc::Status run = RunJob(*stub, TinyJob());
  EXPECT_EQ(run.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(run.error_message(),
            "Run: 2 Run and WatchResults streams are open on this flopd, its limit "
            "(--max-streams); try again when one has ended");
  {
    grpc::ClientContext context;
    auto third = stub->WatchResults(&context, v1::WatchResultsRequest());
    v1::WatchEvent event;
    EXPECT_FALSE(third->Read(&event));
    const grpc::Status status = third->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_TRUE(absl::StartsWith(status.error_message(), "WatchResults: 2 Run and WatchResults"));
  }
  // Unary calls are not streams.
  EXPECT_EQ(Info(*stub).limits().max_streams(), 2);

  first_context.TryCancel();
  first->Finish();
  EXPECT_TRUE(WaitFor([&] { return RunJob(*stub, TinyJob()).ok(); }, seconds(10)));
  second_context.TryCancel();
  second->Finish();
}

// ---------------------------------------------------------------------------
// A bounded buffer per stream.

// A Run stream that was never read kept every result in an unbounded buffer
// (+40 MB in 40 s for one reader). Now the reader that falls more than
// --max-stream-buffer-kib behind loses its stream with RESOURCE_EXHAUSTED
// saying where the results are; the job goes on and every result is stored.
TEST(StreamBuffer, AReaderTooFarBehindIsEndedAndTheJobsResultsAreAllStored) {
  auto daemon = Daemon::Start("stream-buffer", {"--max-stream-buffer-kib", "16"});
  auto stub = SmallWindowStub(*daemon);
  EXPECT_EQ(Info(*stub).limits().max_stream_buffer_bytes(), 16 * 1024);
  ASSERT_TRUE(RunJob(*stub, TinyJob()).ok());  // ceilings measured; later points are quick

  // Reads the accepted event, then nothing for 2 s (less than the grace),
  // then everything.
  grpc::ClientContext context;
  auto reader = stub->Run(&context, TinyJob("1:301:1"));
  v1::RunEvent event;
  ASSERT_TRUE(reader->Read(&event));
  ASSERT_TRUE(event.has_accepted());
  const std::string job_id = event.accepted().job_id();
  std::this_thread::sleep_for(seconds(2));
  int results = 0;
  while (reader->Read(&event)) results += event.has_result();
  const grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_TRUE(absl::StrContains(
      status.error_message(),
      absl::StrCat("stream: the client fell behind: more than 16 KiB of results waited for it, "
                   "this flopd's limit (--max-stream-buffer-kib); job ",
                   job_id, " goes on and its results are stored: get them with flopctl history "
                           "--job ",
                   job_id)))
      << status.error_message();
  EXPECT_LT(results, 300);

  // The job went on to its end, every result stored; flopctl finds them.
  ASSERT_TRUE(WaitFor([&] { return StoredResultsOf(*stub, job_id) == 300; }, seconds(60)))
      << StoredResultsOf(*stub, job_id);
  const CommandResult history =
      RunFlopctl({"history", "--host", daemon->address(), "--job", job_id, "--format", "jsonl"});
  EXPECT_EQ(history.exit_code, 0) << history.err;
  EXPECT_EQ(std::count(history.out.begin(), history.out.end(), '\n'), 300) << history.err;
}

// A reader that reads nothing at all: its handler is blocked in Write, so
// the stream is cancelled after the grace, freeing its thread and place;
// the watcher that reads nothing likewise once its buffer of results is
// full. Both leave flopd serving.
TEST(StreamBuffer, ReadersThatReadNothingAreCancelledAndFreeTheirPlaces) {
  auto daemon =
      Daemon::Start("stream-stuck", {"--max-stream-buffer-kib", "16", "--max-streams", "3"});
  auto stub = SmallWindowStub(*daemon);
  ASSERT_TRUE(RunJob(*stub, TinyJob()).ok());

  grpc::ClientContext watch_context;
  auto watch = stub->WatchResults(&watch_context, v1::WatchResultsRequest());
  v1::WatchEvent caught_up;
  ASSERT_TRUE(watch->Read(&caught_up));
  grpc::ClientContext run_context;
  auto run = stub->Run(&run_context, TinyJob("1:1151:1"));
  v1::RunEvent accepted;
  ASSERT_TRUE(run->Read(&accepted));
  const std::string job_id = accepted.accepted().job_id();

  // The job's 1150 results overflow the watcher's 1024; then both streams
  // end within the grace (5 s) and their places are free again.
  ASSERT_TRUE(WaitFor([&] { return StoredResultsOf(*stub, job_id) == 1150; }, seconds(120)));
  auto places_free = [&] {
    grpc::ClientContext a, b;
    auto first = stub->WatchResults(&a, v1::WatchResultsRequest());
    auto second = stub->WatchResults(&b, v1::WatchResultsRequest());
    v1::WatchEvent event;
    const bool ok = first->Read(&event) && second->Read(&event);
    a.TryCancel();
    b.TryCancel();
    first->Finish();
    second->Finish();
    return ok;
  };
  EXPECT_TRUE(WaitFor(places_free, seconds(15)));
  v1::RunEvent event;
  while (run->Read(&event)) {
  }
  EXPECT_FALSE(run->Finish().ok());
  v1::WatchEvent watched;
  while (watch->Read(&watched)) {
  }
  EXPECT_FALSE(watch->Finish().ok());
}

}  // namespace
}  // namespace flopd::testing
