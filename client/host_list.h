// What `--host` names (issue 10): a fleet the way people already name it.
// A --host value is a comma-separated list of words (commas inside [] belong
// to the word), each one of:
//
//   HOST, HOST:PORT, [IPV6], [IPV6]:PORT, unix:PATH   one daemon (port 50051 by default)
//   gpu[01-16,20], node[1-3]-ib:50061                 a Slurm hostlist expression
//   @FILE                                             one host word per line, '#' comments,
//                                                     an optional label after it: "gpu01 rack3-top"
//   dns:NAME[:PORT]                                   every A/AAAA record of NAME (a Kubernetes
//                                                     headless Service has one per pod)
//   slurm[:PORT]                                      the nodes of the current Slurm allocation
//                                                     ($SLURM_JOB_NODELIST, else $SLURM_NODELIST)
//
// The same daemon named twice (after the default port is added) is dialed
// once. Errors are INVALID_ARGUMENT starting "--host: " and quote a bounded
// part of the word; nothing is dialed when the value is malformed.
//
// Thread-safe: pure functions of their arguments (the sources do the I/O).
#ifndef FLOPD_CLIENT_HOST_LIST_H_
#define FLOPD_CLIENT_HOST_LIST_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace flopd {

// The outside world the words read: files, the environment, DNS. Tests and
// fuzzers pass their own.
struct HostSources {
  std::function<absl::StatusOr<std::string>(const std::string& path)> read_file;
  std::function<std::string(const std::string& name)> getenv;  // "" when unset
  // The addresses of a name, as text ("10.0.0.5", "fd00::5"); NOT_FOUND when none.
  std::function<absl::StatusOr<std::vector<std::string>>(const std::string& name)> resolve;
};
// The real ones: the file system, the process environment, getaddrinfo.
HostSources SystemHostSources();

struct HostEntry {
  std::string address;  // as flopctl dials it: HOST:PORT, [V6]:PORT or unix:PATH
  std::string label;    // from a hosts file; empty = none
};

// The most hosts one --host value may expand to.
inline constexpr size_t kMaxHosts = 10000;

absl::StatusOr<std::vector<HostEntry>> ExpandHosts(absl::string_view spec,
                                                   const HostSources& sources);

// Only the addresses of ExpandHosts(spec, SystemHostSources()).
absl::StatusOr<std::vector<std::string>> ExpandHostAddresses(absl::string_view spec);

// A Slurm hostlist expression to its names, in order: "gpu[01-03,7]" ->
// gpu01 gpu02 gpu03 gpu07 (zero padding kept); several bracket groups
// multiply ("r[1-2]n[1-2]" -> r1n1 r1n2 r2n1 r2n2); a bracket holding
// anything but digits, ',' and '-' (an IPv6 address) is kept as it is.
absl::StatusOr<std::vector<std::string>> ExpandHostlist(absl::string_view expression);

// Splits at commas outside brackets: "a,b[1-2,5],c" -> a, b[1-2,5], c;
// spaces around words are trimmed, empty words dropped.
std::vector<std::string> SplitHostWords(absl::string_view spec);

}  // namespace flopd

#endif  // FLOPD_CLIENT_HOST_LIST_H_
