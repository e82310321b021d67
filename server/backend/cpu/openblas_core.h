// Which OpenBLAS kernels flopd's CPU rows are measured with.
//
// A DYNAMIC_ARCH OpenBLAS picks its kernels ("core") when it is loaded, from
// the CPU model it recognizes. A CPU newer than the library (Debian 12's
// 0.3.21 on a 2023 Xeon) is not recognized and gets a fallback core
// (Prescott: SSE3), which made matvec/gemv up to 4x slower than NumPy's own
// OpenBLAS on the same host. flopd therefore compares the library's core with
// the widest vector ISA the CPU has and, when the core is older, restarts
// itself once with OPENBLAS_CORETYPE set to the library's core for that ISA
// (AVX-512: SkylakeX, AVX2+FMA: Haswell, AVX: Sandybridge) — the core a newer
// OpenBLAS picks for such CPUs. The choice is reported in the CPU device's
// properties and in every CPU result's `library`.
//
// `--openblas-coretype auto` (the default) does the above; `library` keeps
// the library's own choice; a core name forces it (refused when the CPU
// lacks the core's ISA). A user's own OPENBLAS_CORETYPE is always kept.
#ifndef FLOPD_SERVER_BACKEND_CPU_OPENBLAS_CORE_H_
#define FLOPD_SERVER_BACKEND_CPU_OPENBLAS_CORE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace flopd {

// Vector ISA levels, oldest first.
enum class VectorIsa { kSse = 0, kAvx = 1, kAvx2Fma = 2, kAvx512 = 3 };

// The widest ISA this CPU runs (AVX-512 means F, VL, BW and DQ).
VectorIsa CpuVectorIsa();
absl::string_view VectorIsaName(VectorIsa isa);

// The ISA an OpenBLAS core name's kernels use (case-insensitive); SSE for
// the old and generic cores and for names it does not know.
VectorIsa IsaOfOpenBlasCore(absl::string_view core);

// What `auto` sets OPENBLAS_CORETYPE to: empty when `library_core` already
// uses `cpu`'s widest ISA (or a wider one), else the core for that ISA.
std::string UpgradedOpenBlasCore(absl::string_view library_core, VectorIsa cpu);

// The cores `--openblas-coretype` accepts besides auto and library.
absl::string_view ForcibleOpenBlasCores();  // "Sandybridge, Haswell, Zen, SkylakeX, Cooperlake"

// Applies `--openblas-coretype` (`choice`): returns OK when the running
// library is to be kept, re-executes this program (/proc/self/exe with
// `argv`) with OPENBLAS_CORETYPE set when a different core is wanted (and
// does not return then), and INVALID_ARGUMENT naming the flag and its allowed
// values for a bad choice or a core this CPU cannot run. Call before any
// thread is started. After the restart, FLOPD_OPENBLAS_CORE_CHOICE holds
// what was done, and the second call returns OK at once.
absl::Status ApplyOpenBlasCoreChoice(absl::string_view choice, char** argv);

// How the running OpenBLAS core was chosen, for the device's properties:
// "the library's (Haswell)", "SkylakeX, chosen by flopd: OpenBLAS detected
// Prescott on a CPU with AVX-512 (--openblas-coretype library keeps it)", or
// "set by OPENBLAS_CORETYPE=...".
std::string OpenBlasCoreChoice(absl::string_view running_core);

}  // namespace flopd

#endif  // FLOPD_SERVER_BACKEND_CPU_OPENBLAS_CORE_H_
