// flopctl: runs benchmark jobs on one or many flopd hosts and aggregates the
// results; reads and watches the hosts' stored history.
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "client/commands.h"
#include "client/credentials.h"
#include "client/result_format.h"
#include "client/run_command.h"

#ifndef FLOPD_VERSION
#define FLOPD_VERSION "unknown"
#endif

namespace {

constexpr char kUsage[] =
    "usage: flopctl <command> [flags]\n"
    "\n"
    "commands:\n"
    "  run    run ops on one or more flopd hosts, stream results, print the fleet table\n"
    "  show   print saved results files as run's table (or csv, json, jsonl)\n"
    "  ops    list the op catalog of a host (FLOP and byte models, params, impls)\n"
    "  info   show hosts, their devices, health and measured ceilings\n"
    "  plot   draw results files as SVG: runtime vs FLOPs / N, roofline, fleet spread\n"
    "  report write one self-contained HTML report of results files\n"
    "  compare  compare two results files point by point (ratio, beyond noise?)\n"
    "  fleet  which host of results files is slow: time vs fleet median, outliers\n"
    "  history  results the hosts have stored, filtered, in run's formats\n"
    "  jobs   jobs the hosts have stored: state, times, points, who asked\n"
    "  watch  live results of every job on the hosts, until Ctrl-C\n"
    "  cancel cancel a queued or running job by its id\n"
    "  drain  stop (or, with --resume, resume) taking new jobs on hosts (admin)\n"
    "  version  print flopctl's version (also --version)\n"
    "\n"
    "'flopctl <command> --help' shows the command's flags.\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string command = argv[1];
  if (command == "--version" || command == "version") {
    std::cout << "flopctl " << FLOPD_VERSION << "\n";
    return 0;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  absl::StatusOr<flopd::ClientCredentials> credentials = flopd::TakeCredentials(&args);
  if (!credentials.ok()) return flopd::UsageError(std::string(credentials.status().message()));
  flopd::SetClientCredentials(*std::move(credentials));
  if (command == "run") return flopd::RunCommand(args);
  if (command == "show") {
    return flopd::ShowCommand(args, flopd::OutputWidth(STDOUT_FILENO), std::cout, std::cerr);
  }
  if (command == "ops") return flopd::OpsCommand(args);
  if (command == "info") return flopd::InfoCommand(args);
  if (command == "plot") return flopd::PlotCommand(args);
  if (command == "report") return flopd::ReportCommand(args);
  if (command == "compare") return flopd::CompareCommand(args);
  if (command == "fleet") return flopd::FleetCommand(args);
  if (command == "history") return flopd::HistoryCommand(args);
  if (command == "jobs") return flopd::JobsCommand(args);
  if (command == "watch") return flopd::WatchCommand(args);
  if (command == "cancel") return flopd::CancelCommand(args);
  if (command == "drain") return flopd::DrainCommand(args);
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << kUsage << "\n" << flopd::CredentialsHelp();
    return 0;
  }
  return flopd::UsageError("unknown command '" + command +
                                "'; allowed: run, show, ops, info, plot, report, compare, fleet, "
                                "history, jobs, watch, cancel, drain, version");
}
