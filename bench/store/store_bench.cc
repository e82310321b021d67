// The result store's benchmark (not a test): what keeping every result costs
// and how fast history is read back, on a store of a million results.
//
//   flopd_store_bench [--results N] [--dir DIR] [--keep]
//
// 1. N synthetic results (a plausible mix: 6 op/impl/axis variants x 2
//    dtypes x 38 sizes per job, 2 devices, 10-59 samples each) inserted
//    through ResultStore::RecordResults in batches; rate and bytes per result.
// 2. The production write: one RecordResult per result, each its own
//    transaction, into that store; latency.
// 3. Filtered ListResults pages of 1,000 (and of whatever a filter has):
//    median of 10 after one cold run.
// 4. The live path on the real CPU backend: a job measured by flopd's
//    scheduler with the history recorder on that store, watched over gRPC
//    on loopback. Per result: the recorder's time on the device's thread
//    (convert + commit + publish) against the point's wall time, and the
//    delay from "measured" (the first observer of the result) to the
//    watcher receiving it.
//
// Prints one table per part; nothing is asserted.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "bench/bench_stats.h"
#include "absl/strings/str_format.h"
#include "common/job_record.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "proto/wire/wire.h"
#include "server/backend/registry.h"
#include "server/flopd_service.h"
#include "server/history_api.h"
#include "server/history_recorder.h"
#include "server/job_observer.h"
#include "server/result_hub.h"
#include "server/scheduler.h"
#include "server/store/result_store.h"

