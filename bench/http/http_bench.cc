// HTTP for dashboards on a big store (docs/results/http.md): how long flopd
// takes to fill /metrics from the store at startup, how long a scrape of
// /metrics takes (rendering, and over loopback HTTP) with the store's points
// and with the bound's worth of points, a filtered /api/v1/results page of
// 1,000, and how soon a result measured by the real CPU backend reaches a
// reader of /api/v1/watch. Not a test.
//
//   flopd_store_bench --results 1000000 --dir DIR --keep   # makes the store
//   flopd_http_bench --dir DIR
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "bench/bench_stats.h"
#include "httplib.h"
#include "proto/wire/wire.h"
#include "server/backend/registry.h"
#include "server/history_api.h"
#include "server/history_recorder.h"
#include "server/host_info.h"
#include "server/http/http_server.h"
#include "server/http/metrics.h"
#include "server/result_hub.h"
#include "server/scheduler.h"
#include "server/store/result_store.h"

namespace flopd {
namespace {

using bench::Clock;
using bench::Ms;
using bench::Percentile;

// Times `fn` `runs` times after one warm-up; prints median and max.
template <typename Fn>
std::vector<double> Time(int runs, Fn fn) {
  fn();
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    const auto start = Clock::now();
    fn();
    ms.push_back(Ms(Clock::now() - start));
  }
  return ms;
}

// Stamps the moment each result leaves the device's worker (the first
// observer: before the recorder stores and publishes it).
class Stamp : public JobObserver {
 public:
  void OnJobAccepted(const Job&, const JobEvent&) override {}
  void OnJobEvent(const Job&, const JobEvent& event) override {
    if (event.kind != JobEvent::Kind::kResult) return;
    std::lock_guard<std::mutex> lock(mu);
    measured[event.result.point.n] = Clock::now();
  }
  std::mutex mu;
  std::map<int64_t, Clock::time_point> measured;
};

int Main(int argc, char** argv) {
  std::string dir;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s --dir STORE_DIR (made by flopd_store_bench --keep)\n",
                   argv[0]);
      return 2;
    }
  }
  if (dir.empty()) {
    std::fprintf(stderr, "--dir: required\n");
    return 2;
  }
  StoreOptions options;
  options.dir = dir;
  absl::StatusOr<std::unique_ptr<ResultStore>> opened = ResultStore::Open(options);
  if (!opened.ok()) {
    std::fprintf(stderr, "%s\n", opened.status().ToString().c_str());
    return 1;
  }
  ResultStore& store = **opened;
  const StoreHealth health = store.Health();
  std::printf("HTTP benchmark on %s: %lld results\n\n", dir.c_str(),
              static_cast<long long>(health.results));

  // 1. Startup: the newest result of each point, into the gauges.
  FlopdMetrics metrics("bench", kFlopdVersion);
  std::vector<v1::Result> latest;
  const std::vector<double> query_ms = Time(3, [&] {
    latest = *store.LatestPerPoint(FlopdMetrics::kDefaultMaxPoints);
  });
  const auto restore_start = Clock::now();
  for (auto it = latest.rbegin(); it != latest.rend(); ++it) metrics.Restore(*it, IndexOf(*it));
  const double restore_ms = Ms(Clock::now() - restore_start);
  std::printf("1. /metrics from the store at startup: %zu points\n", latest.size());
  std::printf("   LatestPerPoint query: median %.1f ms, max %.1f ms; into the gauges: %.1f ms\n\n",
              Percentile(query_ms, 0.5), Percentile(query_ms, 1.0), restore_ms);

  // The real server on loopback, the real CPU backend behind it.
  BackendConfig config;
  config.enable_cuda = false;
  ResultHub hub;
  hub.AddListener([&metrics](const HubResult& r) { metrics.Record(*r.result, r.index); });
  HistoryRecorder recorder(&store, &hub, "bench", kFlopdVersion);
  Stamp stamp;
  Scheduler scheduler(CreateDevices(config), {&stamp, &recorder, &metrics});
  HistoryApi history(&scheduler, &store, &hub, "bench");
  HttpOptions http_options;
  http_options.address = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<HttpServer>> http =
      HttpServer::Start(http_options, {&scheduler, &history, &metrics, {"bench", 0}});
  if (!http.ok()) {
    std::fprintf(stderr, "%s\n", http.status().ToString().c_str());
    return 1;
  }
  const std::string address = (*http)->address();
  const int port = std::stoi(address.substr(address.rfind(':') + 1));
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(60, 0);

  // 2. Scrapes.
  auto scrape = [&](const char* label) {
    std::string body;
    const std::vector<double> render_ms =
        Time(20, [&] { body = metrics.Render(scheduler, store.Health()); });
    size_t bytes = 0;
    const std::vector<double> http_ms = Time(20, [&] {
      httplib::Result res = client.Get("/metrics");
      bytes = res ? res->body.size() : 0;
    });
    int samples = 0;
    for (size_t at = 0; (at = body.find('\n', at)) != std::string::npos; ++at) {
      if (at + 1 < body.size() && body[at + 1] != '#') ++samples;
    }
    std::printf("   %-34s %6d %8d %9.1f %9.2f %9.2f %9.2f\n", label, metrics.points(), samples,
                bytes / 1024.0, Percentile(render_ms, 0.5), Percentile(http_ms, 0.5),
                Percentile(http_ms, 1.0));
  };
  std::printf("2. GET /metrics (20 runs each, after one warm-up)\n");
  std::printf("   %-34s %6s %8s %9s %9s %9s %9s\n", "", "points", "samples", "KiB",
              "render ms", "HTTP ms", "HTTP max");
  scrape("the store's points");
  // Up to the bound: points of N the store does not have.
  for (int64_t n = 100001; metrics.points() < FlopdMetrics::kDefaultMaxPoints; ++n) {
    v1::Result r = latest.empty() ? v1::Result() : latest.front();
    r.set_n(n);
    metrics.Restore(r, IndexOf(r));
  }
  scrape("at the bound (--metrics-points)");
  std::printf("\n");

  // 3. A filtered page of 1,000 over HTTP.
  std::printf("3. GET /api/v1/results, page_size 1000 (10 runs after one warm-up)\n");
  for (const char* query :
       {"op=outer&impl=fused&dtype=f32", "op=outer&impl=fused&dtype=f32&omit_samples=true",
        "device=cuda:0&min_n=10000&max_n=15000", "newest_first=true",
        "newest_first=true&omit_samples=true", "impl=gemm&dtype=f64&min_n=19000"}) {
    size_t bytes = 0;
    int status = 0;
    const std::vector<double> ms = Time(10, [&] {
      httplib::Result res = client.Get(absl::StrCat("/api/v1/results?page_size=1000&", query));
      status = res ? res->status : 0;
      bytes = res ? res->body.size() : 0;
    });
    std::printf("   %-50s HTTP %d, %5.2f MB JSON: median %6.1f ms, max %6.1f ms\n", query, status,
                bytes / 1e6, Percentile(ms, 0.5), Percentile(ms, 1.0));
  }
  std::printf("\n");

  // 4. Live: a CPU sweep, read through /api/v1/watch.
  std::mutex mu;
  std::map<int64_t, Clock::time_point> received;
  bool caught_up = false;
  httplib::Client watcher_client("127.0.0.1", port);
  watcher_client.set_read_timeout(120, 0);
  std::string pending;
  std::thread watcher([&] {
    watcher_client.Get("/api/v1/watch?op=matvec&impl=gemv", [&](const char* data, size_t length) {
      const auto now = Clock::now();
      pending.append(data, length);
      size_t end;
      while ((end = pending.find("\n\n")) != std::string::npos) {
        const std::string event = pending.substr(0, end);
        pending.erase(0, end + 2);
        std::lock_guard<std::mutex> lock(mu);
        if (absl::StartsWith(event, "event: caught_up")) caught_up = true;
        const size_t n_at = event.find("\"n\":\"");
        if (!absl::StartsWith(event, "event: result") || n_at == std::string::npos) continue;
        int64_t n = 0;
        const size_t n_start = n_at + 5;
        if (absl::SimpleAtoi(event.substr(n_start, event.find('"', n_start) - n_start), &n)) {
          received[n] = now;
        }
      }
      return true;
    });
  });
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (caught_up) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  JobSubmission submission;
  submission.request.ops = {"matvec"};
  submission.request.impls = {"gemv"};
  submission.request.sizes = "64:4097:64";
  submission.measure.max_time_s = 0.05;
  submission.measure.min_time_s = 0.02;
  absl::StatusOr<SubmittedJob> job = scheduler.Submit(submission);
  if (!job.ok()) {
    std::fprintf(stderr, "%s\n", job.status().ToString().c_str());
    return 1;
  }
  JobEvent event;
  int points = 0;
  while (job->job->events().PopFor(&event, std::chrono::seconds(600))) {
    if (event.kind == JobEvent::Kind::kResult) ++points;
    if (event.kind == JobEvent::Kind::kFinished || event.kind == JobEvent::Kind::kError) break;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::vector<double> delivery_ms;
  {
    std::lock_guard<std::mutex> lock(mu);
    std::lock_guard<std::mutex> stamp_lock(stamp.mu);
    for (const auto& [n, t0] : stamp.measured) {
      auto got = received.find(n);
      if (got != received.end()) delivery_ms.push_back(Ms(got->second - t0));
    }
  }
  std::printf(
      "4. live: CPU sweep (matvec gemv, N = 64..4096 step 64) into the store, read through "
      "/api/v1/watch\n   %d points measured, %zu received; measured -> received: median %.2f ms, "
      "p95 %.2f ms, max %.2f ms\n",
      points, delivery_ms.size(), Percentile(delivery_ms, 0.5), Percentile(delivery_ms, 0.95),
      Percentile(delivery_ms, 1.0));
  scheduler.Shutdown();
  hub.Shutdown();  // ends the watch
  watcher_client.stop();
  watcher.join();
  (*http)->Stop();
  return 0;
}

}  // namespace
}  // namespace flopd

int main(int argc, char** argv) { return flopd::Main(argc, argv); }
