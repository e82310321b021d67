#include "server/backend/cpu/cpu_device.h"

#include <cblas.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/op_catalog.h"
#include "common/size_spec.h"
#include "common/verification.h"
#include "server/backend/cpu/ceilings.h"
#include "server/backend/cpu/cpu_kernels.h"
#include "server/backend/cpu/openblas_core.h"
#include "server/backend/cpu/thread_team.h"

namespace flopd {
namespace {

constexpr int64_t kAlignment = 64;
constexpr int64_t kHugePageBytes = int64_t{2} << 20;
constexpr int64_t kMinFlushBytes = int64_t{32} << 20;

// ---------------------------------------------------------------------------
// Host probing (once, at device construction).

std::string ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return std::string(absl::StripAsciiWhitespace(line));
}

// "model name" from /proc/cpuinfo (x86), else another naming field.
std::string CpuModelName() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  std::string fallback;
  while (std::getline(in, line)) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key(absl::StripAsciiWhitespace(line.substr(0, colon)));
    const std::string value(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    if (value.empty()) continue;
    if (key == "model name") return value;
    if (fallback.empty() && (key == "Hardware" || key == "cpu model" || key == "cpu")) {
      fallback = value;
    }
  }
  return fallback.empty() ? "unknown CPU" : fallback;
}

int64_t PhysicalMemoryBytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_size <= 0) return 0;
  return static_cast<int64_t>(pages) * page_size;
}

// "32768K" -> 33554432.
int64_t ParseCacheSize(const std::string& text) {
  if (text.empty()) return 0;
  int64_t scale = 1;
  std::string digits = text;
  const char unit = digits.back();
  if (unit == 'K' || unit == 'M' || unit == 'G') {
    scale = unit == 'K' ? int64_t{1} << 10 : unit == 'M' ? int64_t{1} << 20 : int64_t{1} << 30;
    digits.pop_back();
  }
  int64_t value = 0;
  if (!absl::SimpleAtoi(digits, &value) || value < 0) return 0;
  return value * scale;
}

// Total size of the last-level cache: the highest-level data/unified cache
// of cpu0 in sysfs, times the number of distinct instances of it across the
// CPUs (an EPYC has one L3 per CCX). sysconf's figure is only the fallback:
// under a hypervisor it can be far off (a 2-vCPU KVM guest with a 32 MiB L3
// in sysfs reported 256 MiB through sysconf).
int64_t LastLevelCacheBytes() {
  const std::string cpu_root = "/sys/devices/system/cpu/";
  int best_level = 0;
  int best_index = -1;
  int64_t best_size = 0;
  for (int index = 0; index < 16; ++index) {
    const std::string dir = absl::StrCat(cpu_root, "cpu0/cache/index", index, "/");
    const std::string level_text = ReadFirstLine(dir + "level");
    if (level_text.empty()) break;
    const std::string type = ReadFirstLine(dir + "type");
    int level = 0;
    if (!absl::SimpleAtoi(level_text, &level) || type == "Instruction") continue;
    if (level > best_level) {
      best_level = level;
      best_index = index;
      best_size = ParseCacheSize(ReadFirstLine(dir + "size"));
    }
  }
  if (best_index >= 0 && best_size > 0) {
    std::set<std::string> instances;
    const long cpus = sysconf(_SC_NPROCESSORS_CONF);
    for (long cpu = 0; cpu < std::max(1L, cpus); ++cpu) {
      const std::string shared = ReadFirstLine(
          absl::StrCat(cpu_root, "cpu", cpu, "/cache/index", best_index, "/shared_cpu_list"));
      if (!shared.empty()) instances.insert(shared);
    }
    return best_size * std::max<int64_t>(1, static_cast<int64_t>(instances.size()));
  }
  const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
  if (l3 > 0) return l3;
  const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
  return l2 > 0 ? l2 : 0;
}

// The bracketed choice of /sys/kernel/mm/transparent_hugepage/enabled
// ("always", "madvise", "never"), or "unknown".
std::string TransparentHugePageMode() {
  const std::string line = ReadFirstLine("/sys/kernel/mm/transparent_hugepage/enabled");
  const size_t open = line.find('[');
  const size_t close = line.find(']', open);
  if (open == std::string::npos || close == std::string::npos) return "unknown";
  return line.substr(open + 1, close - open - 1);
}

std::string OpenBlasConfig() {
  const char* config = openblas_get_config();
  return config == nullptr ? "" : std::string(absl::StripAsciiWhitespace(config));
}

std::string OpenBlasCoreName() {
  const char* core = openblas_get_corename();
  return core == nullptr ? "" : std::string(absl::StripAsciiWhitespace(core));
}

// ---------------------------------------------------------------------------
// Buffers.

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

