// Summary statistics of per-execution times.
#ifndef FLOPD_COMMON_STATISTICS_H_
#define FLOPD_COMMON_STATISTICS_H_

#include <vector>

namespace flopd {

struct SampleSummary {
  int count = 0;
  double median = 0, mean = 0, min = 0, max = 0, stddev = 0;
  double p05 = 0, p25 = 0, p75 = 0, p95 = 0;
  // See RelativeNoise().
  double relative_noise = 0;
};

// Percentile `q` in [0, 1] of ascending-sorted `sorted`, linear interpolation
// between closest ranks. REQUIRES: !sorted.empty().
double Percentile(const std::vector<double>& sorted, double q);

// The middle value of `values` (the mean of the two middle ones for an even
// count); 0 when empty.
double Median(std::vector<double> values);

// Relative half-width of the distribution-free (order-statistic) 95%
// confidence interval of the median, (x[hi] - x[lo]) / (2 * median), with
// lo/hi = n/2 -/+ 0.98 sqrt(n) ranks. Robust to outliers and shrinks like
// 1/sqrt(n) as samples accumulate, so a noise target is reachable on a noisy
// machine by taking more samples. Returns +inf for fewer than 3 samples or a
// non-positive median.
double RelativeNoise(const std::vector<double>& samples);

// REQUIRES: !samples.empty(). stddev is the sample standard deviation (n-1).
SampleSummary Summarize(const std::vector<double>& samples);

}  // namespace flopd

#endif  // FLOPD_COMMON_STATISTICS_H_
