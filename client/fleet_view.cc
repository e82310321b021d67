#include "client/fleet_view.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/result_format.h"
#include "client/text_wrap.h"
#include "common/point.h"
#include "common/statistics.h"
#include "proto/wire/wire.h"

namespace flopd {
namespace {

using MemberKey = std::pair<std::string, std::string>;  // (ResultHost, device)
// (dtype, N, point key, timing): sorts like the aggregated table's rows.
using FleetPointKey = std::tuple<std::string, int64_t, PointKey, std::string>;

std::string PointLabel(const FleetPointKey& key) {
  const auto& [op, impl, params, dtype, n] = std::get<2>(key);
  return absl::StrCat(op, "/", impl, params.empty() ? "" : " ", params, " ", dtype, " N=", n, " ",
                      std::get<3>(key));
}

// The member's identity from the last of its results: what the backend
// recorded about the device, where it did.
std::string IdentityOf(const v1::Result& r) {
  std::vector<std::string> parts;
  const auto& o = r.observations();
  auto get = [&o](const char* key) -> std::string {
    auto it = o.find(key);
    return it == o.end() || it->second.empty() || it->second == "unknown" ? "" : it->second;
  };
  if (std::string v = get("gpu_uuid"); !v.empty()) parts.push_back(v);
  if (std::string v = get("driver_version"); !v.empty()) parts.push_back("driver " + v);
  if (std::string v = get("sm_clock_mhz_after"); !v.empty()) {
    parts.push_back(absl::StrCat("SM ", v, " MHz"));
  }
  if (std::string v = get("power_limit_w"); !v.empty()) {
    parts.push_back(absl::StrCat("power limit ", v, " W"));
  }
  if (std::string v = get("temperature_c_after"); !v.empty()) parts.push_back(v + " C");
  if (r.backend() == "cpu" || parts.empty()) {
    if (!r.library().empty()) parts.push_back(r.library());
    if (r.threads() > 0) parts.push_back(absl::StrCat(r.threads(), " thread(s)"));
  }
  return absl::StrJoin(parts, ", ");
}

}  // namespace

int CountFleetMembers(const std::vector<v1::Result>& results) {
  std::set<MemberKey> members;
  for (const v1::Result& r : results) members.emplace(ResultHost(r), r.device());
  return static_cast<int>(members.size());
}

FleetView ComputeFleetView(const std::vector<v1::Result>& results) {
  FleetView view;
  const HostNames names = NameHosts(results);
  // point -> member -> medians (a member may have measured a point more
  // than once across files; its median of them counts once).
  std::map<FleetPointKey, std::map<MemberKey, std::vector<double>>> points;
  std::map<MemberKey, const v1::Result*> last_of;
  std::set<std::string> models;
  for (const v1::Result& r : results) {
    if (!(r.time().median() > 0)) continue;
    const PointKey key = ResultKey(r);
    const MemberKey member{ResultHost(r), r.device()};
    points[{std::get<3>(key), std::get<4>(key), key, r.timing()}][member].push_back(
        r.time().median());
    last_of[member] = &r;
    models.insert(r.device_name());
  }
  std::map<MemberKey, FleetMember> members;
  for (const auto& [member, r] : last_of) {
    FleetMember& m = members[member];
    m.host = names.at(member.first);
    m.address = member.first;
    m.device = member.second;
    m.device_name = r->device_name();
    m.identity = IdentityOf(*r);
  }
  for (const auto& [point, by_member] : points) {
    if (by_member.size() < 2) continue;
    ++view.points_compared;
    std::map<MemberKey, double> medians;
    std::vector<double> all;
    for (const auto& [member, times] : by_member) {
      medians[member] = Median(times);
      all.push_back(medians[member]);
    }
    const double fleet = Median(all);
    const std::string label = PointLabel(point);
    for (const auto& [member, median] : medians) {
      members[member].ratios.emplace_back(label, median / fleet);
    }
  }

  std::vector<double> logs;
  for (auto& [key, m] : members) {
    double sum = 0;
    for (const auto& [label, ratio] : m.ratios) {
      sum += std::log(ratio);
      if (ratio > m.worst || m.worst_point.empty()) {
        m.worst = ratio;
        m.worst_point = label;
      }
    }
    m.geomean = m.ratios.empty() ? 1 : std::exp(sum / m.ratios.size());
    if (!m.ratios.empty()) logs.push_back(std::log(m.geomean));
  }
  const double center = Median(logs);
  std::vector<double> deviations;
  for (double x : logs) deviations.push_back(std::abs(x - center));
  const double mad = std::max(Median(deviations), std::log(kFleetMinSpread));
  for (auto& [key, m] : members) {
    if (m.ratios.empty()) continue;
    m.robust_z = 0.6745 * (std::log(m.geomean) - center) / mad;
    if (std::abs(m.robust_z) > kFleetOutlierZ) m.flag = m.robust_z > 0 ? "SLOW" : "FAST";
  }
  for (auto& [key, m] : members) view.members.push_back(std::move(m));
  std::stable_sort(view.members.begin(), view.members.end(),
                   [](const FleetMember& a, const FleetMember& b) { return a.geomean > b.geomean; });

  if (logs.size() < 3) {
    view.notes.push_back(absl::StrCat(
        logs.size(), " member(s) share points: outliers need at least 3 (with two, each is as far "
                     "from their median as the other)"));
  }
  if (models.size() > 1) {
    view.notes.push_back(absl::StrCat(
        models.size(), " device models (", absl::StrJoin(models, "; "),
        "): a member's ratio also reflects its model, not only its health"));
  }
  return view;
}

std::string FleetViewExplanation(const FleetView& view) {
  return absl::StrFormat(
      "Fleet view: %d host/device member(s), %d point(s) measured by two or more. Each point's "
      "median time / the fleet's median for it; geomean = geometric mean over the member's "
      "points; z = 0.6745 (log geomean - median) / MAD of the members' log geomeans (MAD at "
      "least log %.2f); |z| > %.1f is flagged. Worst first.",
      static_cast<int>(view.members.size()), view.points_compared, kFleetMinSpread,
      kFleetOutlierZ);
}

std::string FleetViewText(const FleetView& view, bool points, size_t max_width) {
  std::string prose = FleetViewExplanation(view) + "\n";
  std::vector<std::vector<std::string>> rows = {
      {"host", "device", "flag", "geomean", "z", "points", "worst point"}};
  // Each distinct (device name, identity), once, with its members in table
  // order: a fleet of alike machines prints one long identity, not one per row.
  std::vector<std::pair<std::string, std::vector<std::string>>> identities;
  for (const FleetMember& m : view.members) {
    rows.push_back({m.host, m.device, m.flag.empty() ? "-" : m.flag,
                    absl::StrFormat("%.3fx", m.geomean), absl::StrFormat("%+.1f", m.robust_z),
                    absl::StrCat(m.ratios.size()),
                    m.worst_point.empty() ? "-"
                                          : absl::StrFormat("%.3fx %s", m.worst, m.worst_point)});
    std::string identity = m.device_name.empty() ? "(no name reported)" : m.device_name;
    absl::StrAppend(&identity, m.identity.empty() ? "" : ": ", m.identity);
    auto it = std::find_if(identities.begin(), identities.end(),
                           [&](const auto& entry) { return entry.first == identity; });
    if (it == identities.end()) {
      identities.push_back({identity, {}});
      it = std::prev(identities.end());
    }
    it->second.push_back(absl::StrCat(m.host, "/", m.device));
  }
  // Text columns left, numbers right; host and device repeat in every block.
  std::string out = WrapLongLines(prose, max_width);
  absl::StrAppend(&out, RenderColumnsWithin(rows,
                                            std::vector<bool>{false, false, false, true, true,
                                                              true, false},
                                            /*key_columns=*/2, max_width));
  std::string below;
  for (const auto& [identity, members] : identities) {
    absl::StrAppend(&below, "device: ", identity, "\n    ",
                    members.size() == view.members.size() && members.size() > 1
                        ? absl::StrCat("(all ", members.size(), " members)")
                        : absl::StrJoin(members, ", "),
                    "\n");
  }
  for (const std::string& note : view.notes) absl::StrAppend(&below, "note: ", note, "\n");
  absl::StrAppend(&out, WrapLongLines(below, max_width));
  if (points && !view.members.empty()) {
    std::vector<std::string> labels;  // every compared point, in order
    for (const FleetMember& m : view.members) {
      for (const auto& [label, ratio] : m.ratios) {
        if (std::find(labels.begin(), labels.end(), label) == labels.end()) labels.push_back(label);
      }
    }
    std::vector<std::vector<std::string>> grid = {{"point"}};
    for (const FleetMember& m : view.members) grid[0].push_back(m.host + "/" + m.device);
    for (const std::string& label : labels) {
      std::vector<std::string> row = {label};
      for (const FleetMember& m : view.members) {
        auto it = std::find_if(m.ratios.begin(), m.ratios.end(),
                               [&](const auto& p) { return p.first == label; });
        row.push_back(it == m.ratios.end() ? "-" : absl::StrFormat("%.3f", it->second));
      }
      grid.push_back(std::move(row));
    }
    std::vector<bool> right_aligned(grid[0].size(), true);
    right_aligned[0] = false;
    absl::StrAppend(&out, "\neach point's time / fleet median:\n",
                    RenderColumnsWithin(grid, right_aligned, /*key_columns=*/1, max_width));
  }
  return out;
}

}  // namespace flopd
