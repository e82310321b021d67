#include "server/backend/cuda/cuda_point.h"

#include <cublas_v2.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/op_catalog.h"
#include "common/verification.h"
#include "server/backend/cuda/cuda_kernels.cuh"
#include "server/backend/cuda/sm_clock.h"
#include "server/backend/cuda/split_plan.h"
#include "server/backend/cuda/support_kernels.cuh"

namespace flopd {
namespace {

constexpr int kColdEventPairs = 32;
constexpr int64_t kMaxGraphIterations = 1024;
constexpr size_t kMaxCachedGraphs = 8;
constexpr auto kNvmlReadInterval = std::chrono::milliseconds(20);
// Hot mode enqueues at most this many launches (executions, for a kernel of
// one launch) behind the stream gate before opening it (halved after each gate timeout: a launch queue that
// filled up, or a host thread that stalled).
constexpr int64_t kGatedBatchStart = 256;
// How long the gate waits for the host to enqueue a batch: 256 executions of
// even a slow cuBLAS call take a few ms to enqueue.
constexpr int64_t kGateTimeoutNs = 200'000'000;
// Buffers beyond this many bytes overflow int64 byte counts once the
// extras are added; no GPU comes near it.
constexpr double kMaxBufferBytes = 0x1p62;

// The catalog's buffers of the point in bytes, evaluated in floating point
// (CountModel::Evaluate itself overflows int64 for an N x N count past
// N ~ 3e9).
double BufferBytesApprox(const PointSpec& point) {
  const double n = static_cast<double>(point.n);
  double elements = 0;
  auto add = [&](const CountModel& model) {
    for (const CountModel::Term& term : model.terms) {
      const double scale =
          term.param.empty() ? 1.0 : std::fabs(static_cast<double>(point.Param(term.param, 0)));
      elements +=
          std::fabs(static_cast<double>(term.coefficient)) * std::pow(n, term.n_power) * scale;
    }
  };
  const OpSpec& op = OpOf(point.kernel);
  for (const CountModel& input : op.inputs) add(input);
  add(op.output);
  add(ImplOf(point.kernel).temp_elements);
  return elements * static_cast<double>(DTypeSize(point.dtype));
}

// INVALID_ARGUMENT for a param of the point's op that is missing or not one
// of the catalog's allowed values.
absl::Status CheckParams(const PointSpec& point) {
  for (const ParamSpec& param : OpOf(point.kernel).params) {
    const auto found = point.params.find(param.name);
    if (found != point.params.end() &&
        std::find(param.allowed_values.begin(), param.allowed_values.end(), found->second) !=
            param.allowed_values.end()) {
      continue;
    }
    const std::string allowed = absl::StrJoin(param.allowed_values, ", ");
    if (found == point.params.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("params.", param.name, ": missing; allowed ", allowed));
    }
    return absl::InvalidArgumentError(absl::StrCat("params.", param.name, ": ", found->second,
                                                   " is out of range; allowed ", allowed));
  }
  return absl::OkStatus();
}

template <typename T>
class CudaPoint : public PreparedPoint {
 public:
  // REQUIRES: CheckCudaKernel(point) is OK.
  CudaPoint(std::shared_ptr<GpuContext> context, const PointSpec& point, TimingMode timing)
      : context_(std::move(context)),
        point_(point),
        timing_(timing),
        probe_clock_("probe kernel"),
        nvml_clock_("NVML") {}

  ~CudaPoint() override {
    if (cudaSetDevice(context_->index()) != cudaSuccess) return;
    cudaStreamSynchronize(context_->stream());
    for (auto& [iterations, exec] : graphs_) cudaGraphExecDestroy(exec);
    for (cudaEvent_t e : events_) cudaEventDestroy(e);
    cudaGetLastError();
    // The DeviceBuffer members are freed after this, with the GPU current.
  }

  // Allocates the catalog's buffers and the kernel's scratch, fills the
  // inputs and computes the reference, creates the events, runs the op twice
  // (module load, cuBLAS's first-call setup) and reads the clock.
  absl::Status Init();

