// flopd's Prometheus metrics (/metrics; names, labels and the cardinality
// bound are documented in docs/HTTP.md). Built with prometheus-cpp.
//
// Two kinds of input:
//  - events, as they happen: every result (Record, from the result hub's
//    listener) and every job's end (the JobObserver interface);
//  - the state at scrape time (Render): queues, ceilings, device health
//    and the store, read from the scheduler and the store's health.
//
// Per-point gauges hold the latest result of each point (device, op, impl,
// params, dtype, n, timing); at most `max_points` points are exported, the
// least recently measured leaving first. They are written by this class in
// the text format (each point's label set rendered once, when the point
// first appears), not kept as prometheus-cpp gauges: a scrape at the bound
// (4,096 points, 24,576 samples) then costs a few milliseconds instead of
// ~60 ms of copying labels (docs/results/http.md). Every other family is a
// prometheus-cpp metric.
//
// Thread-safe.
#ifndef FLOPD_SERVER_HTTP_METRICS_H_
#define FLOPD_SERVER_HTTP_METRICS_H_

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/history_query.h"
#include "common/store_health.h"
#include "flopd/v1/flopd.pb.h"
#include "server/job_observer.h"
#include "server/scheduler.h"

namespace prometheus {
class Counter;
class Gauge;
template <typename T>
class Family;
class Registry;
}  // namespace prometheus

namespace flopd {

class FlopdMetrics : public JobObserver {
 public:
  static constexpr int kDefaultMaxPoints = 4096;

  FlopdMetrics(const std::string& hostname, const std::string& version,
               int max_points = kDefaultMaxPoints);
  ~FlopdMetrics() override;
  FlopdMetrics(const FlopdMetrics&) = delete;
  FlopdMetrics& operator=(const FlopdMetrics&) = delete;

  // A result measured now: its point's gauges and the counters.
  void Record(const v1::Result& result, const ResultIndex& index);
  // A result measured before this process started (from the store): its
  // point's gauges only, as if it were the latest. Restore oldest first.
  void Restore(const v1::Result& result, const ResultIndex& index);

  // JobObserver: counts each job's end by its final state.
  void OnJobAccepted(const Job& job, const JobEvent& accepted) override;
  void OnJobEvent(const Job& job, const JobEvent& event) override;

  // The exposition (text format 0.0.4), with the scrape-time gauges read
  // from `scheduler` (queues, ceilings, health) and `store` first.
  std::string Render(const Scheduler& scheduler, const StoreHealth& store);

  int points() const;

  // One exported point (defined in metrics.cc).
  struct PointSeries;

 private:
  void UpdatePoint(const v1::Result& result, const ResultIndex& index);
  void RefreshScrapeGauges(const Scheduler& scheduler, const StoreHealth& store);
  // Appends the per-point families. REQUIRES: mu_ held.
  void AppendPointFamilies(std::string* out) const;

  const int max_points_;
  std::shared_ptr<prometheus::Registry> registry_;
  // Families (owned by the registry).
  prometheus::Family<prometheus::Counter>* results_;
  prometheus::Family<prometheus::Counter>* verification_failures_;
  prometheus::Family<prometheus::Counter>* jobs_;
  prometheus::Family<prometheus::Gauge>* queue_length_;
  prometheus::Family<prometheus::Gauge>* jobs_running_;
  prometheus::Family<prometheus::Gauge>* device_peak_;
  prometheus::Family<prometheus::Gauge>* device_bandwidth_;
  prometheus::Family<prometheus::Gauge>* device_healthy_;
  prometheus::Gauge* store_up_;
  prometheus::Gauge* store_results_;
  prometheus::Gauge* store_bytes_;
  prometheus::Counter* store_not_stored_;
  prometheus::Gauge* points_gauge_;
  prometheus::Counter* points_evicted_;

  mutable std::mutex mu_;  // the points, their text and the scrape-time refresh
  // Least recently measured first.
  std::list<std::string> recency_;
  std::map<std::string, std::unique_ptr<PointSeries>> points_;
  int64_t not_stored_seen_ = 0;
  size_t last_size_ = 0;  // of the last exposition: the next one reserves as much
};

}  // namespace flopd

#endif  // FLOPD_SERVER_HTTP_METRICS_H_
