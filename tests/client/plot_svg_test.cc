#include "client/plot_svg.h"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "client/report_html.h"
#include "gtest/gtest.h"

namespace flopd {
namespace {

v1::Result Make(const std::string& host, const std::string& op, const std::string& impl, int64_t n,
                double median, bool roofline) {
  v1::Result r;
  r.set_host_address(host);
  r.set_device("cpu:0");
  r.set_device_name("Test <CPU> & co");
  r.set_op(op);
  r.set_impl(impl);
  r.set_dtype("f32");
  r.set_n(n);
  r.set_flops(2 * n * n - n);
  r.set_min_bytes((n * n + 2 * n) * 4);
  r.mutable_time()->set_median(median);
  r.mutable_verification()->set_passed(true);
  if (roofline) {
    v1::Roofline* roof = r.mutable_roofline();
    roof->set_intensity(static_cast<double>(r.flops()) / r.min_bytes());
    roof->set_floor_seconds(r.min_bytes() / 1e10);
    roof->set_efficiency(roof->floor_seconds() / median);
    roof->set_bound("memory");
    roof->set_peak_flops_per_s(1e11);
    roof->set_peak_bandwidth_bytes_per_s(1e10);
  }
  return r;
}

std::vector<v1::Result> Sample(bool two_hosts) {
  std::vector<v1::Result> results;
  for (const std::string host : {"a:1", "b:1"}) {
    for (int64_t n : {1000, 2000, 4000}) {
      const double scale = host == "a:1" ? 1.0 : 1.3;
      results.push_back(Make(host, "matvec", "gemv", n, 1e-9 * n * n * scale, true));
      results.push_back(Make(host, "outer", "fused", n, 0.3e-9 * n * n * scale, true));
    }
    if (!two_hosts) break;
  }
  return results;
}

// A minimal XML well-formedness check: balanced and properly nested tags,
// quoted attributes, no raw '<' or stray '&' in text.
bool WellFormed(const std::string& xml, std::string* why) {
  std::vector<std::string> stack;
  size_t i = 0;
  bool root_seen = false;
  while (i < xml.size()) {
    if (xml[i] == '&') {
      const size_t semi = xml.find(';', i);
      if (semi == std::string::npos || semi - i > 8) {
        *why = "stray & at " + std::to_string(i);
        return false;
      }
      i = semi + 1;
      continue;
    }
    if (xml[i] != '<') {
      if (xml[i] == '>') {
        *why = "raw > in text at " + std::to_string(i);
        return false;
      }
      ++i;
      continue;
    }
    if (xml.compare(i, 2, "<?") == 0) {
      i = xml.find("?>", i);
      if (i == std::string::npos) return false;
      i += 2;
      continue;
    }
    const size_t end = xml.find('>', i);
    if (end == std::string::npos) {
      *why = "unclosed tag";
      return false;
    }
    std::string tag = xml.substr(i + 1, end - i - 1);
    // Quotes must balance inside a tag.
    size_t quotes = 0;
    for (char c : tag) quotes += c == '"';
    if (quotes % 2) {
      *why = "unbalanced quotes in <" + tag + ">";
      return false;
    }
    if (tag.find('<') != std::string::npos) {
      *why = "< inside tag <" + tag + ">";
      return false;
    }
    if (!tag.empty() && tag[0] == '/') {
      const std::string name = tag.substr(1);
      if (stack.empty() || stack.back() != name) {
        *why = "mismatched </" + name + ">";
        return false;
      }
      stack.pop_back();
    } else if (!tag.empty() && tag.back() == '/') {
      if (stack.empty() && root_seen) return false;
    } else {
      if (stack.empty() && root_seen) {
        *why = "second root";
        return false;
      }
      root_seen = true;
      stack.push_back(tag.substr(0, tag.find_first_of(" \n\t")));
    }
    i = end + 1;
  }
  if (!stack.empty()) *why = "unclosed <" + stack.back() + ">";
  return stack.empty() && root_seen;
}

int Count(const std::string& text, const std::string& what) {
  int count = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++count;
  return count;
}

TEST(PlotSvg, IsWellFormedXmlWithTheExpectedSeries) {
  const std::string svg = PlotSvg(Sample(false), PlotKind::kAll);
  std::string why;
  EXPECT_TRUE(WellFormed(svg, &why)) << why;
  EXPECT_TRUE(absl::StartsWith(svg, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg "));
  // Runtime vs FLOPs and vs N: two lines plus two dashed floors each.
  EXPECT_EQ(Count(svg, "class=\"series\" data-series=\"matvec/gemv f32\""), 2) << svg;
  EXPECT_EQ(Count(svg, "class=\"series\" data-series=\"outer/fused f32 floor\""), 2);
  // Two panels, each two dashed floors and one legend entry for all floors.
  EXPECT_EQ(Count(svg, "stroke-dasharray"), 2 * (2 + 1));
  EXPECT_EQ(Count(svg, "dashed: the roofline floor of each line"), 2);
  // The FLOPs axis names the formula both ops share.
  EXPECT_TRUE(absl::StrContains(svg, "FLOPs per execution (2N^2 - N)")) << svg;
  // Roofline: markers per series and the f32 roof.
  EXPECT_EQ(Count(svg, "class=\"markers\" data-series=\"outer/fused f32\""), 3);
  EXPECT_TRUE(absl::StrContains(svg, "f32 roof: 100 GFLOP/s, 10 GB/s")) << svg;
  // Axis labels with units, escaped device names, no fleet section for one host.
  EXPECT_TRUE(absl::StrContains(svg, "median time per execution (s)"));
  EXPECT_TRUE(absl::StrContains(svg, "arithmetic intensity (FLOP/byte"));
  EXPECT_TRUE(absl::StrContains(svg, "Test &lt;CPU&gt; &amp; co"));
  EXPECT_FALSE(absl::StrContains(svg, "Fleet"));
}

// Results arrive from several hosts at once, in any order: the same results
// in another order draw the same picture, byte for byte.
// A family with many params (chain: 2 impls x 9 k) gets every line into the
// legend, 18 colours for 18 lines, and its own formula on the FLOPs axis.
TEST(PlotSvg, EveryLineOfAManyParamFamilyIsInTheLegendInItsOwnColour) {
  std::vector<v1::Result> results;
  for (const std::string impl : {"unfused", "fused"}) {
    for (int k : {1, 2, 4, 8, 16, 32, 64, 128, 256}) {
      for (int64_t n : {1 << 20, 1 << 24}) {
        v1::Result r = Make("a:1", "chain", impl, n, 1e-9 * n * k, true);
        (*r.mutable_params())["k"] = k;
        r.set_flops(2LL * k * n);
        results.push_back(r);
      }
    }
  }
  const std::string svg = PlotSvg(results, PlotKind::kRuntimeVsFlops);
  std::string why;
  EXPECT_TRUE(WellFormed(svg, &why)) << why;
  std::set<std::string> colours;
  for (const std::string impl : {"unfused", "fused"}) {
    for (int k : {1, 2, 4, 8, 16, 32, 64, 128, 256}) {
      const std::string label = "chain/" + impl + " k=" + std::to_string(k) + " f32";
      EXPECT_TRUE(absl::StrContains(svg, ">" + label + "</text>")) << label << " not in the legend";
      const size_t at = svg.find("data-series=\"" + label + "\"");
      ASSERT_NE(at, std::string::npos) << label;
      const size_t stroke = svg.find("stroke=\"", at);
      colours.insert(svg.substr(stroke + 8, 7));
    }
  }
  EXPECT_EQ(colours.size(), 18u);
  EXPECT_TRUE(absl::StrContains(svg, "FLOPs per execution (2kN)")) << svg;
  // The legend counts k as numbers: k=2 before k=16 before k=128, each
  // impl's lines together.
  size_t previous = 0;
  for (const std::string impl : {"fused", "unfused"}) {
    for (int k : {1, 2, 4, 8, 16, 32, 64, 128, 256}) {
      const std::string label = ">chain/" + impl + " k=" + std::to_string(k) + " f32</text>";
      const size_t at = svg.find(label);
      EXPECT_GT(at, previous) << label << " is out of order in the legend";
      previous = at;
    }
  }
}

TEST(PlotSvg, DoesNotDependOnTheOrderResultsArrivedIn) {
  const std::vector<v1::Result> in_order = Sample(true);
  std::vector<v1::Result> reversed(in_order.rbegin(), in_order.rend());
  std::vector<v1::Result> interleaved;
  for (size_t i = 0; i < in_order.size(); i += 2) interleaved.push_back(in_order[i]);
  for (size_t i = 1; i < in_order.size(); i += 2) interleaved.push_back(in_order[i]);
  for (PlotKind kind : {PlotKind::kAll, PlotKind::kFleet}) {
    const std::string svg = PlotSvg(in_order, kind);
    EXPECT_EQ(PlotSvg(reversed, kind), svg);
    EXPECT_EQ(PlotSvg(interleaved, kind), svg);
  }
}

TEST(PlotSvg, FleetViewForSeveralHosts) {
  const std::string svg = PlotSvg(Sample(true), PlotKind::kFleet);
  std::string why;
  EXPECT_TRUE(WellFormed(svg, &why)) << why;
  EXPECT_TRUE(absl::StrContains(svg, "Fleet: per-host spread at each N"));
  // matvec/gemv and outer/fused, each as absolute times and as each host's
  // time / the fleet median (the fleet view).
  EXPECT_EQ(Count(svg, "class=\"panel\""), 2 * 2);
  EXPECT_EQ(Count(svg, "data-title=\"matvec/gemv f32 on cpu:0: time / fleet median"), 1);
  EXPECT_EQ(Count(svg, "class=\"spread\""), 2 * 3);  // one bar per N
  EXPECT_EQ(Count(svg, "class=\"series\" data-series=\"b:1\""), 2);
  // The relative series' legends carry the host's geomean over all points.
  EXPECT_EQ(Count(svg, "class=\"series\" data-series=\"b:1 ("), 2);
}

TEST(PlotSvg, DecadeTicksOnLogAxes) {
  const std::string svg = PlotSvg(Sample(false), PlotKind::kRuntimeVsN);
  // N from 1000 to 4000: ticks at 10^3 and 10^4.
  EXPECT_TRUE(absl::StrContains(svg, "10<tspan dy=\"-6\" font-size=\"9\">3</tspan>"));
  EXPECT_TRUE(absl::StrContains(svg, "10<tspan dy=\"-6\" font-size=\"9\">4</tspan>"));
}

TEST(PlotKindNames, ParseAndReject) {
  EXPECT_EQ(*ParsePlotKind("roofline"), PlotKind::kRoofline);
  EXPECT_FALSE(ParsePlotKind("pie").ok());
}

TEST(ReportHtml, SelfContainedAndEscaped) {
  const std::string html = ReportHtml(Sample(true), {"a<b>.jsonl"});
  EXPECT_TRUE(absl::StartsWith(html, "<!DOCTYPE html>"));
  EXPECT_TRUE(absl::StrContains(html, "<style>"));
  EXPECT_TRUE(absl::StrContains(html, "<svg xmlns="));
  EXPECT_TRUE(absl::StrContains(html, "a&lt;b&gt;.jsonl"));
  EXPECT_FALSE(absl::StrContains(html, "<CPU>"));
  EXPECT_FALSE(absl::StrContains(html, "src="));   // nothing external
  EXPECT_FALSE(absl::StrContains(html, "href="));
  EXPECT_TRUE(absl::StrContains(html, "Measured ceilings"));
  EXPECT_EQ(Count(html, "<td>memory</td>"), 12);
  std::string why;
  const size_t body = html.find("<body>");
  EXPECT_TRUE(WellFormed(html.substr(body, html.find("</body>") + 7 - body), &why)) << why;
}

// Issue 11 item 9: two runs of the same hosts are two runs. Each line is
// one run's (its label first), never one line zigzagging through both; the
// fleet panels compare each run's hosts among themselves.
TEST(PlotSvg, SeveralRunsAreSeparateSeriesLabelledByRun) {
  std::vector<v1::Result> second = Sample(true);
  for (v1::Result& r : second) r.mutable_time()->set_median(2 * r.time().median());
  const std::vector<LabelledRun> runs = {{"run1", Sample(true)}, {"run5", second}};
  const std::string svg = PlotSvg(runs, PlotKind::kAll);
  std::string why;
  EXPECT_TRUE(WellFormed(svg, &why)) << why;
  // Runtime vs FLOPs and vs N: per panel (2 hosts) one line per run.
  EXPECT_EQ(Count(svg, "class=\"series\" data-series=\"run1: matvec/gemv f32\""), 2 * 2) << svg;
  EXPECT_EQ(Count(svg, "class=\"series\" data-series=\"run5: matvec/gemv f32\""), 2 * 2) << svg;
  EXPECT_EQ(Count(svg, "data-series=\"matvec/gemv f32\""), 0) << svg;
  // Every line holds one run's three N, not six points of two runs.
  const size_t line = svg.find("class=\"series\" data-series=\"run1: matvec/gemv f32\"");
  ASSERT_NE(line, std::string::npos);
  const size_t points = svg.find("points=\"", line) + 8;
  const std::string coords = svg.substr(points, svg.find('"', points) - points);
  EXPECT_EQ(std::count(coords.begin(), coords.end(), ','), 3) << coords;
  // Fleet: each run's panels, twice as many as for one run.
  EXPECT_EQ(Count(svg, "data-title=\"run1: matvec/gemv f32 on cpu:0: per-host spread"), 1) << svg;
  EXPECT_EQ(Count(svg, "data-title=\"run5: matvec/gemv f32 on cpu:0: per-host spread"), 1) << svg;
  EXPECT_EQ(Count(svg, "class=\"spread\""), 2 * 2 * 3);
  // One run: exactly the picture of its results.
  EXPECT_EQ(PlotSvg(std::vector<LabelledRun>{{"run1", Sample(true)}}, PlotKind::kAll),
            PlotSvg(Sample(true), PlotKind::kAll));
}

// One file per host (no host in two runs): the runs pool into one fleet,
// as the hosts would had they run together.
TEST(PlotSvg, RunsOfDisjointHostsFormOneFleet) {
  std::vector<v1::Result> a, b;
  for (const v1::Result& r : Sample(true)) (r.host_address() == "a:1" ? a : b).push_back(r);
  const std::vector<LabelledRun> runs = {{"gpu-a", a}, {"gpu-b", b}};
  const std::string svg = PlotSvg(runs, PlotKind::kFleet);
  EXPECT_EQ(Count(svg, "data-title=\"matvec/gemv f32 on cpu:0: per-host spread"), 1) << svg;
  EXPECT_EQ(Count(svg, "class=\"spread\""), 2 * 3);
  EXPECT_TRUE(absl::StrContains(ReportHtml(runs, {"a.jsonl", "b.jsonl"}), "<h2>Fleet view</h2>"));
  // The runtime lines still carry their run.
  EXPECT_EQ(Count(PlotSvg(runs, PlotKind::kRuntimeVsN),
                  "class=\"series\" data-series=\"gpu-b: matvec/gemv f32\""),
            1);
}

// Hot and cold results of one point are two lines, not one through both.
TEST(PlotSvg, TimingModesAreSeparateSeries) {
  std::vector<v1::Result> results = Sample(false);
  const size_t hot = results.size();
  for (size_t i = 0; i < hot; ++i) {
    v1::Result cold = results[i];
    cold.set_timing("cold");
    results.push_back(cold);
  }
  const std::string svg = PlotSvg(results, PlotKind::kRuntimeVsN);
  EXPECT_EQ(Count(svg, "class=\"series\" data-series=\"matvec/gemv f32 hot\""), 1) << svg;
  EXPECT_EQ(Count(svg, "class=\"series\" data-series=\"matvec/gemv f32 cold\""), 1) << svg;
}

TEST(ReportHtml, SeveralRunsGetARunColumnAndAFleetViewEach) {
  const std::vector<LabelledRun> runs = {{"before", Sample(true)}, {"after", Sample(true)}};
  const std::string html = ReportHtml(runs, {"x/before.jsonl", "y/after.jsonl"});
  EXPECT_TRUE(absl::StrContains(html, "<b>before</b> = x/before.jsonl (12 results)")) << html;
  EXPECT_EQ(Count(html, "<th class=\"l\">run</th>"), 3) << html;  // hosts, ceilings, results
  EXPECT_EQ(Count(html, "<tr><td class=\"l\">after</td>"), 2 + 2 + 12) << html;
  EXPECT_EQ(Count(html, "<h2>Fleet view: "), 2) << html;
  std::string why;
  const size_t body = html.find("<body>");
  EXPECT_TRUE(WellFormed(html.substr(body, html.find("</body>") + 7 - body), &why)) << why;
  // One run: no run column, as before.
  const std::string one = ReportHtml(Sample(true), {"a.jsonl"});
  EXPECT_EQ(Count(one, ">run<"), 0);
  EXPECT_EQ(ReportHtml(std::vector<LabelledRun>{{"a", Sample(true)}}, {"a.jsonl"}), one);
}

}  // namespace
}  // namespace flopd
