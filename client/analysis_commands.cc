// flopctl plot, report, compare and fleet: offline commands over JSON Lines files
// written by `flopctl run --out`. They dial nothing.
#include <algorithm>
#include <iostream>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/commands.h"
#include "client/fleet_view.h"
#include "client/output_file.h"
#include "client/plot_svg.h"
#include "client/report_html.h"
#include "client/result_format.h"
#include "common/command_line.h"
#include "common/compare_stats.h"
#include "common/point.h"
#include "proto/wire/wire.h"

namespace flopd {
namespace {

// Loads every file; false after printing "flopctl: FILE:LINE: ..." (exit 2).
bool LoadAll(const std::vector<std::string>& paths, std::vector<v1::Result>* results) {
  for (const std::string& path : paths) {
    absl::StatusOr<std::vector<v1::Result>> loaded = ReadResultsFile(path);
    if (!loaded.ok()) {
      UsageError(std::string(loaded.status().message()));
      return false;
    }
    results->insert(results->end(), loaded->begin(), loaded->end());
  }
  return true;
}

// Says what happened to an output file; the exit code: 0 written, 1 not.
int ReportWritten(const absl::Status& written, const std::string& path) {
  if (!written.ok()) {
    std::cerr << "flopctl: " << written.message() << "\n";
    return 1;
  }
  std::cerr << "flopctl: wrote " << path << "\n";
  return 0;
}

const std::vector<FlagSpec>& PlotFlags() {
  static const auto* flags = new std::vector<FlagSpec>{
      {"o", "FILE.svg", "where to write the SVG (required)", ""},
      {"out", "FILE.svg", "same as -o", ""},
      {"kind", "K", "all, flops (runtime vs FLOPs), n (runtime vs N), roofline, fleet", "all"},
      {"help", "", "show this help", ""},
  };
  return *flags;
}

// Accepts "-o FILE" as "--o FILE".
std::vector<std::string> DashO(std::vector<std::string> args) {
  for (std::string& a : args) {
    if (a == "-o") a = "--o";
    if (a == "-h") a = "--help";
  }
  return args;
}

}  // namespace

int PlotCommand(const std::vector<std::string>& args) {
  absl::StatusOr<ParsedFlags> flags = ParseFlags(DashO(args), PlotFlags());
  if (!flags.ok()) return UsageError(std::string(flags.status().message()));
  if (flags->Has("help")) {
    std::cout << "usage: flopctl plot RESULTS.jsonl... -o FILE.svg [--kind K]\n\n"
                 "Draws runtime vs FLOPs and vs N (one panel per host/device, one line per "
                 "op/impl/params/dtype,\nthe roofline floor dashed), the roofline (achieved "
                 "FLOP/s vs intensity with the measured ceilings)\nand, for several hosts, the "
                 "per-host spread at each N. Log-log axes; deterministic output.\n\n"
              << FlagsHelp(PlotFlags());
    return 0;
  }
  const std::string out = flags->Get("o", flags->Get("out"));
  if (out.empty()) return UsageError("plot: -o FILE.svg is required; see --help");
  if (flags->positional.empty()) return UsageError("plot: no results file given; see --help");
  absl::StatusOr<PlotKind> kind = ParsePlotKind(flags->Get("kind", "all"));
  if (!kind.ok()) return UsageError(std::string(kind.status().message()));
  std::vector<v1::Result> results;
  if (!LoadAll(flags->positional, &results)) return 2;
  return ReportWritten(WritePlotFile(results, out, *kind), out);
}

int ReportCommand(const std::vector<std::string>& args) {
  static const auto* specs = new std::vector<FlagSpec>{
      {"o", "FILE.html", "where to write the report (required)", ""},
      {"out", "FILE.html", "same as -o", ""},
      {"help", "", "show this help", ""},
  };
  absl::StatusOr<ParsedFlags> flags = ParseFlags(DashO(args), *specs);
  if (!flags.ok()) return UsageError(std::string(flags.status().message()));
  if (flags->Has("help")) {
    std::cout << "usage: flopctl report RESULTS.jsonl... -o report.html\n\n"
                 "Writes one self-contained HTML file (inline CSS and SVG): hosts, measured "
                 "ceilings, plots, results.\n\n"
              << FlagsHelp(*specs);
    return 0;
  }
  const std::string out = flags->Get("o", flags->Get("out"));
  if (out.empty()) return UsageError("report: -o FILE.html is required; see --help");
  if (flags->positional.empty()) return UsageError("report: no results file given; see --help");
  std::vector<v1::Result> results;
  if (!LoadAll(flags->positional, &results)) return 2;
  return ReportWritten(WriteTextFile(out, ReportHtml(results, flags->positional)), out);
}

int FleetCommand(const std::vector<std::string>& args) {
  static const auto* specs = new std::vector<FlagSpec>{
      {"points", "", "also print every point's time / fleet median, per member", ""},
      {"fail-on-outlier", "", "exit 1 when a member is flagged SLOW", ""},
      {"help", "", "show this help", ""},
  };
  absl::StatusOr<ParsedFlags> flags = ParseFlags(DashO(args), *specs);
  if (!flags.ok()) return UsageError(std::string(flags.status().message()));
  if (flags->Has("help")) {
    std::cout << "usage: flopctl fleet RESULTS.jsonl... [--points]\n\n"
                 "Which machine of a fleet is slow: for each (host, device), each point's median "
                 "time relative to the\nfleet's median for that point, their geometric mean, and "
                 "outliers by the median absolute deviation,\nworst first, with each device's "
                 "identity. `flopctl run` prints the same view when it ran on several.\n\n"
              << FlagsHelp(*specs);
    return 0;
  }
  if (flags->positional.empty()) return UsageError("fleet: no results file given; see --help");
  std::vector<v1::Result> results;
  if (!LoadAll(flags->positional, &results)) return 2;
  const FleetView view = ComputeFleetView(results);
  std::cout << FleetViewText(view, flags->Has("points"));
  const bool slow = std::any_of(view.members.begin(), view.members.end(),
                                [](const FleetMember& m) { return m.flag == "SLOW"; });
  return flags->Has("fail-on-outlier") && slow ? 1 : 0;
}

int CompareCommand(const std::vector<std::string>& args) {
  static const auto* specs = new std::vector<FlagSpec>{
      {"alpha", "P", "significance level of the Mann-Whitney U test", "0.01"},
      {"min-effect", "X", "a ratio within 1 +- X is never called different", "0.01"},
      {"by-host", "", "match points per host too, by its name: hosts-file label, else hostname (default: across hosts)", ""},
      {"fail-on-slower", "", "exit 1 when any point of B is slower", ""},
      {"help", "", "show this help", ""},
  };
  absl::StatusOr<ParsedFlags> flags = ParseFlags(DashO(args), *specs);
  if (!flags.ok()) return UsageError(std::string(flags.status().message()));
  if (flags->Has("help")) {
    std::cout << "usage: flopctl compare A.jsonl B.jsonl [flags]\n\n"
                 "For every point in both files (same device, op, impl, params, dtype, N): "
                 "B's median / A's median,\nand whether the difference is beyond noise: the "
                 "Mann-Whitney U test on the raw samples when both\ncarry at least 5, else "
                 "whether the two noise intervals (median x (1 +- noise)) are disjoint.\n"
                 "Ends with the geometric mean of the ratios.\n\n"
              << FlagsHelp(*specs);
    return 0;
  }
  if (flags->positional.size() != 2) {
    return UsageError("compare: expected exactly two results files, A and B; see --help");
  }
  CompareOptions options;
  if (flags->Has("alpha") &&
      (!absl::SimpleAtod(flags->Get("alpha"), &options.alpha) || !(options.alpha > 0) ||
       !(options.alpha < 1))) {
    return UsageError("--alpha: '" + flags->Get("alpha") + "' is not allowed; allowed (0, 1)");
  }
  if (flags->Has("min-effect") &&
      (!absl::SimpleAtod(flags->Get("min-effect"), &options.min_effect) ||
       !(options.min_effect >= 0))) {
    return UsageError("--min-effect: '" + flags->Get("min-effect") +
                      "' is not allowed; allowed >= 0");
  }
  const bool by_host = flags->Has("by-host");
  using Key = std::tuple<std::string, std::string, PointKey>;  // host (--by-host), device, point
  std::map<Key, const v1::Result*> sides[2];
  std::vector<v1::Result> loaded[2];
  for (int side = 0; side < 2; ++side) {
    if (!LoadAll({flags->positional[side]}, &loaded[side])) return 2;
    // Hosts match by name (hosts-file label, else the daemon's hostname), so
    // that runs which reached a host at another address still pair up.
    const HostNames names = NameHosts(loaded[side]);
    auto key_of = [&](const v1::Result& r) {
      return Key{by_host ? names.at(ResultHost(r)) : "", r.device(), ResultKey(r)};
    };
    int duplicates = 0;
    for (const v1::Result& r : loaded[side]) {
      duplicates += sides[side].count(key_of(r)) > 0;
      sides[side][key_of(r)] = &r;
    }
    if (duplicates > 0) {
      std::cerr << "flopctl: " << flags->positional[side] << ": " << duplicates
                << " point(s) appear more than once (several hosts? see --by-host); the last "
                   "one is used\n";
    }
  }
  std::vector<std::vector<std::string>> rows = {
      {"op", "impl", "params", "dtype", "N", "A median", "B median", "B/A", "test", "p", "verdict"}};
  if (by_host) rows[0].insert(rows[0].begin(), "host");
  std::vector<double> ratios;
  int slower = 0, faster = 0, same = 0;
  for (const auto& [key, a] : sides[0]) {
    auto it = sides[1].find(key);
    if (it == sides[1].end()) continue;
    const v1::Result* b = it->second;
    if (!(a->time().median() > 0) || !(b->time().median() > 0)) continue;
    PointSample pa{a->time().median(), a->relative_noise(),
                   {a->sample_seconds().begin(), a->sample_seconds().end()}};
    PointSample pb{b->time().median(), b->relative_noise(),
                   {b->sample_seconds().begin(), b->sample_seconds().end()}};
    const PointComparison c = ComparePoints(pa, pb, options);
    ratios.push_back(c.ratio);
    (c.verdict == Verdict::kSlower ? slower : c.verdict == Verdict::kFaster ? faster : same)++;
    const auto& [host, device, point] = key;
    const auto& [op, impl, params, dtype, n] = point;
    std::vector<std::string> row = {op, impl, params, dtype, absl::StrCat(n),
                                    FormatSeconds(pa.median), FormatSeconds(pb.median),
                                    absl::StrFormat("%.3fx", c.ratio), c.method,
                                    c.p_value < 0 ? "-" : absl::StrFormat("%.3g", c.p_value),
                                    std::string(VerdictName(c.verdict))};
    if (by_host) row.insert(row.begin(), host);
    rows.push_back(std::move(row));
  }
  const int only_a = static_cast<int>(sides[0].size()) - static_cast<int>(ratios.size());
  int only_b = 0;
  for (const auto& [key, b] : sides[1]) only_b += sides[0].count(key) == 0;
  if (ratios.empty()) {
    std::cout << "no matching points (A has " << sides[0].size() << ", B has " << sides[1].size()
              << ")\n";
    return 1;
  }
  // Text left (the point's columns, the test and the verdict), numbers right.
  const size_t left = by_host ? 5 : 4;
  std::vector<bool> right_aligned(rows[0].size());
  for (size_t c = 0; c < right_aligned.size(); ++c) {
    right_aligned[c] = c >= left && c + 2 < right_aligned.size();
  }
  std::cout << RenderColumns(rows, right_aligned);
  std::cout << absl::StrFormat(
      "\n%d matching points: %d slower, %d faster, %d same (alpha %.3g, min effect %.3g%%); "
      "geometric mean of B/A = %.4fx\n",
      static_cast<int>(ratios.size()), slower, faster, same, options.alpha,
      100 * options.min_effect, GeometricMean(ratios));
  if (only_a || only_b) {
    std::cout << "unmatched: " << only_a << " point(s) only in A, " << only_b
              << " only in B\n";
  }
  return flags->Has("fail-on-slower") && slower > 0 ? 1 : 0;
}

}  // namespace flopd
