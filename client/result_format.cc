#include "client/result_format.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "common/op_catalog.h"
#include "common/point.h"
#include "common/statistics.h"
#include "google/protobuf/util/json_util.h"
#include "proto/wire/wire.h"

namespace flopd {
namespace {

std::string HostLabel(const HostNames& names, const v1::Result& r, bool with_device) {
  const std::string& host = names.at(ResultHost(r));
  return with_device ? absl::StrCat(host, "/", r.device()) : host;
}

// A row of the aggregated table: one point and each host's result of it.
// Rows sort by (dtype, N, op, impl, params): the point's key behind its
// dtype and N.
using RowKey = std::tuple<std::string, int64_t, PointKey>;
struct Row {
  PointSpec point;  // ResultPoint of the row's first result
  std::map<std::string, const v1::Result*> by_host;
  double fleet_median = 0;
};

RowKey RowKeyOf(const v1::Result& r) {
  const PointKey key = ResultKey(r);
  return RowKey{std::get<3>(key), std::get<4>(key), key};
}

// The fleet median a row's "vs" column divides by: the baseline the catalog
// names for the row's op, at the same dtype and N and with the same value of
// every param both ops declare; where that impl was not measured, the
// fastest impl of the baseline's op there. 0 when there is none, or when
// this build's catalog does not know the op.
// "= 2N^2 - N for matvec and outer" from the catalog, grouped by formula;
// ops this build does not know are left out ("from the catalog" when none
// is known).
std::string FlopFormulasOf(const std::map<RowKey, Row>& rows) {
  std::vector<std::pair<std::string, std::vector<std::string>>> by_formula;
  for (const auto& [key, row] : rows) {
    absl::StatusOr<const OpSpec*> op = FindOp(row.point.op);
    if (!op.ok()) continue;
    const std::string formula = (*op)->FlopFormula();
    auto it = std::find_if(by_formula.begin(), by_formula.end(),
                           [&](const auto& entry) { return entry.first == formula; });
    if (it == by_formula.end()) it = by_formula.insert(by_formula.end(), {formula, {}});
    if (std::find(it->second.begin(), it->second.end(), (*op)->name) == it->second.end()) {
      it->second.push_back((*op)->name);
    }
  }
  if (by_formula.empty()) return "as the daemon's catalog states them";
  std::vector<std::string> parts;
  for (const auto& [formula, ops] : by_formula) {
    parts.push_back(absl::StrCat("= ", formula, " for ", absl::StrJoin(ops, " and ")));
  }
  return absl::StrJoin(parts, "; ");
}

double BaselineMedian(const std::map<RowKey, Row>& rows, const RowKey& key, const Row& row) {
  absl::StatusOr<const OpSpec*> op = FindOp(row.point.op);
  if (!op.ok()) return 0;
  const Baseline& baseline = (*op)->baseline;
  absl::StatusOr<const OpSpec*> baseline_op = FindOp(baseline.op);
  if (!baseline_op.ok()) return 0;
  double best = 0;
  for (const auto& [other_key, other] : rows) {
    if (std::get<0>(other_key) != std::get<0>(key) || std::get<1>(other_key) != std::get<1>(key) ||
        other.point.op != baseline.op) {
      continue;
    }
    bool same_params = true;
    for (const ParamSpec& param : (*baseline_op)->params) {
      if ((*op)->FindParam(param.name) == nullptr) continue;
      same_params = same_params && other.point.Param(param.name) == row.point.Param(param.name);
    }
    if (!same_params) continue;
    if (other.point.impl == baseline.impl) return other.fleet_median;
    if (best == 0 || other.fleet_median < best) best = other.fleet_median;
  }
  return best;
}


std::string CsvField(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  return absl::StrCat("\"", absl::StrReplaceAll(text, {{"\"", "\"\""}}), "\"");
}

}  // namespace

std::string RenderColumns(const std::vector<std::vector<std::string>>& rows, size_t left_columns) {
  std::vector<bool> right;
  for (const auto& row : rows) right.resize(std::max(right.size(), row.size()), true);
  for (size_t c = 0; c < right.size() && c < left_columns; ++c) right[c] = false;
  return RenderColumns(rows, right);
}

std::string RenderColumns(const std::vector<std::vector<std::string>>& rows,
                          const std::vector<bool>& right_aligned) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (size_t c = 0; c < row.size(); ++c) {
      // Count code points, not bytes, so "µs" lines up.
      size_t width = 0;
      for (unsigned char ch : row[c]) width += (ch & 0xC0) != 0x80;
      widths[c] = std::max(widths[c], width);
    }
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      size_t width = 0;
      for (unsigned char ch : row[c]) width += (ch & 0xC0) != 0x80;
      const std::string pad(widths[c] - width, ' ');
      const bool right = c < right_aligned.size() && right_aligned[c];
      absl::StrAppend(&line, c ? "  " : "", right ? pad + row[c] : row[c] + pad);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

std::string HostNameOf(const v1::Result& r) {
  if (!r.host_label().empty()) return r.host_label();
  if (!r.hostname().empty()) return r.hostname();
  return r.host_address().empty() ? std::string("?") : r.host_address();
}

HostNames NameHosts(const std::vector<v1::Result>& results) {
  HostNames names;
  std::map<std::string, std::set<std::string>> addresses_of_name;
  for (const v1::Result& r : results) {
    auto [it, added] = names.emplace(ResultHost(r), HostNameOf(r));
    if (added) addresses_of_name[it->second].insert(it->first);
  }
  for (auto& [address, name] : names) {
    if (addresses_of_name[name].size() > 1 && name != address) {
      name = absl::StrCat(name, " (", address, ")");
    }
  }
  return names;
}

std::string FormatSeconds(double seconds) {
  if (!(seconds > 0)) return "-";
  if (seconds < 1e-6) return absl::StrFormat("%.4g ns", seconds * 1e9);
  if (seconds < 1e-3) return absl::StrFormat("%.4g µs", seconds * 1e6);
  if (seconds < 1) return absl::StrFormat("%.4g ms", seconds * 1e3);
  return absl::StrFormat("%.4g s", seconds);
}

std::string ResultLine(const v1::Result& r) {
  const std::string params = ResultPoint(r).ParamsLabel();
  return absl::StrFormat(
      "%s %s/%s%s%s %s N=%d  median %s  noise %.2f%% (%s, %d samples x %d)  %.4g GFLOP/s  "
      "%.4g GB/s  %s%s",
      HostNameOf(r), r.op(), r.impl(), params.empty() ? "" : " ", params, r.dtype(), r.n(),
      FormatSeconds(r.time().median()), 100 * r.relative_noise(), r.stop_reason(), r.samples(),
      r.iterations_per_sample(), r.gflops_per_s(), r.gbytes_per_s(),
      r.verification().passed() ? "verified" : "VERIFICATION FAILED",
      r.warnings_size() ? absl::StrCat("  [", absl::StrJoin(r.warnings(), "; "), "]") : "");
}

std::string AggregateTable(const std::vector<v1::Result>& results,
                           const std::vector<std::string>& host_order) {
  if (results.empty()) return "no results\n";
  const HostNames names = NameHosts(results);
  // A host with several devices gets one column per device.
  std::map<std::string, std::vector<std::string>> devices_per_host;
  for (const v1::Result& r : results) {
    auto& devices = devices_per_host[ResultHost(r)];
    if (std::find(devices.begin(), devices.end(), r.device()) == devices.end()) {
      devices.push_back(r.device());
    }
  }
  bool with_device = false;
  for (const auto& [host, devices] : devices_per_host) with_device |= devices.size() > 1;
  std::vector<std::string> columns;
  for (const std::string& host : host_order) {
    auto name = names.find(host);
    if (name == names.end()) continue;  // no result from it
    for (const std::string& device : devices_per_host[host]) {
      columns.push_back(with_device ? absl::StrCat(name->second, "/", device) : name->second);
    }
  }

  std::map<RowKey, Row> rows;
  for (const v1::Result& r : results) {
    Row& row = rows[RowKeyOf(r)];
    if (row.by_host.empty()) row.point = ResultPoint(r);
    row.by_host[HostLabel(names, r, with_device)] = &r;
  }
  std::vector<Baseline> baselines;  // of the table's ops, each once, in row order
  for (auto& [key, row] : rows) {
    std::vector<double> medians;
    for (const auto& [host, r] : row.by_host) medians.push_back(r->time().median());
    row.fleet_median = Median(medians);
    absl::StatusOr<const OpSpec*> op = FindOp(row.point.op);
    if (!op.ok()) continue;
    const Baseline& baseline = (*op)->baseline;
    if (std::none_of(baselines.begin(), baselines.end(), [&](const Baseline& b) {
          return b.op == baseline.op && b.impl == baseline.impl;
        })) {
      baselines.push_back(baseline);
    }
  }
  // "vs matvec" while every baseline is an impl of one op.
  std::string vs_column = "vs baseline";
  if (!baselines.empty() &&
      std::all_of(baselines.begin(), baselines.end(),
                  [&](const Baseline& b) { return b.op == baselines[0].op; })) {
    vs_column = absl::StrCat("vs ", baselines[0].op);
  }

  const bool fleet = columns.size() > 1;
  bool any_roofline = false;
  for (const v1::Result& r : results) any_roofline |= r.has_roofline();
  std::vector<std::vector<std::string>> table;
  std::vector<std::string> header = {"op", "impl", "params", "dtype", "N"};
  for (const std::string& c : columns) header.push_back(c);
  if (fleet) header.push_back("fleet median");
  for (const std::string& h : {std::string("GFLOP/s"), std::string("GB/s"), std::string("noise"),
                               vs_column, std::string("verified")}) {
    header.push_back(h);
  }
  if (any_roofline) {
    for (const char* h : {"intensity", "floor", "eff.", "bound"}) header.push_back(h);
  }
  table.push_back(header);
  for (const auto& [key, row] : rows) {
    const auto& [op, impl, params, dtype, n] = std::get<2>(key);
    std::vector<std::string> line = {op, impl, params, dtype, absl::StrCat(n)};
    double worst_noise = 0;
    bool all_passed = true;
    const v1::Result* any = row.by_host.begin()->second;
    for (const std::string& c : columns) {
      auto it = row.by_host.find(c);
      line.push_back(it == row.by_host.end() ? "-" : FormatSeconds(it->second->time().median()));
      if (it != row.by_host.end()) {
        worst_noise = std::max(worst_noise, it->second->relative_noise());
        all_passed = all_passed && it->second->verification().passed();
      }
    }
    if (fleet) line.push_back(FormatSeconds(row.fleet_median));
    line.push_back(absl::StrFormat("%.4g", any->flops() / row.fleet_median / 1e9));
    line.push_back(absl::StrFormat("%.4g", any->min_bytes() / row.fleet_median / 1e9));
    line.push_back(absl::StrFormat("%.2f%%", 100 * worst_noise));
    const double reference = BaselineMedian(rows, key, row);
    line.push_back(reference > 0 ? absl::StrFormat("%.2fx", row.fleet_median / reference) : "-");
    line.push_back(all_passed ? "ok" : "FAIL");
    if (any_roofline) {
      // Per host when one column; with several, the median over the hosts
      // that carry a roofline, and "mixed" when their bounds differ.
      std::vector<double> floors, efficiencies;
      std::string bound;
      double intensity = 0;
      for (const auto& [host, r] : row.by_host) {
        if (!r->has_roofline()) continue;
        intensity = r->roofline().intensity();
        floors.push_back(r->roofline().floor_seconds());
        efficiencies.push_back(r->roofline().efficiency());
        bound = bound.empty() || bound == r->roofline().bound() ? r->roofline().bound() : "mixed";
      }
      if (floors.empty()) {
        for (int i = 0; i < 4; ++i) line.push_back("-");
      } else {
        line.push_back(absl::StrFormat("%.3g", intensity));
        line.push_back(FormatSeconds(Median(floors)));
        line.push_back(absl::StrFormat("%.0f%%", 100 * Median(efficiencies)));
        line.push_back(bound.empty() ? "-" : bound);
      }
    }
    table.push_back(line);
  }
  std::vector<std::string> baseline_names;
  for (const Baseline& b : baselines) {
    baseline_names.push_back(
        absl::StrCat(b.op, "/", b.impl, b.why.empty() ? "" : absl::StrCat(" (", b.why, ")")));
  }
  std::string out = RenderColumns(table, 4);
  absl::StrAppend(&out, "\nmedian time per execution of the op",
                  fleet ? " (per host; fleet median = median of the hosts' medians)" : "",
                  ". FLOPs ", FlopFormulasOf(rows), "; GFLOP/s and GB/s use the ",
                  fleet ? "fleet " : "", "median and the impl's minimum bytes.\n");
  if (!baselines.empty()) {
    absl::StrAppend(&out, vs_column, " = time / time of ", absl::StrJoin(baseline_names, " or "),
                    " at the same N and dtype.\n");
  }
  if (any_roofline) {
    absl::StrAppend(&out,
                    "intensity = FLOPs / min bytes (FLOP/byte); floor = max(FLOPs / peak FLOP/s, "
                    "min bytes / peak bandwidth) from the device's measured ceilings; eff. = floor "
                    "/ median (above 100%: faster than the DRAM roof, i.e. served from cache); "
                    "bound: memory, compute, or latency (time > 4x floor and below the device's "
                    "fixed-overhead threshold)",
                    fleet ? "; medians over the hosts" : "", ".\n");
  }
  return out;
}

std::string ToJsonLine(const v1::Result& result) { return ToJson(result); }

std::string ToJsonArray(const std::vector<v1::Result>& results) {
  std::vector<std::string> lines;
  for (const v1::Result& r : results) lines.push_back(ToJsonLine(r));
  return absl::StrCat("[\n", absl::StrJoin(lines, ",\n"), "\n]\n");
}

absl::StatusOr<v1::Result> FromJsonLine(const std::string& line) {
  v1::Result result;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  auto status = google::protobuf::util::JsonStringToMessage(line, &result, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("not a flopd result: ", status.ToString()));
  }
  return result;
}