namespace flopd {
namespace {

using bench::Clock;
using bench::Ms;
using bench::Percentile;

struct Variant {
  const char* op;
  const char* impl;
  int axis;  // -1: no params
};
constexpr Variant kVariants[] = {{"matvec", "gemv", -1},  {"matvec", "gemm", -1},
                                 {"outer", "library", 0}, {"outer", "library", 1},
                                 {"outer", "fused", 0},   {"outer", "fused", 1}};
constexpr int kSizes = 38;  // 1000:20000:500
constexpr int kPerJob = 6 * 2 * kSizes;
constexpr int64_t kStartMs = 1700000000000;
constexpr int kJobsPerRun = 10;

std::string JobIdOf(int64_t job) { return NewJobId(kStartMs + job * 60000, job); }
std::string RunIdOf(int64_t job) {
  const int64_t run = job / kJobsPerRun;
  return NewRunId(kStartMs + run * kJobsPerRun * 60000, run);
}

// Result i of the synthetic history: job i / kPerJob, one result every
// 130 ms of virtual time.
v1::Result Synthetic(int64_t i) {
  const int64_t job = i / kPerJob;
  const int64_t k = i % kPerJob;
  const Variant& v = kVariants[k % 6];
  const char* dtype = (k / 6) % 2 ? "f64" : "f32";
  const int64_t n = 1000 + 500 * (k / 12);
  v1::Result r;
  r.set_job_id(JobIdOf(job));
  r.set_run_id(RunIdOf(job));
  r.set_hostname("bench");
  r.set_device(job % 2 ? "cuda:0" : "cpu:0");
  r.set_device_name(job % 2 ? "NVIDIA H100 80GB HBM3" : "AMD EPYC 7B13");
  r.set_backend(job % 2 ? "cuda" : "cpu");
  r.set_op(v.op);
  r.set_impl(v.impl);
  if (v.axis >= 0) (*r.mutable_params())["axis"] = v.axis;
  r.set_dtype(dtype);
  r.set_n(n);
  r.set_flops(2 * n * n - n);
  r.set_min_bytes((n * n + 2 * n) * 4);
  r.set_timing("hot");
  const int samples = 10 + static_cast<int>(i % 50);
  r.set_samples(samples);
  r.set_iterations_per_sample(1 + i % 7);
  const double median = 1e-9 * n * n * (1 + (k % 6));
  v1::TimeStats* t = r.mutable_time();
  t->set_median(median);
  t->set_mean(median * 1.01);
  t->set_min(median * 0.97);
  t->set_max(median * 1.2);
  t->set_stddev(median * 0.02);
  t->set_p05(median * 0.98);
  t->set_p25(median * 0.99);
  t->set_p75(median * 1.01);
  t->set_p95(median * 1.05);
  r.set_relative_noise(0.004);
  r.set_noise_target(0.005);
  r.set_stop_reason("noise_target_met");
  r.set_gflops_per_s(r.flops() / median / 1e9);
  r.set_gbytes_per_s(r.min_bytes() / median / 1e9);
  r.mutable_verification()->set_passed(true);
  r.mutable_verification()->set_max_rel_error(3e-7);
  r.mutable_verification()->set_tolerance(1e-4);
  for (int s = 0; s < samples; ++s) r.add_sample_seconds(median * (1 + 0.001 * ((s * 7919) % 31)));
  r.set_library(job % 2 ? "cuBLAS 13.0.0" : "OpenBLAS 0.3.21 Haswell MAX_THREADS=64");
  r.set_threads(job % 2 ? 0 : 2);
  r.set_measured_unix_ms(kStartMs + i * 130);
  r.set_point_wall_seconds(0.1);
  r.set_flopd_version("0.1.0");
  v1::Roofline* roof = r.mutable_roofline();
  roof->set_intensity(0.5);
  roof->set_floor_seconds(median * 0.8);
  roof->set_efficiency(0.8);
  roof->set_bound("memory");
  roof->set_peak_flops_per_s(1e12);
  roof->set_peak_bandwidth_bytes_per_s(3e12);
  roof->set_compute_seconds(median * 0.01);
  roof->set_memory_seconds(median * 0.8);
  roof->set_latency_threshold_seconds(5e-6);
  roof->set_ceilings_measured_unix_ms(kStartMs);
  return r;
}

// Timestamps each result as it is measured (first observer) and after the
// recorder (last observer), keyed by the job and N.
class Stopwatch : public JobObserver {
 public:
  void OnJobAccepted(const Job&, const JobEvent&) override {}
  void OnJobEvent(const Job& job, const JobEvent& event) override {
    if (event.kind != JobEvent::Kind::kResult) return;
    std::lock_guard<std::mutex> lock(mu_);
    times_[Key(job.id(), event.result.point)] = Clock::now();
    wall_[Key(job.id(), event.result.point)] = event.result.wall_seconds;
  }
  static std::string Key(const std::string& job, const PointSpec& p) {
    return absl::StrCat(job, "/", p.Label());
  }
  std::mutex mu_;
  std::map<std::string, Clock::time_point> times_;
  std::map<std::string, double> wall_;
};

int Main(int argc, char** argv) {
  int64_t total = 1000000;
  std::string dir;
  bool keep = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--results" && i + 1 < argc) {
      if (!absl::SimpleAtoi(argv[++i], &total) || total < kPerJob) {
        std::fprintf(stderr, "--results: at least %d\n", kPerJob);
        return 2;
      }
    } else if (arg == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else if (arg == "--keep") {
      keep = true;
    } else {
      std::fprintf(stderr, "usage: %s [--results N] [--dir DIR] [--keep]\n", argv[0]);
      return 2;
    }
  }
  if (dir.empty()) {
    char pattern[] = "/tmp/flopd-store-bench-XXXXXX";
    dir = mkdtemp(pattern);
  }
  std::printf("store benchmark: %lld results in %s\n\n", static_cast<long long>(total),
              dir.c_str());

