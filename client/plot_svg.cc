#include "client/plot_svg.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/fleet_view.h"
#include "client/result_format.h"
#include "common/op_catalog.h"
#include "common/statistics.h"
#include "proto/wire/wire.h"

namespace flopd {
namespace {

constexpr double kWidth = 960;
constexpr double kPanelHeight = 340;
constexpr double kSectionHeader = 34;
constexpr double kPlotLeft = 80;     // within a panel
constexpr double kPlotWidth = 560;
constexpr double kPlotTop = 30;
constexpr double kPlotHeight = 260;
constexpr double kLegendLeft = kPlotLeft + kPlotWidth + 20;

// Tableau 10 (distinguishable, colour-blind tolerant), then its light
// variants for the 11th to 20th line (chain has 18 impl/k lines per dtype).
const char* const kColors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                               "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
                               "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
                               "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5"};
constexpr size_t kColorCount = sizeof(kColors) / sizeof(kColors[0]);

std::string Num(double v) { return absl::StrFormat("%.2f", v); }

struct Series {
  std::string label;
  std::string color;
  bool dashed = false;
  bool line = true;
  bool markers = true;
  std::vector<std::pair<double, double>> points;  // data coordinates
};

Series MakeSeries(std::string label, std::string color, bool dashed = false, bool line = true,
                  bool markers = true) {
  Series s;
  s.label = std::move(label);
  s.color = std::move(color);
  s.dashed = dashed;
  s.line = line;
  s.markers = markers;
  return s;
}

struct Bar {  // a vertical spread bar
  double x, y_lo, y_hi;
};

struct Panel {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<Series> series;
  std::vector<Bar> bars;
  std::string bars_label;
};

struct LogAxis {
  double lo_exp = 0, hi_exp = 1;  // decades
  double Map(double v, double pixel_lo, double pixel_span) const {
    return pixel_lo + (std::log10(v) - lo_exp) / (hi_exp - lo_exp) * pixel_span;
  }
};

LogAxis MakeAxis(const std::vector<double>& values) {
  double lo = 0, hi = 0;
  for (double v : values) {
    if (!(v > 0) || !std::isfinite(v)) continue;
    lo = lo == 0 ? v : std::min(lo, v);
    hi = std::max(hi, v);
  }
  LogAxis axis;
  if (lo == 0) return axis;  // nothing positive: one decade [1, 10]
  axis.lo_exp = std::floor(std::log10(lo) + 1e-9);
  axis.hi_exp = std::ceil(std::log10(hi) - 1e-9);
  if (axis.hi_exp <= axis.lo_exp) axis.hi_exp = axis.lo_exp + 1;
  return axis;
}

std::string DecadeLabel(int exponent) {
  return absl::StrCat("10<tspan dy=\"-6\" font-size=\"9\">", exponent, "</tspan>");
}

std::string DrawPanel(const Panel& panel, double y0) {
  std::vector<double> xs, ys;
  for (const Series& s : panel.series) {
    for (const auto& [x, y] : s.points) {
      xs.push_back(x);
      ys.push_back(y);
    }
  }
  for (const Bar& b : panel.bars) {
    xs.push_back(b.x);
    ys.push_back(b.y_lo);
    ys.push_back(b.y_hi);
  }
  const LogAxis ax = MakeAxis(xs);
  const LogAxis ay = MakeAxis(ys);
  const double left = kPlotLeft, top = y0 + kPlotTop, bottom = top + kPlotHeight;
  auto px = [&](double x) { return ax.Map(x, left, kPlotWidth); };
  auto py = [&](double y) { return ay.Map(y, bottom, -kPlotHeight); };

  std::string out = absl::StrCat("<g class=\"panel\" data-title=\"", XmlEscape(panel.title),
                                 "\">\n");
  absl::StrAppend(&out, "<text x=\"", Num(left), "\" y=\"", Num(y0 + 18),
                  "\" font-size=\"14\" font-weight=\"bold\">", XmlEscape(panel.title), "</text>\n");
  absl::StrAppend(&out, "<rect x=\"", Num(left), "\" y=\"", Num(top), "\" width=\"",
                  Num(kPlotWidth), "\" height=\"", Num(kPlotHeight),
                  "\" fill=\"none\" stroke=\"#333\"/>\n");
  // Decade ticks and grid lines; with many decades every other one.
  const int x_step = ax.hi_exp - ax.lo_exp > 10 ? 2 : 1;
  for (int e = static_cast<int>(ax.lo_exp); e <= static_cast<int>(ax.hi_exp); e += x_step) {
    const double x = px(std::pow(10.0, e));
    absl::StrAppend(&out, "<line x1=\"", Num(x), "\" y1=\"", Num(top), "\" x2=\"", Num(x),
                    "\" y2=\"", Num(bottom), "\" stroke=\"#ddd\"/>\n");
    absl::StrAppend(&out, "<text x=\"", Num(x), "\" y=\"", Num(bottom + 16),
                    "\" text-anchor=\"middle\">", DecadeLabel(e), "</text>\n");
  }
  const int y_step = ay.hi_exp - ay.lo_exp > 8 ? 2 : 1;
  for (int e = static_cast<int>(ay.lo_exp); e <= static_cast<int>(ay.hi_exp); e += y_step) {
    const double y = py(std::pow(10.0, e));
    absl::StrAppend(&out, "<line x1=\"", Num(left), "\" y1=\"", Num(y), "\" x2=\"",
                    Num(left + kPlotWidth), "\" y2=\"", Num(y), "\" stroke=\"#ddd\"/>\n");
    absl::StrAppend(&out, "<text x=\"", Num(left - 6), "\" y=\"", Num(y + 4),
                    "\" text-anchor=\"end\">", DecadeLabel(e), "</text>\n");
  }
  absl::StrAppend(&out, "<text x=\"", Num(left + kPlotWidth / 2), "\" y=\"", Num(bottom + 36),
                  "\" text-anchor=\"middle\">", XmlEscape(panel.x_label), "</text>\n");
  absl::StrAppend(&out, "<text transform=\"translate(", Num(left - 50), ",",
                  Num(top + kPlotHeight / 2), ") rotate(-90)\" text-anchor=\"middle\">",
                  XmlEscape(panel.y_label), "</text>\n");

  for (const Bar& b : panel.bars) {
    absl::StrAppend(&out, "<line class=\"spread\" x1=\"", Num(px(b.x)), "\" y1=\"",
                    Num(py(b.y_lo)), "\" x2=\"", Num(px(b.x)), "\" y2=\"", Num(py(b.y_hi)),
                    "\" stroke=\"#999\" stroke-width=\"6\" stroke-opacity=\"0.5\"/>\n");
  }
  for (const Series& s : panel.series) {
    std::vector<std::string> coords;
    for (const auto& [x, y] : s.points) {
      if (x > 0 && y > 0) coords.push_back(absl::StrCat(Num(px(x)), ",", Num(py(y))));
    }
    if (s.line && !coords.empty()) {
      absl::StrAppend(&out, "<polyline class=\"series\" data-series=\"", XmlEscape(s.label),
                      "\" points=\"", absl::StrJoin(coords, " "), "\" fill=\"none\" stroke=\"",
                      s.color, "\" stroke-width=\"", s.dashed ? "1.5" : "2", "\"",
                      s.dashed ? " stroke-dasharray=\"6,4\"" : "", "/>\n");
    }
    if (s.markers) {
      absl::StrAppend(&out, "<g class=\"markers\" data-series=\"", XmlEscape(s.label),
                      "\" fill=\"", s.color, "\">");
      for (const auto& [x, y] : s.points) {
        if (x > 0 && y > 0) {
          absl::StrAppend(&out, "<circle cx=\"", Num(px(x)), "\" cy=\"", Num(py(y)),
                          "\" r=\"2.5\"/>");
        }
      }
      absl::StrAppend(&out, "</g>\n");
    }
  }
  // Legend, right of the plot: one entry per line; the dashed floors of the
  // lines share one entry (same colour as their line). Entries shrink to
  // fit the panel's height rather than being cut off.
  const auto is_floor = [](const Series& s) { return s.dashed && s.line && !s.markers; };
  const size_t floors = std::count_if(panel.series.begin(), panel.series.end(), is_floor);
  const size_t entries =
      panel.series.size() - floors + (floors > 0 ? 1 : 0) + (panel.bars.empty() ? 0 : 1);
  const double room = bottom + 30 - top;
  const double step =
      entries * 15.0 <= room ? 15.0 : std::max(8.0, room / static_cast<double>(entries));
  double ly = top + 4;
  absl::StrAppend(&out, "<g class=\"legend\" font-size=\"", Num(std::min(11.0, step - 1)),
                  "\">\n");
  auto entry = [&](const std::string& label, const std::string& swatch) {
    absl::StrAppend(&out, swatch, "<text x=\"", Num(kLegendLeft + 26), "\" y=\"",
                    Num(ly + step / 4), "\">", XmlEscape(label), "</text>\n");
    ly += step;
  };
  auto line_swatch = [&](const std::string& color, bool dashed) {
    return absl::StrCat("<line x1=\"", Num(kLegendLeft), "\" y1=\"", Num(ly), "\" x2=\"",
                        Num(kLegendLeft + 20), "\" y2=\"", Num(ly), "\" stroke=\"", color,
                        "\" stroke-width=\"2\"", dashed ? " stroke-dasharray=\"6,4\"" : "", "/>");
  };
  for (const Series& s : panel.series) {
    if (!is_floor(s)) entry(s.label, line_swatch(s.color, s.dashed));
  }
  if (floors > 0) entry("dashed: the roofline floor of each line", line_swatch("#555", true));
  if (!panel.bars.empty()) {
    entry(panel.bars_label,
          absl::StrCat("<line x1=\"", Num(kLegendLeft + 10), "\" y1=\"", Num(ly - 6), "\" x2=\"",
                       Num(kLegendLeft + 10), "\" y2=\"", Num(ly + 6),
                       "\" stroke=\"#999\" stroke-width=\"6\" stroke-opacity=\"0.5\"/>"));
  }
  absl::StrAppend(&out, "</g>\n</g>\n");
  return out;
}

// Results written before the timing field existed were hot.
std::string TimingOf(const v1::Result& r) { return r.timing().empty() ? "hot" : r.timing(); }

// Whether the results mix timing modes (then the mode is part of a line's
// key and label).
struct SeriesNaming {
  bool with_timing = false;
};

// "[RUN: ]op/impl params dtype[ timing]": the point's key without N (a line
// over N). Two runs, or two timing modes, are never joined into one line.
std::string SeriesKey(const v1::Result& r, const std::string& run, const SeriesNaming& naming) {
  const auto& [op, impl, params, dtype, n] = ResultKey(r);
  return absl::StrCat(run.empty() ? "" : absl::StrCat(run, ": "), op, "/", impl,
                      params.empty() ? "" : " ", params, " ", dtype,
                      naming.with_timing ? absl::StrCat(" ", TimingOf(r)) : "");
}

std::string PanelKey(const HostNames& names, const v1::Result& r) {
  return absl::StrCat(names.at(ResultHost(r)), " ", r.device(),
                      r.device_name().empty() ? "" : absl::StrCat(" (", r.device_name(), ")"));
}

double Intensity(const v1::Result& r) {
  if (r.has_roofline() && r.roofline().intensity() > 0) return r.roofline().intensity();
  return r.min_bytes() > 0 ? static_cast<double>(r.flops()) / r.min_bytes() : 0;
}

double Achieved(const v1::Result& r) {
  return r.time().median() > 0 ? static_cast<double>(r.flops()) / r.time().median() : 0;
}

// Orders labels as a reader counts: runs of digits by their value, the rest
// by character ("B=2" before "B=16", "N=500" before "N=1000"); a label set
// in any order gives one legend order.
struct NaturalLess {
  bool operator()(const std::string& a, const std::string& b) const {
    size_t i = 0, j = 0;
    while (i < a.size() && j < b.size()) {
      if (IsDigit(a[i]) && IsDigit(b[j])) {
        const size_t i_end = DigitsEnd(a, i), j_end = DigitsEnd(b, j);
        // Leading zeros aside, the longer run is the larger number.
        const std::string_view x = StripZeros(std::string_view(a).substr(i, i_end - i));
        const std::string_view y = StripZeros(std::string_view(b).substr(j, j_end - j));
        if (x.size() != y.size()) return x.size() < y.size();
        if (x != y) return x < y;
        i = i_end;
        j = j_end;
      } else {
        if (a[i] != b[j]) return a[i] < b[j];
        ++i;
        ++j;
      }
    }
    if ((i < a.size()) != (j < b.size())) return j < b.size();
    return a < b;  // equal under the natural order ("B=02", "B=2"): still a strict order
  }
  static bool IsDigit(char c) { return c >= '0' && c <= '9'; }
  static size_t DigitsEnd(const std::string& s, size_t i) {
    while (i < s.size() && IsDigit(s[i])) ++i;
    return i;
  }
  static std::string_view StripZeros(std::string_view digits) {
    while (digits.size() > 1 && digits.front() == '0') digits.remove_prefix(1);
    return digits;
  }
};

// series label -> its results, in the legend's order.
using BySeries = std::map<std::string, std::vector<const v1::Result*>, NaturalLess>;
using ByPanel = std::map<std::string, BySeries, NaturalLess>;

// `runs[i]` labels results[i] ("" with one input).
ByPanel GroupByPanel(const std::vector<v1::Result>& results, const std::vector<std::string>& runs,
                     const SeriesNaming& naming) {
  const HostNames names = NameHosts(results);
  ByPanel panels;
  for (size_t i = 0; i < results.size(); ++i) {
    const v1::Result& r = results[i];
    panels[PanelKey(names, r)][SeriesKey(r, runs[i], naming)].push_back(&r);
  }
  return panels;
}

// "FLOPs per execution (2N^2 - N)": the catalog's formula when every line of
// the panel is of ops that share one, else without a formula.
std::string FlopsAxisLabel(const BySeries& series_map) {
  std::set<std::string> formulas;
  for (const auto& [label, rs] : series_map) {
    for (const v1::Result* r : rs) {
      absl::StatusOr<const OpSpec*> op = FindOp(r->op());
      formulas.insert(op.ok() ? (*op)->FlopFormula() : std::string("?"));
    }
  }
  if (formulas.size() != 1 || *formulas.begin() == "?") return "FLOPs per execution";
  return absl::StrCat("FLOPs per execution (", *formulas.begin(), ")");
}

std::vector<Panel> RuntimePanels(const std::vector<v1::Result>& results,
                                 const std::vector<std::string>& runs, const SeriesNaming& naming,
                                 bool vs_flops) {
  std::vector<Panel> panels;
  for (const auto& [panel_key, series_map] : GroupByPanel(results, runs, naming)) {
    Panel panel;
    panel.title = panel_key;
    panel.x_label = vs_flops ? FlopsAxisLabel(series_map) : "N";
    panel.y_label = "median time per execution (s)";
    size_t color = 0;
    for (const auto& [label, rs] : series_map) {
      std::vector<const v1::Result*> sorted = rs;
      std::sort(sorted.begin(), sorted.end(),
                [](const v1::Result* a, const v1::Result* b) { return a->n() < b->n(); });
      Series s = MakeSeries(label, kColors[color++ % kColorCount]);
      Series floor = MakeSeries(absl::StrCat(label, " floor"), s.color, /*dashed=*/true, true, false);
      for (const v1::Result* r : sorted) {
        const double x = vs_flops ? static_cast<double>(r->flops()) : static_cast<double>(r->n());
        s.points.emplace_back(x, r->time().median());
        if (r->has_roofline() && r->roofline().floor_seconds() > 0) {
          floor.points.emplace_back(x, r->roofline().floor_seconds());
        }
      }
      panel.series.push_back(std::move(s));
      if (!floor.points.empty()) panel.series.push_back(std::move(floor));
    }
    panels.push_back(std::move(panel));
  }
  return panels;
}

std::vector<Panel> RooflinePanels(const std::vector<v1::Result>& results,
                                  const std::vector<std::string>& runs,
                                  const SeriesNaming& naming) {
  std::vector<Panel> panels;
  for (const auto& [panel_key, series_map] : GroupByPanel(results, runs, naming)) {
    Panel panel;
    panel.title = panel_key;
    panel.x_label = "arithmetic intensity (FLOP/byte, FLOPs / minimum bytes)";
    panel.y_label = "achieved FLOP/s";
    // Ceilings per dtype, from the results that carry them.
    std::map<std::string, std::pair<double, double>> roofs;  // dtype -> (peak, bandwidth)
    double x_lo = 0, x_hi = 0;
    size_t color = 0;
    for (const auto& [label, rs] : series_map) {
      Series s = MakeSeries(label, kColors[color++ % kColorCount], false, /*line=*/false, /*markers=*/true);
      for (const v1::Result* r : rs) {
        const double x = Intensity(*r);
        s.points.emplace_back(x, Achieved(*r));
        if (x > 0) {
          x_lo = x_lo == 0 ? x : std::min(x_lo, x);
          x_hi = std::max(x_hi, x);
        }
        if (r->has_roofline() && r->roofline().peak_flops_per_s() > 0) {
          roofs[r->dtype()] = {r->roofline().peak_flops_per_s(),
                               r->roofline().peak_bandwidth_bytes_per_s()};
        }
      }
      std::sort(s.points.begin(), s.points.end());
      panel.series.push_back(std::move(s));
    }
    for (const auto& [dtype, roof] : roofs) {
      const auto [peak, bandwidth] = roof;
      const double ridge = bandwidth > 0 ? peak / bandwidth : 0;
      double lo = std::min(x_lo > 0 ? x_lo : 1.0, ridge > 0 ? ridge : 1.0) / 2;
      double hi = std::max(x_hi, ridge) * 2;
      Series roofline = MakeSeries(absl::StrFormat("%s roof: %.4g GFLOP/s, %.4g GB/s", dtype,
                                      peak / 1e9, bandwidth / 1e9),
                      "#000", /*dashed=*/dtype != "f32", true, false);
      roofline.points.emplace_back(lo, std::min(peak, lo * bandwidth));
      if (ridge > lo && ridge < hi) roofline.points.emplace_back(ridge, peak);
      roofline.points.emplace_back(hi, std::min(peak, hi * bandwidth));
      panel.series.push_back(std::move(roofline));
    }
    panels.push_back(std::move(panel));
  }
  return panels;
}

// One run's fleet: its hosts compared with each other (never with another
// run's). `run` prefixes the panels' titles ("" with one input).
std::vector<Panel> FleetPanels(const std::vector<v1::Result>& results, const std::string& run,
                               const SeriesNaming& naming) {
  // series key (with device) -> host -> results
  std::map<std::string, BySeries, NaturalLess> groups;
  std::set<std::string> hosts;
  const HostNames names = NameHosts(results);
  for (const v1::Result& r : results) {
    groups[absl::StrCat(SeriesKey(r, run, naming), " on ", r.device())][names.at(ResultHost(r))]
        .push_back(&r);
    hosts.insert(names.at(ResultHost(r)));
  }
  std::vector<Panel> panels;
  if (hosts.size() < 2) return panels;
  const FleetView view = ComputeFleetView(results);
  std::map<std::string, std::string> host_color;
  size_t color = 0;
  for (const std::string& h : hosts) host_color[h] = kColors[color++ % kColorCount];
  for (const auto& [key, by_host] : groups) {
    Panel panel;
    panel.title = absl::StrCat(key, ": per-host spread");
    panel.x_label = "N";
    panel.y_label = "median time per execution (s)";
    panel.bars_label = "spread (min..max over hosts)";
    std::map<int64_t, std::vector<double>> at_n;
    for (const auto& [host, rs] : by_host) {
      Series s = MakeSeries(host, host_color[host]);
      for (const v1::Result* r : rs) {
        s.points.emplace_back(static_cast<double>(r->n()), r->time().median());
        at_n[r->n()].push_back(r->time().median());
      }
      std::sort(s.points.begin(), s.points.end());
      panel.series.push_back(std::move(s));
    }
    for (const auto& [n, medians] : at_n) {
      if (medians.size() < 2) continue;
      const auto [lo, hi] = std::minmax_element(medians.begin(), medians.end());
      panel.bars.push_back({static_cast<double>(n), *lo, *hi});
    }
    panels.push_back(std::move(panel));

    // The fleet view's numbers: each host's time / the hosts' median at each
    // N, the legend carrying the host's geomean and flag over all points.
    std::map<int64_t, double> fleet_median;  // at each N two hosts or more measured
    for (const auto& [n, medians] : at_n) {
      if (medians.size() >= 2) fleet_median[n] = Median(medians);
    }
    Panel relative;
    relative.title = absl::StrCat(key, ": time / fleet median (fleet view)");
    relative.x_label = "N";
    relative.y_label = "median time / fleet median at that N";
    for (const auto& [host, rs] : by_host) {
      std::string legend = host;
      for (const FleetMember& m : view.members) {
        if (m.host == host && m.device == rs.front()->device()) {
          legend = absl::StrFormat("%s (%.2fx%s)", host, m.geomean,
                                   m.flag.empty() ? "" : absl::StrCat(" ", m.flag));
        }
      }
      Series s = MakeSeries(legend, host_color[host]);
      for (const v1::Result* r : rs) {
        auto fleet = fleet_median.find(r->n());
        if (fleet != fleet_median.end() && fleet->second > 0) {
          s.points.emplace_back(static_cast<double>(r->n()), r->time().median() / fleet->second);
        }
      }
      std::sort(s.points.begin(), s.points.end());
      if (!s.points.empty()) relative.series.push_back(std::move(s));
    }
    if (!relative.series.empty()) panels.push_back(std::move(relative));
  }
  return panels;
}

}  // namespace

