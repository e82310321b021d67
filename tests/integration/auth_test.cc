// Identity and roles (issue 9, docs/SECURITY.md) on real flopd processes:
// TLS and mutual TLS with certificates made here by openssl, bearer tokens
// from a tokens file, each role against every gRPC call and HTTP endpoint,
// and what surrounds it: ownership of jobs, the per-caller queue, SIGHUP
// reloads, the Unix socket, refusals at start, and the real flopctl with
// its flags and environment.
#include <ifaddrs.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "flopd/v1/flopd.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "tests/integration/process_harness.h"

namespace flopd::testing {
namespace {

using grpc::StatusCode;
using std::chrono::milliseconds;
using std::chrono::seconds;

// The test's tokens (16+ characters, as the tokens file requires).
constexpr char kReadToken[] = "read-token-0123456789abcdef";
constexpr char kRunToken[] = "run-token-0123456789abcdef";
constexpr char kRun2Token[] = "run2-token-0123456789abcdef";
constexpr char kAdminToken[] = "admin-token-0123456789abcdef";
constexpr char kExpiredToken[] = "expired-token-0123456789abcdef";
constexpr char kUnknownToken[] = "unknown-token-0123456789abcdef";

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

void Sh(const std::string& command) {
  ASSERT_EQ(std::system((command + " >/dev/null 2>&1").c_str()), 0) << command;
}

// Certificates made once per test process with the openssl command line: a
// CA, flopd's certificate for localhost/127.0.0.1, client certificates
// "alice" (in the tokens file: admin) and "mallory" (signed by the CA, in no
// entry), and "eve", signed by a CA flopd does not trust.
struct Pki {
  std::string dir;
  std::string ca() const { return dir + "/ca.pem"; }
  std::string cert(const std::string& name) const { return dir + "/" + name + ".pem"; }
  std::string key(const std::string& name) const { return dir + "/" + name + ".key"; }
  std::string tokens;  // the tokens file
};

void MakeCertificate(const std::string& dir, const std::string& name, const std::string& ca,
                     const std::string& extensions = "") {
  const std::string d = dir + "/";
  Sh(absl::StrCat("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ", d,
                  name, ".key -out ", d, name, ".csr -subj /CN=", name));
  if (!extensions.empty()) WriteFile(d + name + ".ext", extensions);
  Sh(absl::StrCat("openssl x509 -req -in ", d, name, ".csr -CA ", d, ca, ".pem -CAkey ", d, ca,
                  ".key -CAcreateserial -days 2 -out ", d, name, ".pem",
                  extensions.empty() ? "" : absl::StrCat(" -extfile ", d, name, ".ext")));
}

std::string TokensFile(const std::string& extra = "") {
  return absl::StrCat("# name role credential [expires]\n",
                      "reader read token:", kReadToken, "\n",
                      "runner run token:", kRunToken, "\n",
                      "runner2 run token:", kRun2Token, "\n",
                      "boss admin token:", kAdminToken, "\n",
                      "old run token:", kExpiredToken, " expires=2020-01-01T00:00:00Z\n",
                      "alice admin cert:alice\n", extra);
}

const Pki& Certificates() {
  static const Pki* const pki = [] {
    auto* p = new Pki;
    p->dir = TempDir() + "/pki";
    std::filesystem::create_directories(p->dir);
    for (const char* ca : {"ca", "other-ca"}) {
      Sh(absl::StrCat("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                      "-keyout ", p->dir, "/", ca, ".key -out ", p->dir, "/", ca,
                      ".pem -days 2 -subj /CN=", ca));
    }
    MakeCertificate(p->dir, "localhost", "ca", "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
    MakeCertificate(p->dir, "renewed", "ca", "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
    MakeCertificate(p->dir, "alice", "ca");
    MakeCertificate(p->dir, "mallory", "ca");
    MakeCertificate(p->dir, "eve", "other-ca");
    p->tokens = p->dir + "/tokens";
    WriteFile(p->tokens, TokensFile());
    chmod(p->tokens.c_str(), 0600);
    return p;
  }();
  return *pki;
}

std::vector<std::string> TlsArgs(bool client_ca) {
  const Pki& pki = Certificates();
  std::vector<std::string> args = {"--tls-cert", pki.cert("localhost"), "--tls-key",
                                   pki.key("localhost"), "--tokens", pki.tokens};
  if (client_ca) args.insert(args.end(), {"--tls-client-ca", pki.ca()});
  return args;
}

// How a test call presents itself.
struct Credentials {
  std::string label;        // for messages
  bool tls = false;
  std::string certificate;  // "alice", "mallory", "eve" or "" for none
  std::string token;        // "" = none
};

std::shared_ptr<grpc::Channel> Channel(const std::string& address, const Credentials& c) {
  if (!c.tls) return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  const Pki& pki = Certificates();
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ReadFile(pki.ca());
  if (!c.certificate.empty()) {
    options.pem_cert_chain = ReadFile(pki.cert(c.certificate));
    options.pem_private_key = ReadFile(pki.key(c.certificate));
  }
  return grpc::CreateChannel(address, grpc::SslCredentials(options));
}

void Prepare(grpc::ClientContext* context, const Credentials& c) {
  context->set_deadline(std::chrono::system_clock::now() + seconds(60));
  if (!c.token.empty()) context->AddMetadata("authorization", absl::StrCat("Bearer ", c.token));
}

// A job id of the right shape that no flopd has: CancelJob gets past
// authorization to NOT_FOUND.
constexpr char kNoSuchJob[] = "j-01hv3k7q2m-aaaaaa";

v1::RunRequest TinyJob() {
  v1::RunRequest request;
  request.add_ops("matvec");
  request.add_impls("gemv");
  request.set_sizes("16");
  request.mutable_settings()->set_fixed_samples(1);
  request.mutable_settings()->set_iterations_per_sample(1);
  return request;
}

// A job that runs until cancelled (minutes of fixed samples).
v1::RunRequest LongJob() {
  v1::RunRequest request = TinyJob();
  request.set_sizes("512");
  request.mutable_settings()->set_fixed_samples(100000);
  request.mutable_settings()->set_iterations_per_sample(100);
  return request;
}

enum class Rpc { kListOps, kHostInfo, kListJobs, kGetJob, kListResults, kWatch, kRun, kCancel,
                 kMeasureCeilings, kRemeasureCeilings, kDrain };
const std::map<Rpc, std::string>& RpcNames() {
  static const auto* names = new std::map<Rpc, std::string>{
      {Rpc::kListOps, "ListOps"},         {Rpc::kHostInfo, "GetHostInfo"},
      {Rpc::kListJobs, "ListJobs"},       {Rpc::kGetJob, "GetJob"},
      {Rpc::kListResults, "ListResults"}, {Rpc::kWatch, "WatchResults"},
      {Rpc::kRun, "Run"},                 {Rpc::kCancel, "CancelJob"},
      {Rpc::kMeasureCeilings, "GetHostInfo(measure_ceilings)"},
      {Rpc::kRemeasureCeilings, "GetHostInfo(remeasure_ceilings)"},
      {Rpc::kDrain, "Drain(resume)"}};
  return *names;
}

// Calls `rpc` and returns its status. `job_id` is a job GetJob can find.
grpc::Status Call(v1::Flopd::Stub& stub, Rpc rpc, const Credentials& c,
                  const std::string& job_id) {
  grpc::ClientContext context;
  Prepare(&context, c);
  switch (rpc) {
    case Rpc::kListOps: {
      v1::ListOpsResponse response;
      return stub.ListOps(&context, v1::ListOpsRequest(), &response);
    }
    case Rpc::kHostInfo:
    case Rpc::kMeasureCeilings:
    case Rpc::kRemeasureCeilings: {
      v1::GetHostInfoRequest request;
      request.set_measure_ceilings(rpc == Rpc::kMeasureCeilings);
      request.set_remeasure_ceilings(rpc == Rpc::kRemeasureCeilings);
      v1::HostInfo response;
      return stub.GetHostInfo(&context, request, &response);
    }
    case Rpc::kListJobs: {
      v1::ListJobsResponse response;
      return stub.ListJobs(&context, v1::ListJobsRequest(), &response);
    }
    case Rpc::kGetJob: {
      v1::GetJobRequest request;
      request.set_job_id(job_id);
      v1::JobInfo response;
      return stub.GetJob(&context, request, &response);
    }
    case Rpc::kListResults: {
      v1::ListResultsRequest request;
      request.set_page_size(1);
      v1::ListResultsResponse response;
      return stub.ListResults(&context, request, &response);
    }
    case Rpc::kWatch: {
      v1::WatchResultsRequest request;
      auto reader = stub.WatchResults(&context, request);
      v1::WatchEvent event;
      if (reader->Read(&event)) {  // it serves: the replay or caught_up came
        context.TryCancel();
        while (reader->Read(&event)) {
        }
        reader->Finish();
        return grpc::Status::OK;
      }
      return reader->Finish();
    }
    case Rpc::kRun: {
      auto reader = stub.Run(&context, TinyJob());
      v1::RunEvent event;
      while (reader->Read(&event)) {
      }
      return reader->Finish();
    }
    case Rpc::kDrain: {  // resume: allowed or not, the host keeps taking jobs
      v1::DrainRequest request;
      request.set_resume(true);
      v1::DrainResponse response;
      return stub.Drain(&context, request, &response);
    }
    case Rpc::kCancel: {
      v1::CancelJobRequest request;
      request.set_job_id(kNoSuchJob);
      v1::JobInfo response;
      return stub.CancelJob(&context, request, &response);
    }
  }
  return grpc::Status(StatusCode::INTERNAL, "unknown rpc");
}

// What a caller of `role` gets from `rpc` ("" = not authenticated: never
// asked here).
StatusCode Expected(Rpc rpc, const std::string& role) {
  const int level = role == "admin" ? 3 : role == "run" ? 2 : 1;
  switch (rpc) {
    case Rpc::kRun:
    case Rpc::kMeasureCeilings:
      return level >= 2 ? StatusCode::OK : StatusCode::PERMISSION_DENIED;
    case Rpc::kCancel:
      return level >= 2 ? StatusCode::NOT_FOUND : StatusCode::PERMISSION_DENIED;
    case Rpc::kRemeasureCeilings:
    case Rpc::kDrain:
      return level >= 3 ? StatusCode::OK : StatusCode::PERMISSION_DENIED;
    default:
      return StatusCode::OK;
  }
}

// One row of the matrix: credentials and either a role or the status every
// call gets.
struct Row {
  Credentials credentials;
  std::string role;         // "read", "run", "admin"; empty: `denied` for all
  StatusCode denied = StatusCode::OK;
  std::string identity;     // HostInfo.security.you when authenticated
};

// A daemon and a job it has stored (for GetJob), run by an admin.
struct Target {
  std::unique_ptr<Daemon> daemon;
  std::string job_id;
};

Target StartTarget(const std::string& name, std::vector<std::string> args,
                   const Credentials& admin) {
  Target target;
  target.daemon = Daemon::Start(name, args);
  auto stub = v1::Flopd::NewStub(Channel(target.daemon->address(), admin));
  grpc::ClientContext context;
  Prepare(&context, admin);
  auto reader = stub->Run(&context, TinyJob());
  v1::RunEvent event;
  while (reader->Read(&event)) {
    if (event.has_accepted()) target.job_id = event.accepted().job_id();
  }
  const grpc::Status status = reader->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  return target;
}

// Every row against every RPC, each status compared to the matrix.
void CheckGrpcMatrix(const Target& target, const std::vector<Row>& rows) {
  for (const Row& row : rows) {
    auto stub = v1::Flopd::NewStub(Channel(target.daemon->address(), row.credentials));
    for (const auto& [rpc, name] : RpcNames()) {
      // Re-measuring takes seconds: once per row that may do it is enough.
      const grpc::Status status = Call(*stub, rpc, row.credentials, target.job_id);
      const StatusCode want = row.role.empty() ? row.denied : Expected(rpc, row.role);
      EXPECT_EQ(status.error_code(), want)
          << row.credentials.label << " " << name << ": " << status.error_message();
      if (status.error_code() == StatusCode::PERMISSION_DENIED) {
        EXPECT_TRUE(absl::StrContains(status.error_message(), "needs "))
            << status.error_message();
      }
    }
    if (!row.identity.empty()) {
      grpc::ClientContext context;
      Prepare(&context, row.credentials);
      v1::HostInfo info;
      ASSERT_TRUE(stub->GetHostInfo(&context, v1::GetHostInfoRequest(), &info).ok());
      EXPECT_EQ(info.security().you(), row.identity) << row.credentials.label;
      EXPECT_EQ(info.security().your_role(), row.role) << row.credentials.label;
    }
  }
}

// The HTTP status of GET `path`, or -1 when no answer came (a failed
// handshake).
int HttpGet(const Daemon& daemon, const Credentials& c, const std::string& path,
            bool basic = false) {
  // A handshake the daemon refuses closes the socket under the client's
  // write: an error, not a signal that ends the test process.
  static const bool ignore_sigpipe = (signal(SIGPIPE, SIG_IGN), true);
  (void)ignore_sigpipe;
  const Pki& pki = Certificates();
  std::unique_ptr<httplib::ClientImpl> client;
  if (c.tls) {
    auto tls = c.certificate.empty()
                   ? std::make_unique<httplib::SSLClient>("127.0.0.1", daemon.http_port())
                   : std::make_unique<httplib::SSLClient>("127.0.0.1", daemon.http_port(),
                                                          pki.cert(c.certificate),
                                                          pki.key(c.certificate));
    tls->set_ca_cert_path(pki.ca().c_str());
    tls->enable_server_certificate_verification(true);
    client = std::move(tls);
  } else {
    client = std::make_unique<httplib::ClientImpl>("127.0.0.1", daemon.http_port());
  }
  client->set_read_timeout(30, 0);
  httplib::Headers headers;
  if (!c.token.empty() && !basic) headers.emplace("Authorization", absl::StrCat("Bearer ", c.token));
  if (!c.token.empty() && basic) client->set_basic_auth("anyone", c.token.c_str());
  httplib::Result result = client->Get(path.c_str(), headers);
  return result ? result->status : -1;
}

void CheckHttpMatrix(const Target& target, const std::vector<Row>& rows) {
  const std::vector<std::string> paths = {
      "/",        "/dashboard.js",     "/metrics",         "/api/v1/host",
      "/api/v1/ops", "/api/v1/jobs",   "/api/v1/results?page_size=1",
      "/api/v1/jobs/" + target.job_id};
  for (const Row& row : rows) {
    const bool answered = row.role.empty() ? row.denied != StatusCode::UNAVAILABLE : true;
    for (const std::string& open : {"/healthz", "/readyz"}) {
      EXPECT_EQ(HttpGet(*target.daemon, row.credentials, open), answered ? 200 : -1)
          << row.credentials.label << " " << open;
    }
    for (const std::string& path : paths) {
      const int want = !answered ? -1 : row.role.empty() ? 401 : 200;
      EXPECT_EQ(HttpGet(*target.daemon, row.credentials, path), want)
          << row.credentials.label << " " << path;
    }
    if (!row.credentials.token.empty() && answered) {
      EXPECT_EQ(HttpGet(*target.daemon, row.credentials, "/api/v1/ops", /*basic=*/true),
                row.role.empty() ? 401 : 200)
          << row.credentials.label << " with HTTP Basic";
    }
  }
}

Credentials Tls(const std::string& label, const std::string& certificate,
                const std::string& token) {
  return {label, true, certificate, token};
}

TEST(Auth, MutualTlsEachRoleAndCredentialAgainstEveryCallAndEndpoint) {
  const Target target = StartTarget("mtls", TlsArgs(/*client_ca=*/true),
                                    Tls("admin", "alice", kAdminToken));
  ASSERT_FALSE(target.job_id.empty());
  const std::vector<Row> rows = {
      {Tls("alice's certificate alone", "alice", ""), "admin", StatusCode::OK, "cert:alice"},
      {Tls("alice + read token", "alice", kReadToken), "read", StatusCode::OK, "token:reader"},
      {Tls("alice + run token", "alice", kRunToken), "run", StatusCode::OK, "token:runner"},
      {Tls("mallory + admin token", "mallory", kAdminToken), "admin", StatusCode::OK,
       "token:boss"},
      {Tls("alice + unknown token", "alice", kUnknownToken), "", StatusCode::UNAUTHENTICATED},
      {Tls("alice + expired token", "alice", kExpiredToken), "", StatusCode::UNAUTHENTICATED},
      {Tls("mallory's certificate alone (in no entry)", "mallory", ""), "",
       StatusCode::UNAUTHENTICATED},
      {Tls("eve (another CA) + admin token", "eve", kAdminToken), "", StatusCode::UNAVAILABLE},
      {Tls("no certificate + admin token", "", kAdminToken), "", StatusCode::UNAVAILABLE},
      {Credentials{"plaintext + admin token", false, "", kAdminToken}, "",
       StatusCode::UNAVAILABLE},
  };
  CheckGrpcMatrix(target, rows);
  CheckHttpMatrix(target, rows);
}

TEST(Auth, TlsWithTokensEachRoleAndCredentialAgainstEveryCallAndEndpoint) {
  const Target target =
      StartTarget("tls", TlsArgs(/*client_ca=*/false), Tls("admin", "", kAdminToken));
  const std::vector<Row> rows = {
      {Tls("read token", "", kReadToken), "read", StatusCode::OK, "token:reader"},
      {Tls("run token", "", kRunToken), "run", StatusCode::OK, "token:runner"},
      {Tls("admin token", "", kAdminToken), "admin", StatusCode::OK, "token:boss"},
      {Tls("no token", "", ""), "", StatusCode::UNAUTHENTICATED},
      {Tls("unknown token", "", kUnknownToken), "", StatusCode::UNAUTHENTICATED},
      {Tls("expired token", "", kExpiredToken), "", StatusCode::UNAUTHENTICATED},
      // No client CA: a certificate is not asked for, so it names nobody.
      {Tls("alice's certificate, no token", "alice", ""), "", StatusCode::UNAUTHENTICATED},
  };
  CheckGrpcMatrix(target, rows);
  CheckHttpMatrix(target, rows);
}

TEST(Auth, PlaintextLoopbackWithTokensEachRoleAgainstEveryCallAndEndpoint) {
  const Target target = StartTarget("plain", {"--tokens", Certificates().tokens},
                                    Credentials{"admin", false, "", kAdminToken});
  auto plain = [](const std::string& label, const std::string& token) {
    return Credentials{label, false, "", token};
  };
  const std::vector<Row> rows = {
      {plain("read token", kReadToken), "read", StatusCode::OK, "token:reader"},
      {plain("run token", kRunToken), "run", StatusCode::OK, "token:runner"},
      {plain("admin token", kAdminToken), "admin", StatusCode::OK, "token:boss"},
      {plain("no token", ""), "", StatusCode::UNAUTHENTICATED},
      {plain("unknown token", kUnknownToken), "", StatusCode::UNAUTHENTICATED},
      {plain("expired token", kExpiredToken), "", StatusCode::UNAUTHENTICATED},
  };
  CheckGrpcMatrix(target, rows);
  CheckHttpMatrix(target, rows);
}

// A long job of `token`'s, running in the background until cancelled; its
// id once accepted.
class BackgroundJob {
 public:
  BackgroundJob(const Daemon& daemon, const std::string& token)
      : stub_(v1::Flopd::NewStub(Channel(daemon.address(), {"", false, "", token}))) {
    Prepare(&context_, {"", false, "", token});
    reader_ = stub_->Run(&context_, LongJob());
    v1::RunEvent event;
    if (reader_->Read(&event) && event.has_accepted()) id_ = event.accepted().job_id();
    thread_ = std::thread([this] {
      v1::RunEvent event;
      while (reader_->Read(&event)) {
      }
      status_ = reader_->Finish();
    });
  }
  ~BackgroundJob() {
    context_.TryCancel();
    thread_.join();
  }
  const std::string& id() const { return id_; }
  grpc::Status Wait() {
    thread_.join();
    thread_ = std::thread([] {});
    return status_;
  }

 private:
  std::unique_ptr<v1::Flopd::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<v1::RunEvent>> reader_;
  std::string id_;
  grpc::Status status_;
  std::thread thread_;
};

grpc::Status Cancel(const Daemon& daemon, const std::string& token, const std::string& job_id,
                    v1::JobInfo* info = nullptr) {
  auto stub = v1::Flopd::NewStub(Channel(daemon.address(), {"", false, "", token}));
  grpc::ClientContext context;
  Prepare(&context, {"", false, "", token});
  v1::CancelJobRequest request;
  request.set_job_id(job_id);
  v1::JobInfo response;
  grpc::Status status = stub->CancelJob(&context, request, &response);
  if (info != nullptr) *info = response;
  return status;
}

TEST(Auth, RunCancelsOnlyItsOwnJobsAdminAnyAndTheOwnerIsRecordedAndLogged) {
  auto daemon = Daemon::Start("owner", {"--tokens", Certificates().tokens});
  BackgroundJob job(*daemon, kRun2Token);
  ASSERT_FALSE(job.id().empty());

  const grpc::Status not_theirs = Cancel(*daemon, kRunToken, job.id());
  EXPECT_EQ(not_theirs.error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(absl::StrContains(not_theirs.error_message(), "was run by token:runner2"))
      << not_theirs.error_message();

  v1::JobInfo cancelled;
  ASSERT_TRUE(Cancel(*daemon, kAdminToken, job.id(), &cancelled).ok());
  EXPECT_EQ(cancelled.owner(), "token:runner2");
  EXPECT_EQ(job.Wait().error_code(), StatusCode::CANCELLED);
  EXPECT_TRUE(absl::StrContains(cancelled.status_message(), "token:boss"))
      << cancelled.status_message();

  // Its own job: a run token may cancel it.
  BackgroundJob own(*daemon, kRunToken);
  ASSERT_TRUE(Cancel(*daemon, kRunToken, own.id()).ok());

  const std::string log = ReadFile(daemon->log_path());
  EXPECT_TRUE(absl::StrContains(log, absl::StrCat(job.id(), " from token:runner2 at ipv4:127.0.0.1")))
      << log;
  EXPECT_TRUE(absl::StrContains(log, absl::StrCat(job.id(), " of token:runner2: ended with CANCELLED")))
      << log;
  // GetJob reads the owner back from the store.
  auto stub = v1::Flopd::NewStub(Channel(daemon->address(), {"", false, "", kReadToken}));
  grpc::ClientContext context;
  Prepare(&context, {"", false, "", kReadToken});
  v1::GetJobRequest request;
  request.set_job_id(job.id());
  v1::JobInfo stored;
  ASSERT_TRUE(stub->GetJob(&context, request, &stored).ok());
  EXPECT_EQ(stored.owner(), "token:runner2");
}

TEST(Auth, EachCallerHasItsOwnQueueBound) {
  auto daemon = Daemon::Start(
      "per-caller", {"--tokens", Certificates().tokens, "--max-queued-jobs-per-caller", "1"});
  BackgroundJob running(*daemon, kRunToken);  // running: not waiting
  BackgroundJob waiting(*daemon, kRunToken);
  ASSERT_FALSE(waiting.id().empty());

  auto stub = v1::Flopd::NewStub(Channel(daemon->address(), {"", false, "", kRunToken}));
  grpc::ClientContext context;
  Prepare(&context, {"", false, "", kRunToken});
  auto reader = stub->Run(&context, TinyJob());
  v1::RunEvent event;
  EXPECT_FALSE(reader->Read(&event));
  const grpc::Status refused = reader->Finish();
  EXPECT_EQ(refused.error_code(), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(absl::StrContains(refused.error_message(), "--max-queued-jobs-per-caller"))
      << refused.error_message();

  BackgroundJob other(*daemon, kRun2Token);  // another caller still gets in
  EXPECT_FALSE(other.id().empty());

  auto info_stub = v1::Flopd::NewStub(Channel(daemon->address(), {"", false, "", kReadToken}));
  grpc::ClientContext info_context;
  Prepare(&info_context, {"", false, "", kReadToken});
  v1::HostInfo info;
  ASSERT_TRUE(info_stub->GetHostInfo(&info_context, v1::GetHostInfoRequest(), &info).ok());
  EXPECT_EQ(info.limits().max_queued_jobs_per_identity(), 1);
  EXPECT_TRUE(info.security().tokens());
  for (const BackgroundJob* job : {&running, &waiting, &other}) {
    Cancel(*daemon, kAdminToken, job->id());
  }
}

std::string JobState(const Daemon& daemon, const std::string& job_id) {
  auto stub = v1::Flopd::NewStub(Channel(daemon.address(), {"", false, "", kReadToken}));
  grpc::ClientContext context;
  Prepare(&context, {"", false, "", kReadToken});
  v1::GetJobRequest request;
  request.set_job_id(job_id);
  v1::JobInfo job;
  return stub->GetJob(&context, request, &job).ok() ? job.state() : "?";
}

TEST(Auth, AnAdminDrainsAHostNewJobsAreRefusedQueuedOnesStillRunAndItResumes) {
  auto daemon = Daemon::Start("drain", {"--tokens", Certificates().tokens});
  BackgroundJob running(*daemon, kRunToken);
  BackgroundJob queued(*daemon, kRun2Token);
  ASSERT_FALSE(queued.id().empty());

  setenv("FLOPD_TOKEN", kAdminToken, 1);
  const CommandResult drained = RunFlopctl({"drain", "--host", daemon->address()});
  unsetenv("FLOPD_TOKEN");
  EXPECT_EQ(drained.exit_code, 0) << drained.err;
  EXPECT_TRUE(absl::StrContains(drained.out, "draining (no new job), 2 job(s) queued or running"))
      << drained.out;

  auto stub = v1::Flopd::NewStub(Channel(daemon->address(), {"", false, "", kRunToken}));
  grpc::ClientContext context;
  Prepare(&context, {"", false, "", kRunToken});
  auto reader = stub->Run(&context, TinyJob());
  v1::RunEvent event;
  EXPECT_FALSE(reader->Read(&event));
  const grpc::Status refused = reader->Finish();
  EXPECT_EQ(refused.error_code(), StatusCode::UNAVAILABLE);
  EXPECT_TRUE(absl::StrContains(refused.error_message(), "flopd is draining")) << refused.error_message();
  // flopctl says what the daemon said, not "unreachable".
  setenv("FLOPD_TOKEN", kRunToken, 1);
  const CommandResult run = RunFlopctl({"run", "--host", daemon->address(), "--op", "matvec",
                                        "--impl", "gemv", "--sizes", "16", "--quiet"});
  unsetenv("FLOPD_TOKEN");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(run.err, "UNAVAILABLE: flopd is draining")) << run.err;
  httplib::Client http("127.0.0.1", daemon->http_port());
  httplib::Result ready = http.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503);
  EXPECT_TRUE(absl::StrContains(ready->body, "draining")) << ready->body;

  // The queued job is not dropped: it runs once the running one is gone.
  ASSERT_TRUE(Cancel(*daemon, kRunToken, running.id()).ok());
  EXPECT_TRUE(WaitFor([&] { return JobState(*daemon, queued.id()) == "running"; }, seconds(20)));

  setenv("FLOPD_TOKEN", kAdminToken, 1);
  const CommandResult resumed = RunFlopctl({"drain", "--host", daemon->address(), "--resume"});
  unsetenv("FLOPD_TOKEN");
  EXPECT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_TRUE(absl::StrContains(resumed.out, "taking jobs")) << resumed.out;
  BackgroundJob again(*daemon, kRunToken);
  EXPECT_FALSE(again.id().empty());
  EXPECT_TRUE(absl::StrContains(ReadFile(daemon->log_path()), "draining: no new job is taken, asked by token:boss"));
  for (const BackgroundJob* job : {&queued, &again}) Cancel(*daemon, kAdminToken, job->id());
}

// The subject's common name of the certificate served on 127.0.0.1:`port`.
std::string ServedCommonName(int port, bool h2) {
  const std::string out = TempDir() + "/served-cn.txt";
  std::system(absl::StrCat("openssl s_client -connect 127.0.0.1:", port, h2 ? " -alpn h2" : "",
                           " </dev/null 2>/dev/null | openssl x509 -noout -subject > ", out,
                           " 2>/dev/null")
                  .c_str());
  return ReadFile(out);
}

TEST(Auth, SighupReloadsTokensAndCertificatesAndKeepsTheOldOnAnError) {
  const Pki& pki = Certificates();
  const std::string dir = TempDir() + "/reload";
  std::filesystem::create_directories(dir);
  const std::string tokens = dir + "/tokens", cert = dir + "/cert.pem", key = dir + "/key.pem";
  WriteFile(tokens, TokensFile());
  std::filesystem::copy_file(pki.cert("localhost"), cert);
  std::filesystem::copy_file(pki.key("localhost"), key);
  auto daemon =
      Daemon::Start("reload", {"--tokens", tokens, "--tls-cert", cert, "--tls-key", key});
  const Credentials fresh = Tls("new token", "", "new-token-0123456789abcdef");
  auto status_of = [&](const Credentials& c) {
    auto stub = v1::Flopd::NewStub(Channel(daemon->address(), c));
    grpc::ClientContext context;
    Prepare(&context, c);
    v1::ListOpsResponse response;
    return stub->ListOps(&context, v1::ListOpsRequest(), &response).error_code();
  };
  EXPECT_EQ(status_of(fresh), StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(status_of(Tls("reader", "", kReadToken)), StatusCode::OK);
  EXPECT_TRUE(absl::StrContains(ServedCommonName(daemon->http_port(), false), "CN = localhost"));

  // The reader leaves, a new token arrives, the certificate is renewed.
  WriteFile(tokens, absl::StrCat("newcomer read token:", fresh.token, "\n"));
  std::filesystem::copy_file(pki.cert("renewed"), cert,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(pki.key("renewed"), key,
                             std::filesystem::copy_options::overwrite_existing);
  daemon->Signal(SIGHUP);
  EXPECT_TRUE(WaitFor([&] { return status_of(fresh) == StatusCode::OK; }, seconds(5)));
  EXPECT_EQ(status_of(Tls("reader", "", kReadToken)), StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(absl::StrContains(ServedCommonName(daemon->http_port(), false), "CN = renewed"));
  // gRPC's certificate watcher re-reads the files within its 5 s period.
  EXPECT_TRUE(WaitFor(
      [&] { return absl::StrContains(ServedCommonName(daemon->port(), true), "CN = renewed"); },
      seconds(12)));

  // A broken file: reported, and the table in use stays.
  WriteFile(tokens, "newcomer superuser token:whatever-whatever\n");
  daemon->Signal(SIGHUP);
  EXPECT_TRUE(WaitFor(
      [&] { return absl::StrContains(ReadFile(daemon->log_path()), "tokens NOT reloaded"); },
      seconds(5)));
  EXPECT_TRUE(absl::StrContains(ReadFile(daemon->log_path()), "role 'superuser' is not allowed"));
  EXPECT_EQ(status_of(fresh), StatusCode::OK);
}

TEST(Auth, StartRefusesPlaintextOffLoopbackAndBadSecurityFilesInOneLine) {
  const Pki& pki = Certificates();
  const std::string bad_tokens = TempDir() + "/bad-tokens";
  WriteFile(bad_tokens, "ok read token:0123456789abcdef0123\nbroken run\n");
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--listen", "0.0.0.0:0"}, "--listen: 0.0.0.0:0 can be reached from other machines"},
      {{"--http-listen", "0.0.0.0:0"}, "--http-listen: 0.0.0.0:0 can be reached"},
      {{"--tls-cert", pki.cert("localhost")}, "--tls-cert and --tls-key go together"},
      {{"--tls-cert", pki.cert("localhost"), "--tls-key", pki.key("alice")},
       "--tls-key: " + pki.key("alice") + " is not the key of the certificate"},
      {{"--tls-cert", "/nonexistent.pem", "--tls-key", pki.key("localhost")},
       "--tls-cert: cannot read /nonexistent.pem"},
      {{"--tls-client-ca", pki.ca()}, "--tls-client-ca: needs --tls-cert"},
      {{"--tokens", bad_tokens}, bad_tokens + ":2: has 2 columns"},
      {{"--tokens", "/nonexistent-tokens"}, "--tokens: cannot read the tokens file"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"--no-cuda", "--no-store", "--http-listen", "127.0.0.1:0"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const CommandResult result = RunFlopd(args, seconds(30));
    EXPECT_EQ(result.exit_code, 2) << c.message << "\n" << result.err;
    EXPECT_TRUE(absl::StrContains(result.err, c.message)) << result.err;
    EXPECT_FALSE(absl::StrContains(result.out, "listening on")) << result.out;
  }
}

// A non-loopback IPv4 address of this machine, or "".
std::string NonLoopbackAddress() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return "";
  std::string found;
  for (ifaddrs* a = list; a != nullptr && found.empty(); a = a->ifa_next) {
    if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET) continue;
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr, text,
              sizeof(text));
    if (!absl::StartsWith(text, "127.")) found = text;
  }
  freeifaddrs(list);
  return found;
}

TEST(Auth, InsecureWarnsAtStartInHostInfoAndHealthAndRefusesTokensFromOtherMachines) {
  auto daemon = Daemon::Start("insecure", {"--listen", "0.0.0.0:0", "--insecure", "--tokens",
                                           Certificates().tokens});
  const std::string log = ReadFile(daemon->log_path());
  EXPECT_TRUE(absl::StrContains(log, "WARNING: serving 0.0.0.0:0 (--listen) without TLS")) << log;
  auto stub = v1::Flopd::NewStub(Channel(daemon->address(), {"", false, "", kReadToken}));
  grpc::ClientContext context;
  Prepare(&context, {"", false, "", kReadToken});
  v1::HostInfo info;
  ASSERT_TRUE(stub->GetHostInfo(&context, v1::GetHostInfoRequest(), &info).ok());
  EXPECT_TRUE(info.security().insecure());
  ASSERT_EQ(info.security().warnings_size(), 1);
  EXPECT_TRUE(absl::StrContains(info.security().warnings(0), "bearer tokens from other machines "
                                                             "are refused"));
  httplib::Client http("127.0.0.1", daemon->http_port());
  httplib::Result health = http.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_TRUE(absl::StrContains(health->body, "without TLS (--insecure)")) << health->body;

  const std::string address = NonLoopbackAddress();
  if (address.empty()) GTEST_SKIP() << "this machine has no non-loopback IPv4 address";
  const std::string remote = absl::StrCat(address, ":", daemon->port());
  auto remote_stub = v1::Flopd::NewStub(Channel(remote, {"", false, "", kAdminToken}));
  grpc::ClientContext remote_context;
  Prepare(&remote_context, {"", false, "", kAdminToken});
  v1::ListOpsResponse ops;
  const grpc::Status refused = remote_stub->ListOps(&remote_context, v1::ListOpsRequest(), &ops);
  EXPECT_EQ(refused.error_code(), StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(absl::StrContains(refused.error_message(), "not accepted over plaintext"))
      << refused.error_message();
}

TEST(Auth, UnixSocketServesLocalCallersWithTokensAndIsExclusive) {
  const std::string socket = TempDir() + "/flopd.sock";
  auto daemon = Daemon::Start("unix", {"--tokens", Certificates().tokens, "--unix-socket", socket});
  struct stat st;
  ASSERT_EQ(stat(socket.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660);

  setenv("FLOPD_TOKEN", kReadToken, 1);
  const CommandResult info = RunFlopctl({"info", "--host", "unix:" + socket});
  const CommandResult denied = RunFlopctl({"cancel", "--host", "unix:" + socket, kNoSuchJob});
  unsetenv("FLOPD_TOKEN");
  EXPECT_EQ(info.exit_code, 0) << info.err;
  EXPECT_TRUE(absl::StrContains(info.out, "token:reader (read)")) << info.out;
  EXPECT_NE(denied.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(denied.err, "CancelJob needs run")) << denied.err;

  const CommandResult second = RunFlopd(
      {"--no-cuda", "--no-store", "--no-http", "--listen", "127.0.0.1:0", "--unix-socket", socket},
      seconds(30));
  EXPECT_EQ(second.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(second.err, "--unix-socket: " + socket + " is in use"))
      << second.err;
}

TEST(Auth, FlopctlTakesCredentialsFromFlagsAndEnvironmentAndNeverSendsATokenInTheClear) {
  const Pki& pki = Certificates();
  auto daemon = Daemon::Start("flopctl", TlsArgs(/*client_ca=*/true));
  const std::string token_file = TempDir() + "/run.token";
  WriteFile(token_file, absl::StrCat(kRunToken, "\n"));
  const std::vector<std::string> tls = {"--tls-ca", pki.ca(), "--tls-cert", pki.cert("mallory"),
                                        "--tls-key", pki.key("mallory")};
  std::vector<std::string> run = {"run", "--host", daemon->address(), "--op", "matvec", "--impl",
                                  "gemv", "--sizes", "16", "--samples", "1", "--iterations", "1",
                                  "--quiet", "--format", "jsonl", "--token-file", token_file};
  run.insert(run.end(), tls.begin(), tls.end());
  const CommandResult ran = RunFlopctl(run);
  EXPECT_EQ(ran.exit_code, 0) << ran.err;
  EXPECT_TRUE(absl::StrContains(ran.out, "\"op\":\"matvec\"")) << ran.out;

  // The environment instead of flags.
  setenv("FLOPD_TLS_CA", pki.ca().c_str(), 1);
  setenv("FLOPD_TLS_CERT", pki.cert("mallory").c_str(), 1);
  setenv("FLOPD_TLS_KEY", pki.key("mallory").c_str(), 1);
  setenv("FLOPD_TOKEN_FILE", token_file.c_str(), 1);
  const CommandResult jobs = RunFlopctl({"jobs", "--host", daemon->address()});
  const CommandResult info = RunFlopctl({"info", "--host", daemon->address()});
  unsetenv("FLOPD_TLS_CA");
  unsetenv("FLOPD_TLS_CERT");
  unsetenv("FLOPD_TLS_KEY");
  unsetenv("FLOPD_TOKEN_FILE");
  EXPECT_EQ(jobs.exit_code, 0) << jobs.err;
  EXPECT_TRUE(absl::StrContains(jobs.out, "token:runner")) << jobs.out;
  EXPECT_TRUE(absl::StrContains(info.out, "TLS, client certificates, tokens")) << info.out;

  // Without TLS flopctl does not send a token to another machine at all
  // (192.0.2.1 is TEST-NET-1: nothing would answer anyway).
  setenv("FLOPD_TOKEN", kAdminToken, 1);
  const CommandResult clear = RunFlopctl({"info", "--host", "192.0.2.1:50051"});
  unsetenv("FLOPD_TOKEN");
  EXPECT_NE(clear.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(clear.err, "not sending the bearer token in the clear")) << clear.err;

  // The name the certificate must carry, when it is not the host dialed.
  std::vector<std::string> named = {"info", "--host", daemon->address(), "--token-file",
                                     token_file, "--tls-server-name", "localhost"};
  named.insert(named.end(), tls.begin(), tls.end());
  EXPECT_EQ(RunFlopctl(named).exit_code, 0);
  named[6] = "elsewhere.example";
  const CommandResult misnamed = RunFlopctl(named);
  EXPECT_EQ(misnamed.exit_code, 1) << misnamed.err;

  const CommandResult missing = RunFlopctl({"info", "--host", daemon->address(), "--tls-ca",
                                            "/nonexistent-ca.pem"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(missing.err, "--tls-ca: cannot read /nonexistent-ca.pem"))
      << missing.err;
}

}  // namespace
}  // namespace flopd::testing