// An uninitialized array of `count` T, 64-byte aligned; null when allocation
// fails. Arrays of 2 MiB or more are aligned to 2 MiB and advised to use
// transparent huge pages (as NumPy does for its arrays), so that streaming an
// N x N matrix is not slowed by TLB misses that the comparison does not have.
// The advice is taken where /sys/kernel/mm/transparent_hugepage/enabled is
// "madvise" or "always" and ignored elsewhere.
template <typename T>
std::unique_ptr<T[], FreeDeleter> AllocateAligned(int64_t count) {
  int64_t bytes = std::max<int64_t>(1, count) * static_cast<int64_t>(sizeof(T));
  const int64_t alignment = bytes >= kHugePageBytes ? kHugePageBytes : kAlignment;
  bytes = (bytes + alignment - 1) / alignment * alignment;
  void* data = std::aligned_alloc(alignment, static_cast<size_t>(bytes));
  if (data != nullptr && alignment == kHugePageBytes) {
    madvise(data, static_cast<size_t>(bytes), MADV_HUGEPAGE);
  }
  return std::unique_ptr<T[], FreeDeleter>(static_cast<T*>(data));
}

// Writes zeros from `threads` team threads, each over an equal part, so that
// each page is placed (first touch) near the thread that later reads it.
template <typename T>
void FirstTouch(T* data, int64_t count, int threads) {
  ThreadTeam::Shared().Run(threads, [&](int64_t part, int64_t parts) {
    const int64_t begin = count * part / parts;
    const int64_t end = count * (part + 1) / parts;
    if (begin < end) std::memset(data + begin, 0, (end - begin) * sizeof(T));
  });
}

// ---------------------------------------------------------------------------
// The prepared point.

template <typename T>
class CpuPoint : public PreparedPoint {
 public:
  // `threads` run the point; `asked` is what its settings asked for.
  CpuPoint(const PointSpec& point, TimingMode timing, int threads, int asked, int64_t flush_bytes)
      : point_(point), timing_(timing), threads_(threads), asked_threads_(asked),
        flush_bytes_(flush_bytes) {}

  // Allocates, first-touches and fills the buffers the catalog lists for the
  // point and computes the reference. RESOURCE_EXHAUSTED when an allocation
  // fails.
  absl::Status Init(int64_t bytes_needed);

  absl::StatusOr<VerificationResult> Verify() override {
    openblas_set_num_threads(threads_);
    const T nan = std::numeric_limits<T>::quiet_NaN();
    std::fill(out_.get(), out_.get() + OutputCount(point_), nan);
    if (temp_ != nullptr) std::fill(temp_.get(), temp_.get() + TempCount(point_), nan);
    RunCpuKernel(args_);
    return flopd::Verify<T>(point_, out_.get(), reference_);
  }

  absl::StatusOr<double> TimeBatch(int64_t iterations) override {
    openblas_set_num_threads(threads_);
    using Clock = std::chrono::steady_clock;
    if (timing_ == TimingMode::kHot) {
      const Clock::time_point start = Clock::now();
      for (int64_t i = 0; i < iterations; ++i) RunCpuKernel(args_);
      return std::chrono::duration<double>(Clock::now() - start).count();
    }
    double total = 0;
    for (int64_t i = 0; i < iterations; ++i) {
      Flush();
      const Clock::time_point start = Clock::now();
      RunCpuKernel(args_);
      total += std::chrono::duration<double>(Clock::now() - start).count();
    }
    return total;
  }

  void CollectWarnings(std::vector<std::string>* warnings) override {
    if (threads_ < asked_threads_) {
      warnings->push_back(absl::StrCat("cpu: ", asked_threads_, " threads asked for; ", threads_,
                                       " ran (OpenBLAS's or the system's limit)"));
    }
    const int cpus = UsableCpus();
    if (threads_ > cpus) {
      warnings->push_back(absl::StrCat("cpu: ", threads_, " threads on ", cpus,
                                       " usable CPUs (oversubscribed; times include "
                                       "time-slicing)"));
    }
    if (BestKernelIsa() == KernelIsa::kGeneric) {
      warnings->push_back(
          "cpu: this CPU lacks AVX2/FMA; flopd's own kernels (reductions, fused) ran generic "
          "x86-64 code");
    }
  }

  int threads() const override { return threads_; }

 private:
  // Reads and writes every word of the flush buffer from all threads, which
  // evicts the inputs from every private and shared cache. (Not memset:
  // glibc's memset switches to non-temporal stores for large sizes, which
  // bypass the caches and would leave the inputs in place.)
  void Flush() {
    uint64_t* words = flush_.get();
    const int64_t count = flush_bytes_ / static_cast<int64_t>(sizeof(uint64_t));
    ThreadTeam::Shared().Run(threads_, [&](int64_t part, int64_t parts) {
      const int64_t begin = count * part / parts;
      const int64_t end = count * (part + 1) / parts;
      for (int64_t i = begin; i < end; ++i) words[i] += 1;
    });
    // The buffer is never read; keep the compiler from dropping the writes.
    asm volatile("" : : "r"(words) : "memory");
  }