absl::StatusOr<PlotKind> ParsePlotKind(absl::string_view name) {
  if (name == "all") return PlotKind::kAll;
  if (name == "flops") return PlotKind::kRuntimeVsFlops;
  if (name == "n") return PlotKind::kRuntimeVsN;
  if (name == "roofline") return PlotKind::kRoofline;
  if (name == "fleet") return PlotKind::kFleet;
  return absl::InvalidArgumentError(
      absl::StrCat("kind: unknown plot '", name, "'; allowed: all, flops, n, roofline, fleet"));
}

std::string XmlEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::vector<LabelledRun> Fleets(const std::vector<LabelledRun>& runs) {
  if (runs.size() < 2) return {{"", runs.empty() ? std::vector<v1::Result>{} : runs[0].results}};
  std::map<std::string, std::set<std::string>> runs_of_host;  // HostNameOf -> labels
  for (const LabelledRun& run : runs) {
    for (const v1::Result& r : run.results) runs_of_host[HostNameOf(r)].insert(run.label);
  }
  const bool shared = std::any_of(runs_of_host.begin(), runs_of_host.end(),
                                  [](const auto& entry) { return entry.second.size() > 1; });
  if (shared) return runs;
  LabelledRun pooled;
  for (const LabelledRun& run : runs) {
    pooled.results.insert(pooled.results.end(), run.results.begin(), run.results.end());
  }
  return {pooled};
}

