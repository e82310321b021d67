// flopd_gpu_probe: a quick timing table of every CUDA impl at one size, next
// to the GPU's measured device-to-device copy bandwidth, so that one GPU run
// shows whether the kernels meet their targets:
//   matvec/custom   median <= 1.03 x MinBytes / copy bandwidth
//   outer/library   median <= 1.10 x MinBytes / copy bandwidth
//   outer/fused     median <= 20 us (f32, N = 20000)
// It goes through the Device interface exactly as flopd does (Prepare,
// Verify, TimeBatch), but with its own simple loop: each sample is one
// TimeBatch of enough executions to last ~1 ms, and the table shows the
// median and the spread of `--samples` samples.
//
// Each row also shows the wall time of the point's Prepare, of its first
// Verify and of releasing it (the per-point overhead a sweep pays).
//
// --sweep=seed instead runs flopd's own measurement loop (MeasurePoint, the
// device's default settings, hot) over the seed's two experiments, matvec/gemm
// and outer/library axis 0 at N = 1000:19500:500, and prints each point's
// wall time and the sweep's total: the number to hold against the seed's
// 1000-iteration loop.
//
// Usage: flopd_gpu_probe [--n=20000] [--dtype=f32|f64|all] [--samples=50]
//                        [--modes=hot,graph,cold] [--device=0|all] [--sweep=seed]
// Exit status 0 when every point verified (targets are reported, not enforced).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/op_catalog.h"
#include "common/point.h"
#include "common/roofline.h"
#include "server/backend/cuda/cuda_device.h"
#include "server/backend/device.h"
#include "server/backend/registry.h"
#include "server/measure_point.h"

namespace flopd {
namespace {

struct Options {
  int64_t n = 20000;
  std::vector<DType> dtypes = {DType::kF32};
  int samples = 50;
  std::vector<TimingMode> modes = {TimingMode::kHot, TimingMode::kGraph, TimingMode::kCold};
  int device = 0;  // -1 = all
  bool sweep_seed = false;
};

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

bool ParseOptions(int argc, char** argv, Options* options) {
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    std::vector<std::string> kv = absl::StrSplit(arg, absl::MaxSplits('=', 1));
    if (kv.size() != 2) return false;
    const std::string& key = kv[0];
    const std::string& value = kv[1];
    if (key == "--n") {
      if (!absl::SimpleAtoi(value, &options->n) || options->n < 1) return false;
    } else if (key == "--samples") {
      if (!absl::SimpleAtoi(value, &options->samples) || options->samples < 1) return false;
    } else if (key == "--dtype") {
      if (value == "all") {
        options->dtypes = {DType::kF32, DType::kF64};
      } else {
        absl::StatusOr<DType> dtype = ParseDType(value);
        if (!dtype.ok()) return false;
        options->dtypes = {*dtype};
      }
    } else if (key == "--modes") {
      options->modes.clear();
      for (absl::string_view name : absl::StrSplit(value, ',')) {
        TimingMode mode;
        if (!ParseTimingMode(name, &mode).ok()) return false;
        options->modes.push_back(mode);
      }
    } else if (key == "--sweep") {
      if (value != "seed") return false;
      options->sweep_seed = true;
    } else if (key == "--device") {
      if (value == "all") {
        options->device = -1;
      } else if (!absl::SimpleAtoi(value, &options->device) || options->device < 0) {
        return false;
      }
    } else {
      return false;
    }
  }
  return true;
}

struct Row {
  std::string label;
  std::string mode;
  std::string verify;
  int64_t iterations = 0;
  double median = 0, min = 0, spread = 0;
  double floor = 0;  // seconds: MinBytes / copy bandwidth, or the FLOP floor if larger
  std::string target;
  std::string status;
  std::string clock;  // SM clock after sampling, MHz (probe kernel / NVML)
  double prepare_ms = 0, verify_ms = 0, release_ms = 0;
};

// The point with its kernel set by the op catalog, as PlanJob resolves
// every point; exits on a name the catalog does not know (a bug here).
PointSpec Resolved(const PointSpec& point) {
  absl::StatusOr<PointSpec> resolved = ResolvePoint(point);
  if (!resolved.ok()) {
    std::fprintf(stderr, "%s\n", resolved.status().ToString().c_str());
    std::exit(2);
  }
  return *resolved;
}

double Percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double position = q * static_cast<double>(v.size() - 1);
  const size_t below = static_cast<size_t>(std::floor(position));
  const size_t above = std::min(v.size() - 1, below + 1);
  return v[below] + (v[above] - v[below]) * (position - static_cast<double>(below));
}

