#include "server/backend/cuda/cuda_ceilings.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/roofline.h"
#include "server/backend/cuda/support_kernels.cuh"

namespace flopd {
namespace {

// Two events, destroyed with the object (the owner makes the GPU current).
struct EventPair {
  cudaEvent_t start = nullptr;
  cudaEvent_t stop = nullptr;
  ~EventPair() {
    if (start != nullptr) cudaEventDestroy(start);
    if (stop != nullptr) cudaEventDestroy(stop);
  }
  absl::Status Create(GpuContext& ctx) {
    if (absl::Status s = ctx.Check(cudaEventCreate(&start), "cudaEventCreate"); !s.ok()) return s;
    return ctx.Check(cudaEventCreate(&stop), "cudaEventCreate");
  }
  // Waits for `stop` and returns the seconds between the two.
  absl::StatusOr<double> Seconds(GpuContext& ctx) const {
    if (absl::Status s = ctx.Check(cudaEventSynchronize(stop), "cudaEventSynchronize"); !s.ok()) {
      return s;
    }
    float ms = 0;
    if (absl::Status s = ctx.Check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
        !s.ok()) {
      return s;
    }
    return static_cast<double>(ms) * 1e-3;
  }
};

constexpr int64_t kCeilingsCopyMinBytes = int64_t{1} << 30;
constexpr int64_t kCeilingsCopyFloorBytes = int64_t{64} << 20;
constexpr int kCeilingsCopyRepetitions = 10;
constexpr int kCeilingsFmaRuns = 5;
constexpr double kCeilingsFmaRunSeconds = 0.02;
constexpr double kCeilingsFmaCalibrationSeconds = 0.002;

struct CopyCeiling {
  int64_t bytes = 0;
  double best_bytes_per_s = 0;
  double median_bytes_per_s = 0;
};

// Device-to-device copies of `bytes` on the device's stream, each timed by
// its own event pair after one untimed copy.
absl::Status MeasureCopyCeiling(GpuContext& ctx, int64_t bytes, CopyCeiling* out) {
  DeviceBuffer source, destination;
  if (absl::Status s = source.Allocate(ctx, bytes, "ceilings copy source"); !s.ok()) return s;
  if (absl::Status s = destination.Allocate(ctx, bytes, "ceilings copy destination"); !s.ok()) {
    return s;
  }
  EventPair events;
  if (absl::Status s = events.Create(ctx); !s.ok()) return s;
  cudaStream_t stream = ctx.stream();
  if (absl::Status s = ctx.Check(cudaMemsetAsync(source.as<void>(), 0x3C, bytes, stream),
                                 "cudaMemsetAsync(ceilings copy source)");
      !s.ok()) {
    return s;
  }
  auto copy = [&]() {
    return ctx.Check(cudaMemcpyAsync(destination.as<void>(), source.as<void>(), bytes,
                                     cudaMemcpyDeviceToDevice, stream),
                     "cudaMemcpyAsync(ceilings copy)");
  };
  if (absl::Status s = copy(); !s.ok()) return s;  // first touch of the destination
  std::vector<double> rates;
  for (int r = 0; r < kCeilingsCopyRepetitions; ++r) {
    if (absl::Status s = ctx.Check(cudaEventRecord(events.start, stream), "cudaEventRecord");
        !s.ok()) {
      return s;
    }
    if (absl::Status s = copy(); !s.ok()) return s;
    if (absl::Status s = ctx.Check(cudaEventRecord(events.stop, stream), "cudaEventRecord");
        !s.ok()) {
      return s;
    }
    absl::StatusOr<double> seconds = events.Seconds(ctx);
    if (!seconds.ok()) return seconds.status();
    if (*seconds > 0) rates.push_back(2.0 * static_cast<double>(bytes) / *seconds);
  }
  if (rates.empty()) return absl::InternalError(absl::StrCat(ctx.id(), ": copies timed as 0 s"));
  std::sort(rates.begin(), rates.end());
  out->bytes = bytes;
  out->best_bytes_per_s = rates.back();
  out->median_bytes_per_s = rates.size() % 2 == 1
                                ? rates[rates.size() / 2]
                                : 0.5 * (rates[rates.size() / 2 - 1] + rates[rates.size() / 2]);
  return absl::OkStatus();
}

struct FmaCeiling {
  double flops_per_s = 0;
  double seconds = 0;     // of the best run
  double worst_seconds = 0;
  double clock_mhz = -1;  // clock64 / %globaltimer across the best run
  int nvml_mhz = -1;      // NVML, read while the best run was on the GPU
  int blocks = 0;
  int blocks_per_sm = 0;
  int iterations = 0;
};

// The FMA kernel for T: one wave of blocks filling every SM, ~2 ms
// calibration (also the warm-up: module load, clocks rising), then
// kCeilingsFmaRuns event-timed runs of ~20 ms; the best run counts.
template <typename T>
absl::Status MeasureFmaCeiling(GpuContext& ctx, FmaCeiling* out) {
  int blocks_per_sm = 0;
  if (absl::Status s = ctx.Check(kernels::FmaPeakBlocksPerSm<T>(&blocks_per_sm),
                                 "cudaOccupancyMaxActiveBlocksPerMultiprocessor(FMA kernel)");
      !s.ok()) {
    return s;
  }
  blocks_per_sm = std::max(1, blocks_per_sm);
  const int blocks = blocks_per_sm * ctx.sm_count();
  const int64_t threads = static_cast<int64_t>(blocks) * kernels::kFmaPeakThreads;
  DeviceBuffer sink, clock_words;
  if (absl::Status s = sink.Allocate(ctx, threads * static_cast<int64_t>(sizeof(T)), "FMA sink");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = clock_words.Allocate(ctx, 2 * sizeof(unsigned long long), "FMA clock");
      !s.ok()) {
    return s;
  }
  EventPair events;
  if (absl::Status s = events.Create(ctx); !s.ok()) return s;
  cudaStream_t stream = ctx.stream();
  const T multiplier = static_cast<T>(0.999);
  const T addend = static_cast<T>(0.001);

  struct Run {
    double seconds = 0;
    double clock_mhz = -1;
    int nvml_mhz = -1;
  };
  auto run = [&](int iterations, double expected_seconds) -> absl::StatusOr<Run> {
    if (absl::Status s = ctx.Check(cudaEventRecord(events.start, stream), "cudaEventRecord");
        !s.ok()) {
      return s;
    }
    if (absl::Status s = ctx.Check(
            kernels::LaunchFmaPeak<T>(blocks, iterations, multiplier, addend, sink.as<T>(),
                                      clock_words.as<unsigned long long>(), stream),
            "FMA kernel launch");
        !s.ok()) {
      return s;
    }
    if (absl::Status s = ctx.Check(cudaEventRecord(events.stop, stream), "cudaEventRecord");
        !s.ok()) {
      return s;
    }
    Run r;
    if (ctx.nvml() != nullptr && expected_seconds > 0) {
      // Halfway through the kernel (launch latency is microseconds).
      std::this_thread::sleep_for(std::chrono::duration<double>(expected_seconds / 2));
      r.nvml_mhz = ctx.nvml()->CurrentSmMhz();
    }
    absl::StatusOr<double> seconds = events.Seconds(ctx);
    if (!seconds.ok()) return seconds.status();
    r.seconds = *seconds;
    unsigned long long words[2] = {0, 0};
    if (absl::Status s = ctx.Check(cudaMemcpyAsync(words, clock_words.as<void>(), sizeof(words),
                                                   cudaMemcpyDeviceToHost, stream),
                                   "copying the FMA kernel's clock words");
        !s.ok()) {
      return s;
    }
    if (absl::Status s = ctx.Check(cudaStreamSynchronize(stream), "FMA kernel"); !s.ok()) return s;
    if (words[0] > 0) {
      r.clock_mhz = static_cast<double>(words[1]) / static_cast<double>(words[0]) * 1e3;
    }
    return r;
  };

  // Calibration: grow the trip count until a run lasts ~2 ms.
  int iterations = 64;
  double seconds = 0;
  for (;;) {
    absl::StatusOr<Run> r = run(iterations, 0);
    if (!r.ok()) return r.status();
    seconds = r->seconds;
    if (seconds >= kCeilingsFmaCalibrationSeconds || iterations >= (1 << 26)) break;
    iterations *= 8;
  }
  const double scale = kCeilingsFmaRunSeconds / std::max(seconds, 1e-6);
  iterations = static_cast<int>(
      std::clamp(static_cast<double>(iterations) * scale, 1.0, static_cast<double>(1 << 30)));

  Run best;
  double worst_seconds = 0;
  for (int k = 0; k < kCeilingsFmaRuns; ++k) {
    absl::StatusOr<Run> r = run(iterations, kCeilingsFmaRunSeconds);
    if (!r.ok()) return r.status();
    if (r->seconds > 0 && (best.seconds == 0 || r->seconds < best.seconds)) best = *r;
    worst_seconds = std::max(worst_seconds, r->seconds);
  }
  if (best.seconds <= 0) {
    return absl::InternalError(absl::StrCat(ctx.id(), ": FMA kernel timed as 0 s"));
  }
  const double fmas =
      static_cast<double>(threads) * iterations * kernels::kFmaPeakChains * kernels::kFmaPeakUnroll;
  out->flops_per_s = 2.0 * fmas / best.seconds;
  out->seconds = best.seconds;
  out->worst_seconds = worst_seconds;
  out->clock_mhz = best.clock_mhz;
  out->nvml_mhz = best.nvml_mhz;
  out->blocks = blocks;
  out->blocks_per_sm = blocks_per_sm;
  out->iterations = iterations;
  return absl::OkStatus();
}

}  // namespace

int Fp32LanesPerSm(int major, int minor) {
  if (major == 7 || (major == 8 && minor == 0)) return 64;
  if (major == 8 || major == 9 || major == 10 || major == 12) return 128;
  return 0;
}

int Fp64LanesPerSm(int major, int minor) {
  if ((major == 7 && minor == 0) || (major == 8 && minor == 0)) return 32;
  if ((major == 9 && minor == 0) || (major == 10 && minor == 0)) return 64;
  if ((major == 7 && minor == 5) || (major == 8 && minor >= 6) || major == 12) return 2;
  return 0;
}

double TheoreticalBandwidth(double memory_clock_khz, int bus_width_bits) {
  if (memory_clock_khz <= 0 || bus_width_bits <= 0) return 0;
  return memory_clock_khz * 1e3 * 2 * bus_width_bits / 8.0;
}

std::vector<std::string> CudaCeilingsDoubts(const CudaCeilingsCheckInputs& in) {
  std::vector<std::string> doubts;
  for (const auto& [dtype, measured] : in.peak_flops) {
    auto derived = in.derived_peak_flops.find(dtype);
    if (derived == in.derived_peak_flops.end() || derived->second <= 0 || measured <= 0) continue;
    const double share = measured / derived->second;
    if (share > 1.10) {
      doubts.push_back(absl::StrFormat(
          "%s peak %.4g TFLOP/s measured is %.0f%% of the %.4g derived from the SMs, lanes and "
          "clock: the lanes per SM or the clock reading are off",
          dtype, measured / 1e12, 100 * share, derived->second / 1e12));
    } else if (share < 0.5) {
      doubts.push_back(absl::StrFormat(
          "%s peak %.4g TFLOP/s measured is only %.0f%% of the %.4g derived from the SMs, lanes "
          "and clock: the GPU was shared or throttled, or the lanes per SM are off",
          dtype, measured / 1e12, 100 * share, derived->second / 1e12));
    }
  }
  if (in.theoretical_bandwidth_bytes_per_s > 0 && in.bandwidth_bytes_per_s > 0) {
    const double share = in.bandwidth_bytes_per_s / in.theoretical_bandwidth_bytes_per_s;
    if (share > 1.05 || share < 0.5) {
      doubts.push_back(absl::StrFormat(
          "memory bandwidth %.4g GB/s measured is %.0f%% of the memory's theoretical %.4g GB/s "
          "(memory clock x bus width x 2): %s",
          in.bandwidth_bytes_per_s / 1e9, 100 * share, in.theoretical_bandwidth_bytes_per_s / 1e9,
          share > 1 ? "more than the memory can move; the copy's timing or byte count is off"
                    : "the GPU was shared or its memory clock low"));
    }
  }
  for (const auto& [what, spread] : in.run_spread) {
    if (spread > 1.15) {
      doubts.push_back(absl::StrFormat(
          "the %s timed runs were %.0f%% apart (best vs %s): the GPU was shared or its clock "
          "moved",
          what == "bandwidth" ? std::string("copies'") : absl::StrCat(what, " peak's"),
          100 * (spread - 1), what == "bandwidth" ? "median" : "worst"));
    }
  }
  if (in.clock_mhz > 0 && in.nvml_clock_mhz > 0) {
    const double ratio = std::max(in.clock_mhz, in.nvml_clock_mhz) /
                         std::min(in.clock_mhz, in.nvml_clock_mhz);
    if (ratio > 1.15) {
      doubts.push_back(absl::StrFormat(
          "the FMA kernel's clock %.0f MHz (clock64() / %%globaltimer) and NVML's %.0f MHz, read "
          "during the same run, are %.0f%% apart",
          in.clock_mhz, in.nvml_clock_mhz, 100 * (ratio - 1)));
    }
  }
  if (in.compute_processes > 1) {
    doubts.push_back(absl::StrFormat(
        "%d other process(es) had a compute context on the GPU while the ceilings were measured",
        in.compute_processes - 1));
  }
  return doubts;
}

namespace {

absl::StatusOr<CeilingsAttempt> MeasureCudaCeilingsOnce(GpuContext& ctx,
                                                        const std::atomic<bool>& stop) {
  const auto started = std::chrono::steady_clock::now();
  const cudaDeviceProp& p = ctx.props();

  // Bandwidth: max(1 GiB, 8 x L2) per buffer, as free memory allows.
  const int64_t mib = int64_t{1} << 20;
  const int64_t wanted = std::max(kCeilingsCopyMinBytes,
                                  (8 * static_cast<int64_t>(p.l2CacheSize) + mib - 1) / mib * mib);
  const int64_t available = ctx.BytesAvailable();
  const int64_t bytes = std::min(wanted, available / 2 / mib * mib);
  if (bytes < kCeilingsCopyFloorBytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat(ctx.id(), ": measuring the ceilings needs 2 x ", kCeilingsCopyFloorBytes >> 20,
                     " MiB of device memory for its copy but only ", available, " bytes (",
                     GiB(available), ") are free"));
  }
  const absl::Status stopped =
      absl::CancelledError(absl::StrCat(ctx.id(), ": ceilings not measured: flopd is stopping"));
  CopyCeiling copy;
  if (absl::Status s = MeasureCopyCeiling(ctx, bytes, &copy); !s.ok()) return s;
  if (stop.load()) return stopped;

