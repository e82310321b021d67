// The gRPC service in process, on a loopback port, over a fake device: what
// a client receives for each request, exactly.
#include "server/flopd_service.h"

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/op_catalog.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "tests/server/fake_device.h"

namespace flopd {
namespace {

class ServiceTest : public ::testing::Test {
 protected:
  void Start(FakeDeviceOptions options = {}, std::vector<JobObserver*> observers = {}) {
    DeviceSet devices = FakeDevices(options);
    devices.unavailable.push_back("cuda: not in this test");
    scheduler_ = std::make_unique<Scheduler>(std::move(devices), std::move(observers));
    service_ = std::make_unique<FlopdService>(scheduler_.get(), "testhost");
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port, 0);
    stub_ = v1::Flopd::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                                   grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (scheduler_) scheduler_->Shutdown();
    if (server_) server_->Shutdown();
  }

  // Runs `request` to its end: every event, and the final status.
  grpc::Status RunAll(const v1::RunRequest& request, std::vector<v1::RunEvent>* events) {
    grpc::ClientContext context;
    auto reader = stub_->Run(&context, request);
    v1::RunEvent event;
    while (reader->Read(&event)) events->push_back(event);
    return reader->Finish();
  }

  static v1::RunRequest Request(const std::string& op, const std::string& impl,
                                const std::string& sizes) {
    v1::RunRequest request;
    request.add_ops(op);
    request.add_impls(impl);
    request.set_sizes(sizes);
    request.mutable_settings()->set_min_samples(3);
    request.mutable_settings()->set_min_time_s(0);
    return request;
  }

  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<FlopdService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Flopd::Stub> stub_;
};

TEST_F(ServiceTest, RunStreamsAcceptedStartedResultsAndFinishedWithExactFigures) {
  FakeDeviceOptions options;
  options.seconds_per_execution = [](const PointSpec& p) { return p.n == 100 ? 2e-3 : 4e-3; };
  Start(options);
  std::vector<v1::RunEvent> events;
  grpc::Status status = RunAll(Request("matvec", "gemm", "100,200"), &events);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(events.size(), 6u);
  ASSERT_TRUE(events[0].has_accepted());
  const std::string job_id = events[0].accepted().job_id();
  // The device's first job: a status says the ceilings are measured first.
  ASSERT_TRUE(events[1].has_status());
  EXPECT_EQ(events[1].status().job_id(), job_id);
  EXPECT_EQ(events[1].status().device(), "cpu:0");
  EXPECT_EQ(events[1].status().phase(), "measuring_ceilings");
  events.erase(events.begin() + 1);
  EXPECT_FALSE(job_id.empty());
  EXPECT_EQ(events[0].accepted().points_total(), 2);
  EXPECT_EQ(events[0].accepted().device(), "cpu:0");
  EXPECT_EQ(events[0].accepted().queue_position(), 0);
  ASSERT_TRUE(events[1].has_started());
  EXPECT_EQ(events[1].started().job_id(), job_id);
  const double medians[] = {2e-3, 4e-3};
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(events[2 + i].has_result()) << i;
    const v1::Result& r = events[2 + i].result();
    const int64_t n = i == 0 ? 100 : 200;
    EXPECT_EQ(r.job_id(), job_id);
    EXPECT_EQ(r.hostname(), "testhost");
    EXPECT_EQ(r.device(), "cpu:0");
    EXPECT_EQ(r.op(), "matvec");
    EXPECT_EQ(r.impl(), "gemm");
    EXPECT_EQ(r.n(), n);
    EXPECT_EQ(r.flops(), 2 * n * n - n);
    EXPECT_EQ(r.min_bytes(), (n * n + 2 * n) * 4);
    EXPECT_DOUBLE_EQ(r.time().median(), medians[i]);
    EXPECT_EQ(r.iterations_per_sample(), 1) << "a 2 ms execution already fills a 1 ms sample";
    EXPECT_DOUBLE_EQ(r.gflops_per_s(), static_cast<double>(r.flops()) / medians[i] / 1e9);
    EXPECT_DOUBLE_EQ(r.gbytes_per_s(), static_cast<double>(r.min_bytes()) / medians[i] / 1e9);
    EXPECT_TRUE(r.verification().passed());
    EXPECT_EQ(r.sample_seconds_size(), r.samples());
  }
  ASSERT_TRUE(events[4].has_finished());
  EXPECT_EQ(events[4].finished().points_measured(), 2);
  EXPECT_EQ(events[4].finished().points_failed_verification(), 0);
}

