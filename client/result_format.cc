#include "client/result_format.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
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

// What a row's "vs" column divides by: the fleet median of the baseline the
// catalog names for the row's op, at the same dtype and N and with the same
// value of every param both ops declare; where that impl was not measured,
// the fastest impl of the baseline's op there, named in `impl` so that the
// cell and the footer can say so. median 0 when there is none, or when this
// build's catalog does not know the op.
struct BaselineUsed {
  double median = 0;
  std::string impl;  // of the baseline's op; == Baseline::impl unless substituted
};

BaselineUsed BaselineMedian(const std::map<RowKey, Row>& rows, const RowKey& key,
                            const Row& row) {
  absl::StatusOr<const OpSpec*> op = FindOp(row.point.op);
  if (!op.ok()) return {};
  const Baseline& baseline = (*op)->baseline;
  absl::StatusOr<const OpSpec*> baseline_op = FindOp(baseline.op);
  if (!baseline_op.ok()) return {};
  BaselineUsed best;
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
    if (other.point.impl == baseline.impl) return {other.fleet_median, baseline.impl};
    if (best.median == 0 || other.fleet_median < best.median) {
      best = {other.fleet_median, other.point.impl};
    }
  }
  return best;
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

namespace {

size_t DisplayWidth(const std::string& text) {
  size_t width = 0;
  for (unsigned char ch : text) width += (ch & 0xC0) != 0x80;  // code points
  return width;
}

}  // namespace

std::string RenderColumnsWithin(const std::vector<std::vector<std::string>>& rows,
                                const std::vector<bool>& right_aligned, size_t key_columns,
                                size_t max_width) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], DisplayWidth(row[c]));
  }
  size_t total = 0;
  for (size_t c = 0; c < widths.size(); ++c) total += widths[c] + (c ? 2 : 0);
  key_columns = std::min(key_columns, widths.size());
  if (max_width == 0 || total <= max_width || key_columns == widths.size()) {
    return RenderColumns(rows, right_aligned);
  }
  size_t key_width = 0;
  for (size_t c = 0; c < key_columns; ++c) key_width += widths[c] + (c ? 2 : 0);
  // Greedy blocks of the other columns, each at least one column wide.
  std::vector<std::pair<size_t, size_t>> blocks;  // [begin, end)
  for (size_t c = key_columns; c < widths.size();) {
    size_t end = c;
    size_t width = key_width;
    while (end < widths.size() &&
           (end == c || width + 2 + widths[end] <= max_width)) {
      width += 2 + widths[end];
      ++end;
    }
    blocks.emplace_back(c, end);
    c = end;
  }
  std::string out;
  for (const auto& [begin, end] : blocks) {
    std::vector<std::vector<std::string>> block_rows;
    std::vector<bool> block_right;
    for (size_t c = 0; c < key_columns; ++c) {
      block_right.push_back(c < right_aligned.size() && right_aligned[c]);
    }
    for (size_t c = begin; c < end; ++c) {
      block_right.push_back(c < right_aligned.size() && right_aligned[c]);
    }
    // Rows after one whose first cell is set, with theirs empty, belong to
    // its group (the pivot's host rows); the first of a group shown in a
    // block gets the group's key cells, so that every block names its point.
    std::vector<std::string> group_key;
    bool group_shown = false;
    for (size_t r = 0; r < rows.size(); ++r) {
      const std::vector<std::string>& row = rows[r];
      std::vector<std::string> cells(row.begin(), row.begin() + std::min(key_columns, row.size()));
      cells.resize(key_columns);
      if (!cells[0].empty()) {
        group_key = cells;
        group_shown = false;
      }
      bool any = false;
      for (size_t c = begin; c < end; ++c) {
        cells.push_back(c < row.size() ? row[c] : "");
        any = any || !cells.back().empty();
      }
      if (!any && r != 0) continue;
      if (!group_shown) {
        for (size_t c = 0; c < key_columns && c < group_key.size(); ++c) {
          if (cells[c].empty()) cells[c] = group_key[c];
        }
        group_shown = true;
      }
      block_rows.push_back(std::move(cells));
    }
    absl::StrAppend(&out, out.empty() ? "" : "\n", RenderColumns(block_rows, block_right));
  }
  return out;
}