  // 1. Bulk insert.
  StoreOptions options;
  options.dir = dir;
  {
    absl::StatusOr<std::unique_ptr<ResultStore>> store = ResultStore::Open(options);
    if (!store.ok()) {
      std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
      return 1;
    }
    const auto start = Clock::now();
    constexpr int kBatch = 10000;
    std::vector<v1::Result> batch;
    int64_t payload = 0;
    for (int64_t i = 0; i < total; ++i) {
      batch.push_back(Synthetic(i));
      payload += batch.back().ByteSizeLong();
      if (static_cast<int>(batch.size()) == kBatch || i + 1 == total) {
        if (absl::Status st = (*store)->RecordResults(batch); !st.ok()) {
          std::fprintf(stderr, "insert: %s\n", st.ToString().c_str());
          return 1;
        }
        batch.clear();
      }
    }
    const double seconds = Ms(Clock::now() - start) / 1000;
    std::printf("1. bulk insert (RecordResults, %d per transaction)\n", kBatch);
    std::printf("   %lld results in %.1f s: %.0f results/s\n", static_cast<long long>(total),
                seconds, total / seconds);
    std::printf("   mean serialized Result: %.0f bytes\n", static_cast<double>(payload) / total);
  }
  // Closing checkpoints the write-ahead log into the file.
  const auto reopen = Clock::now();
  absl::StatusOr<std::unique_ptr<ResultStore>> opened = ResultStore::Open(options);
  if (!opened.ok()) {
    std::fprintf(stderr, "%s\n", opened.status().ToString().c_str());
    return 1;
  }
  ResultStore& store = **opened;
  const double open_ms = Ms(Clock::now() - reopen);
  StoreHealth health = store.Health();
  std::printf("   database file: %.1f MiB = %.0f bytes per result (indexes included)\n",
              health.bytes / 1048576.0, static_cast<double>(health.bytes) / health.results);
  std::printf("   opening it (lock, schema check, count): %.0f ms\n\n", open_ms);

  // 2. One transaction per result, as flopd writes them.
  {
    JobRecord job;
    job.id = NewJobId(kStartMs + total * 200, 77);
    job.device = "cpu:0";
    job.state = JobState::kRunning;
    job.points_total = 2000;
    job.created_unix_ms = kStartMs;
    std::vector<double> latencies;
    for (int i = 0; i < 2000; ++i) {
      v1::Result r = Synthetic(total + i);
      r.set_job_id(job.id);
      ++job.points_measured;
      const auto start = Clock::now();
      if (!store.RecordResult(r, job).ok()) return 1;
      latencies.push_back(Ms(Clock::now() - start));
    }
    std::printf(
        "2. one result per transaction (RecordResult, WAL, synchronous=NORMAL), 2000 "
        "results\n");
    std::printf("   latency: median %.3f ms, p99 %.3f ms, max %.3f ms\n\n",
                Percentile(latencies, 0.5), Percentile(latencies, 0.99),
                Percentile(latencies, 1.0));
  }

