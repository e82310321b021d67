#include "server/http/metrics.h"

#include <charconv>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/job_record.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "server/backend/device.h"

namespace flopd {

namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Labels;

Family<Gauge>* GaugeFamily(prometheus::Registry& registry, const std::string& name,
                           const std::string& help) {
  return &prometheus::BuildGauge().Name(name).Help(help).Register(registry);
}

Family<Counter>* CounterFamily(prometheus::Registry& registry, const std::string& name,
                               const std::string& help) {
  return &prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

Labels PointLabels(const ResultIndex& index) {
  return {{"device", index.device}, {"op", index.op},         {"impl", index.impl},
          {"params", index.params}, {"dtype", index.dtype},   {"n", absl::StrCat(index.n)},
          {"timing", index.timing}};
}

}  // namespace

// The per-point families: name, help, and which value of a point.
struct PointFamily {
  const char* name;
  const char* help;
  double FlopdMetrics::PointSeries::*value;
};

// One point: its label set in the text format ("{device=\"cpu:0\",...}")
// and the values of its latest result. `has_efficiency` is false while
// that result has no roofline. `recency` is its entry in recency_.
struct FlopdMetrics::PointSeries {
  std::string labels;
  double median = 0;
  double flops = 0;
  double bytes = 0;
  double noise = 0;
  double measured = 0;
  double efficiency = 0;
  bool has_efficiency = false;
  std::list<std::string>::iterator recency;
};

namespace {

constexpr PointFamily kPointFamilies[] = {
    {"flopd_point_median_seconds",
     "Latest median time of one execution of the point, seconds.",
     &FlopdMetrics::PointSeries::median},
    {"flopd_point_flops_per_second", "Latest FLOP rate of the point: its FLOPs / median time.",
     &FlopdMetrics::PointSeries::flops},
    {"flopd_point_bytes_per_second",
     "Latest byte rate of the point: its minimum bytes / median time.",
     &FlopdMetrics::PointSeries::bytes},
    {"flopd_point_efficiency_ratio",
     "Roofline floor / median time of the point's latest result (absent without ceilings).",
     &FlopdMetrics::PointSeries::efficiency},
    {"flopd_point_relative_noise_ratio",
     "Half-width of the 95% confidence interval of the median / median.",
     &FlopdMetrics::PointSeries::noise},
    {"flopd_point_measured_timestamp_seconds",
     "When the point's latest result was measured, Unix seconds.",
     &FlopdMetrics::PointSeries::measured},
};

// A label value as the text format escapes it: backslash, quote, newline.
void AppendEscaped(std::string* out, absl::string_view value) {
  for (const char c : value) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '"') {
      out->append("\\\"");
    } else if (c == '\n') {
      out->append("\\n");
    } else {
      out->push_back(c);
    }
  }
}

// The shortest text that reads back as the same double; NaN, +Inf, -Inf.
void AppendValue(std::string* out, double value) {
  if (std::isnan(value)) return out->append("NaN"), void();
  if (std::isinf(value)) return out->append(value > 0 ? "+Inf" : "-Inf"), void();
  char buffer[64];
  const std::to_chars_result written = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out->append(buffer, written.ptr);
}

}  // namespace

FlopdMetrics::FlopdMetrics(const std::string& hostname, const std::string& version,
                           int max_points)
    : max_points_(max_points < 1 ? 1 : max_points),
      registry_(std::make_shared<prometheus::Registry>()) {
  prometheus::Registry& r = *registry_;
  GaugeFamily(r, "flopd_build_info", "The flopd build; always 1.")
      ->Add({{"version", version}, {"hostname", hostname}})
      .Set(1);
  results_ = CounterFamily(r, "flopd_results_total", "Results measured since flopd started.");
  verification_failures_ =
      CounterFamily(r, "flopd_verification_failures_total",
                    "Results that failed verification against the fp64 reference since flopd "
                    "started.");
  jobs_ = CounterFamily(r, "flopd_jobs_total",
                        "Jobs ended since flopd started, by final state.");
  queue_length_ = GaugeFamily(r, "flopd_queue_length", "Jobs waiting for the device.");
  jobs_running_ = GaugeFamily(r, "flopd_jobs_running", "1 while a job runs on the device.");
  device_peak_ = GaugeFamily(r, "flopd_device_peak_flops_per_second",
                             "The device's measured FMA peak, FLOP/s.");
  device_bandwidth_ = GaugeFamily(r, "flopd_device_memory_bandwidth_bytes_per_second",
                                  "The device's measured memory bandwidth, bytes/s.");
  device_healthy_ = GaugeFamily(r, "flopd_device_healthy", "1 when the device is healthy.");
  store_up_ = &GaugeFamily(r, "flopd_store_up", "1 while results are being stored.")->Add({});
  store_results_ = &GaugeFamily(r, "flopd_store_results", "Results in the store.")->Add({});
  store_bytes_ = &GaugeFamily(r, "flopd_store_bytes",
                              "The store's database and write-ahead log on disk, bytes.")
                      ->Add({});
  store_not_stored_ =
      &CounterFamily(r, "flopd_store_results_not_stored_total",
                     "Results measured but not stored because writes failed, since flopd "
                     "started.")
           ->Add({});
  points_gauge_ =
      &GaugeFamily(r, "flopd_metrics_points", "Points exported in the flopd_point_ gauges.")
           ->Add({});
  points_evicted_ = &CounterFamily(r, "flopd_metrics_points_evicted_total",
                                   "Points dropped from the flopd_point_ gauges to stay under "
                                   "the bound (--metrics-points).")
                         ->Add({});
}

