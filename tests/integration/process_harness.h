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
// A fresh temporary directory for this process's test files.
std::string TempDir();
std::string ReadFile(const std::string& path);

// A running flopd. The destructor kills it (SIGKILL) if still running.
class Daemon {
 public:
  // Starts flopd --listen 127.0.0.1:0 --hostname `name` plus `extra_args`,
  // and waits until it prints the port it bound. Unless `probe_cuda`, passes
  // --no-cuda so tests behave the same on a GPU host.
  static std::unique_ptr<Daemon> Start(const std::string& name,
                                       const std::vector<std::string>& extra_args = {},
                                       bool probe_cuda = false);
  ~Daemon();

  int port() const { return port_; }
  std::string address() const;   // "127.0.0.1:PORT"
  const std::string& log_path() const { return log_path_; }  // its stderr
  pid_t pid() const { return pid_; }
  void Signal(int signal_number);
  // Waits for exit; returns the exit status (128+signal when killed), or -1
  // on timeout.
  int Wait(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string log_path_;
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

// Polls `condition` every 20 ms until true or `timeout`; returns its last value.
bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

}  // namespace flopd::testing

#endif  // FLOPD_TESTS_INTEGRATION_PROCESS_HARNESS_H_
