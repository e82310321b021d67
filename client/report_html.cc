#include "client/report_html.h"

#include <map>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/fleet_view.h"
#include "client/plot_svg.h"
#include "client/result_format.h"
#include "proto/wire/wire.h"

namespace flopd {
namespace {

constexpr char kStyle[] = R"(body{font-family:sans-serif;margin:24px;color:#222}
h1{font-size:22px}h2{font-size:18px;margin-top:28px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f0f0f0}td.l,th.l{text-align:left}
.fail{color:#b00;font-weight:bold}.note{color:#555;font-size:13px}
)";

std::string Cell(const std::string& text, bool left = false) {
  return absl::StrCat(left ? "<td class=\"l\">" : "<td>", XmlEscape(text), "</td>");
}

std::string HeaderRow(const std::vector<std::string>& names, size_t left_columns) {
  std::string out = "<tr>";
  for (size_t i = 0; i < names.size(); ++i) {
    absl::StrAppend(&out, i < left_columns ? "<th class=\"l\">" : "<th>", XmlEscape(names[i]),
                    "</th>");
  }
  return out + "</tr>\n";
}

}  // namespace

std::string ReportHtml(const std::vector<v1::Result>& results,
                       const std::vector<std::string>& sources) {
  std::string html = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<title>flopd report</title>\n<style>",
      kStyle, "</style>\n</head>\n<body>\n<h1>flopd report</h1>\n<p class=\"note\">",
      results.size(), " results from ", XmlEscape(absl::StrJoin(sources, ", ")), ".</p>\n");

  const HostNames names = NameHosts(results);
  // Hosts and devices.
  struct HostRow {
    std::string address, hostname, device_name, backend, library, version;
    std::set<int> threads;
    int count = 0;
  };
  std::map<std::pair<std::string, std::string>, HostRow> hosts;
  for (const v1::Result& r : results) {
    HostRow& h = hosts[{names.at(ResultHost(r)), r.device()}];
    h.address = ResultHost(r);
    h.hostname = r.hostname();
    h.device_name = r.device_name();
    h.backend = r.backend();
    h.library = r.library();
    h.version = r.flopd_version();
    h.threads.insert(r.threads());
    ++h.count;
  }
  absl::StrAppend(&html, "<h2>Hosts and devices</h2>\n<table>\n",
                  HeaderRow({"host", "address", "hostname", "device", "device name", "backend",
                             "library", "threads", "flopd", "results"},
                            7));
  for (const auto& [key, h] : hosts) {
    absl::StrAppend(&html, "<tr>", Cell(key.first, true), Cell(h.address, true),
                    Cell(h.hostname, true),
                    Cell(key.second, true), Cell(h.device_name, true), Cell(h.backend, true),
                    Cell(h.library, true), Cell(absl::StrJoin(h.threads, ",")), Cell(h.version),
                    Cell(absl::StrCat(h.count)), "</tr>\n");
  }
  absl::StrAppend(&html, "</table>\n");

  // Ceilings, as carried by the results' roofline fields.
  std::map<std::tuple<std::string, std::string, std::string>, const v1::Roofline*> ceilings;
  for (const v1::Result& r : results) {
    if (!r.has_roofline()) continue;
    ceilings[{names.at(ResultHost(r)), r.device(), r.dtype()}] = &r.roofline();
  }
  absl::StrAppend(&html, "<h2>Measured ceilings</h2>\n");
  if (ceilings.empty()) {
    absl::StrAppend(&html,
                    "<p class=\"note\">These results carry no roofline: their devices' ceilings "
                    "were not measured.</p>\n");
  } else {
    absl::StrAppend(&html, "<table>\n",
                    HeaderRow({"host", "device", "dtype", "peak GFLOP/s", "bandwidth GB/s",
                               "ridge FLOP/byte", "latency threshold"},
                              3));
    for (const auto& [key, roof] : ceilings) {
      const auto& [host, device, dtype] = key;
      absl::StrAppend(
          &html, "<tr>", Cell(host, true), Cell(device, true), Cell(dtype, true),
          Cell(absl::StrFormat("%.4g", roof->peak_flops_per_s() / 1e9)),
          Cell(absl::StrFormat("%.4g", roof->peak_bandwidth_bytes_per_s() / 1e9)),
          Cell(roof->peak_bandwidth_bytes_per_s() > 0
                   ? absl::StrFormat("%.3g", roof->peak_flops_per_s() /
                                                 roof->peak_bandwidth_bytes_per_s())
                   : "-"),
          Cell(FormatSeconds(roof->latency_threshold_seconds())), "</tr>\n");
    }
    absl::StrAppend(&html, "</table>\n<p class=\"note\">Measured by flopd on each device "
                           "(STREAM-style copy/triad and FMA-bound loops on a CPU); "
                           "<code>flopctl info</code> shows how and when.</p>\n");
  }