  const PointSpec point_;
  const TimingMode timing_;
  const int threads_;
  const int asked_threads_;
  const int64_t flush_bytes_;

  // The op's inputs (matvec: A, x; outer: u, v), its output and the impl's
  // scratch (outer/library: P), as common/op_catalog.h lists them.
  std::vector<std::unique_ptr<T[], FreeDeleter>> inputs_;
  std::unique_ptr<T[], FreeDeleter> out_;
  std::unique_ptr<T[], FreeDeleter> temp_;
  std::unique_ptr<uint64_t[], FreeDeleter> flush_;
  CpuKernelArgs<T> args_;
  std::vector<double> reference_;
};

template <typename T>
absl::Status CpuPoint<T>::Init(int64_t bytes_needed) {
  const std::vector<int64_t> input_counts = InputCounts(point_);
  const int64_t out_count = OutputCount(point_);
  const int64_t temp_count = TempCount(point_);
  bool allocated = true;
  for (int64_t count : input_counts) {
    inputs_.push_back(AllocateAligned<T>(count));
    allocated = allocated && inputs_.back() != nullptr;
  }
  out_ = AllocateAligned<T>(out_count);
  if (temp_count > 0) temp_ = AllocateAligned<T>(temp_count);
  if (timing_ == TimingMode::kCold) {
    flush_ = AllocateAligned<uint64_t>(flush_bytes_ / static_cast<int64_t>(sizeof(uint64_t)));
  }
  if (!allocated || out_ == nullptr || (temp_count > 0 && temp_ == nullptr) ||
      (timing_ == TimingMode::kCold && flush_ == nullptr)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "cpu:0: ", point_.Label(), ": needed ", bytes_needed, " bytes; allocating them failed"));
  }

  for (size_t i = 0; i < inputs_.size(); ++i) FirstTouch(inputs_[i].get(), input_counts[i], threads_);
  FirstTouch(out_.get(), out_count, threads_);
  if (temp_ != nullptr) FirstTouch(temp_.get(), temp_count, threads_);
  if (flush_ != nullptr) {
    FirstTouch(flush_.get(), flush_bytes_ / static_cast<int64_t>(sizeof(uint64_t)), threads_);
  }

  args_.point = &point_;
  args_.out = out_.get();
  args_.temp = temp_.get();
  args_.threads = threads_;
  for (size_t i = 0; i < inputs_.size(); ++i) {
    FillUniform(inputs_[i].get(), input_counts[i], kInputSeed + i);
    args_.inputs.push_back(inputs_[i].get());
  }
  reference_ = ReferenceResult<T>(point_, args_.inputs);
  return absl::OkStatus();
}

}  // namespace

int UsableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int count = CPU_COUNT(&set);
    if (count > 0) return count;
  }
  const unsigned hardware = std::thread::hardware_concurrency();
  return hardware > 0 ? static_cast<int>(hardware) : 1;
}

