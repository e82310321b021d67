// The history end to end in one process: the gRPC service over a fake
// device, with the recorder feeding a real store (SQLite in a temporary
// directory) and the watch hub. What a client streams is what the store
// keeps; watchers see every job; a failing store never stops a job.
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "server/flopd_service.h"
#include "server/history_api.h"
#include "server/history_recorder.h"
#include "server/result_hub.h"
#include "server/store/result_store.h"
#include "tests/server/fake_device.h"
#include "tests/server/store/store_test_util.h"

namespace flopd {
namespace {

using std::chrono::milliseconds;
using testing::Deterministic;
using testing::TempStateDir;

bool Eventually(const std::function<bool()>& condition,
                milliseconds timeout = milliseconds(10000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return condition();
    std::this_thread::sleep_for(milliseconds(5));
  }
  return true;
}

class HistoryTest : public ::testing::Test {
 protected:
  // A flopd in this process: store (unless `with_store` is false), hub,
  // recorder, scheduler over a fake device, history API, gRPC service.
  void Start(FakeDeviceOptions device = {}, bool with_store = true,
             StoreOptions store_options = {}) {
    StoreHealth no_store;
    if (with_store) {
      store_options.dir = dir_.path();
      absl::StatusOr<std::unique_ptr<ResultStore>> opened = ResultStore::Open(store_options);
      ASSERT_TRUE(opened.ok()) << opened.status();
      store_ = *std::move(opened);
    } else {
      no_store.state = "unavailable";
      no_store.detail = "the test said so";
    }
    recorder_ = std::make_unique<HistoryRecorder>(store_.get(), &hub_, "testhost", kFlopdVersion);
    scheduler_ = std::make_unique<Scheduler>(FakeDevices(device),
                                             std::vector<JobObserver*>{recorder_.get()});
    history_ =
        std::make_unique<HistoryApi>(scheduler_.get(), store_.get(), &hub_, "testhost", no_store);
    service_ = std::make_unique<FlopdService>(scheduler_.get(), "testhost", history_.get());
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::Flopd::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (scheduler_) scheduler_->Shutdown();
    hub_.Shutdown();
    if (server_) server_->Shutdown();
  }

  static v1::RunRequest Request(const std::string& sizes, const std::string& op = "matvec",
                                const std::string& impl = "gemv") {
    v1::RunRequest request;
    request.add_ops(op);
    request.add_impls(impl);
    request.set_sizes(sizes);
    request.set_client("history test");
    request.set_run_id("r-history-test");
    request.mutable_settings()->set_fixed_samples(3);
    request.mutable_settings()->set_min_time_s(0);
    return request;
  }

  struct Stream {
    std::vector<v1::RunEvent> events;
    grpc::Status status;
    std::vector<v1::Result> results() const {
      std::vector<v1::Result> out;
      for (const v1::RunEvent& e : events) {
        if (e.has_result()) out.push_back(e.result());
      }
      return out;
    }
    std::string job_id() const { return events.empty() ? "" : events[0].accepted().job_id(); }
  };

  Stream RunAll(const v1::RunRequest& request) {
    Stream stream;
    grpc::ClientContext context;
    auto reader = stub_->Run(&context, request);
    v1::RunEvent event;
    while (reader->Read(&event)) stream.events.push_back(event);
    stream.status = reader->Finish();
    return stream;
  }