  // 3. Filtered pages.
  struct Query {
    std::string name;
    ResultFilter filter;
    bool newest_first = false;
    int skip_pages = 0;
  };
  std::vector<Query> queries(9);
  queries[0].name = "op=outer impl=fused dtype=f32";
  queries[0].filter.ops = {"outer"};
  queries[0].filter.impls = {"fused"};
  queries[0].filter.dtypes = {"f32"};
  queries[1].name = "the same, 50th page (token)";
  queries[1].filter = queries[0].filter;
  queries[1].skip_pages = 49;
  queries[2].name = "device=cuda:0 10000<=N<=15000";
  queries[2].filter.devices = {"cuda:0"};
  queries[2].filter.min_n = 10000;
  queries[2].filter.max_n = 15000;
  queries[3].name = "one job (456 results)";
  queries[3].filter.job_ids = {JobIdOf(total / kPerJob / 2)};
  queries[4].name = "one run (10 jobs, 4560 results)";
  queries[4].filter.run_ids = {RunIdOf(total / kPerJob / 2)};
  queries[5].name = "a 2-hour window";
  queries[5].filter.since_unix_ms = kStartMs + total * 65;
  queries[5].filter.until_unix_ms = queries[5].filter.since_unix_ms + 2 * 3600 * 1000;
  queries[6].name = "one point's history, newest first";
  queries[6].filter.devices = {"cpu:0"};
  queries[6].filter.ops = {"outer"};
  queries[6].filter.impls = {"library"};
  queries[6].filter.params = {"axis=1"};
  queries[6].filter.dtypes = {"f64"};
  queries[6].filter.min_n = 8000;
  queries[6].filter.max_n = 8000;
  queries[6].newest_first = true;
  queries[7].name = "no filter, newest first";
  queries[7].newest_first = true;
  queries[8].name = "impl=gemm dtype=f64 N>=19000 (rare)";
  queries[8].filter.impls = {"gemm"};
  queries[8].filter.dtypes = {"f64"};
  queries[8].filter.min_n = 19000;
  std::printf("3. ListResults, page_size 1000: median of 10 after one cold run\n");
  std::printf("   %-38s %8s %10s %10s %10s\n", "filter", "results", "cold ms", "median ms",
              "max ms");
  for (Query& q : queries) {
    if (absl::Status st = NormalizeResultFilter(&q.filter); !st.ok()) {
      std::fprintf(stderr, "%s: %s\n", q.name.c_str(), st.ToString().c_str());
      return 1;
    }
    PageRequest page{1000, "", q.newest_first};
    for (int i = 0; i < q.skip_pages; ++i) {
      absl::StatusOr<ResultPage> p = store.ListResults(q.filter, page);
      if (!p.ok() || p->next_page_token.empty()) break;
      page.page_token = p->next_page_token;
    }
    std::vector<double> times;
    size_t count = 0;
    for (int run = 0; run < 11; ++run) {
      const auto start = Clock::now();
      absl::StatusOr<ResultPage> p = store.ListResults(q.filter, page);
      times.push_back(Ms(Clock::now() - start));
      if (!p.ok()) {
        std::fprintf(stderr, "%s: %s\n", q.name.c_str(), p.status().ToString().c_str());
        return 1;
      }
      count = p->results.size();
    }
    const double cold = times.front();
    times.erase(times.begin());
    std::printf("   %-38s %8zu %10.1f %10.1f %10.1f\n", q.name.c_str(), count, cold,
                Percentile(times, 0.5), Percentile(times, 1.0));
  }
  std::printf("\n");

