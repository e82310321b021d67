// Small statistics the benchmarks print (milliseconds, percentiles).
// Header-only; not part of flopd.
#ifndef FLOPD_BENCH_BENCH_STATS_H_
#define FLOPD_BENCH_BENCH_STATS_H_

#include <algorithm>
#include <chrono>
#include <vector>

namespace flopd::bench {

using Clock = std::chrono::steady_clock;

inline double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// The p-quantile (0..1) of `v`, nearest rank; 0 for no values.
inline double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

}  // namespace flopd::bench

#endif  // FLOPD_BENCH_BENCH_STATS_H_