  std::vector<v1::Result> Stored(const std::string& job_id) {
    grpc::ClientContext context;
    v1::ListResultsRequest request;
    request.mutable_filter()->add_job_ids(job_id);
    request.set_page_size(1000);
    v1::ListResultsResponse response;
    grpc::Status status = stub_->ListResults(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return {response.results().begin(), response.results().end()};
  }

  grpc::Status GetJob(const std::string& job_id, v1::JobInfo* job) {
    grpc::ClientContext context;
    v1::GetJobRequest request;
    request.set_job_id(job_id);
    return stub_->GetJob(&context, request, job);
  }

  grpc::Status CancelJob(const std::string& job_id, v1::JobInfo* job) {
    grpc::ClientContext context;
    v1::CancelJobRequest request;
    request.set_job_id(job_id);
    return stub_->CancelJob(&context, request, job);
  }

  v1::HostInfo HostInfo() {
    grpc::ClientContext context;
    v1::HostInfo info;
    EXPECT_TRUE(stub_->GetHostInfo(&context, v1::GetHostInfoRequest(), &info).ok());
    return info;
  }

  TempStateDir dir_;
  std::unique_ptr<ResultStore> store_;
  ResultHub hub_;
  std::unique_ptr<HistoryRecorder> recorder_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<HistoryApi> history_;
  std::unique_ptr<FlopdService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Flopd::Stub> stub_;
};

// A watch in its own thread, collecting what it receives.
class Watcher {
 public:
  Watcher(v1::Flopd::Stub* stub, v1::WatchResultsRequest request) {
    thread_ = std::thread([this, stub, request] {
      auto reader = stub->WatchResults(&context_, request);
      v1::WatchEvent event;
      while (reader->Read(&event)) {
        std::lock_guard<std::mutex> lock(mu_);
        if (event.has_caught_up()) {
          caught_up_ = true;
          replayed_ = event.caught_up().replayed();
        } else {
          results_.push_back(event.result());
        }
      }
      grpc::Status status = reader->Finish();
      std::lock_guard<std::mutex> lock(mu_);
      status_ = status;
      done_ = true;
    });
  }
  ~Watcher() {
    context_.TryCancel();
    thread_.join();
  }
  bool caught_up() {
    std::lock_guard<std::mutex> lock(mu_);
    return caught_up_;
  }
  int replayed() {
    std::lock_guard<std::mutex> lock(mu_);
    return replayed_;
  }
  std::vector<v1::Result> results() {
    std::lock_guard<std::mutex> lock(mu_);
    return results_;
  }
  bool done() {
    std::lock_guard<std::mutex> lock(mu_);
    return done_;
  }
  grpc::Status status() {
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
  }
  void Cancel() { context_.TryCancel(); }