  absl::StatusOr<VerificationResult> Verify() override;
  absl::StatusOr<double> TimeBatch(int64_t iterations) override;
  void CollectWarnings(std::vector<std::string>* warnings) override;
  // "sm_clock_mhz_before" (after warm-up) and "sm_clock_mhz_after" (after
  // sampling) from the probe kernel, their NVML twins where NVML is loaded,
  // and "sm_clock_source" saying which is which.
  void CollectObservations(std::map<std::string, std::string>* observations) override;

 private:
  // Enqueues one execution of the op on the stream (RunCudaKernel).
  absl::Status Execute() {
    const CudaKernelStatus status = RunCudaKernel<T>(args_);
    if (status.ok()) return absl::OkStatus();
    if (status.cublas != CUBLAS_STATUS_SUCCESS) {
      return context_->CheckCublas(status.cublas, status.what);
    }
    return Check(status.cuda, status.what);
  }
  // Hot mode: batches of up to gated_batch_ executions, each enqueued behind
  // the closed stream gate and timed by one event pair once it opens, so
  // that the executions run back to back at the GPU's pace rather than the
  // host's launch rate (nvbench's blocking kernel, with a timeout). A batch
  // whose gate timed out is discarded and retried at half the size; at size
  // 0 the rest is timed ungated (and the result says so).
  absl::StatusOr<double> TimeHot(int64_t iterations);
  // One event-timed batch of `count` executions, behind the gate when
  // `gated`; sets *gate_timed_out.
  absl::StatusOr<double> TimeHotBatch(int64_t count, bool gated, bool* gate_timed_out);
  absl::StatusOr<double> TimeGraph(int64_t iterations);
  absl::StatusOr<double> TimeCold(int64_t iterations);
  // The graph of `iterations` executions, captured on first use.
  absl::StatusOr<cudaGraphExec_t> GraphFor(int64_t iterations);
  absl::StatusOr<double> Elapsed(cudaEvent_t start, cudaEvent_t stop);
  void ReadNvmlIfDue();
  // Reads the clock once after sampling (CollectWarnings and
  // CollectObservations share the reading); false when the read failed.
  bool ReadClockAfterSampling();

  absl::Status Check(cudaError_t e, absl::string_view what) { return context_->Check(e, what); }

  const std::shared_ptr<GpuContext> context_;
  const PointSpec point_;
  const TimingMode timing_;

  // The op's inputs, output and the impl's scratch as the catalog lists
  // them, the split kernels' partial sums and counters, the cold mode's
  // flush buffer; args_ points into them.
  std::vector<DeviceBuffer> inputs_;
  DeviceBuffer out_, temp_, partials_, counters_, flush_;
  CudaKernelArgs<T> args_;
  std::vector<double> reference_;

  // events_[0..1]: the hot/graph pair; then kColdEventPairs start/stop pairs.
  std::vector<cudaEvent_t> events_;
  std::vector<std::pair<int64_t, cudaGraphExec_t>> graphs_;  // oldest first
  int flush_value_ = 0;

  // Hot mode's gate: words()[0] opens it, words()[1] is its timeout flag.
  MappedWords gate_;
  int64_t gated_batch_ = 0;  // 0: ungated (no gate, or it never held)
  int gate_timeouts_ = 0;
  std::string gate_problem_;  // why hot mode is ungated, when it is

