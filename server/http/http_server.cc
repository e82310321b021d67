#include "server/http/http_server.h"

#include <sys/socket.h>

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/address.h"
#include "common/op_catalog.h"
#include "common/sanitize.h"
#include "httplib.h"
#include "proto/wire/wire.h"
#include "server/http/dashboard_assets.h"
#include "server/http/json_api.h"
#include "server/log.h"

namespace flopd {

namespace {

constexpr char kJson[] = "application/json";

// Worker threads: each watch stream holds one for its whole life, each
// keep-alive connection one while it is open.
constexpr int kPlainWorkers = 16;

const char kEndpoints[] =
    "/, /metrics, /healthz, /readyz, /api/v1/host, /api/v1/ops, /api/v1/jobs, "
    "/api/v1/jobs/JOB_ID, /api/v1/results, /api/v1/watch";

void AnswerError(httplib::Response& res, const absl::Status& status) {
  res.status = HttpStatusOf(status.code());
  res.set_content(ErrorJson(status), kJson);
}

template <typename Message>
void Answer(httplib::Response& res, const absl::StatusOr<Message>& answer) {
  if (!answer.ok()) return AnswerError(res, answer.status());
  res.status = 200;
  res.set_content(ToJson(*answer), kJson);
}

QueryParams ParamsOf(const httplib::Request& req) {
  return QueryParams(req.params.begin(), req.params.end());
}

// The request message of an endpoint from its query, or the error sent.
template <typename Request>
bool ParseRequest(const httplib::Request& req, httplib::Response& res, Request* request) {
  if (absl::Status st = ParseQuery(ParamsOf(req), request); !st.ok()) {
    AnswerError(res, st);
    return false;
  }
  return true;
}

// What an HTTP request tells authorization: the token (Authorization:
// Bearer, or Basic's password), HTTPS or not, the peer and the verified
// client certificate's common name.
CallFacts HttpCallFacts(const httplib::Request& req, bool tls) {
  CallFacts call;
  call.tls = tls;
  call.peer = absl::StrCat(req.remote_addr.find(':') == std::string::npos ? "ipv4:" : "ipv6:",
                           req.remote_addr, ":", req.remote_port);
  call.local_peer = IsLocalPeer(req.remote_addr);
  if (req.has_header("Authorization")) {
    call.has_token = true;
    const std::string header = req.get_header_value("Authorization");
    absl::string_view value = header;
    std::string decoded;
    if (absl::ConsumePrefix(&value, "Bearer ") || absl::ConsumePrefix(&value, "bearer ")) {
      call.token = std::string(value);
    } else if ((absl::ConsumePrefix(&value, "Basic ") || absl::ConsumePrefix(&value, "basic ")) &&
               absl::Base64Unescape(value, &decoded) && decoded.find(':') != std::string::npos) {
      call.token = decoded.substr(decoded.find(':') + 1);
    }
  }
  if (tls) call.certificate_name = PeerCommonName(req.ssl);
  return call;
}

absl::Status NoHistory() {
  return absl::FailedPreconditionError("this flopd keeps no history: its store is off");
}

// HOST:PORT or [V6]:PORT, as flopd --listen and flopctl --host take them
// (common/address.h).
absl::Status SplitAddress(const std::string& address, std::string* host, int* port) {
  absl::StatusOr<HostPort> parsed = ParseHostPort(address);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--http-listen: ", parsed.status().message()));
  }
  *host = parsed->host;
  *port = parsed->port;
  return absl::OkStatus();
}

std::string ReadFile(const std::string& path, bool* ok) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  *ok = static_cast<bool>(in);
  return contents.str();
}

// One server-sent event.
std::string SseEvent(absl::string_view name, const std::string& json) {
  return absl::StrCat("event: ", name, "\ndata: ", json, "\n\n");
}

}  // namespace