 private:
  grpc::ClientContext context_;
  std::mutex mu_;
  bool caught_up_ = false;
  int replayed_ = -1;
  bool done_ = false;
  grpc::Status status_;
  std::vector<v1::Result> results_;
  std::thread thread_;
};

TEST_F(HistoryTest, EveryStreamedResultIsStoredByteForByteAndTheJobIsRecorded) {
  Start();
  Stream run = RunAll(Request("100,200,300"));
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  const std::vector<v1::Result> streamed = run.results();
  ASSERT_EQ(streamed.size(), 3u);
  EXPECT_EQ(streamed[0].run_id(), "r-history-test");
  const std::vector<v1::Result> stored = Stored(run.job_id());
  ASSERT_EQ(stored.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(Deterministic(stored[i]), Deterministic(streamed[i]));

  v1::JobInfo job;
  ASSERT_TRUE(GetJob(run.job_id(), &job).ok());
  EXPECT_EQ(job.state(), "finished");
  EXPECT_EQ(job.status_code(), "OK");
  EXPECT_EQ(job.points_total(), 3);
  EXPECT_EQ(job.points_measured(), 3);
  EXPECT_EQ(job.run_id(), "r-history-test");
  EXPECT_EQ(job.client(), "history test");
  EXPECT_TRUE(absl::StartsWith(job.peer(), "ipv4:127.0.0.1:")) << job.peer();
  EXPECT_EQ(job.device(), "cpu:0");
  EXPECT_EQ(job.hostname(), "testhost");
  EXPECT_EQ(job.request().sizes(), "100,200,300");
  EXPECT_EQ(job.request().settings().fixed_samples(), 3);
  EXPECT_GT(job.started_unix_ms(), 0);
  EXPECT_GE(job.ended_unix_ms(), job.started_unix_ms());
  EXPECT_TRUE(IsJobId(job.job_id())) << job.job_id();

  const v1::HostInfo info = HostInfo();
  EXPECT_EQ(info.store().state(), "ok");
  EXPECT_EQ(info.store().results(), 3);
  EXPECT_EQ(info.store().jobs(), 1);
  EXPECT_EQ(info.store().path(), dir_.db());
}

TEST_F(HistoryTest, ResultsAreStoredEvenAfterTheClientWentAway) {
  FakeDeviceOptions device;
  device.wall_seconds_per_batch = 0.02;
  Start(device);
  v1::RunEvent first_result;
  std::string job_id;
  {
    grpc::ClientContext context;
    auto reader = stub_->Run(&context, Request("10:200:10"));
    v1::RunEvent event;
    while (reader->Read(&event)) {
      if (event.has_accepted()) job_id = event.accepted().job_id();
      if (event.has_result()) {
        first_result = event;
        break;
      }
    }
    context.TryCancel();  // the client goes away mid-job
    reader->Finish().IgnoreError();
  }
  ASSERT_TRUE(first_result.has_result());
  v1::JobInfo job;
  ASSERT_TRUE(Eventually([&] { return GetJob(job_id, &job).ok() && job.state() != "running"; }));
  EXPECT_EQ(job.state(), "cancelled");
  EXPECT_EQ(job.status_code(), "CANCELLED");
  const std::vector<v1::Result> stored = Stored(job_id);
  ASSERT_GE(stored.size(), 1u);
  EXPECT_EQ(static_cast<int>(stored.size()), job.points_measured());
  EXPECT_LT(job.points_measured(), job.points_total());
  EXPECT_EQ(Deterministic(stored[0]), Deterministic(first_result.result()));
}

TEST_F(HistoryTest, AWatcherSeesOtherClientsJobsReplayedThenLiveWithoutGapsOrRepeats) {
  Start();
  Stream before = RunAll(Request("100,200"));
  ASSERT_TRUE(before.status.ok());

  v1::WatchResultsRequest replay_all;
  replay_all.mutable_filter()->set_since_unix_ms(1);
  Watcher watcher(stub_.get(), replay_all);
  v1::WatchResultsRequest only_outer;
  only_outer.mutable_filter()->add_ops("outer");
  Watcher outer_watcher(stub_.get(), only_outer);
  ASSERT_TRUE(Eventually([&] { return watcher.caught_up() && outer_watcher.caught_up(); }));
  EXPECT_EQ(watcher.replayed(), 2);
  EXPECT_EQ(outer_watcher.replayed(), 0);

  Stream matvec = RunAll(Request("300"));
  Stream outer = RunAll(Request("64", "outer", "fused"));
  ASSERT_TRUE(matvec.status.ok() && outer.status.ok());
  std::vector<v1::Result> expected = before.results();
  for (const Stream* s : {&matvec, &outer}) {
    for (const v1::Result& r : s->results()) expected.push_back(r);
  }
  ASSERT_TRUE(Eventually([&] { return watcher.results().size() >= expected.size(); }));
  ASSERT_TRUE(Eventually([&] { return outer_watcher.results().size() >= 2; }));
  std::this_thread::sleep_for(milliseconds(100));  // nothing more may arrive
  const std::vector<v1::Result> seen = watcher.results();
  ASSERT_EQ(seen.size(), expected.size());
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(Deterministic(seen[i]), Deterministic(expected[i])) << i;
  }
  const std::vector<v1::Result> outer_seen = outer_watcher.results();
  ASSERT_EQ(outer_seen.size(), 2u);
  for (const v1::Result& r : outer_seen) EXPECT_EQ(r.op(), "outer");

  watcher.Cancel();
  ASSERT_TRUE(Eventually([&] { return watcher.done(); }));
  EXPECT_EQ(watcher.status().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(Eventually([&] { return hub_.subscribers() == 1; })) << "the watch unsubscribed";
}

TEST_F(HistoryTest, ShutdownEndsWatchesWithUnavailable) {
  Start();
  Watcher watcher(stub_.get(), v1::WatchResultsRequest());
  ASSERT_TRUE(Eventually([&] { return watcher.caught_up(); }));
  hub_.Shutdown();
  ASSERT_TRUE(Eventually([&] { return watcher.done(); }));
  EXPECT_EQ(watcher.status().error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(watcher.status().error_message(), "flopd is shutting down");
}

TEST_F(HistoryTest, AStoreThatCannotWriteNeverStopsAJob) {
  StoreOptions full;
  full.max_page_count = 1;  // no room beyond the empty schema
  Start({}, true, full);
  v1::RunRequest request = Request("100,200,300");
  request.mutable_settings()->set_fixed_samples(2000);  // 16 KB of samples: needs new pages
  Watcher watcher(stub_.get(), v1::WatchResultsRequest());
  ASSERT_TRUE(Eventually([&] { return watcher.caught_up(); }));
  Stream run = RunAll(request);
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  EXPECT_EQ(run.results().size(), 3u);
  const v1::HostInfo info = HostInfo();
  EXPECT_EQ(info.store().state(), "degraded");
  EXPECT_EQ(info.store().results_not_stored(), 3);
  EXPECT_TRUE(absl::StrContains(info.store().detail(), "full")) << info.store().detail();
  EXPECT_TRUE(Eventually([&] { return watcher.results().size() == 3; }))
      << "results that could not be stored are still watched";
}

TEST_F(HistoryTest, CancelJobEndsAQueuedJobAtOnceAndARunningOneWithinASample) {
  FakeDeviceOptions device;
  device.wall_seconds_per_batch = 0.02;
  Start(device);
  Stream running, queued;
  std::thread a([&] { running = RunAll(Request("10:400:10")); });
  v1::JobInfo job;
  ASSERT_TRUE(Eventually([&] {
    v1::ListJobsRequest request;
    request.mutable_filter()->add_states("running");
    grpc::ClientContext context;
    v1::ListJobsResponse response;
    if (!stub_->ListJobs(&context, request, &response).ok() || response.jobs_size() == 0) {
      return false;
    }
    job = response.jobs(0);
    return true;
  }));
  std::thread b([&] { queued = RunAll(Request("100")); });
  std::string queued_id;
  ASSERT_TRUE(Eventually([&] {
    v1::ListJobsRequest request;
    request.mutable_filter()->add_states("queued");
    grpc::ClientContext context;
    v1::ListJobsResponse response;
    if (!stub_->ListJobs(&context, request, &response).ok() || response.jobs_size() == 0) {
      return false;
    }
    queued_id = response.jobs(0).job_id();
    return true;
  }));

  v1::JobInfo cancelled;
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(CancelJob(queued_id, &cancelled).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1000));
  EXPECT_EQ(cancelled.state(), "cancelled");
  EXPECT_EQ(cancelled.points_measured(), 0);
  b.join();
  EXPECT_EQ(queued.status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(absl::StartsWith(queued.status.error_message(), "cancelled by CancelJob from "))
      << queued.status.error_message();
  EXPECT_TRUE(queued.results().empty());

  ASSERT_TRUE(CancelJob(job.job_id(), &cancelled).ok());
  EXPECT_EQ(cancelled.state(), "cancelled") << "CancelJob waits for the running job to stop";
  a.join();
  EXPECT_EQ(running.status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_EQ(static_cast<int>(running.results().size()), cancelled.points_measured());
  v1::JobInfo stored;
  ASSERT_TRUE(GetJob(job.job_id(), &stored).ok());
  EXPECT_EQ(stored.state(), "cancelled");

  grpc::Status again = CancelJob(job.job_id(), &cancelled);
  EXPECT_EQ(again.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(absl::StrContains(again.error_message(), "has already ended (cancelled)"));
  EXPECT_EQ(CancelJob("j-0000000000-000000", &cancelled).error_code(), grpc::StatusCode::NOT_FOUND);
  grpc::Status bad = CancelJob("job-1", &cancelled);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StartsWith(bad.error_message(), "job_id: 'job-1' is not a job id"));
}

TEST_F(HistoryTest, BadHistoryRequestsNameTheFieldAndFlopdKeepsServing) {
  Start();
  auto list = [&](const v1::ListResultsRequest& request) {
    grpc::ClientContext context;
    v1::ListResultsResponse response;
    return stub_->ListResults(&context, request, &response);
  };
  struct Case {
    v1::ListResultsRequest request;
    std::string expected;
  };
  std::vector<Case> cases(6);
  cases[0].request.mutable_filter()->add_ops("conv");
  cases[0].expected = "filter.ops: unknown op 'conv'; allowed: ";
  cases[1].request.set_page_token("bm90IGEgdG9rZW4");
  cases[1].expected = "page_token: not a token of this query";
  cases[2].request.mutable_filter()->set_since_unix_ms(2000);
  cases[2].request.mutable_filter()->set_until_unix_ms(1000);
  cases[2].expected = "filter.since_unix_ms: 2000 is not before filter.until_unix_ms (1000)";
  cases[3].request.set_page_size(-5);
  cases[3].expected = "page_size: -5 is out of range";
  cases[4].request.mutable_filter()->add_devices("gpu");
  cases[4].expected = "filter.devices: 'gpu' is not a device id";
  cases[5].request.mutable_filter()->add_params("axis=3");
  cases[5].expected = "filter.params: axis=3 is not allowed; allowed: 0, 1";
  for (const Case& c : cases) {
    grpc::Status status = list(c.request);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.expected;
    EXPECT_TRUE(absl::StartsWith(status.error_message(), c.expected))
        << "expected '" << c.expected << "', got: " << status.error_message();
  }
  v1::ListResultsRequest huge;
  huge.set_page_size(1 << 30);
  EXPECT_TRUE(list(huge).ok()) << "a huge page size is served as the maximum";

  {
    grpc::ClientContext context;
    v1::ListJobsRequest request;
    request.mutable_filter()->add_states("done");
    v1::ListJobsResponse response;
    grpc::Status status = stub_->ListJobs(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(absl::StartsWith(status.error_message(), "filter.states: unknown state 'done'"));
  }
  {
    v1::WatchResultsRequest request;
    request.mutable_filter()->set_until_unix_ms(5);
    grpc::ClientContext context;
    auto reader = stub_->WatchResults(&context, request);
    v1::WatchEvent event;
    EXPECT_FALSE(reader->Read(&event));
    grpc::Status status = reader->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(absl::StartsWith(status.error_message(), "filter.until_unix_ms: not allowed"));
  }
  v1::JobInfo job;
  EXPECT_EQ(GetJob("", &job).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(GetJob("j-0000000000-000000", &job).error_code(), grpc::StatusCode::NOT_FOUND);
  v1::RunRequest bad_run = Request("10");
  bad_run.set_run_id("has space");
  Stream refused = RunAll(bad_run);
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StartsWith(refused.status.error_message(), "run_id: "));

  EXPECT_TRUE(RunAll(Request("10")).status.ok()) << "still serving";
}

TEST_F(HistoryTest, WithoutAStoreReadsSayWhyAndLiveWatchingAndCancelStillWork) {
  Start({}, /*with_store=*/false);
  grpc::ClientContext context;
  v1::ListResultsResponse response;
  grpc::Status status = stub_->ListResults(&context, v1::ListResultsRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status.error_message(),
            "this flopd keeps no history: its store is unavailable (the test said so)");
  EXPECT_EQ(HostInfo().store().state(), "unavailable");

  v1::WatchResultsRequest replay;
  replay.mutable_filter()->set_since_unix_ms(1);
  Watcher refused(stub_.get(), replay);
  ASSERT_TRUE(Eventually([&] { return refused.done(); }));
  EXPECT_EQ(refused.status().error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  Watcher live(stub_.get(), v1::WatchResultsRequest());
  ASSERT_TRUE(Eventually([&] { return live.caught_up(); }));
  Stream run = RunAll(Request("100,200"));
  ASSERT_TRUE(run.status.ok());
  ASSERT_TRUE(Eventually([&] { return live.results().size() == 2; }));
  EXPECT_EQ(Deterministic(live.results()[1]), Deterministic(run.results()[1]));
}

TEST(ResultHub, ASlowSubscriberOverflowsWithoutSlowingThePublisher) {
  ResultHub hub;
  ResultFilter only_outer;
  only_outer.ops = {"outer"};
  auto slow = hub.Subscribe(ResultFilter(), 3);
  auto outer = hub.Subscribe(only_outer);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i) {
    HubResult r;
    r.id = i + 1;
    r.index.op = i % 2 ? "outer" : "matvec";
    r.result = std::make_shared<v1::Result>();
    hub.Publish(r);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(100));
  HubResult got;
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(slow->Pop(&got, milliseconds(0)), ResultHub::Subscription::Next::kResult);
    EXPECT_EQ(got.id, i + 1);
  }
  EXPECT_EQ(slow->Pop(&got, milliseconds(0)), ResultHub::Subscription::Next::kOverflow);
  int outer_count = 0;
  while (outer->Pop(&got, milliseconds(0)) == ResultHub::Subscription::Next::kResult) {
    EXPECT_EQ(got.index.op, "outer");
    ++outer_count;
  }
  EXPECT_EQ(outer_count, 5);
  EXPECT_EQ(outer->Pop(&got, milliseconds(1)), ResultHub::Subscription::Next::kTimeout);
  hub.Shutdown();
  EXPECT_EQ(outer->Pop(&got, milliseconds(1000)), ResultHub::Subscription::Next::kClosed);
  EXPECT_EQ(hub.Subscribe(ResultFilter())->Pop(&got, milliseconds(0)),
            ResultHub::Subscription::Next::kClosed);
}

TEST(HistoryApi, AWatcherThatFallsBehindIsEndedWithResourceExhausted) {
  ResultHub hub;
  Scheduler scheduler(FakeDevices());
  HistoryApi api(&scheduler, nullptr, &hub, "h");
  std::atomic<bool> publish{false};
  std::atomic<bool> published{false};
  absl::Status ended;
  std::thread watch([&] {
    ended = api.WatchResults(
        v1::WatchResultsRequest(),
        [&](const v1::WatchEvent& event) {
          if (event.has_caught_up()) {
            publish = true;
            return true;
          }
          while (!published.load()) std::this_thread::sleep_for(milliseconds(1));  // a slow reader
          return true;
        },
        [] { return false; });
  });
  ASSERT_TRUE(Eventually([&] { return publish.load(); }));
  for (size_t i = 0; i < ResultHub::kDefaultCapacity + 10; ++i) {
    HubResult r;
    r.result = std::make_shared<v1::Result>();
    hub.Publish(r);
  }
  published = true;
  watch.join();
  EXPECT_EQ(ended.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(absl::StrContains(ended.message(), "the watcher fell behind")) << ended;
}

TEST(Scheduler, JobIdsAreGloballyUniqueAcrossDaemons) {
  // Two schedulers stand for two daemons (or one daemon restarted).
  Scheduler a(FakeDevices());
  Scheduler b(FakeDevices());
  JobSubmission s;
  s.request.ops = {"matvec"};
  s.request.impls = {"gemv"};
  s.request.sizes = "8";
  s.measure.fixed_samples = 3;
  absl::StatusOr<SubmittedJob> ja = a.Submit(s);
  absl::StatusOr<SubmittedJob> jb = b.Submit(s);
  ASSERT_TRUE(ja.ok()) << ja.status();
  ASSERT_TRUE(jb.ok()) << jb.status();
  EXPECT_NE(ja->job->id(), jb->job->id());
  EXPECT_TRUE(IsJobId(ja->job->id())) << ja->job->id();
  EXPECT_TRUE(IsJobId(jb->job->id())) << jb->job->id();
}

}  // namespace
}  // namespace flopd
