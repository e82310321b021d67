// A small command-line flag parser shared by flopd and flopctl, so both
// accept the same shapes: `--name value`, `--name=value`, and boolean
// `--name`; a one-letter flag also as `-n value`, and help shows it so.
// Errors name the flag and point at --help.
#ifndef FLOPD_COMMON_COMMAND_LINE_H_
#define FLOPD_COMMON_COMMAND_LINE_H_

#include <map>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"

namespace flopd {

struct FlagSpec {
  std::string name;         // without dashes: "host"
  std::string value_name;   // "H[,H...]"; empty for a boolean flag
  std::string help;
  std::string default_text; // shown in --help; empty = none
};

struct ParsedFlags {
  std::map<std::string, std::string> values;  // booleans map to "true"
  std::vector<std::string> positional;

  bool Has(const std::string& name) const { return values.count(name) > 0; }
  // The flag's value, or `fallback` when absent.
  std::string Get(const std::string& name, const std::string& fallback = "") const;
};

// Parses args (without the program/subcommand name). INVALID_ARGUMENT for an
// unknown flag or a missing value.
absl::StatusOr<ParsedFlags> ParseFlags(const std::vector<std::string>& args,
                                       const std::vector<FlagSpec>& specs);

// "  --host H[,H...]   hosts to run on (default: 127.0.0.1)" lines.
std::string FlagsHelp(const std::vector<FlagSpec>& specs);

// Splits "a,b,,c" into {"a","b","c"}, trimming spaces.
std::vector<std::string> SplitList(absl::string_view text);

}  // namespace flopd

#endif  // FLOPD_COMMON_COMMAND_LINE_H_