  FmaCeiling f32, f64;
  if (absl::Status s = MeasureFmaCeiling<float>(ctx, &f32); !s.ok()) return s;
  if (stop.load()) return stopped;
  if (absl::Status s = MeasureFmaCeiling<double>(ctx, &f64); !s.ok()) return s;
  const int compute_processes = ctx.nvml() != nullptr ? ctx.nvml()->ComputeProcesses() : -1;
  const int nvml_memory_mhz = ctx.nvml() != nullptr ? ctx.nvml()->MemoryClockMhz() : -1;

  DeviceCeilings c;
  c.bandwidth_bytes_per_s = copy.best_bytes_per_s;
  c.peak_flops["f32"] = f32.flops_per_s;
  c.peak_flops["f64"] = f64.flops_per_s;
  c.latency_threshold_seconds = LatencyThresholdSeconds("cuda");

  auto nvml_text = [&ctx](int mhz) {
    if (ctx.nvml() == nullptr) return absl::StrCat("NVML unavailable: ", ctx.nvml_status());
    return mhz > 0 ? absl::StrCat("NVML read mid-run ", mhz, " MHz")
                   : std::string("NVML read mid-run failed");
  };
  if (f32.clock_mhz > 0) {
    c.clock_hz = f32.clock_mhz * 1e6;
    c.clock_method = absl::StrFormat(
        "clock64() / %%globaltimer of block 0 thread 0 across the f32 FMA kernel's best run "
        "(%.0f MHz; %s); f64 FMA run: %.0f MHz (%s)",
        f32.clock_mhz, nvml_text(f32.nvml_mhz), f64.clock_mhz, nvml_text(f64.nvml_mhz));
  } else if (f32.nvml_mhz > 0) {
    c.clock_hz = f32.nvml_mhz * 1e6;
    c.clock_method = "NVML SM clock read while the f32 FMA kernel's best run was on the GPU";
  } else {
    c.clock_method = "unknown (the FMA kernel's clock words were empty and NVML gave nothing)";
  }

