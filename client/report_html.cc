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
  return ReportHtml(std::vector<LabelledRun>{{"", results}}, sources);
}

std::string ReportHtml(const std::vector<LabelledRun>& inputs,
                       const std::vector<std::string>& sources) {
  // With several inputs every table gets a leading "run" column (the input's
  // label) and the fleet view is computed per run; with one, neither.
  const bool several = inputs.size() > 1;
  std::vector<v1::Result> results;
  std::vector<std::string> run_of;  // run_of[i] labels results[i]
  for (const LabelledRun& run : inputs) {
    for (const v1::Result& r : run.results) {
      results.push_back(r);
      run_of.push_back(several ? run.label : "");
    }
  }
  auto with_run = [&](std::vector<std::string> header, size_t* left) {
    if (several) {
      header.insert(header.begin(), "run");
      ++*left;
    }
    return header;
  };
  auto run_cell = [&](const std::string& run) { return several ? Cell(run, true) : std::string(); };
  std::string html = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<title>flopd report</title>\n<style>",
      kStyle, "</style>\n</head>\n<body>\n<h1>flopd report</h1>\n<p class=\"note\">",
      results.size(), " results from ", XmlEscape(absl::StrJoin(sources, ", ")), ".</p>\n");
  if (several) {
    absl::StrAppend(&html, "<p class=\"note\">Runs (the <code>run</code> column): ");
    for (size_t i = 0; i < inputs.size(); ++i) {
      absl::StrAppend(&html, i ? "; " : "", "<b>", XmlEscape(inputs[i].label), "</b> = ",
                      XmlEscape(i < sources.size() ? sources[i] : inputs[i].label), " (",
                      inputs[i].results.size(), " results)");
    }
    absl::StrAppend(&html, ".</p>\n");
  }

  const HostNames names = NameHosts(results);
  // Hosts and devices.
  struct HostRow {
    std::string address, hostname, device_name, backend, library, version;
    std::set<int> threads;
    int count = 0;
  };
  std::map<std::tuple<std::string, std::string, std::string>, HostRow> hosts;  // run, host, device
  for (size_t i = 0; i < results.size(); ++i) {
    const v1::Result& r = results[i];
    HostRow& h = hosts[{run_of[i], names.at(ResultHost(r)), r.device()}];
    h.address = ResultHost(r);
    h.hostname = r.hostname();
    h.device_name = r.device_name();
    h.backend = r.backend();
    h.library = r.library();
    h.version = r.flopd_version();
    h.threads.insert(r.threads());
    ++h.count;
  }
  size_t left = 7;
  const std::vector<std::string> host_header =
      with_run({"host", "address", "hostname", "device", "device name", "backend", "library",
                "threads", "flopd", "results"},
               &left);
  absl::StrAppend(&html, "<h2>Hosts and devices</h2>\n<table>\n", HeaderRow(host_header, left));
  for (const auto& [key, h] : hosts) {
    const auto& [run, host, device] = key;
    absl::StrAppend(&html, "<tr>", run_cell(run), Cell(host, true), Cell(h.address, true),
                    Cell(h.hostname, true),
                    Cell(device, true), Cell(h.device_name, true), Cell(h.backend, true),
                    Cell(h.library, true), Cell(absl::StrJoin(h.threads, ",")), Cell(h.version),
                    Cell(absl::StrCat(h.count)), "</tr>\n");
  }
  absl::StrAppend(&html, "</table>\n");

  // Ceilings, as carried by the results' roofline fields.
  // (run, host, device, dtype) -> roofline
  std::map<std::tuple<std::string, std::string, std::string, std::string>, const v1::Roofline*>
      ceilings;
  for (size_t i = 0; i < results.size(); ++i) {
    const v1::Result& r = results[i];
    if (!r.has_roofline()) continue;
    ceilings[{run_of[i], names.at(ResultHost(r)), r.device(), r.dtype()}] = &r.roofline();
  }
  absl::StrAppend(&html, "<h2>Measured ceilings</h2>\n");
  if (ceilings.empty()) {
    absl::StrAppend(&html,
                    "<p class=\"note\">These results carry no roofline: their devices' ceilings "
                    "were not measured.</p>\n");
  } else {
    size_t ceiling_left = 3;
    const std::vector<std::string> ceiling_header =
        with_run({"host", "device", "dtype", "peak GFLOP/s", "bandwidth GB/s", "ridge FLOP/byte",
                  "latency threshold"},
                 &ceiling_left);
    absl::StrAppend(&html, "<table>\n", HeaderRow(ceiling_header, ceiling_left));
    for (const auto& [key, roof] : ceilings) {
      const auto& [run, host, device, dtype] = key;
      absl::StrAppend(
          &html, "<tr>", run_cell(run), Cell(host, true), Cell(device, true), Cell(dtype, true),
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

  // The fleet view per fleet: each run's hosts among themselves, or all
  // runs pooled when no host is in two (Fleets).
  for (const LabelledRun& run : Fleets(inputs)) {
    if (CountFleetMembers(run.results) < 2) continue;
    const FleetView view = ComputeFleetView(run.results);
    absl::StrAppend(&html, "<h2>Fleet view", run.label.empty() ? "" : ": ",
                    XmlEscape(run.label), "</h2>\n<p class=\"note\">",
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

  absl::StrAppend(&html, "<h2>Plots</h2>\n", PlotSvg(inputs, PlotKind::kAll, false));

  size_t result_left = 6;
  const std::vector<std::string> result_header =
      with_run({"host", "device", "op", "impl", "params", "dtype", "N", "median", "noise",
                "GFLOP/s", "GB/s", "intensity", "floor", "eff.", "bound", "verified"},
               &result_left);
  absl::StrAppend(&html, "<h2>Results</h2>\n<table>\n", HeaderRow(result_header, result_left));
  for (size_t i = 0; i < results.size(); ++i) {
    const v1::Result& r = results[i];
    const bool roof = r.has_roofline();
    absl::StrAppend(
        &html, "<tr>", run_cell(run_of[i]), Cell(names.at(ResultHost(r)), true), Cell(r.device(), true),
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
