// The fleet view (client/fleet_view.h) and how hosts are named
// (NameHosts): the slow machine is flagged and sorted first, a quiet fleet
// of identical machines flags nothing, two members are never told apart,
// and a host is shown by its label or hostname, never only by address.
#include "client/fleet_view.h"

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "client/result_format.h"
#include "gtest/gtest.h"

namespace flopd {
namespace {

int CountSubstrings(const std::string& text, const std::string& needle) {
  int count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++count;
  }
  return count;
}

v1::Result Point(const std::string& address, const std::string& hostname, int64_t n,
                 double median) {
  v1::Result r;
  r.set_host_address(address);
  r.set_hostname(hostname);
  r.set_device("cpu:0");
  r.set_device_name("Test CPU");
  r.set_backend("cpu");
  r.set_op("matvec");
  r.set_impl("gemv");
  r.set_dtype("f32");
  r.set_timing("hot");
  r.set_n(n);
  r.mutable_time()->set_median(median);
  r.mutable_verification()->set_passed(true);
  return r;
}

// `hosts` identical machines measuring 4 sizes with `noise` relative
// jitter (seeded), the host at `slow` (when >= 0) `factor` times slower.
std::vector<v1::Result> Fleet(int hosts, double noise, int slow = -1, double factor = 1) {
  std::mt19937 random(42);
  std::uniform_real_distribution<double> jitter(1 - noise, 1 + noise);
  std::vector<v1::Result> results;
  for (int h = 0; h < hosts; ++h) {
    for (int64_t n : {512, 1024, 2048, 4096}) {
      const double base = 1e-9 * static_cast<double>(n * n);
      results.push_back(Point(absl::StrCat("10.0.0.", h + 1, ":50051"), absl::StrCat("node", h + 1),
                              n, base * jitter(random) * (h == slow ? factor : 1)));
    }
  }
  return results;
}

TEST(FleetView, FlagsTheSlowHostAndSortsItFirst) {
  const FleetView view = ComputeFleetView(Fleet(8, 0.03, /*slow=*/5, /*factor=*/1.6));
  ASSERT_EQ(view.members.size(), 8u);
  EXPECT_EQ(view.points_compared, 4);
  EXPECT_EQ(view.members[0].host, "node6");
  EXPECT_EQ(view.members[0].flag, "SLOW");
  EXPECT_NEAR(view.members[0].geomean, 1.6, 0.12);
  EXPECT_EQ(view.members[0].ratios.size(), 4u);
  for (size_t i = 1; i < view.members.size(); ++i) {
    EXPECT_EQ(view.members[i].flag, "") << view.members[i].host;
  }
  const std::string text = FleetViewText(view, /*points=*/true);
  EXPECT_TRUE(absl::StrContains(text, "node6")) << text;
  EXPECT_TRUE(absl::StrContains(text, "SLOW")) << text;
  EXPECT_TRUE(absl::StrContains(text, "matvec/gemv f32 N=4096 hot")) << text;
}

TEST(FleetView, AQuietFleetOfIdenticalHostsFlagsNothing) {
  for (int hosts : {3, 8, 64}) {
    const FleetView view = ComputeFleetView(Fleet(hosts, 0.04));
    for (const FleetMember& m : view.members) {
      EXPECT_EQ(m.flag, "") << hosts << " hosts: " << m.host << " z " << m.robust_z;
    }
  }
}

TEST(FleetView, AFastOutlierIsFlaggedToo) {
  const FleetView view = ComputeFleetView(Fleet(5, 0.02, /*slow=*/2, /*factor=*/0.5));
  EXPECT_EQ(view.members.back().host, "node3");
  EXPECT_EQ(view.members.back().flag, "FAST");
}

TEST(FleetView, TwoMembersAreNeverToldApart) {
  const FleetView view = ComputeFleetView(Fleet(2, 0.0, /*slow=*/1, /*factor=*/3));
  ASSERT_EQ(view.members.size(), 2u);
  EXPECT_EQ(view.members[0].flag, "");
  EXPECT_EQ(view.members[1].flag, "");
  ASSERT_FALSE(view.notes.empty());
  EXPECT_TRUE(absl::StrContains(view.notes[0], "at least 3")) << view.notes[0];
}

TEST(FleetView, PointsOnlyOneMemberMeasuredAreNotCompared) {
  std::vector<v1::Result> results = Fleet(3, 0.0);
  results.push_back(Point("10.0.0.1:50051", "node1", 99, 1.0));  // nobody else has N=99
  const FleetView view = ComputeFleetView(results);
  EXPECT_EQ(view.points_compared, 4);
  for (const FleetMember& m : view.members) EXPECT_EQ(m.ratios.size(), 4u);
}

TEST(FleetView, MembersCarryTheDeviceIdentityTheirResultsReport) {
  std::vector<v1::Result> results = Fleet(3, 0.0);
  for (v1::Result& r : results) {
    r.set_device("cuda:0");
    r.set_backend("cuda");
    (*r.mutable_observations())["gpu_uuid"] = "GPU-1234";
    (*r.mutable_observations())["driver_version"] = "580.95.05";
    (*r.mutable_observations())["power_limit_w"] = "700";
    (*r.mutable_observations())["temperature_c_after"] = "41";
    (*r.mutable_observations())["sm_clock_mhz_after"] = "1980";
  }
  const FleetView view = ComputeFleetView(results);
  EXPECT_EQ(view.members[0].identity,
            "GPU-1234, driver 580.95.05, SM 1980 MHz, power limit 700 W, 41 C");
}

// Issue 11 item 11: the view printed under the table fits the terminal,
// and a fleet of alike machines prints its long identity once, not per row.
TEST(FleetView, TheTextFitsTheTerminalAndPrintsEachIdentityOnce) {
  std::vector<v1::Result> results = Fleet(8, 0.03, /*slow=*/5, /*factor=*/1.6);
  const std::string identity =
      "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64 "
      "core=Haswell (OPENBLAS_CORETYPE), 1 thread(s)";
  for (v1::Result& r : results) r.set_library(identity);
  for (int i = 0; i < 4; ++i) {  // node1's four points
    results[i].set_library("OpenBLAS 0.3.21 ... core=Prescott (library's choice)");
  }
  const FleetView view = ComputeFleetView(results);
  ASSERT_EQ(view.members[0].flag, "SLOW");
  for (size_t width : {60u, 80u, 120u}) {
    const std::string text = FleetViewText(view, /*points=*/true, width);
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      size_t columns = 0;
      for (unsigned char ch : line) columns += (ch & 0xC0) != 0x80;
      EXPECT_LE(columns, width) << "width " << width << ": " << line << "\n" << text;
    }
    EXPECT_TRUE(absl::StrContains(text, "SLOW")) << text;
    EXPECT_TRUE(absl::StrContains(text, "node6")) << text;
  }
  // Unlimited: one table row per member, the shared identity once with the
  // seven members that report it, the odd one with its own.
  const std::string text = FleetViewText(view);
  EXPECT_EQ(CountSubstrings(text, "core=Haswell"), 1) << text;
  EXPECT_EQ(CountSubstrings(text, "core=Prescott"), 1) << text;
  EXPECT_TRUE(absl::StrContains(text, "node1/cpu:0\n")) << text;
}

