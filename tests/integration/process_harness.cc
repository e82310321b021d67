#include "tests/integration/process_harness.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace flopd::testing {
namespace {

std::atomic<int> file_counter{0};

std::string NextPath(const std::string& stem) {
  return TempDir() + "/" + stem + "." + std::to_string(file_counter.fetch_add(1));
}

// fork/exec `argv` with stdout and stderr redirected to files.
pid_t Spawn(const std::vector<std::string>& argv, const std::string& out_path,
            const std::string& err_path) {
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int null_in = open("/dev/null", O_RDONLY);
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    dup2(null_in, STDIN_FILENO);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

// Exit status of a waited child: its code, or 128+signal.
int DecodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

int WaitPid(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    pid_t got = waitpid(pid, &status, WNOHANG);
    if (got == pid) return DecodeStatus(status);
    if (got < 0) return -1;
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

std::string FlopdBinary() { return FLOPD_BINARY; }
std::string FlopctlBinary() { return FLOPCTL_BINARY; }

std::string TempDir() {
  static const std::string dir = [] {
    char pattern[] = "/tmp/flopd-it-XXXXXX";
    const char* made = mkdtemp(pattern);
    if (made == nullptr) throw std::runtime_error("mkdtemp failed");
    return std::string(made);
  }();
  return dir;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return condition();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

std::unique_ptr<Daemon> Daemon::Start(const std::string& name,
                                      const std::vector<std::string>& extra_args,
                                      bool probe_cuda) {
  auto daemon = std::unique_ptr<Daemon>(new Daemon());
  const std::string out_path = NextPath(name + ".out");
  daemon->log_path_ = NextPath(name + ".err");
  std::vector<std::string> argv = {FlopdBinary(), "--listen", "127.0.0.1:0", "--hostname", name};
  if (!probe_cuda) argv.push_back("--no-cuda");
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  daemon->pid_ = Spawn(argv, out_path, daemon->log_path_);
  const std::regex listening("listening on 127\\.0\\.0\\.1:([0-9]+)");
  WaitFor(
      [&] {
        std::smatch match;
        const std::string out = ReadFile(out_path);
        if (!std::regex_search(out, match, listening)) return false;
        daemon->port_ = std::stoi(match[1]);
        return true;
      },
      std::chrono::seconds(30));
  if (daemon->port_ == 0) {
    throw std::runtime_error("flopd did not start: " + ReadFile(daemon->log_path_));
  }
  return daemon;
}

Daemon::~Daemon() {
  if (pid_ > 0 && WaitPid(pid_, std::chrono::milliseconds(0)) == -1) {
    kill(pid_, SIGKILL);
    WaitPid(pid_, std::chrono::seconds(10));
  }
}

std::string Daemon::address() const { return "127.0.0.1:" + std::to_string(port_); }

void Daemon::Signal(int signal_number) { kill(pid_, signal_number); }

int Daemon::Wait(std::chrono::milliseconds timeout) {
  const int code = WaitPid(pid_, timeout);
  if (code != -1) pid_ = -1;
  return code;
}

BackgroundCommand::BackgroundCommand(const std::vector<std::string>& args)
    : out_path_(NextPath("flopctl.out")), err_path_(NextPath("flopctl.err")) {
  std::vector<std::string> argv = {FlopctlBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_ = Spawn(argv, out_path_, err_path_);
}

BackgroundCommand::~BackgroundCommand() {
  if (!done_) Wait(std::chrono::milliseconds(0));
}

std::string BackgroundCommand::CurrentErr() const { return ReadFile(err_path_); }

void BackgroundCommand::Signal(int signal_number) { kill(pid_, signal_number); }

CommandResult BackgroundCommand::Wait(std::chrono::milliseconds timeout) {
  CommandResult result;
  result.exit_code = WaitPid(pid_, timeout);
  if (result.exit_code == -1) {
    kill(pid_, SIGKILL);
    WaitPid(pid_, std::chrono::seconds(10));
  }
  done_ = true;
  result.out = ReadFile(out_path_);
  result.err = ReadFile(err_path_);
  return result;
}

CommandResult RunFlopctl(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  return BackgroundCommand(args).Wait(timeout);
}

}  // namespace flopd::testing
