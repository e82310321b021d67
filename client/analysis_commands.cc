// flopctl plot, report, compare and fleet: offline commands over JSON Lines files
// written by `flopctl run --out`. They dial nothing.
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/commands.h"
#include "client/fleet_view.h"
#include "client/output_file.h"
#include "client/plot_svg.h"
#include "client/report_html.h"
#include "client/result_format.h"
#include "common/command_line.h"
#include "common/compare_stats.h"
#include "common/point.h"
#include "common/statistics.h"
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

// A file's run label: its name without directory and last extension
// ("results/run1.jsonl" -> "run1").
std::string FileLabel(const std::string& path) {
  std::string name = path.substr(path.find_last_of('/') + 1);
  const size_t dot = name.find_last_of('.');
  if (dot != std::string::npos && dot > 0) name.resize(dot);
  return name.empty() ? path : name;
}

// Loads each file as one labelled run: labels from --label (one per file, in
// order; they must differ), else the files' names, falling back on the paths
// as given where two names collide (and "#2"... where paths do too).
// Returns 0, or 2 after printing why.
int LoadRuns(const ParsedFlags& flags, std::vector<LabelledRun>* runs) {
  const std::vector<std::string>& paths = flags.positional;
  std::vector<std::string> labels;
  if (flags.Has("label")) {
    labels = absl::StrSplit(flags.Get("label"), ',');
    if (labels.size() != paths.size()) {
      return UsageError(absl::StrCat("--label: ", labels.size(), " label(s) for ", paths.size(),
                                     " file(s); give one per file, in order: --label A,B,..."));
    }
    std::set<std::string> seen;
    for (const std::string& label : labels) {
      if (label.empty()) return UsageError("--label: an empty label; give one per file");
      if (!seen.insert(label).second) {
        return UsageError(absl::StrCat("--label: '", label, "' is given twice; labels must differ"));
      }
    }
  } else {
    std::map<std::string, int> count;
    for (const std::string& path : paths) labels.push_back(FileLabel(path));
    for (const std::string& label : labels) ++count[label];
    for (size_t i = 0; i < paths.size(); ++i) {
      if (count[labels[i]] > 1) labels[i] = paths[i];
    }
    std::map<std::string, int> seen;
    for (std::string& label : labels) {
      const int nth = ++seen[label];
      if (nth > 1) label = absl::StrCat(label, "#", nth);
    }
  }
  for (size_t i = 0; i < paths.size(); ++i) {
    LabelledRun run;
    run.label = labels[i];
    if (!LoadAll({paths[i]}, &run.results)) return 2;
    runs->push_back(std::move(run));
  }
  return 0;
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
      {"label", "A,B,...", "one label per file, in order, for the legends (several files)",
       "file names"},
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
    std::cout << "usage: flopctl plot RESULTS.jsonl... -o FILE.svg [--kind K] [--label A,B,...]\n\n"
                 "Draws runtime vs FLOPs and vs N (one panel per host/device, one line per "
                 "op/impl/params/dtype,\nthe roofline floor dashed), the roofline (achieved "
                 "FLOP/s vs intensity with the measured ceilings)\nand, for several hosts, the "
                 "per-host spread at each N. Log-log axes; deterministic output.\n"
                 "Each file is one run: with several, every line is one run's, its legend "
                 "starting with the run's\nlabel (the file's name without extension, or "
                 "--label), and each run's hosts form their own fleet\n(files of disjoint hosts, one "
                 "file per host, pool into one).\n\n"
              << FlagsHelp(PlotFlags());
    return 0;
  }
  const std::string out = flags->Get("o", flags->Get("out"));
  if (out.empty()) return UsageError("plot: -o FILE.svg is required; see --help");
  if (flags->positional.empty()) return UsageError("plot: no results file given; see --help");
  absl::StatusOr<PlotKind> kind = ParsePlotKind(flags->Get("kind", "all"));
  if (!kind.ok()) return UsageError(std::string(kind.status().message()));
  std::vector<LabelledRun> runs;
  if (int status = LoadRuns(*flags, &runs); status != 0) return status;
  return ReportWritten(WriteTextFile(out, PlotSvg(runs, *kind)), out);
}