// The roofline a client receives: each result placed with its own dtype's
// peak and its own impl's minimum bytes, every field exact. outer/fused
// (3N elements) is compute-bound here, outer/library (2N^2 + 3N) memory-bound.
TEST_F(ServiceTest, ResultsCarryTheRooflineOfTheirDtypeAndImplExactly) {
  DeviceCeilings ceilings;
  ceilings.bandwidth_bytes_per_s = 100e9;
  ceilings.peak_flops = {{"f32", 2e12}, {"f64", 1e12}};
  ceilings.measured_unix_ms = 1234;
  FakeDeviceOptions options;
  options.ceilings = ceilings;
  options.seconds_per_execution = [](const PointSpec& p) {
    return p.dtype == DType::kF32 ? 1e-3 : 3e-3;
  };
  Start(options);
  v1::RunRequest request = Request("outer", "fused", "1000");
  request.add_impls("library");
  request.add_dtypes("f32");
  request.add_dtypes("f64");
  v1::ParamChoice* axis = request.add_params();
  axis->set_name("axis");
  axis->add_values(0);
  std::vector<v1::RunEvent> events;
  grpc::Status status = RunAll(request, &events);
  ASSERT_TRUE(status.ok()) << status.error_message();
  int results = 0;
  for (const v1::RunEvent& event : events) {
    if (!event.has_result()) continue;
    ++results;
    const v1::Result& r = event.result();
    SCOPED_TRACE(r.impl() + " " + r.dtype());
    const bool f32 = r.dtype() == "f32";
    const bool fused = r.impl() == "fused";
    const double median = f32 ? 1e-3 : 3e-3;
    const int64_t size = f32 ? 4 : 8;
    const int64_t flops = 2 * 1000 * 1000 - 1000;
    const int64_t bytes = (fused ? 3 * 1000 : 2 * 1000 * 1000 + 3 * 1000) * size;
    const double peak = f32 ? 2e12 : 1e12;
    EXPECT_EQ(r.flops(), flops);
    EXPECT_EQ(r.min_bytes(), bytes);
    EXPECT_DOUBLE_EQ(r.time().median(), median);
    EXPECT_DOUBLE_EQ(r.gflops_per_s(), flops / median / 1e9);
    EXPECT_DOUBLE_EQ(r.gbytes_per_s(), bytes / median / 1e9);
    ASSERT_TRUE(r.has_roofline());
    const v1::Roofline& roof = r.roofline();
    EXPECT_DOUBLE_EQ(roof.peak_flops_per_s(), peak) << "the peak of the result's dtype";
    EXPECT_DOUBLE_EQ(roof.peak_bandwidth_bytes_per_s(), 100e9);
    EXPECT_DOUBLE_EQ(roof.intensity(), static_cast<double>(flops) / bytes);
    EXPECT_DOUBLE_EQ(roof.compute_seconds(), flops / peak);
    EXPECT_DOUBLE_EQ(roof.memory_seconds(), bytes / 100e9);
    const double floor = fused ? flops / peak : bytes / 100e9;
    EXPECT_DOUBLE_EQ(roof.floor_seconds(), floor);
    EXPECT_DOUBLE_EQ(roof.efficiency(), floor / median);
    EXPECT_EQ(roof.bound(), fused ? "compute" : "memory");
    EXPECT_DOUBLE_EQ(roof.latency_threshold_seconds(), 5e-6);
    EXPECT_EQ(roof.ceilings_measured_unix_ms(), 1234);
  }
  EXPECT_EQ(results, 4) << "fused and library, f32 and f64";
}