// Prepares, verifies and samples one point; fills `row`. False on a device
// error or a wrong result.
bool Measure(Device& device, const PointSpec& point, TimingMode mode, int samples,
             double copy_bandwidth, double fp32_peak_flops, Row* row,
             std::vector<std::string>* warnings) {
  row->label = point.Label();
  row->mode = std::string(TimingModeName(mode));
  MeasureSettings settings = device.Describe().default_settings;
  settings.timing = mode;
  auto start = std::chrono::steady_clock::now();
  absl::StatusOr<std::unique_ptr<PreparedPoint>> prepared = device.Prepare(point, settings);
  row->prepare_ms = SecondsSince(start) * 1e3;
  if (!prepared.ok()) {
    row->status = prepared.status().ToString();
    return false;
  }
  PreparedPoint& p = **prepared;
  start = std::chrono::steady_clock::now();
  absl::StatusOr<VerificationResult> verified = p.Verify();
  row->verify_ms = SecondsSince(start) * 1e3;
  if (!verified.ok()) {
    row->status = verified.status().ToString();
    return false;
  }
  row->verify =
      absl::StrFormat("%s %.1e", verified->passed ? "ok" : "FAIL", verified->max_rel_error);
  if (!verified->passed) {
    row->status = verified->detail;
    return false;
  }
  for (int i = 0; i < 3; ++i) {
    if (!p.TimeBatch(1).ok()) break;
  }
  absl::StatusOr<double> probe = p.TimeBatch(5);
  if (!probe.ok()) {
    row->status = probe.status().ToString();
    return false;
  }
  const double single = std::max(*probe / 5, 1e-7);
  row->iterations = std::clamp<int64_t>(static_cast<int64_t>(std::ceil(1e-3 / single)), 1, 4096);
  std::vector<double> times;
  for (int s = 0; s < samples; ++s) {
    absl::StatusOr<double> seconds = p.TimeBatch(row->iterations);
    if (!seconds.ok()) {
      row->status = seconds.status().ToString();
      return false;
    }
    times.push_back(*seconds / static_cast<double>(row->iterations));
  }
  row->median = Percentile(times, 0.5);
  row->min = *std::min_element(times.begin(), times.end());
  row->spread = (Percentile(times, 0.9) - Percentile(times, 0.1)) / row->median;
  const double byte_floor = static_cast<double>(MinBytes(point)) / copy_bandwidth;
  const double flop_floor = fp32_peak_flops > 0 && point.dtype == DType::kF32
                                ? static_cast<double>(OpFlops(point)) / fp32_peak_flops
                                : 0;
  row->floor = std::max(byte_floor, flop_floor);
  p.CollectWarnings(warnings);
  const DeviceDescription after = device.Describe();
  auto property = [&after](const char* key) {
    auto it = after.properties.find(key);
    return it == after.properties.end() ? std::string("?") : it->second;
  };
  row->clock = property("sm_clock_mhz_last") + "/" + property("sm_clock_mhz_last_nvml");
  start = std::chrono::steady_clock::now();
  prepared->reset();
  row->release_ms = SecondsSince(start) * 1e3;

  const bool f32_20000 = point.dtype == DType::kF32 && point.n == 20000;
  if (point.kernel == Kernel::kMatvecCustom) {
    row->target = "<= 1.03 x bytes/copyBW";
    row->status = row->median <= 1.03 * byte_floor ? "PASS" : "MISS";
  } else if (point.kernel == Kernel::kOuterLibrary) {
    row->target = "<= 1.10 x bytes/copyBW";
    row->status = row->median <= 1.10 * byte_floor ? "PASS" : "MISS";
  } else if (point.kernel == Kernel::kOuterFused && f32_20000) {
    row->target = "<= 20 us";
    row->status = row->median <= 20e-6 ? "PASS" : "MISS";
  } else {
    row->target = "-";
    row->status = "-";
  }
  return true;
}

