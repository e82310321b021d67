#include "tests/integration/process_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace flopd::testing {
namespace {

std::atomic<int> file_counter{0};

// Children not yet waited for, killed at exit.
std::mutex children_mu;
std::set<pid_t>& Children() {
  static auto* children = new std::set<pid_t>();
  return *children;
}

void Forget(pid_t pid) {
  std::lock_guard<std::mutex> lock(children_mu);
  Children().erase(pid);
}

// At exit: no child outlives the test process, and its directory goes.
void CleanUpAtExit() {
  {
    std::lock_guard<std::mutex> lock(children_mu);
    for (pid_t pid : Children()) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    Children().clear();
  }
  std::error_code ignored;
  std::filesystem::remove_all(TempDir(), ignored);
}

constexpr char kTempPrefix[] = "flopd-it-";

// Removes /tmp/flopd-it-PID-* directories whose process no longer exists
// (a test process killed before its atexit handler ran).
void RemoveStaleTempDirs() {
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/tmp", error)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kTempPrefix, 0) != 0) continue;
    const std::string rest = name.substr(sizeof(kTempPrefix) - 1);
    const size_t dash = rest.find('-');
    if (dash == std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::atoi(rest.substr(0, dash).c_str()));
    if (pid <= 0 || pid == getpid()) continue;
    if (kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to judge
    std::error_code ignored;
    std::filesystem::remove_all(entry.path(), ignored);
  }
}

std::string NextPath(const std::string& stem) {
  return TempDir() + "/" + stem + "." + std::to_string(file_counter.fetch_add(1));
}

// fork/exec `argv` with stdout and stderr redirected to files.
pid_t Spawn(const std::vector<std::string>& argv, const std::string& out_path,
            const std::string& err_path) {
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    // Die with the test process; if it is already gone, do not start.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
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
  std::lock_guard<std::mutex> lock(children_mu);
  Children().insert(pid);
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
    if (got == pid) {
      Forget(pid);
      return DecodeStatus(status);
    }
    if (got < 0) return -1;
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

std::string FlopdBinary() { return FLOPD_BINARY; }
std::string FlopctlBinary() { return FLOPCTL_BINARY; }

std::string TempDir() {
  // Never destroyed: the atexit handler, registered while it is being
  // made, runs after every static object's destructor.
  static const std::string* const dir = [] {
    RemoveStaleTempDirs();
    std::string pattern =
        "/tmp/" + std::string(kTempPrefix) + std::to_string(getpid()) + "-XXXXXX";
    const char* made = mkdtemp(pattern.data());
    if (made == nullptr) throw std::runtime_error("mkdtemp failed");
    std::atexit(CleanUpAtExit);
    return new std::string(made);
  }();
  return *dir;
}

bool LoopbackPortIsFree(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool free =
      bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
  close(fd);
  return free;
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
  std::string error;
  std::unique_ptr<Daemon> daemon = TryStart(name, extra_args, probe_cuda, &error);
  if (daemon == nullptr) throw std::runtime_error("flopd did not start: " + error);
  return daemon;
}

std::unique_ptr<Daemon> Daemon::TryStart(const std::string& name,
                                         const std::vector<std::string>& extra_args,
                                         bool probe_cuda, std::string* error) {
  auto daemon = std::unique_ptr<Daemon>(new Daemon());
  const std::string out_path = NextPath(name + ".out");
  daemon->log_path_ = NextPath(name + ".err");
  daemon->name_ = name;
  std::vector<std::string> argv = {FlopdBinary(), "--listen", "127.0.0.1:0", "--hostname", name};
  if (!probe_cuda) argv.push_back("--no-cuda");
  // Each daemon its own store, unless the test says where (or none).
  if (std::none_of(extra_args.begin(), extra_args.end(), [](const std::string& arg) {
        return arg.rfind("--state-dir", 0) == 0 || arg == "--no-store";
      })) {
    argv.push_back("--state-dir");
    argv.push_back(NextPath(name + ".state"));
  }
  // HTTP on a free port of its own, unless the test says (or turns it off).
  const bool http = std::none_of(extra_args.begin(), extra_args.end(), [](const std::string& arg) {
    return arg == "--no-http";
  });
  if (http && std::none_of(extra_args.begin(), extra_args.end(), [](const std::string& arg) {
        return arg.rfind("--http-listen", 0) == 0;
      })) {
    argv.push_back("--http-listen");
    argv.push_back("127.0.0.1:0");
  }
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  daemon->pid_ = Spawn(argv, out_path, daemon->log_path_);
  const std::regex listening("listening on (?:127\\.0\\.0\\.1|0\\.0\\.0\\.0):([0-9]+)");
  const std::regex http_serving("http serving on https?://127\\.0\\.0\\.1:([0-9]+)/");
  bool exited = false;
  WaitFor(
      [&] {
        std::smatch match;
        const std::string out = ReadFile(out_path);
        if (std::regex_search(out, match, listening)) {
          daemon->port_ = std::stoi(match[1]);
          if (!http) return true;
          if (std::regex_search(out, match, http_serving)) {
            daemon->http_port_ = std::stoi(match[1]);
            return true;
          }
        }
        exited = daemon->Wait(std::chrono::milliseconds(0)) != -1;
        return exited;
      },
      std::chrono::seconds(30));
  if (daemon->port_ == 0 || (http && daemon->http_port_ == 0)) {
    *error = (exited ? "" : "no port after 30 s: ") + ReadFile(daemon->log_path_);
    return nullptr;  // the destructor kills it if it is still running
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

std::string Daemon::http_address() const { return "127.0.0.1:" + std::to_string(http_port_); }

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

std::string BackgroundCommand::CurrentOut() const { return ReadFile(out_path_); }

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

CommandResult RunFlopd(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  const std::string out_path = NextPath("flopd-run.out");
  const std::string err_path = NextPath("flopd-run.err");
  std::vector<std::string> argv = {FlopdBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  const pid_t pid = Spawn(argv, out_path, err_path);
  CommandResult result;
  result.exit_code = WaitPid(pid, timeout);
  if (result.exit_code == -1) {
    kill(pid, SIGKILL);
    WaitPid(pid, std::chrono::seconds(10));
  }
  result.out = ReadFile(out_path);
  result.err = ReadFile(err_path);
  return result;
}

}  // namespace flopd::testing
