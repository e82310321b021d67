// What flopctl ops and info print, apart from dialling (client/info_commands.cc).
#ifndef FLOPD_CLIENT_INFO_COMMANDS_H_
#define FLOPD_CLIENT_INFO_COMMANDS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "flopd/v1/flopd.pb.h"

namespace flopd {

// One op catalog as flopctl ops lists it: each op's FLOP and byte models,
// params and impls.
std::string CatalogText(const v1::ListOpsResponse& ops);

// The catalogs of several hosts, (host, catalog) in the order given: each
// distinct catalog once, headed by the hosts that have it ("catalog of a, b
// (2 hosts):"; at most 8 named, then how many more). One host: its catalog
// alone, unheaded.
std::string CatalogsText(const std::vector<std::pair<std::string, v1::ListOpsResponse>>& hosts);

// A device's ceilings as flopctl info prints them: measured beside derived,
// their age ("measured 3 h 12 min ago, at flopd's start"; `now_unix_ms` and
// the daemon's start time), attempts and doubts; or why there are none.
std::string CeilingsText(const v1::DeviceInfo& d, int64_t now_unix_ms,
                         int64_t flopd_started_unix_ms);

}  // namespace flopd

#endif  // FLOPD_CLIENT_INFO_COMMANDS_H_
