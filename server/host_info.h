// The host as flopd describes it (flopd.v1.HostInfo): its devices, their
// health, queues and ceilings, and the store. One builder for every front
// end — the gRPC service's GetHostInfo and HTTP's /api/v1/host — so both
// report the same thing.
#ifndef FLOPD_SERVER_HOST_INFO_H_
#define FLOPD_SERVER_HOST_INFO_H_

#include <cstdint>
#include <string>

#include "flopd/v1/flopd.pb.h"
#include "server/history_api.h"
#include "server/scheduler.h"

namespace flopd {

// This build's version (CMake's PROJECT_VERSION).
extern const char kFlopdVersion[];

struct HostIdentity {
  std::string hostname;     // what results and HostInfo report
  int64_t started_unix_ms;  // when this flopd started
};

// Describes the host. With `request.measure_ceilings` (or
// `remeasure_ceilings`) it first asks each device's worker to measure its
// ceilings and waits for it (up to 30 s a device; what was measured before
// is reported when the device stays busy); otherwise the cached ceilings
// are reported and nothing is measured. `history` may be null (no store:
// store.state "off").
v1::HostInfo DescribeHost(Scheduler& scheduler, const HostIdentity& host,
                          const HistoryApi* history, const v1::GetHostInfoRequest& request);

}  // namespace flopd

#endif  // FLOPD_SERVER_HOST_INFO_H_
