// flopctl run's defaults and terminal output (issue 11): the device each host
// runs on without --device, the ceilings progress line, the table fitted to
// a terminal, the warnings under it, `flopctl show`, `ops` over several
// hosts and one-letter flags in help.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/info_commands.h"
#include "client/result_format.h"
#include "client/run_command.h"
#include "client/run_fan_out.h"
#include "common/command_line.h"
#include "gtest/gtest.h"

namespace flopd {
namespace {

v1::DeviceInfo Device(const std::string& id, const std::string& backend, bool healthy = true) {
  v1::DeviceInfo d;
  d.set_id(id);
  d.set_backend(backend);
  d.set_healthy(healthy);
  return d;
}

v1::HostInfo Host(const std::vector<v1::DeviceInfo>& devices) {
  v1::HostInfo info;
  for (const v1::DeviceInfo& d : devices) *info.add_devices() = d;
  return info;
}

// `flopctl run --host gpu01 --op outer` measured cpu:0 on a GPU node.
TEST(ChooseDefaultDevices, AGpuHostRunsOnEveryGpuAndSaysHowToPickTheCpu) {
  const DeviceChoice gpu = ChooseDefaultDevices(
      Host({Device("cpu:0", "cpu"), Device("cuda:0", "cuda"), Device("cuda:1", "cuda")}));
  EXPECT_EQ(gpu.devices, (std::vector<std::string>{"cuda:0", "cuda:1"}));
  EXPECT_EQ(gpu.note,
            "no --device given: measuring cuda:0, cuda:1 (its GPUs; --device cpu:0 measures its "
            "CPU)");

  const DeviceChoice one = ChooseDefaultDevices(Host({Device("cpu:0", "cpu"), Device("cuda:0", "cuda")}));
  EXPECT_EQ(one.devices, (std::vector<std::string>{"cuda:0"}));
  EXPECT_TRUE(absl::StrContains(one.note, "(its GPU; ")) << one.note;
}

TEST(ChooseDefaultDevices, ACpuHostRunsOnItsCpu) {
  const DeviceChoice cpu = ChooseDefaultDevices(Host({Device("cpu:0", "cpu")}));
  EXPECT_EQ(cpu.devices, (std::vector<std::string>{"cpu:0"}));
  EXPECT_EQ(cpu.note,
            "no --device given: measuring cpu:0 (it has no GPU; --device all measures every "
            "device it has)");
  // A host that lists nothing still gets cpu:0 (the daemon then says why not).
  EXPECT_EQ(ChooseDefaultDevices(Host({})).devices, (std::vector<std::string>{"cpu:0"}));
  // One without cpu:0: its first device.
  EXPECT_EQ(ChooseDefaultDevices(Host({Device("fake:0", "fake")})).devices,
            (std::vector<std::string>{"fake:0"}));
}

TEST(ChooseDefaultDevices, AnUnhealthyGpuIsLeftOutUnlessNoneIsHealthy) {
  const DeviceChoice some = ChooseDefaultDevices(
      Host({Device("cpu:0", "cpu"), Device("cuda:0", "cuda", false), Device("cuda:1", "cuda")}));
  EXPECT_EQ(some.devices, (std::vector<std::string>{"cuda:1"}));
  EXPECT_TRUE(absl::StrContains(some.note, "left out as unhealthy: cuda:0")) << some.note;
  // None healthy: still the GPUs, so that the daemon says what is wrong,
  // rather than a silent CPU measurement.
  const DeviceChoice none =
      ChooseDefaultDevices(Host({Device("cpu:0", "cpu"), Device("cuda:0", "cuda", false)}));
  EXPECT_EQ(none.devices, (std::vector<std::string>{"cuda:0"}));
  EXPECT_TRUE(absl::StrContains(none.note, "none of them healthy")) << none.note;
}

TEST(JobStatusLine, SaysTheDeviceIsMeasuringItsCeilingsAndForHowLong) {
  v1::JobStatus status;
  status.set_phase("measuring_ceilings");
  status.set_device("cuda:0");
  status.set_expected_seconds(29.6);
  status.set_message("measuring cuda:0's ceilings (about 30 s)");
  EXPECT_EQ(JobStatusLine("gpu01:50051", "cuda:0", status),
            "gpu01:50051 cuda:0: measuring the device's ceilings (about 30 s; once per daemon "
            "start)");
  // A label that names the device already does not repeat it.
  EXPECT_EQ(JobStatusLine("gpu01:50051/cuda:0", "cuda:0", status),
            "gpu01:50051/cuda:0: measuring the device's ceilings (about 30 s; once per daemon "
            "start)");
  status.set_expected_seconds(0);
  EXPECT_EQ(JobStatusLine("h", "cpu:0", status),
            "h cuda:0: measuring the device's ceilings (once per daemon start)");
}

TEST(JobStatusLine, APhaseThisClientDoesNotKnowShowsTheDaemonsWordsOrNothing) {
  v1::JobStatus status;
  status.set_phase("warming_up");
  status.set_message("warming the GPU up");
  EXPECT_EQ(JobStatusLine("h", "cuda:0", status), "h cuda:0: warming the GPU up");
  status.clear_message();
  EXPECT_EQ(JobStatusLine("h", "cuda:0", status), "");
}

v1::Result Make(const std::string& host, const std::string& name, const std::string& op,
                const std::string& impl, int64_t n, double median, double noise = 0.003) {
  v1::Result r;
  r.set_host_address(host);
  r.set_hostname(name);
  r.set_device("cpu:0");
  r.set_op(op);
  r.set_impl(impl);
  if (op == "outer") (*r.mutable_params())["axis"] = 0;
  r.set_dtype("f32");
  r.set_n(n);
  r.set_flops(2 * n * n - n);
  r.set_min_bytes((n * n + 2 * n) * 4);
  r.mutable_time()->set_median(median);
  r.set_relative_noise(noise);
  r.mutable_verification()->set_passed(true);
  return r;
}

// Three hosts with long names, with rooflines: wider than 100 columns.
std::vector<v1::Result> ThreeHosts() {
  std::vector<v1::Result> results;
  const std::vector<std::string> names = {"gpu-node-rack3-01", "gpu-node-rack3-02",
                                          "gpu-node-rack3-03"};
  for (int h = 0; h < 3; ++h) {
    for (const auto& [op, impl] : std::vector<std::pair<std::string, std::string>>{
             {"matvec", "gemm"}, {"matvec", "gemv"}, {"outer", "library"}}) {
      for (int64_t n : {1000, 19500}) {
        v1::Result r = Make(absl::StrCat("10.0.0.", h + 1, ":50051"), names[h], op, impl, n,
                            1e-3 * (h + 1) * n / 1000, 0.001 * (h + 1));
        v1::Roofline* roof = r.mutable_roofline();
        roof->set_intensity(0.5);
        roof->set_floor_seconds(1e-4);
        roof->set_efficiency(0.5);
        roof->set_bound("memory");
        results.push_back(r);
      }
    }
  }
  return results;
}

size_t Widest(const std::string& text) {
  size_t widest = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    size_t width = 0;
    for (unsigned char ch : line) width += (ch & 0xC0) != 0x80;
    widest = std::max(widest, width);
  }
  return widest;
}

std::vector<std::string> Hosts() {
  return {"10.0.0.1:50051", "10.0.0.2:50051", "10.0.0.3:50051"};
}

// The fleet table was 205 columns for three hosts whatever the terminal.
TEST(AggregateTable, AFleetTableWiderThanTheTerminalIsPivotedToFitIt) {
  const std::vector<v1::Result> results = ThreeHosts();
  const std::string wide = AggregateTable(results, Hosts());
  ASSERT_GT(Widest(wide), 120u) << wide;
  const std::string fitted = AggregateTable(results, Hosts(), 120);
  EXPECT_LE(Widest(fitted.substr(0, fitted.find("\nmedian time per execution"))), 120u)
      << fitted;
  // One row per (point, host), then the point's fleet row.
  EXPECT_TRUE(absl::StrContains(fitted, "  host  ")) << fitted;
  const std::string first_block = fitted.substr(0, fitted.find("\n\n"));
  int host_rows = 0, fleet_rows = 0;
  for (absl::string_view line : absl::StrSplit(first_block, '\n')) {
    host_rows += absl::StrContains(line, "gpu-node-rack3-02 ");
    fleet_rows += absl::StrContains(line, "fleet median ");
  }
  EXPECT_EQ(host_rows, 6) << fitted;   // 6 points
  EXPECT_EQ(fleet_rows, 6) << fitted;
  // No limit (a pipe or a file): the wide table as before.
  EXPECT_EQ(AggregateTable(results, Hosts(), 0), wide);
}

TEST(AggregateTable, WhatStillDoesNotFitIsWrappedAndEveryBlockNamesItsPoint) {
  const std::vector<v1::Result> results = ThreeHosts();
  const std::string fitted = AggregateTable(results, Hosts(), 80);
  const std::string table = fitted.substr(0, fitted.find("\nmedian time per execution"));
  EXPECT_LE(Widest(table), 80u) << fitted;
  // Every block repeats the point's columns: the roofline's "bound" and the
  // "verified" column are each in a block that still starts with op, impl.
  int blocks = 0;
  for (absl::string_view block : absl::StrSplit(table, "\n\n")) {
    ++blocks;
    EXPECT_TRUE(absl::StartsWith(block, "op ")) << block;
    int points = 0;  // lines that name their point: 6 points, each once
    for (absl::string_view line : absl::StrSplit(block, '\n')) {
      points += absl::StartsWith(line, "matvec ") || absl::StartsWith(line, "outer ");
    }
    EXPECT_EQ(points, 6) << block;
  }
  EXPECT_GE(blocks, 2) << table;
  EXPECT_TRUE(absl::StrContains(table, "bound")) << table;
  EXPECT_TRUE(absl::StrContains(table, "verified")) << table;
  // One host: wrapped too, the same rows in each block.
  std::vector<v1::Result> one;
  for (const v1::Result& r : results) {
    if (r.host_address() == "10.0.0.1:50051") one.push_back(r);
  }
  const std::string single = AggregateTable(one, {"10.0.0.1:50051"}, 70);
  const std::string single_table = single.substr(0, single.find("\nmedian time per execution"));
  EXPECT_LE(Widest(single_table), 70u) << single;
  EXPECT_TRUE(absl::StrContains(single_table, "\n\nop ")) << single;
}

TEST(AggregateTable, TheNoiseColumnOfSeveralHostsNamesTheHostWhoseNoiseItIs) {
  const std::string wide = AggregateTable(ThreeHosts(), Hosts());
  EXPECT_TRUE(absl::StrContains(wide, "worst noise")) << wide;
  // The third host is the noisiest (0.3%) everywhere.
  EXPECT_TRUE(absl::StrContains(wide, "0.30% (gpu-node-rack3-03)")) << wide;
  // One host: the plain noise column.
  const std::string one =
      AggregateTable({Make("h:1", "h", "matvec", "gemv", 10, 1e-6)}, {"h:1"});
  EXPECT_FALSE(absl::StrContains(one, "worst noise")) << one;
  EXPECT_TRUE(absl::StrContains(one, "  noise  ")) << one;
}

TEST(RenderColumnsWithin, SplitsColumnsIntoBlocksThatFitBesideTheKeyColumns) {
  const std::vector<std::vector<std::string>> rows = {
      {"key", "aaaa", "bbbb", "cccc"}, {"k1", "1", "2", "3"}, {"k2", "", "", "4"}};
  const std::vector<bool> right = {false, true, true, true};
  EXPECT_EQ(RenderColumnsWithin(rows, right, 1, 0), RenderColumns(rows, right));
  EXPECT_EQ(RenderColumnsWithin(rows, right, 1, 16),
            "key  aaaa  bbbb\n"
            "k1      1     2\n"
            "\n"
            "key  cccc\n"
            "k1      3\n"
            "k2      4\n");
}

TEST(WarningsText, ListsEachPointsWarningsWithTheHostsThatGaveThem) {
  v1::Result a = Make("a:1", "a", "matvec", "gemv", 1000, 1e-3);
  v1::Result b = Make("b:1", "b", "matvec", "gemv", 1000, 1e-3);
  v1::Result c = Make("b:1", "b", "outer", "fused", 1000, 1e-3);
  a.add_warnings("noise 0.9% above the target 0.5%");
  b.add_warnings("noise 0.9% above the target 0.5%");
  c.add_warnings("verification FAILED: element 3");
  EXPECT_EQ(WarningsText({a, b, c}),
            "\nwarnings:\n"
            "  a, b  matvec/gemv f32 N=1000: noise 0.9% above the target 0.5%\n"
            "  b  outer/fused axis=0 f32 N=1000: verification FAILED: element 3\n");
  EXPECT_EQ(WarningsText({Make("a:1", "a", "matvec", "gemv", 10, 1e-6)}), "");
  EXPECT_TRUE(absl::StrContains(WarningsText({a, b, c}, 1), "  ... and 1 more")) << WarningsText({a, b, c}, 1);
}

TEST(WarningsText, AWarningOnEveryPointOfAHostIsSaidOnceForIt) {
  // Doubtful ceilings or a busy machine mark every result of a host; listed per
  // point they pushed every other warning out of the 20 lines.
  v1::Result a1 = Make("a:1", "a", "matvec", "gemv", 1000, 1e-3);
  v1::Result a2 = Make("a:1", "a", "matvec", "gemv", 2000, 4e-3);
  v1::Result b1 = Make("b:1", "b", "matvec", "gemv", 1000, 1e-3);
  v1::Result b2 = Make("b:1", "b", "matvec", "gemv", 2000, 4e-3);
  for (v1::Result* r : {&a1, &a2}) r->add_warnings("roofline from doubtful ceilings: clock");
  b1.add_warnings("roofline from doubtful ceilings: clock");
  b2.add_warnings("verification FAILED: element 3");
  EXPECT_EQ(WarningsText({a1, a2, b1, b2}),
            "\nwarnings:\n"
            "  a  every point: roofline from doubtful ceilings: clock\n"
            "  b  matvec/gemv f32 N=1000: roofline from doubtful ceilings: clock\n"
            "  b  matvec/gemv f32 N=2000: verification FAILED: element 3\n");
}

// A run's table on a terminal showed no warning: the live lines that carried
// them were redrawn away.
TEST(RenderRun, TheTableIsFittedAndFollowedByTheResultsWarnings) {
  absl::StatusOr<RunPlan> plan = ParseRunCommand({"--op", "matvec", "--quiet"});
  ASSERT_TRUE(plan.ok());
  plan->table_width = 100;
  RunOutcome outcome;
  outcome.host_order = Hosts();
  outcome.results = ThreeHosts();
  outcome.results[0].add_warnings("clock dropped to 1.2 GHz");
  std::ostringstream out, err;
  RenderRun(*plan, outcome, out, err);
  const std::string text = out.str();
  // The table and the prose under it; the fleet view after them is its own.
  EXPECT_LE(Widest(text.substr(0, text.find("\nFleet view"))), 100u) << text;
  EXPECT_TRUE(absl::StrContains(
      text, "\nwarnings:\n  gpu-node-rack3-01  matvec/gemm f32 N=1000: clock dropped to 1.2 GHz\n"))
      << text;
}

std::string WriteTemp(const std::string& name, const std::string& text) {
  const std::string path = absl::StrCat(testing::TempDir(), "/", name);
  std::ofstream(path) << text;
  return path;
}

TEST(ShowCommand, PrintsSavedResultsAsRunDoes) {
  const std::vector<v1::Result> results = ThreeHosts();
  std::string jsonl;
  for (const v1::Result& r : results) jsonl += ToJsonLine(r) + "\n";
  const std::string path = WriteTemp("show.jsonl", jsonl);
  std::ostringstream out, err;
  EXPECT_EQ(ShowCommand({path}, 0, out, err), 0) << err.str();
  std::ostringstream run_out, run_err;
  RenderResults(results, Hosts(), ResultFormat::kTable, 0, run_out, run_err);
  EXPECT_EQ(out.str(), run_out.str());
  EXPECT_TRUE(absl::StrContains(out.str(), "fleet median")) << out.str();
  EXPECT_TRUE(absl::StrContains(out.str(), "Fleet view")) << out.str();

  std::ostringstream fitted, fitted_err;
  EXPECT_EQ(ShowCommand({path}, 90, fitted, fitted_err), 0);
  EXPECT_LE(Widest(fitted.str().substr(0, fitted.str().find("\nmedian time"))), 90u)
      << fitted.str();

  std::ostringstream csv, csv_err;
  EXPECT_EQ(ShowCommand({path, "--format", "csv"}, 0, csv, csv_err), 0);
  EXPECT_TRUE(absl::StartsWith(csv.str(), CsvHeader() + "\n")) << csv.str();
}

TEST(ShowCommand, ABadCommandLineOrFileIsExitTwoNamingIt) {
  std::ostringstream out, err;
  EXPECT_EQ(ShowCommand({}, 0, out, err), 2);
  EXPECT_EQ(err.str(), "flopctl: show: no results file given; see --help\n");
  std::ostringstream out2, err2;
  EXPECT_EQ(ShowCommand({"/nonexistent/r.jsonl"}, 0, out2, err2), 2);
  EXPECT_TRUE(absl::StartsWith(err2.str(), "flopctl: /nonexistent/r.jsonl: ")) << err2.str();
  std::ostringstream out3, err3;
  EXPECT_EQ(ShowCommand({"x.jsonl", "--format", "xml"}, 0, out3, err3), 2);
  EXPECT_EQ(err3.str(),
            "flopctl: --format: unknown format 'xml'; allowed: table, csv, json, jsonl\n");
  std::ostringstream help, help_err;
  EXPECT_EQ(ShowCommand({"--help"}, 0, help, help_err), 0);
  EXPECT_TRUE(absl::StartsWith(help.str(), "usage: flopctl show ")) << help.str();
}

v1::ListOpsResponse Catalog(const std::vector<std::string>& ops) {
  v1::ListOpsResponse response;
  for (const std::string& name : ops) {
    v1::OpInfo* op = response.add_ops();
    op->set_name(name);
    op->set_description(name + " op");
  }
  return response;
}

// `flopctl ops --host a,b` showed a's catalog and did not say whose.
TEST(CatalogsText, SaysWhichHostsEachCatalogIsOf) {
  const v1::ListOpsResponse both = Catalog({"matvec", "outer"});
  const std::string same = CatalogsText({{"a:50051", both}, {"b:50051", both}});
  EXPECT_TRUE(absl::StartsWith(same, "catalog of a:50051, b:50051 (2 hosts, every host given):\n\n"))
      << same;
  EXPECT_EQ(same.find("matvec:"), same.rfind("matvec:")) << "shown once:\n" << same;

  const std::string differ =
      CatalogsText({{"a:50051", both}, {"old:50051", Catalog({"matvec"})}, {"c:50051", both}});
  EXPECT_TRUE(absl::StrContains(differ, "catalog of a:50051, c:50051 (2 hosts):\n")) << differ;
  EXPECT_TRUE(absl::StrContains(differ, "catalog of old:50051 (1 host):\n")) << differ;
  // One host: its catalog as before.
  EXPECT_EQ(CatalogsText({{"a:50051", both}}), CatalogText(both));
}

// `flopctl plot --help` showed "--o FILE.svg" for -o.
TEST(FlagsHelp, AOneLetterFlagIsShownAndAcceptedWithOneDash) {
  const std::vector<FlagSpec> specs = {{"o", "FILE.svg", "where to write", ""},
                                       {"kind", "K", "which plot", "all"}};
  const std::string help = FlagsHelp(specs);
  EXPECT_TRUE(absl::StrContains(help, "  -o FILE.svg ")) << help;
  EXPECT_FALSE(absl::StrContains(help, "--o")) << help;
  EXPECT_TRUE(absl::StrContains(help, "  --kind K ")) << help;
  absl::StatusOr<ParsedFlags> flags = ParseFlags({"r.jsonl", "-o", "p.svg"}, specs);
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->Get("o"), "p.svg");
  EXPECT_EQ(flags->positional, (std::vector<std::string>{"r.jsonl"}));
  EXPECT_EQ(ParseFlags({"-o"}, specs).status().message(), "-o: missing value; expected FILE.svg");
  // "-" and an unknown one-letter flag stay positional, as before.
  EXPECT_EQ(ParseFlags({"-", "-x"}, specs)->positional, (std::vector<std::string>{"-", "-x"}));
}

// The help texts spoke of "the seed's 38 sizes" and "the seed's loop".
TEST(RunHelp, SpeaksTheUsersWords) {
  const std::string help = RunHelp();
  EXPECT_FALSE(absl::StrContains(help, "seed")) << help;
  EXPECT_TRUE(absl::StrContains(help, "the 38 sizes 1000, 1500, ..., 19500")) << help;
  EXPECT_TRUE(absl::StrContains(help, "each host's GPUs")) << help;
}

}  // namespace
}  // namespace flopd