  if (CountFleetMembers(results) >= 2) {
    const FleetView view = ComputeFleetView(results);
    absl::StrAppend(&html, "<h2>Fleet view</h2>\n<p class=\"note\">",
                    XmlEscape(FleetViewExplanation(view)), "</p>\n<table>\n",
                    HeaderRow({"host", "device", "flag", "geomean", "z", "points", "worst point",
                               "worst", "device name", "identity"},
                              3));
    for (const FleetMember& m : view.members) {
      absl::StrAppend(
          &html, "<tr>", Cell(m.host, true), Cell(m.device, true),
          m.flag.empty() ? Cell("-", true) : absl::StrCat("<td class=\"l fail\">", m.flag, "</td>"),
          Cell(absl::StrFormat("%.3fx", m.geomean)), Cell(absl::StrFormat("%+.1f", m.robust_z)),
          Cell(absl::StrCat(m.ratios.size())), Cell(m.worst_point, true),
          Cell(absl::StrFormat("%.3fx", m.worst)), Cell(m.device_name, true),
          Cell(m.identity, true), "</tr>\n");
    }
    absl::StrAppend(&html, "</table>\n");
    for (const std::string& note : view.notes) {
      absl::StrAppend(&html, "<p class=\"note\">", XmlEscape(note), "</p>\n");
    }
  }

  absl::StrAppend(&html, "<h2>Plots</h2>\n", PlotSvg(results, PlotKind::kAll, false));

  absl::StrAppend(&html, "<h2>Results</h2>\n<table>\n",
                  HeaderRow({"host", "device", "op", "impl", "params", "dtype", "N", "median",
                             "noise", "GFLOP/s", "GB/s", "intensity", "floor", "eff.", "bound",
                             "verified"},
                            6));
  for (const v1::Result& r : results) {
    const bool roof = r.has_roofline();
    absl::StrAppend(
        &html, "<tr>", Cell(names.at(ResultHost(r)), true), Cell(r.device(), true),
        Cell(r.op(), true), Cell(r.impl(), true), Cell(ResultPoint(r).ParamsLabel(), true),
        Cell(r.dtype(), true), Cell(absl::StrCat(r.n())), Cell(FormatSeconds(r.time().median())),
        Cell(absl::StrFormat("%.2f%%", 100 * r.relative_noise())),
        Cell(absl::StrFormat("%.4g", r.gflops_per_s())),
        Cell(absl::StrFormat("%.4g", r.gbytes_per_s())),
        Cell(roof ? absl::StrFormat("%.3g", r.roofline().intensity()) : "-"),
        Cell(roof ? FormatSeconds(r.roofline().floor_seconds()) : "-"),
        Cell(roof ? absl::StrFormat("%.0f%%", 100 * r.roofline().efficiency()) : "-"),
        Cell(roof ? r.roofline().bound() : "-"),
        r.verification().passed() ? Cell("ok") : "<td class=\"fail\">FAIL</td>", "</tr>\n");
  }
  absl::StrAppend(&html, "</table>\n</body>\n</html>\n");
  return html;
}

}  // namespace flopd