FlopdMetrics::~FlopdMetrics() = default;

void FlopdMetrics::Record(const v1::Result& result, const ResultIndex& index) {
  results_->Add({{"device", index.device}}).Increment();
  // The series exists (at 0) from the kind's first result, so that
  // increase() sees its first failure.
  Counter& failures = verification_failures_->Add(
      {{"device", index.device}, {"op", index.op}, {"impl", index.impl}, {"dtype", index.dtype}});
  if (!index.verified) failures.Increment();
  UpdatePoint(result, index);
}

void FlopdMetrics::Restore(const v1::Result& result, const ResultIndex& index) {
  UpdatePoint(result, index);
}

void FlopdMetrics::UpdatePoint(const v1::Result& result, const ResultIndex& index) {
  const Labels labels = PointLabels(index);
  std::string key;
  for (const auto& [name, value] : labels) absl::StrAppend(&key, value, "\x1f");

  std::lock_guard<std::mutex> lock(mu_);
  auto it = points_.find(key);
  if (it == points_.end()) {
    if (static_cast<int>(points_.size()) >= max_points_) {
      // The least recently measured point leaves /metrics.
      points_.erase(recency_.front());
      recency_.pop_front();
      points_evicted_->Increment();
    }
    auto series = std::make_unique<PointSeries>();
    series->labels = "{";
    for (const auto& [name, value] : labels) {  // sorted by name, as prometheus-cpp writes them
      if (series->labels.size() > 1) series->labels.push_back(',');
      absl::StrAppend(&series->labels, name, "=\"");
      AppendEscaped(&series->labels, value);
      series->labels.push_back('"');
    }
    series->labels.push_back('}');
    series->recency = recency_.insert(recency_.end(), key);
    it = points_.emplace(key, std::move(series)).first;
  } else {
    recency_.splice(recency_.end(), recency_, it->second->recency);
  }
  PointSeries& series = *it->second;
  series.median = result.time().median();
  series.flops = result.gflops_per_s() * 1e9;
  series.bytes = result.gbytes_per_s() * 1e9;
  series.noise = result.relative_noise();
  series.measured = static_cast<double>(result.measured_unix_ms()) / 1000.0;
  series.has_efficiency = result.has_roofline();
  series.efficiency = result.roofline().efficiency();
  points_gauge_->Set(static_cast<double>(points_.size()));
}

void FlopdMetrics::AppendPointFamilies(std::string* out) const {
  for (const PointFamily& family : kPointFamilies) {
    const bool efficiency = family.value == &PointSeries::efficiency;
    absl::StrAppend(out, "# HELP ", family.name, " ", family.help, "\n# TYPE ", family.name,
                    " gauge\n");
    for (const std::string& key : recency_) {
      const PointSeries& series = *points_.at(key);
      if (efficiency && !series.has_efficiency) continue;
      absl::StrAppend(out, family.name, series.labels, " ");
      AppendValue(out, series.*family.value);
      out->push_back('\n');
    }
  }
}

void FlopdMetrics::OnJobAccepted(const Job&, const JobEvent&) {}

void FlopdMetrics::OnJobEvent(const Job& job, const JobEvent& event) {
  if (event.kind != JobEvent::Kind::kFinished && event.kind != JobEvent::Kind::kError) return;
  const JobRecord record = job.record();
  jobs_->Add({{"device", record.device}, {"state", std::string(JobStateName(record.state))}})
      .Increment();
}

void FlopdMetrics::RefreshScrapeGauges(const Scheduler& scheduler, const StoreHealth& store) {
  for (int slot = 0; slot < scheduler.device_count(); ++slot) {
    const Device& device = scheduler.device(slot);
    const std::string& id = device.Describe().id;
    const Scheduler::QueueState queue = scheduler.queue_state(slot);
    queue_length_->Add({{"device", id}}).Set(queue.waiting);
    jobs_running_->Add({{"device", id}}).Set(queue.running ? 1 : 0);
    std::string detail;
    device_healthy_->Add({{"device", id}}).Set(device.Healthy(&detail) ? 1 : 0);
    const absl::StatusOr<DeviceCeilings> ceilings = scheduler.ceilings(slot);
    if (ceilings.ok()) {
      device_bandwidth_->Add({{"device", id}}).Set(ceilings->bandwidth_bytes_per_s);
      for (const auto& [dtype, peak] : ceilings->peak_flops) {
        device_peak_->Add({{"device", id}, {"dtype", dtype}}).Set(peak);
      }
    }
  }
  store_up_->Set(store.ok() ? 1 : 0);
  store_results_->Set(static_cast<double>(store.results));
  store_bytes_->Set(static_cast<double>(store.bytes));
  if (store.results_not_stored > not_stored_seen_) {
    store_not_stored_->Increment(static_cast<double>(store.results_not_stored - not_stored_seen_));
    not_stored_seen_ = store.results_not_stored;
  }
}

std::string FlopdMetrics::Render(const Scheduler& scheduler, const StoreHealth& store) {
  std::lock_guard<std::mutex> lock(mu_);
  RefreshScrapeGauges(scheduler, store);
  std::string out = prometheus::TextSerializer().Serialize(registry_->Collect());
  out.reserve(last_size_ + last_size_ / 8);  // grown once, not doubled along the way
  AppendPointFamilies(&out);
  last_size_ = out.size();
  return out;
}

int FlopdMetrics::points() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(points_.size());
}

}  // namespace flopd
