// --host's parsers (client/host_list.h) on arbitrary bytes: the --host value,
// a hosts file (@f) and the Slurm node list (slurm) all come from the input,
// DNS from a fake resolver. Whatever the bytes: an INVALID_ARGUMENT starting
// "--host: ", or at most kMaxHosts entries, each a dialable address, none
// twice.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "client/host_client.h"
#include "client/host_list.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace flopd;
  // The input: SPEC \0 FILE \0 NODELIST (missing parts are empty).
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t first = input.find('\0');
  const std::string spec = input.substr(0, first);
  const std::string rest = first == std::string::npos ? "" : input.substr(first + 1);
  const size_t second = rest.find('\0');
  const std::string file = rest.substr(0, second);
  const std::string nodes = second == std::string::npos ? "" : rest.substr(second + 1);
  HostSources sources;
  sources.read_file = [&](const std::string& path) -> absl::StatusOr<std::string> {
    if (path == "f") return file;
    return absl::NotFoundError("cannot read the file");
  };
  sources.getenv = [&](const std::string& name) {
    return name == "SLURM_JOB_NODELIST" ? nodes : std::string();
  };
  sources.resolve = [](const std::string& name) -> absl::StatusOr<std::vector<std::string>> {
    if (name.size() % 3 == 0) return absl::NotFoundError("no such name");
    return std::vector<std::string>{"10.0.0.1", "fd00::1"};
  };
  const absl::StatusOr<std::vector<HostEntry>> hosts = ExpandHosts(spec, sources);
  if (!hosts.ok()) {
    FUZZ_CHECK(hosts.status().code() == absl::StatusCode::kInvalidArgument);
    FUZZ_CHECK(absl::StartsWith(hosts.status().message(), "--host: "));
    return 0;
  }
  FUZZ_CHECK(!hosts->empty() && hosts->size() <= kMaxHosts);
  std::set<std::string> seen;
  for (const HostEntry& host : *hosts) {
    FUZZ_CHECK(DialAddress(host.address).ok());
    FUZZ_CHECK(seen.insert(host.address).second);
  }
  return 0;
}