size_t OutputWidth(int fd) {
  struct winsize size = {};
  if (isatty(fd) && ioctl(fd, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  const char* columns = std::getenv("COLUMNS");
  int value = 0;
  if (columns != nullptr && absl::SimpleAtoi(columns, &value) && value > 0) return value;
  return 0;
}

std::string WarningsText(const std::vector<v1::Result>& results, size_t max_lines) {
  const HostNames names = NameHosts(results);
  // (row key, warning) -> the hosts (and devices) that gave it, in order.
  std::map<std::pair<RowKey, std::string>, std::vector<std::string>> hosts_of;
  std::map<RowKey, std::string> point_of;
  std::map<std::string, std::set<std::string>> devices_of;  // by host address
  // A warning a host gave on every one of its points (doubtful ceilings, a
  // busy machine) is said once for that host, not once per point.
  std::map<std::string, std::set<RowKey>> points_of_host;
  std::map<std::pair<std::string, std::string>, std::set<RowKey>> points_with;  // (host, warning)
  for (const v1::Result& r : results) devices_of[ResultHost(r)].insert(r.device());
  for (const v1::Result& r : results) {
    const RowKey key = RowKeyOf(r);
    const std::string who = HostLabel(names, r, devices_of[ResultHost(r)].size() > 1);
    points_of_host[who].insert(key);
    if (r.warnings_size() == 0) continue;
    const std::string params = ResultPoint(r).ParamsLabel();
    point_of[key] = absl::StrCat(r.op(), "/", r.impl(), params.empty() ? "" : " ", params, " ",
                                 r.dtype(), " N=", r.n());
    for (const std::string& warning : r.warnings()) {
      std::vector<std::string>& hosts = hosts_of[{key, warning}];
      if (std::find(hosts.begin(), hosts.end(), who) == hosts.end()) hosts.push_back(who);
      points_with[{who, warning}].insert(key);
    }
  }
  if (hosts_of.empty()) return "";
  std::vector<std::string> lines;
  for (const auto& [who_warning, points] : points_with) {
    const std::set<RowKey>& all = points_of_host[who_warning.first];
    if (all.size() >= 2 && points == all) {
      lines.push_back(absl::StrCat("  ", who_warning.first, "  every point: ", who_warning.second));
    }
  }
  for (const auto& [key_warning, hosts] : hosts_of) {
    std::vector<std::string> others;
    for (const std::string& who : hosts) {
      const std::set<RowKey>& all = points_of_host[who];
      if (all.size() >= 2 && points_with[{who, key_warning.second}] == all) continue;
      others.push_back(who);
    }
    if (others.empty()) continue;
    lines.push_back(absl::StrCat("  ", absl::StrJoin(others, ", "), "  ", point_of[key_warning.first],
                                 ": ", key_warning.second));
  }
  std::string out = "\nwarnings:\n";
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i == max_lines) {
      absl::StrAppend(&out, "  ... and ", lines.size() - i,
                      " more (each result's warnings are in --format jsonl and the --out file)\n");
      break;
    }
    absl::StrAppend(&out, lines[i], "\n");
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

namespace {

size_t WidestLine(const std::string& text) {
  size_t widest = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    widest = std::max(widest, DisplayWidth(std::string(line)));
  }
  return widest;
}

// The aggregated table `wide` (its header, then one line per row of `rows`
// in order: the point's five cells, a median per entry of `columns`, with
// several the fleet median, then the point's figures) laid out within
// `max_width` as AggregateTable says.
std::string LayOutTable(std::vector<std::vector<std::string>> wide,
                        const std::map<RowKey, Row>& rows,
                        const std::vector<std::string>& columns, size_t max_width) {
  constexpr size_t kPointColumns = 5;  // op impl params dtype N
  const std::vector<std::string> header = wide[0];
  auto column_of = [&](const std::string& name) {
    return static_cast<size_t>(std::find(header.begin(), header.end(), name) - header.begin());
  };
  const bool fleet = columns.size() > 1;
  const size_t noise = column_of("noise");
  std::vector<bool> right(header.size(), true);
  for (size_t c = 0; c < 4; ++c) right[c] = false;
  if (fleet && noise < header.size()) {
    // The worst noise of the row, and whose it is.
    wide[0][noise] = "worst noise";
    size_t i = 1;
    for (const auto& [key, row] : rows) {
      const std::pair<const std::string, const v1::Result*>* worst = nullptr;
      for (const auto& entry : row.by_host) {
        if (worst == nullptr || entry.second->relative_noise() > worst->second->relative_noise()) {
          worst = &entry;
        }
      }
      if (worst != nullptr && i < wide.size()) {
        absl::StrAppend(&wide[i][noise], " (", worst->first, ")");
      }
      ++i;
    }
  }
  const std::string as_is = RenderColumns(wide, right);
  if (max_width == 0 || WidestLine(as_is) <= max_width) return as_is;
  if (!fleet) return RenderColumnsWithin(wide, right, kPointColumns, max_width);

  // Pivoted: a row per (point, host), then the point's fleet row.
  const size_t figures = kPointColumns + columns.size() + 1;  // after "fleet median"
  std::vector<std::vector<std::string>> tall;
  std::vector<std::string> tall_header(header.begin(), header.begin() + kPointColumns);
  tall_header.push_back("host");
  tall_header.push_back("median");
  tall_header.insert(tall_header.end(), header.begin() + figures, header.end());
  tall.push_back(tall_header);
  std::vector<bool> tall_right(tall_header.size(), true);
  for (size_t c : {0, 1, 2, 3, 5}) tall_right[c] = false;
  auto tall_column_of = [&](const std::string& name) {
    return static_cast<size_t>(std::find(tall_header.begin(), tall_header.end(), name) -
                               tall_header.begin());
  };
  const size_t gflops = tall_column_of("GFLOP/s");
  const size_t gbytes = tall_column_of("GB/s");
  const size_t tall_noise = tall_column_of("noise");
  const size_t verified = tall_column_of("verified");
  size_t i = 1;
  for (const auto& [key, row] : rows) {
    const std::vector<std::string>& line = wide[i++];
    bool first = true;
    for (const std::string& column : columns) {
      std::vector<std::string> cells(tall_header.size());
      if (first) std::copy(line.begin(), line.begin() + kPointColumns, cells.begin());
      first = false;
      cells[kPointColumns] = column;
      auto it = row.by_host.find(column);
      if (it == row.by_host.end()) {
        cells[kPointColumns + 1] = "-";
      } else {
        const v1::Result& r = *it->second;
        const double median = r.time().median();
        cells[kPointColumns + 1] = FormatSeconds(median);
        auto set = [&](size_t c, std::string text) {
          if (c < cells.size()) cells[c] = std::move(text);
        };
        if (median > 0) {
          set(gflops, absl::StrFormat("%.4g", r.flops() / median / 1e9));
          set(gbytes, absl::StrFormat("%.4g", r.min_bytes() / median / 1e9));
        }
        set(tall_noise, absl::StrFormat("%.2f%%", 100 * r.relative_noise()));
        if (!r.verification().passed()) set(verified, "FAIL");  // the fleet row says ok
      }
      tall.push_back(std::move(cells));
    }
    std::vector<std::string> fleet_cells(kPointColumns, "");
    fleet_cells.push_back("fleet median");
    fleet_cells.push_back(line[figures - 1]);
    fleet_cells.insert(fleet_cells.end(), line.begin() + figures, line.end());
    fleet_cells.resize(tall_header.size());
    if (tall_noise < fleet_cells.size()) fleet_cells[tall_noise] = "";  // each host's is above
    tall.push_back(std::move(fleet_cells));
  }
  return RenderColumnsWithin(tall, tall_right, kPointColumns + 1, max_width);
}

}  // namespace

std::string AggregateTable(const std::vector<v1::Result>& results,
                           const std::vector<std::string>& host_order, size_t max_width) {
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

  struct BaselineUse {
    bool itself = false;            // some row divided by the catalog's baseline
    std::set<std::string> instead;  // "op/impl" that stood in for it elsewhere
  };
  std::map<std::string, BaselineUse> baseline_use;  // by the catalog's "op/impl"
  bool any_without_reference = false;
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
    // A cell relative to another impl than the catalog's baseline says so
    // with "*"; the footer names what it was.
    const BaselineUsed reference = BaselineMedian(rows, key, row);
    if (reference.median > 0) {
      const Baseline& wanted = (*FindOp(row.point.op))->baseline;
      const bool substituted = reference.impl != wanted.impl;
      BaselineUse& use = baseline_use[wanted.op + "/" + wanted.impl];
      if (substituted) {
        use.instead.insert(wanted.op + "/" + reference.impl);
      } else {
        use.itself = true;
      }
      line.push_back(absl::StrFormat("%.2fx%s", row.fleet_median / reference.median,
                                     substituted ? "*" : ""));
    } else {
      any_without_reference = true;
      line.push_back("-");
    }
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
  // The footer names the baselines actually divided by: the catalog's where
  // it was measured, and each stand-in ("*") where it was not.
  std::vector<std::string> baseline_names, stand_in_lines;
  for (const Baseline& b : baselines) {
    const std::string name = absl::StrCat(b.op, "/", b.impl);
    const std::string named =
        absl::StrCat(name, b.why.empty() ? "" : absl::StrCat(" (", b.why, ")"));
    auto use = baseline_use.find(name);
    if (use == baseline_use.end() || use->second.itself) baseline_names.push_back(named);
    if (use == baseline_use.end() || use->second.instead.empty()) continue;
    const std::string instead = absl::StrJoin(use->second.instead, " or ");
    stand_in_lines.push_back(
        use->second.itself
            ? absl::StrCat("* = time / time of ", instead, ", the fastest ", b.op,
                           " impl measured at that N and dtype, where ", name, " was not run.\n")
            : absl::StrCat(vs_column, "* = time / time of ", instead, ", the fastest ", b.op,
                           " impl measured at the same N and dtype: ", named,
                           ", the catalog's baseline, was not run.\n"));
  }
  std::string out = LayOutTable(std::move(table), rows, columns, max_width);
  absl::StrAppend(&out, "\nmedian time per execution of the op",
                  fleet ? " (per host; fleet median = median of the hosts' medians)" : "",
                  ". FLOPs ", FlopFormulasOf(rows), "; GFLOP/s and GB/s use the ",
                  fleet ? "fleet " : "", "median and the impl's minimum bytes.\n");
  if (!baseline_names.empty()) {
    absl::StrAppend(&out, vs_column, " = time / time of ", absl::StrJoin(baseline_names, " or "),
                    " at the same N and dtype.\n");
  }
  for (const std::string& line : stand_in_lines) absl::StrAppend(&out, line);
  if (any_without_reference && !baselines.empty()) {
    std::vector<std::string> ops;
    for (const Baseline& b : baselines) {
      if (std::find(ops.begin(), ops.end(), b.op) == ops.end()) ops.push_back(b.op);
    }
    absl::StrAppend(&out, vs_column, " is - where no ", absl::StrJoin(ops, " or "),
                    " impl was measured at the same N and dtype.\n");
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

// ToJsonLine, ToJsonArray, FromJsonLine, CsvHeader, ToCsvRow and
// ReadResultsFile: client/result_files.cc.

}  // namespace flopd
