#include "common/statistics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace flopd {
namespace {

double RelativeNoiseSorted(const std::vector<double>& sorted) {
  const int n = static_cast<int>(sorted.size());
  const double median = n > 0 ? Percentile(sorted, 0.5) : 0.0;
  if (n < 3 || median <= 0) return std::numeric_limits<double>::infinity();
  const double half_width_ranks = 0.98 * std::sqrt(static_cast<double>(n));
  const int lo = std::max(0, static_cast<int>(std::floor(n / 2.0 - half_width_ranks)));
  const int hi = std::min(n - 1, static_cast<int>(std::ceil(n / 2.0 - 1 + half_width_ranks)));
  return (sorted[hi] - sorted[lo]) / (2.0 * median);
}

}  // namespace

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  if (n == 0) return 0;
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

double Percentile(const std::vector<double>& sorted, double q) {
  const double rank = q * (sorted.size() - 1);
  const size_t below = static_cast<size_t>(std::floor(rank));
  const size_t above = std::min(sorted.size() - 1, below + 1);
  const double frac = rank - below;
  return sorted[below] + (sorted[above] - sorted[below]) * frac;
}

double RelativeNoise(const std::vector<double>& samples) {
  std::vector<double> sorted = samples;
  std::sort(sorted.begin(), sorted.end());
  return RelativeNoiseSorted(sorted);
}

SampleSummary Summarize(const std::vector<double>& samples) {
  std::vector<double> sorted = samples;
  std::sort(sorted.begin(), sorted.end());
  SampleSummary s;
  s.count = static_cast<int>(sorted.size());
  s.min = sorted.front();
  s.max = sorted.back();
  s.median = Percentile(sorted, 0.5);
  s.p05 = Percentile(sorted, 0.05);
  s.p25 = Percentile(sorted, 0.25);
  s.p75 = Percentile(sorted, 0.75);
  s.p95 = Percentile(sorted, 0.95);
  s.mean = std::accumulate(sorted.begin(), sorted.end(), 0.0) / s.count;
  double squares = 0;
  for (double x : sorted) squares += (x - s.mean) * (x - s.mean);
  s.stddev = s.count > 1 ? std::sqrt(squares / (s.count - 1)) : 0.0;
  s.relative_noise = RelativeNoiseSorted(sorted);
  return s;
}

}  // namespace flopd