  // 4. The live path: the real CPU backend, the recorder on this store, a
  // watcher over gRPC.
  {
    BackendConfig config;
    config.enable_cuda = false;
    DeviceSet devices = CreateDevices(config);
    ResultHub hub;
    HistoryRecorder recorder(&store, &hub, "bench", kFlopdVersion);
    Stopwatch measured, recorded;
    Scheduler scheduler(std::move(devices), {&measured, &recorder, &recorded});
    HistoryApi history(&scheduler, &store, &hub, "bench");
    FlopdService service(&scheduler, "bench", &history);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service);
    std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    auto stub = v1::Flopd::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
    std::mutex mu;
    std::map<std::string, Clock::time_point> received;
    bool caught_up = false;
    grpc::ClientContext watch_context;
    std::thread watcher([&] {
      auto reader = stub->WatchResults(&watch_context, v1::WatchResultsRequest());
      v1::WatchEvent event;
      while (reader->Read(&event)) {
        const auto now = Clock::now();
        std::lock_guard<std::mutex> lock(mu);
        if (event.has_caught_up()) caught_up = true;
        if (!event.has_result()) continue;
        received[Stopwatch::Key(event.result().job_id(), ResultPoint(event.result()))] = now;
      }
      reader->Finish().IgnoreError();
    });
    while (true) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (caught_up) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    // A CPU sweep with short budgets: every point's result goes through the
    // recorder while the device waits.
    JobSubmission submission;
    submission.request.ops = {"matvec", "outer"};
    submission.request.sizes = "64:2049:64";
    submission.measure.max_time_s = 0.05;
    submission.measure.min_time_s = 0.02;
    absl::StatusOr<SubmittedJob> job = scheduler.Submit(submission);
    if (!job.ok()) {
      std::fprintf(stderr, "%s\n", job.status().ToString().c_str());
      return 1;
    }
    const auto job_start = Clock::now();
    JobEvent event;
    int points = 0;
    while (job->job->events().PopFor(&event, std::chrono::seconds(600))) {
      if (event.kind == JobEvent::Kind::kResult) ++points;
      if (event.kind == JobEvent::Kind::kFinished || event.kind == JobEvent::Kind::kError) break;
    }
    const double job_seconds = Ms(Clock::now() - job_start) / 1000;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    watch_context.TryCancel();
    watcher.join();
    std::vector<double> recorder_ms, delivery_ms, overhead;
    double recorder_total = 0, wall_total = 0;
    for (const auto& [key, t0] : measured.times_) {
      const double rec = Ms(recorded.times_.at(key) - t0);
      recorder_ms.push_back(rec);
      recorder_total += rec / 1000;
      wall_total += measured.wall_.at(key);
      overhead.push_back(rec / 1000 / measured.wall_.at(key));
      auto got = received.find(key);
      if (got != received.end()) delivery_ms.push_back(Ms(got->second - t0));
    }
    std::printf(
        "4. live: CPU sweep (matvec, outer; N = 64..2048 step 64; max 0.05 s a point) "
        "measured by the scheduler,\n   recorded into the %lld-result store, watched "
        "over gRPC on loopback\n",
        static_cast<long long>(health.results + 2000));
    std::printf("   %d points in %.1f s; %zu of them received by the watcher\n", points,
                job_seconds, delivery_ms.size());
    std::printf(
        "   recorder on the device's thread (convert + commit + publish): median %.3f "
        "ms, p99 %.3f ms, max %.3f ms\n",
        Percentile(recorder_ms, 0.5), Percentile(recorder_ms, 0.99), Percentile(recorder_ms, 1.0));
    std::printf(
        "   = %.3f%% of the points' wall time in all (per point: median %.3f%%, max "
        "%.3f%%)\n",
        100 * recorder_total / wall_total, 100 * Percentile(overhead, 0.5),
        100 * Percentile(overhead, 1.0));
    std::printf("   measured -> watcher received: median %.2f ms, p95 %.2f ms, max %.2f ms\n",
                Percentile(delivery_ms, 0.5), Percentile(delivery_ms, 0.95),
                Percentile(delivery_ms, 1.0));
    // The same page over gRPC: the store's query plus serializing ~0.7 MB
    // and carrying it over loopback.
    std::vector<double> rpc_ms;
    size_t rpc_count = 0;
    size_t rpc_bytes = 0;
    for (int run = 0; run < 11; ++run) {
      v1::ListResultsRequest request;
      *request.mutable_filter() = ToProto(queries[0].filter);
      request.set_page_size(1000);
      v1::ListResultsResponse response;
      grpc::ClientContext context;
      const auto start = Clock::now();
      grpc::Status status = stub->ListResults(&context, request, &response);
      rpc_ms.push_back(Ms(Clock::now() - start));
      if (!status.ok()) {
        std::fprintf(stderr, "ListResults: %s\n", status.error_message().c_str());
        return 1;
      }
      rpc_count = response.results_size();
      rpc_bytes = response.ByteSizeLong();
    }
    rpc_ms.erase(rpc_ms.begin());
    std::printf(
        "   ListResults over gRPC (%s, %zu results, %.1f MB): median %.1f ms, max %.1f "
        "ms\n",
        queries[0].name.c_str(), rpc_count, rpc_bytes / 1e6, Percentile(rpc_ms, 0.5),
        Percentile(rpc_ms, 1.0));
    scheduler.Shutdown();
    hub.Shutdown();
    server->Shutdown();
  }
  opened->reset();
  if (!keep) std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace flopd

int main(int argc, char** argv) { return flopd::Main(argc, argv); }