// The seed's two experiments through MeasurePoint, as flopd runs them.
bool SweepSeed(Device& device) {
  MeasureSettings settings = device.Describe().default_settings;
  settings.timing = TimingMode::kHot;
  const std::atomic<bool> cancelled{false};
  std::printf("\nsweep: the seed's two experiments, MeasurePoint with the device's defaults "
              "(hot, noise target %.2f%%, min %d samples, min %.3g s, max %.3g s)\n",
              settings.noise_target * 100, settings.min_samples, settings.min_time_s,
              settings.max_time_s);
  std::printf("%-36s %9s %8s %6s %11s %8s %10s  %s\n", "point", "wall_ms", "sample_ms",
              "count", "median_us", "noise", "overhead", "stop");
  bool ok = true;
  const auto sweep_start = std::chrono::steady_clock::now();
  double overhead_total = 0;
  int points = 0;
  for (int impl = 0; impl < 2; ++impl) {
    for (int64_t n = 1000; n <= 19500; n += 500) {
      PointSpec point;
      point.op = impl == 0 ? "matvec" : "outer";
      point.impl = impl == 0 ? "gemm" : "library";
      if (impl == 1) point.params["axis"] = 0;
      point.dtype = DType::kF32;
      point.n = n;
      point = Resolved(point);
      absl::StatusOr<PointOutcome> outcome =
          MeasurePoint(device, point, settings, /*ceilings=*/nullptr, cancelled);
      if (!outcome.ok()) {
        std::printf("%-36s %s\n", point.Label().c_str(), outcome.status().ToString().c_str());
        ok = false;
        continue;
      }
      double sampled = 0;
      for (double t : outcome->samples) sampled += t * static_cast<double>(outcome->iterations_per_sample);
      const double overhead = outcome->wall_seconds - sampled;
      overhead_total += overhead;
      ++points;
      ok = ok && outcome->verification.passed;
      std::printf("%-36s %9.1f %8.1f %6d %11.2f %7.2f%% %8.1fms  %s%s\n", point.Label().c_str(),
                  outcome->wall_seconds * 1e3, sampled * 1e3,
                  static_cast<int>(outcome->samples.size()), outcome->summary.median * 1e6,
                  outcome->summary.relative_noise * 100, overhead * 1e3,
                  outcome->stop_reason.c_str(), outcome->verification.passed ? "" : " VERIFY FAILED");
      std::fflush(stdout);
    }
  }
  std::printf("sweep: %d points in %.2f s wall (%.2f s outside sampling: prepare, verify, "
              "warm-up, clock reads, release)\n",
              points, SecondsSince(sweep_start), overhead_total);
  return ok;
}

