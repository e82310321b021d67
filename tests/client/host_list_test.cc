// --host's grammar (client/host_list.h): plain addresses, Slurm hostlists,
// hosts files, dns: and slurm, with fake sources (no file system, no DNS).
#include "client/host_list.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"

namespace flopd {
namespace {

HostSources Fake(std::map<std::string, std::string> files = {},
                 std::map<std::string, std::string> env = {},
                 std::map<std::string, std::vector<std::string>> dns = {}) {
  HostSources sources;
  sources.read_file = [files](const std::string& path) -> absl::StatusOr<std::string> {
    auto it = files.find(path);
    if (it == files.end()) return absl::NotFoundError("cannot read the file");
    return it->second;
  };
  sources.getenv = [env](const std::string& name) {
    auto it = env.find(name);
    return it == env.end() ? std::string() : it->second;
  };
  sources.resolve = [dns](const std::string& name) -> absl::StatusOr<std::vector<std::string>> {
    auto it = dns.find(name);
    if (it == dns.end()) return absl::NotFoundError("Name or service not known");
    return it->second;
  };
  return sources;
}

std::string Addresses(const std::string& spec, const HostSources& sources = Fake()) {
  absl::StatusOr<std::vector<HostEntry>> hosts = ExpandHosts(spec, sources);
  if (!hosts.ok()) return "ERROR " + std::string(hosts.status().message());
  std::vector<std::string> out;
  for (const HostEntry& h : *hosts) out.push_back(h.label.empty() ? h.address : h.address + "=" + h.label);
  return absl::StrJoin(out, " ");
}

TEST(HostList, HostlistExpressionsKeepPaddingAndMultiply) {
  EXPECT_EQ(absl::StrJoin(*ExpandHostlist("gpu[01-03,7,10-11]"), " "),
            "gpu01 gpu02 gpu03 gpu7 gpu10 gpu11");
  EXPECT_EQ(absl::StrJoin(*ExpandHostlist("node[1-3]-ib"), " "), "node1-ib node2-ib node3-ib");
  EXPECT_EQ(absl::StrJoin(*ExpandHostlist("r[1-2]n[08-09]"), " "), "r1n08 r1n09 r2n08 r2n09");
  EXPECT_EQ(absl::StrJoin(*ExpandHostlist("[::1]:50051"), " "), "[::1]:50051");  // IPv6 kept
  EXPECT_EQ(absl::StrJoin(*ExpandHostlist("plain"), " "), "plain");
}

TEST(HostList, WordsSplitAtCommasOutsideBrackets) {
  EXPECT_EQ(absl::StrJoin(SplitHostWords(" a, gpu[1-2,5] ,,[::1]:7,b "), "|"),
            "a|gpu[1-2,5]|[::1]:7|b");
}

TEST(HostList, PlainAddressesGetThePortAndDuplicatesRunOnce) {
  EXPECT_EQ(Addresses("a,a,a:50051,b:7,[::1],unix:/run/f.sock,unix:/run/f.sock"),
            "a:50051 b:7 [::1]:50051 unix:/run/f.sock");
  EXPECT_EQ(Addresses("gpu[1-2]:60000,gpu1:60000"), "gpu1:60000 gpu2:60000");
}

TEST(HostList, HostsFilesHaveCommentsLabelsAndExpressions) {
  const HostSources sources =
      Fake({{"fleet.txt", "# the rack\ngpu[01-02]\n  ws7:50061  desk-of-ana  # under the desk\n\n"
                          "ws7:50061\n10.0.0.9 spare\n"}});
  EXPECT_EQ(Addresses("@fleet.txt,extra", sources),
            "gpu01:50051 gpu02:50051 ws7:50061=desk-of-ana 10.0.0.9:50051=spare extra:50051");
}

TEST(HostList, DnsNamesBecomeEveryAddressAndSlurmTheAllocation) {
  const HostSources sources =
      Fake({}, {{"SLURM_JOB_NODELIST", "gpu[01-02],login1"}},
           {{"flopd.fleet.test", {"10.0.0.1", "10.0.0.2", "fd00::3"}}});
  EXPECT_EQ(Addresses("dns:flopd.fleet.test:6000", sources),
            "10.0.0.1:6000 10.0.0.2:6000 [fd00::3]:6000");
  EXPECT_EQ(Addresses("dns:flopd.fleet.test", sources),
            "10.0.0.1:50051 10.0.0.2:50051 [fd00::3]:50051");
  EXPECT_EQ(Addresses("slurm", sources), "gpu01:50051 gpu02:50051 login1:50051");
  EXPECT_EQ(Addresses("slurm:7000", Fake({}, {{"SLURM_NODELIST", "n[1-2]"}})), "n1:7000 n2:7000");
}

TEST(HostList, MalformedInputIsRefusedNamingTheWordAndWhy) {
  const HostSources sources =
      Fake({{"bad.txt", "ok\nthree columns here\n"}, {"nested.txt", "@other\n"},
            {"label.txt", "gpu[1-2] both\n"}, {"empty.txt", "# nothing\n"}});
  struct Case {
    std::string spec;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {"", "--host: no host given"},
           {"gpu[3-1]", "--host: 'gpu[3-1]': range 3-1 runs backwards"},
           {"gpu[1-", "--host: 'gpu[1-': a '[' without its ']'"},
           {"gpu1-2]", "--host: 'gpu1-2]': a ']' without its '['"},
           {"gpu[1--2]", "is not a number or a range A-B"},
           {"gpu[,]", "is not a number or a range A-B"},
           {"gpu[1-999999]", "expands to more than 10000 hosts"},
           {"a[1-200]b[1-200]", "expands to more than 10000 hosts"},
           {"gpu[1234567890]", "numbers of at most 9 digits"},
           {"h:99999", "--host: 'h:99999' is not allowed"},
           {"@missing.txt", "--host: @missing.txt: cannot read the file"},
           {"@bad.txt", "--host: @bad.txt:2: 'three columns here': a line holds a host and at most one label"},
           {"@nested.txt", "--host: @nested.txt:1: 'other': a hosts file cannot include another"},
           {"@label.txt", "--host: @label.txt:1: 'gpu[1-2]': a label names one host"},
           {"@empty.txt", "--host: the hosts file names no host"},
           {"dns:", "dns: needs a name"},
           {"dns:nowhere.test", "--host: 'dns:nowhere.test': no address for nowhere.test (Name or service not known)"},
           {"dns:x:0", "port '0' is not allowed; allowed 1..65535"},
           {"slurm", "SLURM_JOB_NODELIST is not set: not inside a Slurm allocation"},
           {"slurm:http", "port 'http' is not allowed"},
       }) {
    const std::string got = Addresses(c.spec, sources);
    EXPECT_TRUE(absl::StartsWith(got, "ERROR ")) << c.spec << " -> " << got;
    EXPECT_TRUE(absl::StrContains(got, c.message)) << c.spec << " -> " << got;
  }
}

}  // namespace
}  // namespace flopd