  ClockDropTracker probe_clock_;
  ClockDropTracker nvml_clock_;
  ClockReading clock_before_;  // after warm-up
  ClockReading clock_after_;   // after sampling
  bool after_read_attempted_ = false;
  bool after_read_ok_ = false;
  std::chrono::steady_clock::time_point last_nvml_read_;
};

template <typename T>
absl::Status CudaPoint<T>::Init() {
  const int64_t size = static_cast<int64_t>(sizeof(T));
  GpuContext& ctx = *context_;
  args_.point = &point_;
  args_.plan = PlanCudaKernel(point_, ctx.sm_count());
  args_.stream = ctx.stream();
  args_.cublas = ctx.cublas();
  const std::vector<int64_t> input_counts = InputCounts(point_);
  inputs_.reserve(input_counts.size());
  std::vector<T*> inputs;
  for (size_t i = 0; i < input_counts.size(); ++i) {
    inputs_.emplace_back();
    if (absl::Status s =
            inputs_.back().Allocate(ctx, input_counts[i] * size, absl::StrCat("input ", i));
        !s.ok()) {
      return s;
    }
    inputs.push_back(inputs_.back().as<T>());
    args_.inputs.push_back(inputs_.back().as<T>());
  }
  if (absl::Status s = out_.Allocate(ctx, OutputCount(point_) * size, "output"); !s.ok()) return s;
  args_.out = out_.as<T>();
  if (const int64_t temp_count = TempCount(point_); temp_count > 0) {
    if (absl::Status s = temp_.Allocate(ctx, temp_count * size, "scratch"); !s.ok()) return s;
    args_.temp = temp_.as<T>();
  }
  const SplitPlan& split = args_.plan.split;
  if (split.PartialElements() > 0) {
    if (absl::Status s = partials_.Allocate(ctx, split.PartialElements() * size, "partial sums");
        !s.ok()) {
      return s;
    }
    const int64_t counter_bytes = split.CounterCount() * static_cast<int64_t>(sizeof(uint32_t));
    if (absl::Status s = counters_.Allocate(ctx, counter_bytes, "split counters"); !s.ok()) {
      return s;
    }
    if (absl::Status s =
            Check(cudaMemsetAsync(counters_.as<void>(), 0, counter_bytes, ctx.stream()),
                  "cudaMemsetAsync(split counters)");
        !s.ok()) {
      return s;
    }
    args_.partials = partials_.as<T>();
    args_.counters = counters_.as<uint32_t>();
  }
  if (timing_ == TimingMode::kCold) {
    if (absl::Status s = flush_.Allocate(ctx, ctx.flush_bytes(), "the L2 flush buffer"); !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = MakeInputsAndReference<T>(ctx, ctx.stream(), point_, inputs, &reference_);
      !s.ok()) {
    return s;
  }

  if (timing_ == TimingMode::kHot) {
    // Without the gate hot mode still measures, host-paced for short
    // executions; the result then says so.
    const char* gate_setting = std::getenv("FLOPD_CUDA_HOT_GATE");
    if (gate_setting != nullptr && std::string(gate_setting) == "off") {
      gate_problem_ = "FLOPD_CUDA_HOT_GATE=off";
    } else if (absl::Status s = gate_.Allocate(ctx, 2); s.ok()) {
      // About kGatedBatchStart launches per batch, whatever one execution is.
      gated_batch_ = std::max<int64_t>(1, kGatedBatchStart / std::max(1, args_.plan.launches));
    } else {
      gate_problem_ = std::string(s.message());
    }
  }

  events_.resize(2 + (timing_ == TimingMode::kCold ? 2 * kColdEventPairs : 0), nullptr);
  for (cudaEvent_t& e : events_) {
    if (absl::Status s = Check(cudaEventCreate(&e), "cudaEventCreate"); !s.ok()) return s;
  }

  if (timing_ == TimingMode::kCold) {
    if (absl::Status s =
            Check(cudaMemsetAsync(flush_.as<void>(), 0, ctx.flush_bytes(), ctx.stream()),
                  "cudaMemsetAsync(L2 flush)");
        !s.ok()) {
      return s;
    }
  }
  for (int i = 0; i < 2; ++i) {
    if (absl::Status s = Execute(); !s.ok()) return s;
  }
  if (absl::Status s = Check(cudaStreamSynchronize(ctx.stream()), "first executions"); !s.ok()) {
    return s;
  }

  ClockReading reading;
  if (absl::Status s = ctx.ReadSmClock(&reading); !s.ok()) return s;
  probe_clock_.Add(reading.probe_mhz, "after warm-up");
  nvml_clock_.Add(reading.nvml_mhz, "after warm-up");
  clock_before_ = reading;
  last_nvml_read_ = std::chrono::steady_clock::now();
  return absl::OkStatus();
}

template <typename T>
absl::StatusOr<VerificationResult> CudaPoint<T>::Verify() {
  GpuContext& ctx = *context_;
  if (absl::Status s = ctx.Activate(); !s.ok()) return s;
  const int64_t n = OutputCount(point_);
  // All-ones bytes are a NaN in both f32 and f64: an element the execution
  // does not write fails, and so does one computed from unwritten scratch.
  if (absl::Status s = Check(cudaMemsetAsync(out_.as<void>(), 0xFF, n * sizeof(T), ctx.stream()),
                             "poisoning the output");
      !s.ok()) {
    return s;
  }
  if (args_.temp != nullptr) {
    if (absl::Status s = Check(cudaMemsetAsync(temp_.as<void>(), 0xFF,
                                               TempCount(point_) * sizeof(T), ctx.stream()),
                               "poisoning the scratch");
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = Execute(); !s.ok()) return s;
  std::vector<T> host(static_cast<size_t>(n));
  if (absl::Status s = Check(cudaMemcpyAsync(host.data(), out_.as<void>(), n * sizeof(T),
                                             cudaMemcpyDeviceToHost, ctx.stream()),
                             "copying the output back");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = Check(cudaStreamSynchronize(ctx.stream()), "verified execution"); !s.ok()) {
    return s;
  }
  return flopd::Verify<T>(point_, host.data(), reference_);
}

template <typename T>
absl::StatusOr<double> CudaPoint<T>::Elapsed(cudaEvent_t start, cudaEvent_t stop) {
  float ms = 0;
  if (absl::Status s = Check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
      !s.ok()) {
    return s;
  }
  return static_cast<double>(ms) * 1e-3;
}

template <typename T>
absl::StatusOr<double> CudaPoint<T>::TimeBatch(int64_t iterations) {
  if (iterations < 1) {
    return absl::InvalidArgumentError(absl::StrCat("TimeBatch: iterations ", iterations, " < 1"));
  }
  if (absl::Status s = context_->Activate(); !s.ok()) return s;
  absl::StatusOr<double> seconds;
  switch (timing_) {
    case TimingMode::kHot:
      seconds = TimeHot(iterations);
      break;
    case TimingMode::kGraph:
      seconds = TimeGraph(iterations);
      break;
    case TimingMode::kCold:
      seconds = TimeCold(iterations);
      break;
  }
  if (seconds.ok()) ReadNvmlIfDue();
  return seconds;
}

template <typename T>
absl::StatusOr<double> CudaPoint<T>::TimeHot(int64_t iterations) {
  double total = 0;
  for (int64_t done = 0; done < iterations;) {
    const bool gated = gated_batch_ > 0;
    const int64_t count = gated ? std::min(gated_batch_, iterations - done) : iterations - done;
    bool timed_out = false;
    absl::StatusOr<double> seconds = TimeHotBatch(count, gated, &timed_out);
    if (!seconds.ok()) return seconds.status();
    if (timed_out) {
      ++gate_timeouts_;
      gated_batch_ /= 2;
      if (gated_batch_ == 0) {
        gate_problem_ = absl::StrCat("the stream gate timed out ", gate_timeouts_,
                                     " times, down to one execution behind it");
      }
      continue;
    }
    total += *seconds;
    done += count;
  }
  return total;
}

template <typename T>
absl::StatusOr<double> CudaPoint<T>::TimeHotBatch(int64_t count, bool gated,
                                                  bool* gate_timed_out) {
  cudaStream_t stream = context_->stream();
  volatile int* gate = gate_.words();
  auto open_gate = [&] {
    if (!gated) return;
    std::atomic_thread_fence(std::memory_order_seq_cst);  // the enqueues before the opening
    gate[0] = 1;
  };
  if (gated) {
    // The previous batch's gate has run: its events were synchronized.
    gate[0] = 0;
    gate[1] = 0;
    if (absl::Status s = Check(kernels::LaunchStreamGate(gate, kGateTimeoutNs, stream),
                               "launching the stream gate");
        !s.ok()) {
      return s;
    }
  }
  absl::Status status = Check(cudaEventRecord(events_[0], stream), "cudaEventRecord");
  for (int64_t i = 0; status.ok() && i < count; ++i) status = Execute();
  if (status.ok()) status = Check(cudaEventRecord(events_[1], stream), "cudaEventRecord");
  open_gate();
  if (!status.ok()) return status;
  if (absl::Status s = Check(cudaEventSynchronize(events_[1]), "timed executions"); !s.ok()) {
    return s;
  }
  *gate_timed_out = gated && gate[1] != 0;
  return Elapsed(events_[0], events_[1]);
}

template <typename T>
absl::StatusOr<cudaGraphExec_t> CudaPoint<T>::GraphFor(int64_t iterations) {
  for (const auto& [count, exec] : graphs_) {
    if (count == iterations) return exec;
  }
  cudaStream_t stream = context_->stream();
  // Thread-local capture: CUDA calls of other threads (other GPUs' workers,
  // BytesAvailable from the service) are not part of, and cannot break, it.
  if (absl::Status s = Check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal),
                             "cudaStreamBeginCapture");
      !s.ok()) {
    return s;
  }
  absl::Status captured = absl::OkStatus();
  for (int64_t i = 0; i < iterations && captured.ok(); ++i) captured = Execute();
  cudaGraph_t graph = nullptr;
  const cudaError_t end = cudaStreamEndCapture(stream, &graph);
  if (!captured.ok()) {
    if (graph != nullptr) cudaGraphDestroy(graph);
    cudaGetLastError();
    return captured;
  }
  if (absl::Status s = Check(end, "cudaStreamEndCapture"); !s.ok()) return s;
  cudaGraphExec_t exec = nullptr;
  const cudaError_t instantiated = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  if (absl::Status s = Check(instantiated, "cudaGraphInstantiate"); !s.ok()) return s;
  // Upload and replay once untimed, so that no timed replay pays for either.
  absl::Status warm = Check(cudaGraphUpload(exec, stream), "cudaGraphUpload");
  if (warm.ok()) warm = Check(cudaGraphLaunch(exec, stream), "cudaGraphLaunch");
  if (warm.ok()) warm = Check(cudaStreamSynchronize(stream), "first graph replay");
  if (!warm.ok()) {
    cudaGraphExecDestroy(exec);
    return warm;
  }
  if (graphs_.size() >= kMaxCachedGraphs) {
    cudaGraphExecDestroy(graphs_.front().second);
    graphs_.erase(graphs_.begin());
  }
  graphs_.emplace_back(iterations, exec);
  return exec;
}

template <typename T>
absl::StatusOr<double> CudaPoint<T>::TimeGraph(int64_t iterations) {
  cudaStream_t stream = context_->stream();
  // Large counts replay one graph of per_graph executions several times,
  // plus one of the remainder: graphs of about kMaxGraphIterations launches,
  // whatever one execution is.
  const int64_t per_graph =
      std::max<int64_t>(1, kMaxGraphIterations / std::max(1, args_.plan.launches));
  const int64_t full = iterations / per_graph;
  const int64_t rest = iterations % per_graph;
  cudaGraphExec_t full_graph = nullptr, rest_graph = nullptr;
  if (full > 0) {
    absl::StatusOr<cudaGraphExec_t> g = GraphFor(per_graph);
    if (!g.ok()) return g.status();
    full_graph = *g;
  }
  if (rest > 0) {
    absl::StatusOr<cudaGraphExec_t> g = GraphFor(rest);
    if (!g.ok()) return g.status();
    rest_graph = *g;
  }
  if (absl::Status s = Check(cudaEventRecord(events_[0], stream), "cudaEventRecord"); !s.ok()) {
    return s;
  }
  for (int64_t i = 0; i < full; ++i) {
    if (absl::Status s = Check(cudaGraphLaunch(full_graph, stream), "cudaGraphLaunch"); !s.ok()) {
      return s;
    }
  }
  if (rest_graph != nullptr) {
    if (absl::Status s = Check(cudaGraphLaunch(rest_graph, stream), "cudaGraphLaunch"); !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = Check(cudaEventRecord(events_[1], stream), "cudaEventRecord"); !s.ok()) {
    return s;
  }
  if (absl::Status s = Check(cudaEventSynchronize(events_[1]), "graph replay"); !s.ok()) return s;
  return Elapsed(events_[0], events_[1]);
}

template <typename T>
absl::StatusOr<double> CudaPoint<T>::TimeCold(int64_t iterations) {
  cudaStream_t stream = context_->stream();
  const int64_t flush_bytes = context_->flush_bytes();
  double total = 0;
  for (int64_t done = 0; done < iterations;) {
    const int batch = static_cast<int>(std::min<int64_t>(kColdEventPairs, iterations - done));
    for (int k = 0; k < batch; ++k) {
      cudaEvent_t start = events_[2 + 2 * k];
      cudaEvent_t stop = events_[3 + 2 * k];
      flush_value_ = (flush_value_ + 1) & 0xFF;
      if (absl::Status s = Check(cudaMemsetAsync(flush_.as<void>(), flush_value_,
                                                 static_cast<size_t>(flush_bytes), stream),
                                 "cudaMemsetAsync(L2 flush)");
          !s.ok()) {
        return s;
      }
      if (absl::Status s = Check(cudaEventRecord(start, stream), "cudaEventRecord"); !s.ok()) {
        return s;
      }
      if (absl::Status s = Execute(); !s.ok()) return s;
      if (absl::Status s = Check(cudaEventRecord(stop, stream), "cudaEventRecord"); !s.ok()) {
        return s;
      }
    }
    if (absl::Status s =
            Check(cudaEventSynchronize(events_[3 + 2 * (batch - 1)]), "timed executions");
        !s.ok()) {
      return s;
    }
    for (int k = 0; k < batch; ++k) {
      absl::StatusOr<double> seconds = Elapsed(events_[2 + 2 * k], events_[3 + 2 * k]);
      if (!seconds.ok()) return seconds.status();
      total += *seconds;
    }
    done += batch;
  }
  return total;
}

template <typename T>
void CudaPoint<T>::ReadNvmlIfDue() {
  const NvmlClock* nvml = context_->nvml();
  if (nvml == nullptr) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_nvml_read_ < kNvmlReadInterval) return;
  last_nvml_read_ = now;
  nvml_clock_.Add(nvml->CurrentSmMhz(), "during sampling");
}

template <typename T>
bool CudaPoint<T>::ReadClockAfterSampling() {
  if (after_read_attempted_) return after_read_ok_;
  after_read_attempted_ = true;
  GpuContext& ctx = *context_;
  if (!ctx.Activate().ok()) return false;
  ClockReading reading;
  if (!ctx.ReadSmClock(&reading).ok()) return false;  // the error reaches the caller elsewhere
  probe_clock_.Add(reading.probe_mhz, "after sampling");
  nvml_clock_.Add(reading.nvml_mhz, "after sampling");
  clock_after_ = reading;
  after_read_ok_ = true;
  ctx.SetLastClock(reading,
                   absl::StrCat("after ", point_.Label(), " (", TimingModeName(timing_), ")"));
  return true;
}

template <typename T>
void CudaPoint<T>::CollectObservations(std::map<std::string, std::string>* observations) {
  ReadClockAfterSampling();
  const GpuContext& ctx = *context_;
  auto mhz = [](double value) {
    return value > 0 ? absl::StrFormat("%.0f", value) : std::string("unknown");
  };
  if (timing_ == TimingMode::kHot) {
    (*observations)["hot_launch_queue"] =
        gated_batch_ > 0
            ? absl::StrCat("gated: up to ", gated_batch_,
                           " executions enqueued behind a closed stream gate per event pair",
                           gate_timeouts_ > 0
                               ? absl::StrCat(" (", gate_timeouts_, " gate timeout(s), halved)")
                               : "")
            : absl::StrCat("ungated: ", gate_problem_);
  }
  (*observations)["sm_clock_mhz_before"] = mhz(clock_before_.probe_mhz);
  (*observations)["sm_clock_mhz_after"] = mhz(after_read_ok_ ? clock_after_.probe_mhz : -1);
  // Which GPU this was and its state, so that a fleet's slow member can be
  // told apart (client/fleet_view.h).
  (*observations)["gpu_uuid"] = UuidText(ctx.props().uuid);
  const std::string driver = NvmlClock::DriverVersion();
  if (!driver.empty()) (*observations)["driver_version"] = driver;
  if (ctx.nvml() != nullptr) {
    const int celsius = ctx.nvml()->TemperatureC();
    if (celsius >= 0) (*observations)["temperature_c_after"] = absl::StrCat(celsius);
    const int watts = ctx.nvml()->PowerLimitWatts();
    if (watts > 0) (*observations)["power_limit_w"] = absl::StrCat(watts);
    const int memory_mhz = ctx.nvml()->MemoryClockMhz();
    if (memory_mhz > 0) (*observations)["memory_clock_mhz_after"] = absl::StrCat(memory_mhz);
    const int processes = ctx.nvml()->ComputeProcesses();
    if (processes >= 0) (*observations)["gpu_compute_processes"] = absl::StrCat(processes);
    (*observations)["sm_clock_mhz_before_nvml"] = mhz(clock_before_.nvml_mhz);
    (*observations)["sm_clock_mhz_after_nvml"] = mhz(after_read_ok_ ? clock_after_.nvml_mhz : -1);
    if (!nvml_clock_.empty()) {
      (*observations)["sm_clock_mhz_min_nvml"] = mhz(nvml_clock_.min());
    }
    (*observations)["sm_clock_source"] =
        "probe kernel (clock64 / %globaltimer, 0.3 ms spin) after warm-up and after sampling; "
        "*_nvml: NVML nvmlDeviceGetClockInfo(SM) at the same times (min: also every 20 ms while "
        "sampling)";
  } else {
    (*observations)["sm_clock_source"] = absl::StrCat(
        "probe kernel (clock64 / %globaltimer, 0.3 ms spin) after warm-up and after sampling; "
        "NVML unavailable: ",
        ctx.nvml_status());
  }
}

template <typename T>
void CudaPoint<T>::CollectWarnings(std::vector<std::string>* warnings) {
  GpuContext& ctx = *context_;
  if (timing_ == TimingMode::kHot && gated_batch_ == 0) {
    warnings->push_back(absl::StrCat(
        ctx.id(), ": hot mode timed without its stream gate (", gate_problem_,
        "): executions shorter than the host's launch time were paced by the host"));
  }
  if (ctx.nvml() != nullptr) {
    // flopd's own context is one of them (NVML reports host pids, which a
    // container's flopd cannot match with its own, so it is counted, not named).
    const int processes = ctx.nvml()->ComputeProcesses();
    if (processes > 1) {
      warnings->push_back(absl::StrCat(
          ctx.id(), ": busy GPU: ", processes - 1,
          " other process(es) had a compute context on it when this point was measured"));
    }
  }
  if (!ReadClockAfterSampling()) return;
  std::string reasons;
  for (const ClockDropTracker* tracker : {&probe_clock_, &nvml_clock_}) {
    const std::string drop = tracker->DropWarning();
    if (drop.empty()) continue;
    if (reasons.empty() && ctx.nvml() != nullptr) {
      reasons = ctx.nvml()->ClockEventReasons();
      if (reasons.empty()) reasons = "none";
    }
    warnings->push_back(absl::StrCat(
        ctx.id(), ": ", drop,
        reasons.empty() ? "" : absl::StrCat("; NVML clock-event reasons now: ", reasons)));
  }
}

}  // namespace