absl::StatusOr<std::vector<v1::Result>> ReadResultsFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot read (no such file?)"));
  std::vector<v1::Result> results;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    absl::StatusOr<v1::Result> r = FromJsonLine(line);
    if (!r.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", number, ": ", r.status().message()));
    }
    if (r->op().empty() || r->n() <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", number, ": not a flopd result (no op or N)"));
    }
    results.push_back(*std::move(r));
  }
  return results;
}

std::string CsvHeader() {
  return "host_address,hostname,device,device_name,backend,op,impl,params,dtype,n,flops,min_bytes,"
         "timing,samples,iterations_per_sample,median_s,mean_s,min_s,max_s,stddev_s,p05_s,p25_s,"
         "p75_s,p95_s,relative_noise,stop_reason,gflops_per_s,gbytes_per_s,verified,"
         "max_rel_error,threads,library,warnings,intensity,floor_s,efficiency,bound,"
         "peak_flops_per_s,peak_bandwidth_bytes_per_s,host_label";
}

std::string ToCsvRow(const v1::Result& r) {
  const v1::TimeStats& t = r.time();
  std::vector<std::string> fields = {
      r.host_address(), r.hostname(), r.device(), r.device_name(), r.backend(), r.op(), r.impl(),
      ResultPoint(r).ParamsLabel(), r.dtype(), absl::StrCat(r.n()), absl::StrCat(r.flops()),
      absl::StrCat(r.min_bytes()), r.timing(), absl::StrCat(r.samples()),
      absl::StrCat(r.iterations_per_sample())};
  for (double v : {t.median(), t.mean(), t.min(), t.max(), t.stddev(), t.p05(), t.p25(), t.p75(),
                   t.p95(), r.relative_noise()}) {
    fields.push_back(absl::StrFormat("%.9g", v));
  }
  fields.push_back(r.stop_reason());
  fields.push_back(absl::StrFormat("%.6g", r.gflops_per_s()));
  fields.push_back(absl::StrFormat("%.6g", r.gbytes_per_s()));
  fields.push_back(r.verification().passed() ? "true" : "false");
  fields.push_back(absl::StrFormat("%.3g", r.verification().max_rel_error()));
  fields.push_back(absl::StrCat(r.threads()));
  fields.push_back(r.library());
  fields.push_back(absl::StrJoin(r.warnings(), "; "));
  if (r.has_roofline()) {
    const v1::Roofline& roof = r.roofline();
    fields.push_back(absl::StrFormat("%.6g", roof.intensity()));
    fields.push_back(absl::StrFormat("%.9g", roof.floor_seconds()));
    fields.push_back(absl::StrFormat("%.6g", roof.efficiency()));
    fields.push_back(roof.bound());
    fields.push_back(absl::StrFormat("%.6g", roof.peak_flops_per_s()));
    fields.push_back(absl::StrFormat("%.6g", roof.peak_bandwidth_bytes_per_s()));
  } else {
    for (int i = 0; i < 6; ++i) fields.push_back("");
  }
  fields.push_back(r.host_label());
  for (std::string& f : fields) f = CsvField(f);
  return absl::StrJoin(fields, ",");
}

}  // namespace flopd