CpuDevice::CpuDevice(const BackendConfig& config) {
  threads_ = config.cpu_threads > 0 ? config.cpu_threads : UsableCpus();
  const int64_t physical = PhysicalMemoryBytes();
  memory_limit_ = config.cpu_memory_limit > 0 ? config.cpu_memory_limit : physical / 2;
  const int64_t llc = LastLevelCacheBytes();
  flush_bytes_ = std::max(kMinFlushBytes, 2 * llc);
  llc_bytes_ = llc;
  openblas_set_num_threads(threads_);

  const std::string blas_config = OpenBlasConfig();
  const std::string core = OpenBlasCoreName();
  const KernelIsa isa = BestKernelIsa();

  DeviceDescription& d = description_;
  d.id = "cpu:0";
  d.backend = "cpu";
  d.index = 0;
  d.name = CpuModelName();
  d.cores = threads_;
  d.memory_bytes = physical;
  d.library = absl::StrCat(absl::StartsWith(blas_config, "OpenBLAS") ? "" : "OpenBLAS ",
                           blas_config, " core=", core,
                           std::getenv("FLOPD_OPENBLAS_CORE_CHOICE") != nullptr ? " (chosen by flopd)"
                           : std::getenv("OPENBLAS_CORETYPE") != nullptr    ? " (OPENBLAS_CORETYPE)"
                                                                            : "");
  d.properties["openblas_config"] = blas_config;
  d.properties["openblas_corename"] = core;
  d.properties["openblas_core_choice"] = OpenBlasCoreChoice(core);
  d.properties["openblas_threads"] = absl::StrCat(openblas_get_num_threads());
  d.properties["kernel_threads"] = absl::StrCat(threads_);
  d.properties["usable_cpus"] = absl::StrCat(UsableCpus());
  d.properties["simd"] =
      isa == KernelIsa::kAvx512F
          ? std::string("avx512f (flopd's fused outer sum and chain use AVX-512F; its reductions "
                        "and fused attention AVX2 and FMA)")
      : isa == KernelIsa::kAvx2Fma
          ? std::string("avx2+fma (flopd kernels use AVX2 and FMA)")
          : absl::StrCat("generic (no AVX2/FMA on this CPU: avx2=",
                         __builtin_cpu_supports("avx2") ? 1 : 0,
                         " fma=", __builtin_cpu_supports("fma") ? 1 : 0, ")");
  d.properties["l3_cache_bytes"] = absl::StrCat(llc);
  d.properties["cold_flush_bytes"] = absl::StrCat(flush_bytes_);
  d.properties["transparent_hugepages"] = TransparentHugePageMode();
  // Sizes and budget for the main job (matvec gemv+gemm, outer library+fused
  // x axis 0,1, f32: 48 points): it took about 50 s on a shared 2-core EPYC
  // VM, where the memory-bound points mostly end on the time budget (noise
  // target unmet) and the fused ones on the noise target. The sizes reach
  // 8000, the top of the range compared with NumPy.
  d.default_sizes = "1000:8001:1000";
  d.timing_modes = {TimingMode::kHot, TimingMode::kCold};
  d.default_settings.noise_target = 0.005;
  d.default_settings.min_samples = 10;
  d.default_settings.min_time_s = 0.05;
  d.default_settings.max_time_s = 1.0;
  d.default_settings.timing = TimingMode::kHot;
  d.default_settings.cpu_threads = 0;
  d.min_sample_seconds = 1e-3;
}

int64_t CpuDevice::BytesNeeded(const PointSpec& point, TimingMode timing) const {
  int64_t bytes = BufferBytes(point) + 8 * OutputCount(point);  // + the fp64 reference
  if (timing == TimingMode::kCold) bytes += flush_bytes_;
  return bytes;
}

absl::StatusOr<std::unique_ptr<PreparedPoint>> CpuDevice::Prepare(const PointSpec& point,
                                                                  const MeasureSettings& settings) {
  if (point.n < 1 || point.n > kMaxN) {
    return absl::InvalidArgumentError(
        absl::StrCat("cpu:0: N must be in 1..", kMaxN, ", got ", point.n));
  }
  // The planner resolved the point against the catalog's cpu impls and
  // checked its params, timing mode and memory; this is the dispatch.
  if (!CpuImplements(point.kernel)) {
    return absl::InternalError(
        absl::StrCat("cpu:0: kernel ", KernelName(point.kernel), " is not implemented on the CPU"));
  }
  const int64_t needed = BytesNeeded(point, settings.timing);
  // The threads that will really run: OpenBLAS caps its pool at its build's
  // MAX_THREADS (64 in Debian's) and the team at the threads the system
  // gives it; the point runs on, and reports, the fewest of the three. Both
  // pools keep their threads for later points and jobs, so they never hold
  // more than the largest count a job may ask for (--max-threads-per-job).
  const int asked = settings.cpu_threads > 0 ? settings.cpu_threads : threads_;
  openblas_set_num_threads(asked);
  const int threads =
      std::min({asked, openblas_get_num_threads(), ThreadTeam::Shared().Reserve(asked)});
  if (threads != asked) openblas_set_num_threads(threads);

  std::unique_ptr<PreparedPoint> prepared;
  absl::Status status;
  if (point.dtype == DType::kF32) {
    auto p = std::make_unique<CpuPoint<float>>(point, settings.timing, threads, asked,
                                                flush_bytes_);
    status = p->Init(needed);
    prepared = std::move(p);
  } else {
    auto p = std::make_unique<CpuPoint<double>>(point, settings.timing, threads, asked,
                                                 flush_bytes_);
    status = p->Init(needed);
    prepared = std::move(p);
  }
  if (!status.ok()) return status;
  return prepared;
}

absl::StatusOr<DeviceCeilings> CpuDevice::MeasureCeilings(const std::atomic<bool>& stop) {
  CpuCeilingsConfig config;
  config.stop = &stop;
  config.threads = threads_;
  config.llc_bytes = llc_bytes_;
  config.memory_limit_bytes = memory_limit_;
  return MeasureCpuCeilings(config);
}

absl::StatusOr<std::vector<std::unique_ptr<Device>>> CreateCpuDevices(const BackendConfig& config) {
  std::vector<std::unique_ptr<Device>> devices;
  devices.push_back(std::make_unique<CpuDevice>(config));
  return devices;
}

}  // namespace flopd