  const int64_t mib_bytes = copy.bytes / mib;
  c.method = absl::StrFormat(
      "bandwidth: cudaMemcpyAsync device-to-device of %d MiB (max(1 GiB, 8 x L2 %d MiB)%s), bytes "
      "read + written, best of %d event-timed copies after one untimed (median %.1f GB/s); peak: "
      "FMA kernel, %d independent fma() chains per thread x %d unrolled, %d threads per block, "
      "one wave of blocks on every SM (f32 %d blocks = %d per SM, f64 %d = %d per SM), each "
      "thread's sum written to memory, 2 FLOP per FMA, best of %d event-timed runs of ~%.0f ms "
      "(f32 %d trips %.2f ms, f64 %d trips %.2f ms) after a calibration run",
      static_cast<int64_t>(mib_bytes), static_cast<int64_t>(p.l2CacheSize / mib),
      copy.bytes < wanted ? ", limited by free memory" : "", kCeilingsCopyRepetitions,
      copy.median_bytes_per_s / 1e9, kernels::kFmaPeakChains, kernels::kFmaPeakUnroll,
      kernels::kFmaPeakThreads, f32.blocks, f32.blocks_per_sm, f64.blocks, f64.blocks_per_sm,
      kCeilingsFmaRuns, kCeilingsFmaRunSeconds * 1e3, f32.iterations, f32.seconds * 1e3,
      f64.iterations, f64.seconds * 1e3);