int ReportCommand(const std::vector<std::string>& args) {
  static const auto* specs = new std::vector<FlagSpec>{
      {"o", "FILE.html", "where to write the report (required)", ""},
      {"out", "FILE.html", "same as -o", ""},
      {"label", "A,B,...", "one label per file, in order, for the run column (several files)",
       "file names"},
      {"help", "", "show this help", ""},
  };
  absl::StatusOr<ParsedFlags> flags = ParseFlags(DashO(args), *specs);
  if (!flags.ok()) return UsageError(std::string(flags.status().message()));
  if (flags->Has("help")) {
    std::cout << "usage: flopctl report RESULTS.jsonl... -o report.html [--label A,B,...]\n\n"
                 "Writes one self-contained HTML file (inline CSS and SVG): hosts, measured "
                 "ceilings, plots, results.\nEach file is one run: with several, every table "
                 "starts with a run column (the file's name without\nextension, or --label), "
                 "the plots draw each run's own lines and the fleet view is per run\n(files of "
                 "disjoint hosts, one file per host, pool into one).\n\n"
              << FlagsHelp(*specs);
    return 0;
  }
  const std::string out = flags->Get("o", flags->Get("out"));
  if (out.empty()) return UsageError("report: -o FILE.html is required; see --help");
  if (flags->positional.empty()) return UsageError("report: no results file given; see --help");
  std::vector<LabelledRun> runs;
  if (int status = LoadRuns(*flags, &runs); status != 0) return status;
  return ReportWritten(WriteTextFile(out, ReportHtml(runs, flags->positional)), out);
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
  std::cout << FleetViewText(view, flags->Has("points"), OutputWidth(STDOUT_FILENO));
  const bool slow = std::any_of(view.members.begin(), view.members.end(),
                                [](const FleetMember& m) { return m.flag == "SLOW"; });
  return flags->Has("fail-on-outlier") && slow ? 1 : 0;
}

namespace {

// One side of a comparison: a file's results, grouped by the key they pair on.
using CompareKey = std::tuple<std::string, std::string, PointKey, std::string>;  // host, device,
                                                                                 // point, timing
struct CompareSide {
  std::string path;
  std::vector<v1::Result> results;
  HostNames names;              // NameHosts(results)
  std::set<std::string> hosts;  // the names, of the results kept
  std::map<CompareKey, std::vector<const v1::Result*>> points;
};

std::string HostList(const std::set<std::string>& hosts) {
  return hosts.empty() ? std::string("none") : absl::StrJoin(hosts, ", ");
}

std::set<std::string> Minus(const std::set<std::string>& a, const std::set<std::string>& b) {
  std::set<std::string> out;
  for (const std::string& x : a) {
    if (!b.count(x)) out.insert(x);
  }
  return out;
}

std::string DescribeKey(const CompareKey& key) {
  const auto& [host, device, point, timing] = key;
  const auto& [op, impl, params, dtype, n] = point;
  return absl::StrCat(host.empty() ? "" : absl::StrCat(host, " "), device, " ", op, "/", impl,
                      params.empty() ? "" : " ", params, " ", dtype, " N=", n,
                      timing.empty() ? "" : " ", timing);
}

// A point as one side measured it. One result: its own figures. Several
// (--pool): the median of their medians, the largest noise, and every raw
// sample of all of them.
PointSample SampleOf(const std::vector<const v1::Result*>& results) {
  PointSample sample;
  std::vector<double> medians;
  for (const v1::Result* r : results) {
    medians.push_back(r->time().median());
    sample.relative_noise = std::max(sample.relative_noise, r->relative_noise());
    sample.samples.insert(sample.samples.end(), r->sample_seconds().begin(),
                          r->sample_seconds().end());
  }
  sample.median = results.size() == 1 ? medians[0] : Median(medians);
  return sample;
}

}  // namespace

