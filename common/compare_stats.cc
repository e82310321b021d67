#include "common/compare_stats.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace flopd {

MannWhitneyResult MannWhitneyU(const std::vector<double>& a, const std::vector<double>& b) {
  MannWhitneyResult result;
  const double n1 = static_cast<double>(a.size());
  const double n2 = static_cast<double>(b.size());
  if (a.empty() || b.empty()) return result;
  std::vector<std::pair<double, int>> all;  // (value, 0 for a / 1 for b)
  all.reserve(a.size() + b.size());
  for (double x : a) all.emplace_back(x, 0);
  for (double x : b) all.emplace_back(x, 1);
  std::sort(all.begin(), all.end());
  const double n = n1 + n2;
  double rank_sum_a = 0;
  double tie_term = 0;  // sum over tie groups of t^3 - t
  for (size_t i = 0; i < all.size();) {
    size_t j = i;
    while (j < all.size() && all[j].first == all[i].first) ++j;
    const double t = static_cast<double>(j - i);
    const double average_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;
    for (size_t k = i; k < j; ++k) {
      if (all[k].second == 0) rank_sum_a += average_rank;
    }
    tie_term += t * t * t - t;
    i = j;
  }
  result.u = rank_sum_a - n1 * (n1 + 1) / 2;
  const double mean = n1 * n2 / 2;
  const double variance = n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1)));
  if (!(variance > 0)) return result;
  const double deviation = result.u - mean;
  const double corrected = std::max(0.0, std::fabs(deviation) - 0.5);
  result.z = std::copysign(corrected / std::sqrt(variance), deviation);
  result.p_value = std::min(1.0, std::erfc(std::fabs(result.z) / std::sqrt(2.0)));
  return result;
}

double GeometricMean(const std::vector<double>& values) {
  if (values.empty()) return 0;
  double log_sum = 0;
  for (double v : values) log_sum += std::log(v);
  return std::exp(log_sum / static_cast<double>(values.size()));
}

absl::string_view VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kSlower:
      return "slower";
    case Verdict::kFaster:
      return "faster";
    case Verdict::kSame:
      break;
  }
  return "same";
}

PointComparison ComparePoints(const PointSample& a, const PointSample& b,
                              const CompareOptions& options) {
  PointComparison c;
  c.ratio = b.median / a.median;
  bool different = false;
  if (static_cast<int>(a.samples.size()) >= options.min_samples &&
      static_cast<int>(b.samples.size()) >= options.min_samples) {
    c.method = "mann-whitney";
    c.p_value = MannWhitneyU(a.samples, b.samples).p_value;
    different = c.p_value < options.alpha;
  } else {
    c.method = "noise intervals";
    const double a_lo = a.median * (1 - a.relative_noise);
    const double a_hi = a.median * (1 + a.relative_noise);
    const double b_lo = b.median * (1 - b.relative_noise);
    const double b_hi = b.median * (1 + b.relative_noise);
    different = b_lo > a_hi || a_lo > b_hi;
  }
  if (different && std::fabs(c.ratio - 1) > options.min_effect) {
    c.verdict = c.ratio > 1 ? Verdict::kSlower : Verdict::kFaster;
  }
  return c;
}

}  // namespace flopd