  // Datasheet-style: SMs x lanes x 2 FLOP x the clock each FMA run ran at.
  const int lanes32 = Fp32LanesPerSm(p.major, p.minor);
  const int lanes64 = Fp64LanesPerSm(p.major, p.minor);
  std::vector<std::string> parts;
  auto derive = [&](const char* dtype, int lanes, double mhz) {
    if (lanes > 0 && mhz > 0) {
      c.derived_peak_flops[dtype] = 2.0 * p.multiProcessorCount * lanes * mhz * 1e6;
      parts.push_back(absl::StrFormat("%s: %d SMs x %d lanes x 2 FLOP x %.0f MHz", dtype,
                                      p.multiProcessorCount, lanes, mhz));
    } else if (lanes <= 0) {
      parts.push_back(
          absl::StrFormat("%s: lanes per SM unknown for sm_%d%d", dtype, p.major, p.minor));
    } else {
      parts.push_back(absl::StrFormat("%s: clock unknown", dtype));
    }
  };
  derive("f32", lanes32, f32.clock_mhz > 0 ? f32.clock_mhz : f32.nvml_mhz);
  derive("f64", lanes64, f64.clock_mhz > 0 ? f64.clock_mhz : f64.nvml_mhz);
  // The memory's theoretical bandwidth: its rated clock, else NVML's.
  int memory_khz = 0;
  if (cudaDeviceGetAttribute(&memory_khz, cudaDevAttrMemoryClockRate, ctx.index()) != cudaSuccess) {
    cudaGetLastError();  // not sticky; cleared so that no later check reports it
    memory_khz = 0;
  }
  std::string memory_source = "cudaDevAttrMemoryClockRate";
  if (memory_khz <= 0 && nvml_memory_mhz > 0) {
    memory_khz = nvml_memory_mhz * 1000;
    memory_source = "NVML's memory clock after the copies";
  }
  c.derived_bandwidth_bytes_per_s = TheoreticalBandwidth(memory_khz, p.memoryBusWidth);
  const std::string bandwidth_part =
      c.derived_bandwidth_bytes_per_s > 0
          ? absl::StrFormat("bandwidth: %.0f MHz memory clock (%s) x %d-bit bus / 8 x 2 = %.4g "
                            "GB/s",
                            memory_khz / 1e3, memory_source, p.memoryBusWidth,
                            c.derived_bandwidth_bytes_per_s / 1e9)
          : absl::StrFormat(
                "bandwidth: not derived, the memory clock is unknown (no "
                "cudaDevAttrMemoryClockRate, %s), so the measured bandwidth is not checked",
                ctx.nvml() == nullptr ? absl::StrCat("NVML unavailable: ", ctx.nvml_status())
                                      : "NVML's memory clock read failed");
  c.derived_method = absl::StrCat(
      absl::StrJoin(parts, "; "),
      absl::StrFormat(" (lanes per SM from compute capability %d.%d; clock: clock64() / "
                      "%%globaltimer during that dtype's FMA run); ",
                      p.major, p.minor),
      bandwidth_part);

