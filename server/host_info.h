// The host as flopd describes it (flopd.v1.HostInfo): its devices, their
// health, queues and ceilings, and the store. One builder for every front
// end — the gRPC service's GetHostInfo and HTTP's /api/v1/host — so both
// report the same thing.
#ifndef FLOPD_SERVER_HOST_INFO_H_
#define FLOPD_SERVER_HOST_INFO_H_

#include <chrono>
#include <cstdint>
#include <string>

#include "flopd/v1/flopd.pb.h"
#include "server/history_api.h"
#include "server/scheduler.h"

namespace flopd {

// This build's version (CMake's PROJECT_VERSION).
extern const char kFlopdVersion[];
// How this binary was built (Result.flopd_build): "git COMMIT[-dirty],
// BUILD_TYPE, COMPILER VERSION, CUDA VERSION | no CUDA"; the commit is read at
// build time (cmake/build_stamp.cmake).
extern const char kFlopdBuild[];

// What the gRPC front end lets one call or all callers take (flopd's flags;
// the service enforces them, HostInfo.limits reports them beside the
// scheduler's).
struct ServiceLimits {
  // Largest request message (grpc::ServerBuilder::SetMaxReceiveMessageSize).
  // The largest sane RunRequest is a few KB; gRPC's default is 4 MiB.
  int64_t max_request_bytes = int64_t{1} << 20;
  // Run and WatchResults streams open at once (--max-streams). Each holds a
  // thread of the synchronous server for its whole life.
  int max_streams = 256;
  // Results a WatchResults stream holds for a reader that is behind
  // (ResultHub's per-subscriber buffer).
  int max_watch_buffer_results = static_cast<int>(ResultHub::kDefaultCapacity);
  // How long a stream whose reader fell behind may stay open before it is
  // cancelled (server/stream_registry.h; not reported).
  std::chrono::milliseconds behind_grace{5000};
};

struct HostIdentity {
  std::string hostname;     // what results and HostInfo report
  int64_t started_unix_ms;  // when this flopd started
  v1::Security security;    // how it is protected (HostInfo.security)
  ServiceLimits limits;     // the service's limits (HostInfo.limits)
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
