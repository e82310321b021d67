// Statistics for comparing two runs point by point (flopctl compare): the
// Mann-Whitney U test on raw per-execution samples, a fallback on the two
// noise intervals when samples are missing, and the geometric mean of ratios.
// Pure domain code; thread-safe (no shared state).
#ifndef FLOPD_COMMON_COMPARE_STATS_H_
#define FLOPD_COMMON_COMPARE_STATS_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace flopd {

struct MannWhitneyResult {
  double u = 0;        // U of the first sample: pairs (a_i, b_j) with a_i > b_j, ties count 1/2
  double z = 0;        // normal approximation, continuity- and tie-corrected
  double p_value = 1;  // two-sided
};

// Two-sided Mann-Whitney U test with the normal approximation: ranks with
// ties averaged, variance n1 n2 / 12 * ((n + 1) - sum(t^3 - t) / (n (n - 1)))
// over tie groups of size t, and a continuity correction of 1/2. With no
// variance (every value tied) or an empty sample, p = 1.
MannWhitneyResult MannWhitneyU(const std::vector<double>& a, const std::vector<double>& b);

// exp(mean(log x)); 0 for an empty input. REQUIRES: every x > 0.
double GeometricMean(const std::vector<double>& values);

// What one run says about one point.
struct PointSample {
  double median = 0;
  double relative_noise = 0;     // half-width of the median's 95% CI / median
  std::vector<double> samples;   // raw per-execution seconds; may be empty
};

struct CompareOptions {
  double alpha = 0.01;       // significance level of the U test
  double min_effect = 0.01;  // |ratio - 1| at or below this is never "different"
  int min_samples = 5;       // fewer raw samples in either run: use the noise intervals
};

enum class Verdict { kSame, kSlower, kFaster };
// "same" | "slower" | "faster".
absl::string_view VerdictName(Verdict verdict);

struct PointComparison {
  double ratio = 0;          // b.median / a.median (> 1: b is slower)
  Verdict verdict = Verdict::kSame;
  std::string method;        // "mann-whitney" | "noise intervals"
  double p_value = -1;       // the U test's p, or -1 with the noise intervals
};

// b against a. Different ("slower"/"faster") when |ratio - 1| > min_effect
// and either, with >= min_samples raw samples in both, the U test's p <
// alpha, or otherwise the intervals median x (1 +- relative_noise) do not
// overlap. REQUIRES: a.median > 0, b.median > 0.
PointComparison ComparePoints(const PointSample& a, const PointSample& b,
                              const CompareOptions& options);

}  // namespace flopd

#endif  // FLOPD_COMMON_COMPARE_STATS_H_