HttpServer::HttpServer(const HttpOptions& options, const HttpSources& sources)
    : options_(options), sources_(sources) {
  if (options.tls == nullptr) {
    server_ = std::make_unique<httplib::Server>();
  } else {
    TlsFiles* tls = options.tls;
    server_ = std::make_unique<httplib::SSLServer>(
        [tls](SSL_CTX& context) { return tls->ConfigureServerContext(&context); });
  }
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpOptions& options,
                                                              const HttpSources& sources) {
  std::string host;
  int port = 0;
  if (absl::Status st = SplitAddress(options.address, &host, &port); !st.ok()) return st;
  std::unique_ptr<HttpServer> http(new HttpServer(options, sources));
  httplib::Server& server = *http->server_;
  if (!server.is_valid()) {
    return absl::InvalidArgumentError("--tls-cert: the HTTPS listener could not use the certificate");
  }
  const int workers = kPlainWorkers + options.max_watches;

  // SO_REUSEADDR only (a restart may bind while old connections linger),
  // never SO_REUSEPORT: a second flopd must not share the port.
  server.set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  // Headers and body go out in separate writes: without TCP_NODELAY the body
  // waits for the peer's delayed ACK of the headers (~40 ms a response).
  server.set_tcp_nodelay(true);
  server.set_payload_max_length(64 * 1024);
  server.set_read_timeout(10, 0);
  server.set_write_timeout(10, 0);
  http->Route();
  const int bound = port == 0 ? server.bind_to_any_port(host)
                              : (server.bind_to_port(host, port) ? port : -1);
  if (bound <= 0) {
    return absl::UnavailableError(absl::StrCat(
        "--http-listen: cannot listen on ", options.address,
        " (in use, or not an address of this host); pick another with --http-listen, or "
        "turn HTTP off with --no-http"));
  }
  const bool v6 = host.find(':') != std::string::npos;
  http->address_ = v6 ? absl::StrCat("[", host, "]:", bound) : absl::StrCat(host, ":", bound);
  // The pool's threads start here, on the caller's thread, so that a start
  // short of threads fails before flopd says it serves (httplib would make
  // them on its own thread, once listening). httplib asks for it once, in
  // listen_after_bind, and deletes it when it stops.
  httplib::TaskQueue* pool = new httplib::ThreadPool(workers);
  server.new_task_queue = [pool] { return pool; };
  http->thread_ = std::thread([&server] { server.listen_after_bind(); });
  return http;
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() {
  if (stopping_.exchange(true)) return;
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

void HttpServer::Route() {
  httplib::Server& server = *server_;
  const HttpSources sources = sources_;

  const AccessControl* access = options_.access;
  const bool tls = options_.tls != nullptr;
  server.set_pre_routing_handler([access, tls](const httplib::Request& req, httplib::Response& res) {
    if (req.method == "GET" || req.method == "HEAD") {
      // Probes stay open: they say only whether flopd serves.
      if (access == nullptr || req.path == "/healthz" || req.path == "/readyz") {
        return httplib::Server::HandlerResponse::Unhandled;
      }
      absl::StatusOr<Caller> caller =
          access->Authorize(HttpCallFacts(req, tls), Role::kRead, absl::StrCat("GET ", req.path));
      if (caller.ok()) return httplib::Server::HandlerResponse::Unhandled;
      if (absl::IsUnauthenticated(caller.status())) {
        // Basic first: a browser opening the dashboard then asks for it
        // (any user name, the token as the password).
        res.set_header("WWW-Authenticate", "Basic realm=\"flopd\", charset=\"UTF-8\"");
        res.set_header("WWW-Authenticate", "Bearer realm=\"flopd\"");
      }
      LogLine(absl::StrCat("http: refused GET ", Sanitized(req.path, kLogFieldBytes), " from ",
                           req.remote_addr, ": ", caller.status().message()));
      AnswerError(res, caller.status());
      return httplib::Server::HandlerResponse::Handled;
    }
    res.status = 405;
    res.set_header("Allow", "GET, HEAD");
    res.set_content(ErrorJson(absl::InvalidArgumentError(absl::StrCat(
                        "method ", req.method,
                        " is not allowed: flopd's HTTP API is read-only (GET, HEAD); submit and "
                        "cancel jobs over gRPC"))),
                    kJson);
    return httplib::Server::HandlerResponse::Handled;
  });
  server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404) {
      res.set_content(ErrorJson(absl::NotFoundError(absl::StrCat(
                          "no such path: ", req.path, "; flopd serves ", kEndpoints))),
                      kJson);
    } else {
      res.set_content(ErrorJson(absl::Status(absl::StatusCode::kUnknown,
                                             absl::StrCat("HTTP ", res.status))),
                      kJson);
    }
  });
  server.set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr error) {
        std::string what = "unknown error";
        try {
          if (error) std::rethrow_exception(error);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        LogLine(absl::StrCat("http: ", req.method, " ", req.path, " failed: ", what));
        AnswerError(res, absl::InternalError(what));
      });

  // The dashboard.
  const std::string dashboard_dir = options_.dashboard_dir;
  auto serve_asset = [dashboard_dir](const std::string& path, httplib::Response& res) {
    for (const DashboardAsset& asset : DashboardAssets()) {
      if (path != asset.path) continue;
      res.set_header("Cache-Control", "no-cache");
      if (dashboard_dir.empty()) {
        res.set_content(asset.body.data(), asset.body.size(), asset.content_type);
        return;
      }
      bool ok = false;
      const std::string body = ReadFile(dashboard_dir + path, &ok);
      if (!ok) {
        return AnswerError(res, absl::NotFoundError(absl::StrCat(
                                    "cannot read ", dashboard_dir + path, " (--http-dashboard-dir)")));
      }
      res.set_content(body, asset.content_type);
      return;
    }
    res.status = 404;
  };
  server.Get("/", [serve_asset](const httplib::Request&, httplib::Response& res) {
    serve_asset("/index.html", res);
  });
  server.Get("/favicon.ico", [](const httplib::Request&, httplib::Response& res) {
    res.status = 204;
  });
  server.Get(R"(/[a-z_]+\.(html|js|css|svg))",
             [serve_asset](const httplib::Request& req, httplib::Response& res) {
               serve_asset(req.path, res);
             });

  // Health, readiness, metrics.
  // The security warnings (HostInfo.security.warnings, e.g. --insecure) in
  // both probes' bodies, so that whoever watches health sees them.
  std::string warnings = "[";
  for (const std::string& warning : sources.host.security.warnings()) {
    absl::StrAppend(&warnings, warnings.size() > 1 ? ", " : "", JsonString(warning));
  }
  warnings += "]";
  server.Get("/healthz", [warnings](const httplib::Request&, httplib::Response& res) {
    res.set_content(absl::StrCat("{\"status\": \"ok\", \"warnings\": ", warnings, "}"), kJson);
  });
  server.Get("/readyz", [sources, warnings](const httplib::Request&, httplib::Response& res) {
    int healthy = 0;
    for (int slot = 0; slot < sources.scheduler->device_count(); ++slot) {
      std::string detail;
      if (sources.scheduler->device(slot).Healthy(&detail)) ++healthy;
    }
    std::string reason;
    if (!sources.scheduler->accepting_jobs()) {
      reason = "flopd is shutting down";
    } else if (healthy == 0) {
      reason = "no healthy device";
    } else if (sources.scheduler->draining()) {
      reason = "draining: an admin stopped new jobs (flopctl drain)";
    }
    const std::string store =
        sources.history != nullptr ? sources.history->StoreState().state : "off";
    res.status = reason.empty() ? 200 : 503;
    res.set_content(absl::StrCat("{\"ready\": ", reason.empty() ? "true" : "false",
                                 ", \"reason\": ", JsonString(reason),
                                 ", \"healthy_devices\": ", healthy,
                                 ", \"store\": ", JsonString(store),
                                 ", \"warnings\": ", warnings, "}"),
                    kJson);
  });
  server.Get("/metrics", [sources](const httplib::Request&, httplib::Response& res) {
    const StoreHealth store = sources.history != nullptr ? sources.history->StoreState()
                                                         : StoreHealth{"off"};
    res.set_content(sources.metrics->Render(*sources.scheduler, store),
                    "text/plain; version=0.0.4; charset=utf-8");
  });

  // The API.
  server.Get("/api/v1/host", [sources, access, tls](const httplib::Request& req,
                                                     httplib::Response& res) {
    v1::GetHostInfoRequest request;
    if (!ParseRequest(req, res, &request)) return;
    if (request.measure_ceilings() || request.remeasure_ceilings()) {
      // HTTP only reads: measuring takes a device (gRPC, run or admin role).
      return AnswerError(res, absl::InvalidArgumentError(
                                  "measure_ceilings, remeasure_ceilings: not allowed over HTTP, "
                                  "which only reads; use flopctl info --ceilings or --remeasure"));
    }
    v1::HostInfo info = DescribeHost(*sources.scheduler, sources.host, sources.history, request);
    static const AccessControl* const kOff = new AccessControl();
    absl::StatusOr<Caller> caller = (access ? access : kOff)->Identify(HttpCallFacts(req, tls));
    if (caller.ok()) {
      info.mutable_security()->set_you(caller->identity);
      info.mutable_security()->set_your_role(RoleName(caller->role));
    }
    Answer(res, absl::StatusOr<v1::HostInfo>(std::move(info)));
  });
  server.Get("/api/v1/ops", [](const httplib::Request& req, httplib::Response& res) {
    v1::ListOpsRequest request;
    if (!ParseRequest(req, res, &request)) return;
    v1::ListOpsResponse response;
    for (const OpSpec& op : OpCatalog()) *response.add_ops() = ToProto(op);
    Answer(res, absl::StatusOr<v1::ListOpsResponse>(response));
  });
  server.Get("/api/v1/jobs", [sources](const httplib::Request& req, httplib::Response& res) {
    v1::ListJobsRequest request;
    if (!ParseRequest(req, res, &request)) return;
    if (sources.history == nullptr) return AnswerError(res, NoHistory());
    Answer(res, sources.history->ListJobs(request));
  });
  server.Get(R"(/api/v1/jobs/([^/]+))",
             [sources](const httplib::Request& req, httplib::Response& res) {
               v1::GetJobRequest request;
               if (!ParseRequest(req, res, &request)) return;
               if (request.job_id().empty()) request.set_job_id(req.matches[1]);
               if (sources.history == nullptr) return AnswerError(res, NoHistory());
               Answer(res, sources.history->GetJob(request));
             });
  server.Get("/api/v1/results", [sources](const httplib::Request& req, httplib::Response& res) {
    v1::ListResultsRequest request;
    if (!ParseRequest(req, res, &request)) return;
    if (sources.history == nullptr) return AnswerError(res, NoHistory());
    Answer(res, sources.history->ListResults(request));
  });
  server.Get("/api/v1/watch", [this, sources](const httplib::Request& req,
                                              httplib::Response& res) {
    v1::WatchResultsRequest request;
    if (!ParseRequest(req, res, &request)) return;
    if (sources.history == nullptr) return AnswerError(res, NoHistory());
    // Every error is answered before the stream starts.
    if (absl::StatusOr<ResultFilter> checked = sources.history->CheckWatch(request);
        !checked.ok()) {
      return AnswerError(res, checked.status());
    }
    if (watches_.fetch_add(1) >= options_.max_watches) {
      watches_.fetch_sub(1);
      return AnswerError(res, absl::ResourceExhaustedError(absl::StrCat(
                                  "watch: ", options_.max_watches,
                                  " watch streams are open already; try again later")));
    }
    const std::string peer = absl::StrCat(req.remote_addr, ":", req.remote_port);
    LogLine(absl::StrCat("http watch from ", peer));
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    const std::chrono::milliseconds keepalive = options_.watch_keepalive;
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, sources, request, keepalive, peer](size_t, httplib::DataSink& sink) {
          auto last_write = std::chrono::steady_clock::now();
          auto write = [&](const std::string& text) {
            last_write = std::chrono::steady_clock::now();
            return sink.write(text.data(), text.size());
          };
          const absl::Status ended = sources.history->WatchResults(
              request,
              [&](const v1::WatchEvent& event) {
                return event.has_result() ? write(SseEvent("result", ToJson(event.result())))
                                          : write(SseEvent("caught_up", ToJson(event.caught_up())));
              },
              [&] {
                if (stopping_.load()) return true;
                if (std::chrono::steady_clock::now() - last_write < keepalive) return false;
                return !write(": keepalive\n\n");
              });
          if (!absl::IsCancelled(ended)) {
            (void)write(SseEvent("end", ErrorJson(ended)));
          }
          LogLine(absl::StrCat("http watch from ", peer, " ended: ", ended.ToString()));
          sink.done();
          return true;
        },
        [this](bool) { watches_.fetch_sub(1); });
  });
}

}  // namespace flopd