std::string PlotSvg(const std::vector<v1::Result>& results, PlotKind kind, bool standalone) {
  return PlotSvg(std::vector<LabelledRun>{{"", results}}, kind, standalone);
}

std::string PlotSvg(const std::vector<LabelledRun>& inputs, PlotKind kind, bool standalone) {
  // All runs' results side by side, each with its run's label (none when
  // there is one input, so that one file draws as it always did).
  std::vector<v1::Result> results;
  std::vector<std::string> runs;
  std::set<std::string> timings;
  for (const LabelledRun& run : inputs) {
    for (const v1::Result& r : run.results) {
      results.push_back(r);
      runs.push_back(inputs.size() > 1 ? run.label : "");
      timings.insert(TimingOf(r));
    }
  }
  SeriesNaming naming;
  naming.with_timing = timings.size() > 1;
  struct Section {
    std::string title;
    std::vector<Panel> panels;
  };
  std::vector<Section> sections;
  const bool all = kind == PlotKind::kAll;
  if (all || kind == PlotKind::kRuntimeVsFlops) {
    sections.push_back({"Runtime vs FLOPs (the seed's Figure 2/3; dashed: roofline floor)",
                        RuntimePanels(results, runs, naming, true)});
  }
  if (all || kind == PlotKind::kRuntimeVsN) {
    sections.push_back(
        {"Runtime vs N (dashed: roofline floor)", RuntimePanels(results, runs, naming, false)});
  }
  if (all || kind == PlotKind::kRoofline) {
    sections.push_back({"Roofline: achieved FLOP/s vs arithmetic intensity",
                        RooflinePanels(results, runs, naming)});
  }
  std::vector<Panel> fleet;
  for (const LabelledRun& group : Fleets(inputs)) {
    std::vector<Panel> panels = FleetPanels(group.results, group.label, naming);
    for (Panel& panel : panels) fleet.push_back(std::move(panel));
  }
  if (kind == PlotKind::kFleet || (all && !fleet.empty())) {
    sections.push_back(
        {"Fleet: per-host spread at each N, and each host's time / the fleet median",
         std::move(fleet)});
  }
  std::string body;
  double y = 0;
  for (const Section& section : sections) {
    absl::StrAppend(&body, "<text class=\"section\" x=\"10\" y=\"", Num(y + 24),
                    "\" font-size=\"16\" font-weight=\"bold\">", XmlEscape(section.title),
                    "</text>\n");
    y += kSectionHeader;
    if (section.panels.empty()) {
      absl::StrAppend(&body, "<text x=\"20\" y=\"", Num(y + 14), "\">no data</text>\n");
      y += 24;
    }
    for (const Panel& panel : section.panels) {
      absl::StrAppend(&body, DrawPanel(panel, y));
      y += kPanelHeight;
    }
  }
  const double height = std::max(y, 40.0);
  std::string out = standalone ? "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" : "";
  absl::StrAppend(&out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"", Num(kWidth),
                  "\" height=\"", Num(height), "\" viewBox=\"0 0 ", Num(kWidth), " ",
                  Num(height), "\" font-family=\"sans-serif\" font-size=\"12\">\n",
                  "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n", body, "</svg>\n");
  return out;
}

}  // namespace flopd
