// flopctl's subcommands. Each takes the arguments after its name, prints to
// stdout/stderr, and returns the process exit code:
//   0 success; 1 a host failed or a result failed verification;
//   2 bad command line (nothing was sent).
#ifndef FLOPD_CLIENT_COMMANDS_H_
#define FLOPD_CLIENT_COMMANDS_H_

#include <string>
#include <vector>

namespace flopd {

int RunCommand(const std::vector<std::string>& args);
int OpsCommand(const std::vector<std::string>& args);
int InfoCommand(const std::vector<std::string>& args);
int PlotCommand(const std::vector<std::string>& args);
int ReportCommand(const std::vector<std::string>& args);
int CompareCommand(const std::vector<std::string>& args);
int FleetCommand(const std::vector<std::string>& args);
int HistoryCommand(const std::vector<std::string>& args);
int JobsCommand(const std::vector<std::string>& args);
int WatchCommand(const std::vector<std::string>& args);
int CancelCommand(const std::vector<std::string>& args);
// flopctl drain [--host H[,H...]] [--resume]: an admin stops (or resumes)
// new jobs on the hosts; their queued jobs still run.
int DrainCommand(const std::vector<std::string>& args);

// Prints "flopctl: <message>" to stderr and returns 2.
int UsageError(const std::string& message);

}  // namespace flopd

#endif  // FLOPD_CLIENT_COMMANDS_H_