absl::Status CheckCudaKernel(const PointSpec& point) {
  if (CudaImplements(point.kernel)) return absl::OkStatus();
  if (point.kernel == Kernel::kNone) {
    return absl::InternalError(absl::StrCat("cuda: ", point.Label(),
                                            " has kernel kNone: the point was not resolved "
                                            "against the op catalog"));
  }
  return absl::InternalError(absl::StrCat("cuda: ", point.Label(), " has kernel ",
                                          KernelName(point.kernel),
                                          ", which the cuda backend does not implement"));
}

int64_t CudaBytesNeeded(const PointSpec& point, TimingMode timing, const GpuContext& context) {
  if (BufferBytesApprox(point) > kMaxBufferBytes) return std::numeric_limits<int64_t>::max();
  const SplitPlan split = CudaImplements(point.kernel)
                              ? PlanCudaKernel(point, context.sm_count()).split
                              : SplitPlan{};
  int64_t bytes = BufferBytes(point) +
                  OutputCount(point) * static_cast<int64_t>(sizeof(double)) +  // the reference
                  split.PartialElements() * DTypeSize(point.dtype) +
                  split.CounterCount() * static_cast<int64_t>(sizeof(uint32_t));
  if (timing == TimingMode::kCold) bytes += context.flush_bytes();
  return bytes;
}