TEST(FleetView, MixedDeviceModelsAreNoted) {
  std::vector<v1::Result> results = Fleet(3, 0.0);
  results[0].set_device_name("Other CPU");
  const FleetView view = ComputeFleetView(results);
  bool noted = false;
  for (const std::string& note : view.notes) noted |= absl::StrContains(note, "2 device models");
  EXPECT_TRUE(noted);
}

TEST(NameHosts, LabelThenHostnameThenAddressAndSharedNamesGetTheirAddress) {
  v1::Result labelled = Point("10.0.0.1:50051", "node1", 16, 1e-6);
  labelled.set_host_label("rack3-top");
  v1::Result first = Point("127.0.0.1:50051", "workstation", 16, 1e-6);
  v1::Result second = Point("127.0.0.1:50061", "workstation", 16, 1e-6);
  v1::Result anonymous = Point("10.0.0.9:50051", "", 16, 1e-6);
  const HostNames names = NameHosts({labelled, first, second, anonymous});
  EXPECT_EQ(names.at("10.0.0.1:50051"), "rack3-top");
  EXPECT_EQ(names.at("127.0.0.1:50051"), "workstation (127.0.0.1:50051)");
  EXPECT_EQ(names.at("127.0.0.1:50061"), "workstation (127.0.0.1:50061)");
  EXPECT_EQ(names.at("10.0.0.9:50051"), "10.0.0.9:50051");
  // One daemon's results, however many, keep the bare hostname.
  EXPECT_EQ(NameHosts({first, first}).at("127.0.0.1:50051"), "workstation");
}

TEST(NameHosts, TheTableHeadsColumnsWithNamesNotAddresses) {
  v1::Result a = Point("10.0.0.1:50051", "gpu01", 16, 1e-6);
  v1::Result b = Point("10.0.0.2:50051", "gpu02", 16, 2e-6);
  b.set_host_label("spare");
  const std::string table = AggregateTable({a, b}, {"10.0.0.1:50051", "10.0.0.2:50051"});
  EXPECT_TRUE(absl::StrContains(table, "gpu01")) << table;
  EXPECT_TRUE(absl::StrContains(table, "spare")) << table;
  EXPECT_FALSE(absl::StrContains(table, "10.0.0.1")) << table;
  EXPECT_TRUE(absl::StrContains(ToCsvRow(b), ",spare")) << ToCsvRow(b);
}

}  // namespace
}  // namespace flopd
