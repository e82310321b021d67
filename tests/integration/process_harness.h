// Real processes for integration tests: flopd daemons on ephemeral loopback
// ports and the flopctl binary, started with fork/exec. No mocks: what runs
// here is what users run.
#ifndef FLOPD_TESTS_INTEGRATION_PROCESS_HARNESS_H_
#define FLOPD_TESTS_INTEGRATION_PROCESS_HARNESS_H_

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace flopd::testing {

// Paths of the binaries under test (set by CMake).
std::string FlopdBinary();
std::string FlopctlBinary();
// A fresh temporary directory for this process's test files,
// /tmp/flopd-it-PID-XXXXXX. Removed when the process exits normally (an
// atexit handler, which also kills any child still running); a directory
// left by a test process that was killed is removed by the next test
// process that calls TempDir().
std::string TempDir();
std::string ReadFile(const std::string& path);
// Whether 127.0.0.1:`port` can be bound right now by a socket that shares
// it with nobody (no SO_REUSEADDR or SO_REUSEPORT): false while any socket
// holds it, including a gRPC server, which binds with SO_REUSEPORT and so
// would let a second server bind beside it and take half its connections.
bool LoopbackPortIsFree(int port);

// Every child process (flopd, flopctl) dies with the test process: each is
// started with PR_SET_PDEATHSIG = SIGKILL, so a test process killed by a
// timeout or a crash leaves no daemon behind.

// A running flopd. The destructor kills it (SIGKILL) if still running.
class Daemon {
 public:
  // Starts flopd --listen 127.0.0.1:0 --hostname `name` plus `extra_args`,
  // and waits until it prints the port it bound. Unless `probe_cuda`, passes
  // --no-cuda so tests behave the same on a GPU host. Unless `extra_args`
  // has --state-dir or --no-store, the daemon gets a fresh state directory
  // of its own under TempDir(); unless it has --http-listen or --no-http,
  // HTTP on a free loopback port (waited for too). Throws when flopd
  // exits or prints no port within 30 s.
  static std::unique_ptr<Daemon> Start(const std::string& name,
                                       const std::vector<std::string>& extra_args = {},
                                       bool probe_cuda = false);
  // As Start, but returns null with *error set (flopd's stderr) instead of
  // throwing.
  static std::unique_ptr<Daemon> TryStart(const std::string& name,
                                          const std::vector<std::string>& extra_args,
                                          bool probe_cuda, std::string* error);
  ~Daemon();

  int port() const { return port_; }
  std::string address() const;   // "127.0.0.1:PORT"
  // Its --hostname (Start's `name`): how flopctl names it in tables and in
  // the line it prints per result.
  const std::string& name() const { return name_; }
  // Its HTTP listener, "127.0.0.1:PORT"; port 0 with --no-http.
  std::string http_address() const;
  int http_port() const { return http_port_; }
  const std::string& log_path() const { return log_path_; }  // its stderr
  pid_t pid() const { return pid_; }
  void Signal(int signal_number);
  // Waits for exit; returns the exit status (128+signal when killed), or -1
  // on timeout.
  int Wait(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  int http_port_ = 0;
  std::string log_path_;
  std::string name_;
};

struct CommandResult {
  int exit_code = -1;  // 128+signal when killed
  std::string out;
  std::string err;
};

// A flopctl started in the background, its stdout/stderr going to files.
class BackgroundCommand {
 public:
  explicit BackgroundCommand(const std::vector<std::string>& args);
  ~BackgroundCommand();
  std::string CurrentErr() const;
  std::string CurrentOut() const;
  void Signal(int signal_number);
  // Waits for exit (at most `timeout`; then kills it).
  CommandResult Wait(std::chrono::milliseconds timeout = std::chrono::seconds(120));

 private:
  pid_t pid_ = -1;
  std::string out_path_, err_path_;
  bool done_ = false;
};

// Runs flopctl with `args` to completion.
CommandResult RunFlopctl(const std::vector<std::string>& args,
                         std::chrono::milliseconds timeout = std::chrono::seconds(120));

// Runs flopd with exactly `args` (nothing added) to its exit: for a start
// that must fail. A flopd still running after `timeout` is killed, and its
// exit_code is -1.
CommandResult RunFlopd(const std::vector<std::string>& args, std::chrono::milliseconds timeout);

// Polls `condition` every 20 ms until true or `timeout`; returns its last value.
bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

}  // namespace flopd::testing

#endif  // FLOPD_TESTS_INTEGRATION_PROCESS_HARNESS_H_