int Run(const Options& options) {
  absl::StatusOr<std::vector<std::unique_ptr<Device>>> devices = CreateCudaDevices({});
  if (!devices.ok()) {
    std::printf("no CUDA device: %s\n", devices.status().ToString().c_str());
    return 2;
  }
  bool all_ok = true;
  std::string tables;
  for (size_t index = 0; index < devices->size(); ++index) {
    if (options.device >= 0 && static_cast<int>(index) != options.device) continue;
    Device& device = *(*devices)[index];
    if (options.sweep_seed) {
      all_ok = SweepSeed(device) && all_ok;
      continue;
    }
    const DeviceDescription d = device.Describe();
    std::printf("== %s: %s, %d SMs, %s\n", d.id.c_str(), d.name.c_str(), d.cores,
                d.library.c_str());
    for (const auto& [key, value] : d.properties) {
      std::printf("   %s: %s\n", key.c_str(), value.c_str());
    }
    absl::StatusOr<double> bandwidth =
        MeasureCudaCopyBandwidth(static_cast<int>(index), int64_t{1} << 30, 20);
    if (!bandwidth.ok()) {
      std::printf("copy bandwidth: %s\n", bandwidth.status().ToString().c_str());
      return 1;
    }
    // The ceilings the server places results against (Device::MeasureCeilings).
    const std::atomic<bool> no_stop{false};
    absl::StatusOr<DeviceCeilings> ceilings = device.MeasureCeilings(no_stop);
    if (!ceilings.ok()) {
      std::printf("ceilings: %s\n", ceilings.status().ToString().c_str());
      all_ok = false;
    } else {
      const DeviceCeilings& c = *ceilings;
      auto flops = [](const std::map<std::string, double>& m, const char* key) {
        auto it = m.find(key);
        return it == m.end() ? 0.0 : it->second / 1e12;
      };
      std::printf(
          "ceilings: bandwidth %.1f GB/s; f32 %.2f TFLOP/s (derived %.2f, %.1f%%); f64 %.2f "
          "TFLOP/s (derived %.2f, %.1f%%); clock %.0f MHz; %.3f s spent\n",
          c.bandwidth_bytes_per_s / 1e9, flops(c.peak_flops, "f32"),
          flops(c.derived_peak_flops, "f32"),
          100.0 * flops(c.peak_flops, "f32") / std::max(1e-30, flops(c.derived_peak_flops, "f32")),
          flops(c.peak_flops, "f64"), flops(c.derived_peak_flops, "f64"),
          100.0 * flops(c.peak_flops, "f64") / std::max(1e-30, flops(c.derived_peak_flops, "f64")),
          c.clock_hz / 1e6, c.seconds_spent);
      std::printf("ceilings method: %s\nceilings clock: %s\nceilings derived: %s\n",
                  c.method.c_str(), c.clock_method.c_str(), c.derived_method.c_str());
    }
    double peak = 0;
    if (auto it = d.properties.find("fp32_peak_tflops_at_max_clock"); it != d.properties.end()) {
      peak = std::atof(it->second.c_str()) * 1e12;
    }
    std::string table = absl::StrFormat(
        "\n%s %s: D2D copy %.0f GB/s (1 GiB x 20, read + written); FP32 peak %.1f TFLOP/s at "
        "max clock\n",
        d.id, d.name, *bandwidth / 1e9, peak / 1e12);
    absl::StrAppend(
        &table, absl::StrFormat("%-36s %-5s %-12s %6s %11s %11s %7s %11s %7s %10s %8s %8s %8s  "
                                "%-24s %s\n",
                                "point", "mode", "verify", "iters", "median_us", "min_us", "spread",
                                "floor_us", "x_floor", "clock_mhz", "prep_ms", "verif_ms",
                                "free_ms", "target", "status"));
    std::vector<std::string> warnings;
    for (DType dtype : options.dtypes) {
      const struct {
        const char* op;
        const char* impl;
        int axis;
      } kImpls[] = {{"matvec", "gemm", 0},   {"matvec", "gemv", 0},   {"matvec", "custom", 0},
                    {"outer", "library", 0}, {"outer", "library", 1}, {"outer", "fused", 0},
                    {"outer", "fused", 1}};
      for (const auto& impl : kImpls) {
        PointSpec point;
        point.op = impl.op;
        point.impl = impl.impl;
        if (point.op == "outer") point.params["axis"] = impl.axis;
        point.dtype = dtype;
        point.n = options.n;
        point = Resolved(point);
        for (TimingMode mode : options.modes) {
          Row row;
          const bool ok =
              Measure(device, point, mode,
                      mode == TimingMode::kHot ? options.samples : std::max(5, options.samples / 3),
                      *bandwidth, peak, &row, &warnings);
          all_ok = all_ok && ok;
          const std::string line = absl::StrFormat(
              "%-36s %-5s %-12s %6d %11.2f %11.2f %6.1f%% %11.2f %7.3f %10s %8.1f %8.1f %8.1f  "
              "%-24s %s\n",
              row.label, row.mode, row.verify, row.iterations, row.median * 1e6, row.min * 1e6,
              row.spread * 100, row.floor * 1e6, row.floor > 0 ? row.median / row.floor : 0,
              row.clock, row.prepare_ms, row.verify_ms, row.release_ms, row.target, row.status);
          std::fputs(line.c_str(), stdout);
          std::fflush(stdout);
          absl::StrAppend(&table, line);
        }
      }
    }
    for (const std::string& warning : warnings) absl::StrAppend(&table, "warning: ", warning, "\n");
    tables += table;
  }
  std::fputs(tables.c_str(), stdout);
  return all_ok ? 0 : 1;
}

}  // namespace
}  // namespace flopd

int main(int argc, char** argv) {
  flopd::Options options;
  if (!flopd::ParseOptions(argc, argv, &options)) {
    std::fprintf(stderr,
                 "usage: %s [--n=20000] [--dtype=f32|f64|all] [--samples=50] "
                 "[--modes=hot,graph,cold] [--device=0|all] [--sweep=seed]\n",
                 argv[0]);
    return 2;
  }
  return flopd::Run(options);
}