int CompareCommand(const std::vector<std::string>& args) {
  static const auto* specs = new std::vector<FlagSpec>{
      {"alpha", "P", "significance level of the Mann-Whitney U test", "0.01"},
      {"min-effect", "X", "a ratio within 1 +- X is never called different", "0.01"},
      {"by-host", "", "pair points per host, by name (hosts-file label, else hostname), also when "
                      "the files' hosts differ (only the hosts both have pair)",
       "when both files have the same hosts, more than one"},
      {"host", "NAME[,NAME_B]", "compare one host: NAME in both files, or NAME of A with NAME_B "
                                "of B", ""},
      {"pool", "", "pool each point over hosts and repeats: median of the medians, every raw "
                   "sample", ""},
      {"fail-on-slower", "", "exit 1 when any point of B is slower", ""},
      {"help", "", "show this help", ""},
  };
  absl::StatusOr<ParsedFlags> flags = ParseFlags(DashO(args), *specs);
  if (!flags.ok()) return UsageError(std::string(flags.status().message()));
  if (flags->Has("help")) {
    std::cout << "usage: flopctl compare A.jsonl B.jsonl [flags]\n\n"
                 "For every point in both files (same host, device, op, impl, params, dtype, N "
                 "and timing): B's median / A's median,\nand whether the difference is beyond "
                 "noise: the Mann-Whitney U test on the raw samples when both\ncarry at least 5, "
                 "else whether the two noise intervals (median x (1 +- noise)) are disjoint.\n"
                 "Ends with the geometric mean of the ratios.\n\n"
                 "Pairing: files with the same hosts (more than one) pair host by host; files "
                 "of one host each pair\npoint by point whatever the hosts (gpu01 before vs "
                 "gpu02 after). Other host sets are refused:\nchoose with --host, --by-host or "
                 "--pool. A point measured twice on one host of a file is refused\nunless "
                 "--pool.\n\n"
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
  const bool pool = flags->Has("pool");
  if (pool && flags->Has("by-host")) {
    return UsageError("compare: --pool and --by-host exclude each other (pool over hosts, or "
                      "pair host by host)");
  }
  std::string pick[2];  // --host: the host kept on each side
  if (flags->Has("host")) {
    std::vector<std::string> names = absl::StrSplit(flags->Get("host"), ',');
    if (names.size() > 2 || names[0].empty() || names.back().empty()) {
      return UsageError("--host: '" + flags->Get("host") +
                        "' is not allowed; allowed NAME (both files) or NAME_A,NAME_B");
    }
    pick[0] = names[0];
    pick[1] = names.back();
  }

  CompareSide sides[2];
  for (int side = 0; side < 2; ++side) {
    CompareSide& s = sides[side];
    s.path = flags->positional[side];
    if (!LoadAll({s.path}, &s.results)) return 2;
    // Hosts match by name (hosts-file label, else the daemon's hostname), so
    // that runs which reached a host at another address still pair up.
    s.names = NameHosts(s.results);
    std::set<std::string> all_hosts;
    for (const auto& [address, name] : s.names) all_hosts.insert(name);
    if (!pick[side].empty() && all_hosts.count(pick[side]) == 0) {
      return UsageError(absl::StrCat("--host: '", pick[side], "' is not a host of ", s.path,
                                     "; its hosts: ", HostList(all_hosts)));
    }
    for (const v1::Result& r : s.results) {
      const std::string& host = s.names.at(ResultHost(r));
      if (pick[side].empty() || host == pick[side]) s.hosts.insert(host);
    }
  }

  // How the two sides pair: host by host, or point by point (one host a
  // side, a host picked on each side, or pooled over hosts).
  const bool same_hosts = sides[0].hosts == sides[1].hosts;
  const bool one_each = sides[0].hosts.size() == 1 && sides[1].hosts.size() == 1;
  bool by_host = false;
  std::string pairing;
  if (pool) {
    pairing = absl::StrCat("pooled over hosts (A: ", HostList(sides[0].hosts),
                           "; B: ", HostList(sides[1].hosts), ")");
  } else if (flags->Has("by-host")) {
    by_host = true;
  } else if (one_each) {
    pairing = absl::StrCat("point by point: A on ", *sides[0].hosts.begin(), ", B on ",
                           *sides[1].hosts.begin());
  } else if (same_hosts) {
    by_host = true;
  } else {
    return UsageError(absl::StrCat(
        "compare: the files' hosts differ, so their points cannot be paired host by host: ",
        sides[0].path, " has ", HostList(sides[0].hosts), "; ", sides[1].path, " has ",
        HostList(sides[1].hosts),
        ". Choose: --host NAME (or --host NAME_A,NAME_B) to compare one host of each, "
        "--by-host to pair only the hosts both have, or --pool to pool every host's result "
        "of a point"));
  }
  if (by_host) {
    std::set<std::string> common;
    for (const std::string& h : sides[0].hosts) {
      if (sides[1].hosts.count(h)) common.insert(h);
    }
    pairing = absl::StrCat("host by host: ", HostList(common));
    if (!same_hosts) {
      absl::StrAppend(&pairing, " (only A: ", HostList(Minus(sides[0].hosts, common)),
                      "; only B: ", HostList(Minus(sides[1].hosts, common)), ")");
    }
  }

  for (CompareSide& s : sides) {
    for (const v1::Result& r : s.results) {
      const std::string& host = s.names.at(ResultHost(r));
      if (!s.hosts.count(host)) continue;  // not the host picked
      // Results written before the timing field existed were hot.
      const std::string timing = r.timing().empty() ? "hot" : r.timing();
      s.points[CompareKey{by_host ? host : "", r.device(), ResultKey(r), timing}].push_back(&r);
    }
    if (pool) continue;
    // Never pick one of several results silently: a point measured twice on
    // one host (or twice in a one-host file) is refused unless pooled.
    int repeated = 0;
    const CompareKey* first = nullptr;
    size_t first_count = 0;
    for (const auto& [key, results] : s.points) {
      if (results.size() < 2) continue;
      if (++repeated == 1) {
        first = &key;
        first_count = results.size();
      }
    }
    if (repeated > 0) {
      CompareKey shown = *first;
      if (!by_host) std::get<0>(shown) = *s.hosts.begin();
      return UsageError(absl::StrCat(
          "compare: ", s.path, ": ", repeated, " point(s) measured more than once on one host, e.g. ",
          DescribeKey(shown), " (", first_count, " results); several runs in one file? "
          "Split it, or pass --pool to pool them (median of the medians, every raw sample)"));
    }
  }

  // A timing column only when the points mix timing modes.
  std::set<std::string> timings;
  for (const CompareSide& s : sides) {
    for (const auto& [key, results] : s.points) timings.insert(std::get<3>(key));
  }
  const bool with_timing = timings.size() > 1;
  std::vector<std::vector<std::string>> rows = {
      {"op", "impl", "params", "dtype", "N", "A median", "B median", "B/A", "test", "p", "verdict"}};
  if (with_timing) rows[0].insert(rows[0].begin() + 4, "timing");
  if (by_host) rows[0].insert(rows[0].begin(), "host");
  std::vector<double> ratios;
  int slower = 0, faster = 0, same = 0, matched = 0;
  for (const auto& [key, a] : sides[0].points) {
    auto it = sides[1].points.find(key);
    if (it == sides[1].points.end()) continue;
    ++matched;
    const PointSample pa = SampleOf(a);
    const PointSample pb = SampleOf(it->second);
    if (!(pa.median > 0) || !(pb.median > 0)) continue;
    const PointComparison c = ComparePoints(pa, pb, options);
    ratios.push_back(c.ratio);
    (c.verdict == Verdict::kSlower ? slower : c.verdict == Verdict::kFaster ? faster : same)++;
    const auto& [host, device, point, timing] = key;
    const auto& [op, impl, params, dtype, n] = point;
    std::vector<std::string> row = {op, impl, params, dtype, absl::StrCat(n),
                                    FormatSeconds(pa.median), FormatSeconds(pb.median),
                                    absl::StrFormat("%.3fx", c.ratio), c.method,
                                    c.p_value < 0 ? "-" : absl::StrFormat("%.3g", c.p_value),
                                    std::string(VerdictName(c.verdict))};
    if (with_timing) row.insert(row.begin() + 4, timing);
    if (by_host) row.insert(row.begin(), host);
    rows.push_back(std::move(row));
  }
  const int only_a = static_cast<int>(sides[0].points.size()) - matched;
  const int only_b = static_cast<int>(sides[1].points.size()) - matched;
  std::cout << "paired " << pairing << "\n";
  if (ratios.empty()) {
    std::cout << "no matching points (A has " << sides[0].points.size() << ", B has "
              << sides[1].points.size() << ")\n";
    return 1;
  }
  // Text left (the point's columns, the test and the verdict), numbers right.
  const size_t left = (by_host ? 5 : 4) + (with_timing ? 1 : 0);
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
  if (pool) {
    std::cout << "pooled: a point's median is the median of its results' medians (over hosts "
                 "and repeats), its samples all of theirs\n";
  }
  if (only_a || only_b) {
    std::cout << "unmatched: " << only_a << " point(s) only in A, " << only_b
              << " only in B\n";
  }
  return flags->Has("fail-on-slower") && slower > 0 ? 1 : 0;
}

}  // namespace flopd