TEST_F(ServiceTest, AWrongOutputReachesTheClientAsFailedVerification) {
  FakeDeviceOptions options;
  options.wrong_output = true;
  Start(options);
  std::vector<v1::RunEvent> events;
  ASSERT_TRUE(RunAll(Request("outer", "fused", "32"), &events).ok());
  int results = 0;
  for (const v1::RunEvent& event : events) {
    if (!event.has_result()) continue;
    ++results;
    EXPECT_FALSE(event.result().verification().passed());
    EXPECT_FALSE(event.result().verification().detail().empty());
    ASSERT_GE(event.result().warnings_size(), 1);
    EXPECT_EQ(event.result().warnings(0).rfind("verification FAILED: ", 0), 0u);
  }
  EXPECT_EQ(results, 2) << "axis 0 and 1";
  ASSERT_TRUE(events.back().has_finished());
  EXPECT_EQ(events.back().finished().points_failed_verification(), 2);
}

TEST_F(ServiceTest, BadRequestsGetTheirCodeAndFieldAndTheServiceKeepsServing) {
  Start();
  std::vector<v1::RunEvent> events;
  grpc::Status bad_op = RunAll(Request("conv", "gemm", "10"), &events);
  EXPECT_EQ(bad_op.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(bad_op.error_message(), "op: unknown op 'conv'; allowed: matvec, outer, chain, batched_mv, attention");
  EXPECT_TRUE(events.empty());

  v1::RunRequest on_gpu = Request("matvec", "gemm", "10");
  on_gpu.set_device("cuda:0");
  grpc::Status no_device = RunAll(on_gpu, &events);
  EXPECT_EQ(no_device.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(no_device.error_message(),
            "device: unknown device 'cuda:0'; this host has: cpu:0 (not offered: cuda: not in "
            "this test)");

  v1::RunRequest bad_noise = Request("matvec", "gemm", "10");
  bad_noise.mutable_settings()->set_noise_target(0);
  EXPECT_EQ(RunAll(bad_noise, &events).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  ASSERT_TRUE(RunAll(Request("matvec", "gemv", "10"), &events).ok());
  EXPECT_TRUE(events.back().has_finished());
}

TEST_F(ServiceTest, ListOpsSendsTheCatalogWithItsGeneratedFormulas) {
  Start();
  grpc::ClientContext context;
  v1::ListOpsResponse response;
  ASSERT_TRUE(stub_->ListOps(&context, v1::ListOpsRequest(), &response).ok());
  ASSERT_EQ(response.ops_size(), static_cast<int>(OpCatalog().size()));
  const v1::OpInfo& outer = response.ops(1);
  EXPECT_EQ(outer.name(), "outer");
  EXPECT_EQ(outer.flop_formula(), "2N^2 - N");
  EXPECT_EQ(outer.min_bytes_formula(), "3N * sizeof(dtype)");
  ASSERT_EQ(outer.params_size(), 1);
  EXPECT_EQ(outer.params(0).name(), "axis");
  bool saw_library = false;
  for (const v1::OpImpl& impl : outer.impls()) {
    if (impl.name() != "library") continue;
    saw_library = true;
    EXPECT_EQ(impl.min_bytes_formula(), "(2N^2 + 3N) * sizeof(dtype)");
  }
  EXPECT_TRUE(saw_library);
}

TEST_F(ServiceTest, GetHostInfoDescribesTheDevicesAndWhatIsUnavailable) {
  Start();
  grpc::ClientContext context;
  v1::HostInfo info;
  ASSERT_TRUE(stub_->GetHostInfo(&context, v1::GetHostInfoRequest(), &info).ok());
  EXPECT_EQ(info.hostname(), "testhost");
  EXPECT_EQ(info.flopd_version(), kFlopdVersion);
  ASSERT_EQ(info.devices_size(), 1);
  EXPECT_EQ(info.devices(0).id(), "cpu:0");
  EXPECT_EQ(info.devices(0).name(), "fake device");
  EXPECT_EQ(info.devices(0).queued_jobs(), 0);
  EXPECT_TRUE(info.devices(0).healthy());
  EXPECT_EQ(info.devices(0).ceilings_status(), "not measured yet");
  ASSERT_EQ(info.unavailable_size(), 1);
  EXPECT_EQ(info.unavailable(0), "cuda: not in this test");
}

// How each job ended, as an observer hears it.
class JobEnds : public JobObserver {
 public:
  void OnJobAccepted(const Job&, const JobEvent&) override {}
  void OnJobEvent(const Job& job, const JobEvent& event) override {
    if (event.kind != JobEvent::Kind::kFinished && event.kind != JobEvent::Kind::kError) return;
    std::lock_guard<std::mutex> lock(mu_);
    ended_[job.id()] = event.error;
  }
  // Waits up to `timeout` for the job's end.
  std::optional<absl::Status> WaitEnd(const std::string& job_id, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = ended_.find(job_id);
        if (it != ended_.end()) return it->second;
      }
      if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

 private:
  std::mutex mu_;
  std::map<std::string, absl::Status> ended_;
};

// A client that goes away while its job waits behind another: the job leaves
// the queue at once (it ends, CANCELLED), so it counts neither in the host's
// queued_jobs nor in the queue position of the next job.
TEST_F(ServiceTest, AClientThatLeavesWhileQueuedFreesItsPlaceInTheQueueAtOnce) {
  std::mutex mu;
  std::condition_variable cv;
  bool gate_open = false;
  FakeDeviceOptions options;
  options.on_time_batch = [&](const PointSpec&) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return gate_open; });
  };
  // An observer must outlive the scheduler that tells it, and the fixture's
  // scheduler stops after this body returns: never destroyed (found by TSan).
  static JobEnds& ends = *new JobEnds;
  Start(options, {&ends});
  auto open_gate = [&] {
    std::lock_guard<std::mutex> lock(mu);
    gate_open = true;
    cv.notify_all();
  };
  struct AtEnd {  // the device is let go before the fixture tears down
    std::function<void()> run;
    ~AtEnd() { run(); }
  } at_end{open_gate};

  v1::RunEvent event;
  grpc::ClientContext first_context;
  auto first = stub_->Run(&first_context, Request("matvec", "gemv", "10"));
  ASSERT_TRUE(first->Read(&event) && event.has_accepted());
  ASSERT_TRUE(first->Read(&event) && event.has_status()) << "the device's first job";
  ASSERT_TRUE(first->Read(&event) && event.has_started()) << "the first job holds the device";
  grpc::ClientContext second_context;
  auto second = stub_->Run(&second_context, Request("matvec", "gemv", "11"));
  ASSERT_TRUE(second->Read(&event) && event.has_accepted());
  EXPECT_EQ(event.accepted().queue_position(), 1);
  const std::string second_id = event.accepted().job_id();
  second_context.TryCancel();
  EXPECT_EQ(second->Finish().error_code(), grpc::StatusCode::CANCELLED);

  // The service looks at its client every 50 ms; the first job still holds
  // the device, so only leaving the queue can end the second one.
  std::optional<absl::Status> end = ends.WaitEnd(second_id, std::chrono::seconds(5));
  ASSERT_TRUE(end.has_value()) << "the job of the client that left is still queued";
  EXPECT_EQ(end->code(), absl::StatusCode::kCancelled) << *end;
  grpc::ClientContext info_context;
  v1::HostInfo info;
  ASSERT_TRUE(stub_->GetHostInfo(&info_context, v1::GetHostInfoRequest(), &info).ok());
  ASSERT_EQ(info.devices_size(), 1);
  EXPECT_EQ(info.devices(0).queued_jobs(), 1) << "only the running job";
  grpc::ClientContext third_context;
  auto third = stub_->Run(&third_context, Request("matvec", "gemv", "12"));
  ASSERT_TRUE(third->Read(&event) && event.has_accepted());
  EXPECT_EQ(event.accepted().queue_position(), 1) << "behind the running job only";

  open_gate();
  while (first->Read(&event)) {
  }
  EXPECT_TRUE(first->Finish().ok());
  while (third->Read(&event)) {
  }
  EXPECT_TRUE(third->Finish().ok());
}

}  // namespace
}  // namespace flopd
