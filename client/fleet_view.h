// The fleet view (issue 10): which machine of a fleet is the slow one.
//
// A member is one (host, device) of the results. For every point that at
// least two members measured (op, impl, params, dtype, N and timing mode),
// each member's median time is divided by the fleet's median for that point
// (the median over the members that measured it). A member's score is the
// geometric mean of its ratios. Outliers are found on the scores' logarithms
// by the median absolute deviation (Iglewicz and Hoaglin's modified z-score,
// 0.6745 (x - median) / MAD, flagged beyond 3.5), with the MAD never taken
// below log(1.05): a member is only called out when it is at least ~29% off
// a tight fleet. (With a floor of 3%, alike daemons run one after another on
// a 2-core VM, 16% apart, were flagged FAST.) Two members can never be told apart
// (each is as far from their median as the other): flags need three.
//
// Members carry the identity their results report (device name, GPU UUID,
// driver, SM clock, power limit and temperature when the backend records
// them as observations; the BLAS library and threads on a CPU).
//
// Thread-safe: pure functions.
#ifndef FLOPD_CLIENT_FLEET_VIEW_H_
#define FLOPD_CLIENT_FLEET_VIEW_H_

#include <string>
#include <utility>
#include <vector>

#include "flopd/v1/flopd.pb.h"

namespace flopd {

inline constexpr double kFleetOutlierZ = 3.5;
inline constexpr double kFleetMinSpread = 1.05;  // the MAD's floor, as a ratio

struct FleetMember {
  std::string host;     // as NameHosts names it
  std::string address;  // ResultHost
  std::string device;   // "cpu:0", "cuda:0"
  std::string device_name;
  std::string identity;  // "GPU-…, driver 580.95, SM 1980 MHz, power limit 700 W, 41 C"
  // "matvec/gemv f32 N=2000 hot" and its time / the fleet median, for every
  // point compared, in point order.
  std::vector<std::pair<std::string, double>> ratios;
  double geomean = 1;   // geometric mean of the ratios (1 when none)
  double worst = 1;     // the largest ratio
  std::string worst_point;
  double robust_z = 0;  // 0.6745 (log geomean - median) / max(MAD, log kFleetMinSpread)
  // "SLOW" or "FAST" when |robust_z| > kFleetOutlierZ, else "".
  std::string flag;
};

struct FleetView {
  std::vector<FleetMember> members;  // worst (highest geomean) first
  int points_compared = 0;           // points measured by two members or more
  std::vector<std::string> notes;    // e.g. mixed device models, too few members to flag
};

FleetView ComputeFleetView(const std::vector<v1::Result>& results);

// Members in a result set: distinct (host, device) pairs.
int CountFleetMembers(const std::vector<v1::Result>& results);

// The view as a text table with a header paragraph, then each distinct
// device identity once with the members that report it; with `points`, also
// every point's ratio per member (points down, members across). Within
// `max_width` columns (0 = no limit): prose is wrapped, and tables too wide
// are split into blocks that repeat the member's (or point's) key columns.
std::string FleetViewText(const FleetView& view, bool points = false, size_t max_width = 0);

// The paragraph above the table: what the numbers are and the rule.
std::string FleetViewExplanation(const FleetView& view);

}  // namespace flopd

#endif  // FLOPD_CLIENT_FLEET_VIEW_H_