  CudaCeilingsCheckInputs check;
  check.peak_flops = c.peak_flops;
  check.derived_peak_flops = c.derived_peak_flops;
  auto spread = [](double high, double low) { return high > 0 && low > 0 ? high / low : 1; };
  check.run_spread["f32"] = spread(f32.worst_seconds, f32.seconds);
  check.run_spread["f64"] = spread(f64.worst_seconds, f64.seconds);
  check.run_spread["bandwidth"] = spread(copy.best_bytes_per_s, copy.median_bytes_per_s);
  check.bandwidth_bytes_per_s = c.bandwidth_bytes_per_s;
  check.theoretical_bandwidth_bytes_per_s = c.derived_bandwidth_bytes_per_s;
  check.clock_mhz = f32.clock_mhz;
  check.nvml_clock_mhz = f32.nvml_mhz;
  check.compute_processes = compute_processes;
  c.doubts = CudaCeilingsDoubts(check);

  c.measured_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  c.seconds_spent =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  CeilingsAttempt attempt;
  attempt.ceilings = std::move(c);
  for (const auto& [unused, value] : check.run_spread) {
    attempt.run_spread = std::max(attempt.run_spread, value);
  }
  return attempt;
}

}  // namespace

absl::StatusOr<DeviceCeilings> MeasureCudaCeilings(GpuContext& ctx, const std::atomic<bool>& stop) {
  absl::StatusOr<DeviceCeilings> c = MeasureCeilingsWithRetry(
      [&] { return MeasureCudaCeilingsOnce(ctx, stop); }, &stop, /*pause_seconds=*/0.2,
      /*retry_within_seconds=*/10);
  if (!c.ok() && c.status().code() == absl::StatusCode::kCancelled) {
    return absl::CancelledError(absl::StrCat(ctx.id(), ": ceilings not measured: flopd is stopping"));
  }
  return c;
}

}  // namespace flopd