template <typename T>
absl::Status MakeInputsAndReference(GpuContext& ctx, cudaStream_t stream, const PointSpec& point,
                                    const std::vector<T*>& inputs, std::vector<double>* reference,
                                    ReferenceSource source) {
  const std::vector<int64_t> counts = InputCounts(point);
  std::vector<const T*> device_inputs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (absl::Status s = ctx.Check(kernels::LaunchFillUniform(inputs[i], counts[i], kInputSeed + i,
                                                              stream),
                                   "input fill kernel launch");
        !s.ok()) {
      return s;
    }
    device_inputs.push_back(inputs[i]);
  }
  const int64_t out_count = OutputCount(point);
  if (source == ReferenceSource::kGpuWhenAvailable) {
    DeviceBuffer reference_device;
    if (absl::Status s = reference_device.Allocate(
            ctx, out_count * static_cast<int64_t>(sizeof(double)), "reference");
        !s.ok()) {
      return s;
    }
    cudaError_t launched = cudaSuccess;
    if (LaunchGpuReference<T>(point, device_inputs, reference_device.as<double>(), stream,
                              &launched)) {
      if (absl::Status s = ctx.Check(launched, "reference kernel launch"); !s.ok()) return s;
      reference->assign(static_cast<size_t>(out_count), 0.0);
      if (absl::Status s = ctx.Check(
              cudaMemcpyAsync(reference->data(), reference_device.as<void>(),
                              out_count * sizeof(double), cudaMemcpyDeviceToHost, stream),
              "copying the reference back");
          !s.ok()) {
        return s;
      }
      // Synchronized before reference_device is freed.
      return ctx.Check(cudaStreamSynchronize(stream), "input fill and reference kernels");
    }
  }
  // The catalog's host reference on the inputs copied back.
  std::vector<std::vector<T>> host(inputs.size());
  std::vector<const T*> host_inputs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    host[i].resize(static_cast<size_t>(counts[i]));
    if (absl::Status s = ctx.Check(cudaMemcpyAsync(host[i].data(), inputs[i], counts[i] * sizeof(T),
                                                   cudaMemcpyDeviceToHost, stream),
                                   "copying the inputs back");
        !s.ok()) {
      return s;
    }
    host_inputs.push_back(host[i].data());
  }
  if (absl::Status s = ctx.Check(cudaStreamSynchronize(stream), "input fill kernels"); !s.ok()) {
    return s;
  }
  *reference = ReferenceResult<T>(point, host_inputs);
  return absl::OkStatus();
}

