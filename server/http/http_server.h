// flopd's HTTP listener for dashboards (docs/HTTP.md): the built-in
// dashboard, /metrics, /healthz, /readyz and the read-only /api/v1 JSON
// API. Served by cpp-httplib on its own threads; every answer comes from
// the same objects the gRPC service uses (the scheduler, the history API,
// DescribeHost), converted by json_api.h.
//
// Thread-safe. Stop() (or the destructor) ends it; watch streams end first
// when the result hub shuts down.
#ifndef FLOPD_SERVER_HTTP_HTTP_SERVER_H_
#define FLOPD_SERVER_HTTP_HTTP_SERVER_H_

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "server/auth/access_control.h"
#include "server/auth/tls_files.h"
#include "server/history_api.h"
#include "server/host_info.h"
#include "server/http/metrics.h"
#include "server/scheduler.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace flopd {

struct HttpOptions {
  static constexpr char kDefaultAddress[] = "127.0.0.1:50052";
  std::string address = kDefaultAddress;  // HOST:PORT, [V6]:PORT; port 0 = any free port
  // Serve the dashboard's files from this directory instead of the copy
  // built into the binary (for working on the page without rebuilding).
  std::string dashboard_dir;
  // Watch streams served at once; more are RESOURCE_EXHAUSTED (429).
  int max_watches = 32;
  // A comment line on an idle watch stream this often (keeps proxies from
  // closing it, and finds readers that left).
  std::chrono::milliseconds watch_keepalive{15000};
  // HTTPS with this material (not owned; null = plain HTTP). Its client CA,
  // if any, makes every connection present a certificate it signed.
  TlsFiles* tls = nullptr;
  // Who may read (not owned; null = authorization off). Everything but
  // /healthz and /readyz needs the read role: "Authorization: Bearer TOKEN",
  // or HTTP Basic with the token as the password (browsers ask for it).
  const AccessControl* access = nullptr;
};

// What the endpoints read. None is owned; all must outlive the server.
// `history` may be null (no store: the history endpoints answer
// FAILED_PRECONDITION).
struct HttpSources {
  Scheduler* scheduler = nullptr;
  const HistoryApi* history = nullptr;
  FlopdMetrics* metrics = nullptr;
  HostIdentity host;
};

class HttpServer {
 public:
  // Binds the address and starts serving. INVALID_ARGUMENT for an address
  // that is not HOST:PORT, UNAVAILABLE when it cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const HttpOptions& options,
                                                           const HttpSources& sources);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound address, e.g. "127.0.0.1:50052".
  const std::string& address() const { return address_; }
  // Stops accepting, waits for requests in progress. Idempotent.
  void Stop();

 private:
  HttpServer(const HttpOptions& options, const HttpSources& sources);
  void Route();

  const HttpOptions options_;
  const HttpSources sources_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::string address_;
  std::atomic<int> watches_{0};
  std::atomic<bool> stopping_{false};
};

}  // namespace flopd

#endif  // FLOPD_SERVER_HTTP_HTTP_SERVER_H_
