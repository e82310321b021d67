#include "server/backend/cpu/openblas_core.h"

#include <cblas.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace flopd {
namespace {

constexpr char kChoiceVariable[] = "FLOPD_OPENBLAS_CORE_CHOICE";

struct ForcibleCore {
  const char* name;
  VectorIsa isa;
};
constexpr ForcibleCore kForcibleCores[] = {
    {"Sandybridge", VectorIsa::kAvx}, {"Haswell", VectorIsa::kAvx2Fma},
    {"Zen", VectorIsa::kAvx2Fma},     {"SkylakeX", VectorIsa::kAvx512},
    {"Cooperlake", VectorIsa::kAvx512},
};

std::string RunningCore() {
  const char* core = openblas_get_corename();
  return core == nullptr ? "" : std::string(absl::StripAsciiWhitespace(core));
}

[[noreturn]] void Reexec(char** argv) {
  execv("/proc/self/exe", argv);
  // execv returns only on failure: nothing can be done but say so.
  const int error = errno;
  fprintf(stderr, "flopd: cannot restart itself with OPENBLAS_CORETYPE set (%s)\n",
          strerror(error));
  _exit(1);
}

}  // namespace

VectorIsa CpuVectorIsa() {
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq")) {
    return VectorIsa::kAvx512;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return VectorIsa::kAvx2Fma;
  if (__builtin_cpu_supports("avx")) return VectorIsa::kAvx;
  return VectorIsa::kSse;
}

absl::string_view VectorIsaName(VectorIsa isa) {
  switch (isa) {
    case VectorIsa::kAvx512:
      return "AVX-512";
    case VectorIsa::kAvx2Fma:
      return "AVX2+FMA";
    case VectorIsa::kAvx:
      return "AVX";
    case VectorIsa::kSse:
      break;
  }
  return "SSE";
}

VectorIsa IsaOfOpenBlasCore(absl::string_view core) {
  const std::string c = absl::AsciiStrToLower(core);
  if (c == "skylakex" || c == "cooperlake" || c == "sapphirerapids") return VectorIsa::kAvx512;
  if (c == "haswell" || c == "zen" || c == "zen4" || c == "excavator" || c == "atomx") {
    return VectorIsa::kAvx2Fma;
  }
  if (c == "sandybridge" || c == "bulldozer" || c == "piledriver" || c == "steamroller") {
    return VectorIsa::kAvx;
  }
  return VectorIsa::kSse;  // Prescott, Core2, Nehalem, Penryn, Atom, Barcelona, ...
}

std::string UpgradedOpenBlasCore(absl::string_view library_core, VectorIsa cpu) {
  if (static_cast<int>(IsaOfOpenBlasCore(library_core)) >= static_cast<int>(cpu)) return "";
  switch (cpu) {
    case VectorIsa::kAvx512:
      return "SkylakeX";
    case VectorIsa::kAvx2Fma:
      return "Haswell";
    case VectorIsa::kAvx:
      return "Sandybridge";
    case VectorIsa::kSse:
      break;
  }
  return "";
}

absl::string_view ForcibleOpenBlasCores() {
  return "Sandybridge, Haswell, Zen, SkylakeX, Cooperlake";
}

absl::Status ApplyOpenBlasCoreChoice(absl::string_view choice, char** argv) {
  if (getenv(kChoiceVariable) != nullptr) return absl::OkStatus();  // restarted already
  const auto invalid = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--openblas-coretype: ", why, "; allowed: auto, library, ", ForcibleOpenBlasCores()));
  };
  if (choice == "library") return absl::OkStatus();
  const char* user = getenv("OPENBLAS_CORETYPE");
  if (choice == "auto") {
    if (user != nullptr && *user != '\0') return absl::OkStatus();  // the user's choice stands
    const std::string running = RunningCore();
    const VectorIsa cpu = CpuVectorIsa();
    const std::string upgraded = UpgradedOpenBlasCore(running, cpu);
    if (upgraded.empty()) return absl::OkStatus();
    setenv("OPENBLAS_CORETYPE", upgraded.c_str(), 1);
    setenv(kChoiceVariable,
           absl::StrCat(upgraded, ", chosen by flopd: OpenBLAS detected ", running,
                        " on a CPU with ", VectorIsaName(cpu),
                        " (--openblas-coretype library keeps the library's choice)")
               .c_str(),
           1);
    Reexec(argv);
  }
  for (const ForcibleCore& core : kForcibleCores) {
    if (!absl::EqualsIgnoreCase(choice, core.name)) continue;
    const VectorIsa cpu = CpuVectorIsa();
    if (static_cast<int>(core.isa) > static_cast<int>(cpu)) {
      return invalid(absl::StrCat("'", choice, "' needs ", VectorIsaName(core.isa),
                                  ", which this CPU lacks (it has ", VectorIsaName(cpu), ")"));
    }
    if (absl::EqualsIgnoreCase(RunningCore(), core.name)) return absl::OkStatus();
    setenv("OPENBLAS_CORETYPE", core.name, 1);
    setenv(kChoiceVariable, absl::StrCat(core.name, ", set by --openblas-coretype").c_str(), 1);
    Reexec(argv);
  }
  return invalid(absl::StrCat("'", choice, "' is not a choice"));
}

std::string OpenBlasCoreChoice(absl::string_view running_core) {
  if (const char* chosen = getenv(kChoiceVariable); chosen != nullptr) {
    std::string text = chosen;
    // A library that ignores OPENBLAS_CORETYPE (not DYNAMIC_ARCH) keeps its own.
    const char* wanted = getenv("OPENBLAS_CORETYPE");
    if (wanted != nullptr && !absl::EqualsIgnoreCase(running_core, wanted)) {
      absl::StrAppend(&text, "; but the library runs ", running_core,
                      " (it ignores OPENBLAS_CORETYPE unless built with DYNAMIC_ARCH)");
    }
    return text;
  }
  if (const char* user = getenv("OPENBLAS_CORETYPE"); user != nullptr && *user != '\0') {
    return absl::StrCat(running_core, ", set by OPENBLAS_CORETYPE=", user);
  }
  return absl::StrCat(running_core, ", the library's own choice");
}

}  // namespace flopd