template absl::Status MakeInputsAndReference<float>(GpuContext&, cudaStream_t, const PointSpec&,
                                                    const std::vector<float*>&,
                                                    std::vector<double>*, ReferenceSource);
template absl::Status MakeInputsAndReference<double>(GpuContext&, cudaStream_t, const PointSpec&,
                                                     const std::vector<double*>&,
                                                     std::vector<double>*, ReferenceSource);

absl::StatusOr<std::unique_ptr<PreparedPoint>> PrepareCudaPoint(std::shared_ptr<GpuContext> context,
                                                                const PointSpec& point,
                                                                TimingMode timing) {
  if (absl::Status s = CheckCudaKernel(point); !s.ok()) return s;
  if (point.n < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("n: ", point.n, " is out of range; allowed >= 1"));
  }
  if (absl::Status s = CheckParams(point); !s.ok()) return s;
  // A kernel's own limit (the fused kernel indexes the summed axis with
  // 32-bit offsets; one execution at that size would take days anyway).
  if (const int64_t max_n = CudaMaxN(point.kernel); point.n > max_n) {
    return absl::InvalidArgumentError(absl::StrCat("n: ", point.n, " is out of range for ",
                                                   point.op, "/", point.impl,
                                                   " on cuda; allowed <= ", max_n));
  }
  // Whether the point fits the free memory was checked before Prepare
  // (CheckPointFits); this only keeps byte counts from overflowing.
  if (BufferBytesApprox(point) > kMaxBufferBytes) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "%s: %s needs %.3g bytes of buffers, more than any GPU's memory", context->id(),
        point.Label(), BufferBytesApprox(point)));
  }

  std::unique_ptr<PreparedPoint> prepared;
  absl::Status init;
  if (point.dtype == DType::kF32) {
    auto p = std::make_unique<CudaPoint<float>>(std::move(context), point, timing);
    init = p->Init();
    prepared = std::move(p);
  } else {
    auto p = std::make_unique<CudaPoint<double>>(std::move(context), point, timing);
    init = p->Init();
    prepared = std::move(p);
  }
  if (!init.ok()) return init;
  return prepared;
}

}  // namespace flopd
