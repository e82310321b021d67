#include "common/op_catalog.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace flopd {
namespace {

constexpr char kMatvecBytes[] = "(N^2 + 2N) * sizeof(dtype)";
constexpr char kOuterBytes[] = "3N * sizeof(dtype)";
constexpr char kOuterLibraryBytes[] = "(2N^2 + 3N) * sizeof(dtype)";

std::vector<OpSpec> BuildCatalog() {
  OpSpec matvec;
  matvec.name = "matvec";
  matvec.description = "y = A x: N x N matrix times N x 1 vector";
  matvec.flop_formula = "2N^2 - N";
  matvec.min_bytes_formula = kMatvecBytes;
  matvec.impls = {
      {"cpu", "gemv", "OpenBLAS ?gemv", kMatvecBytes},
      {"cpu", "gemm", "OpenBLAS ?gemm with an N x 1 right-hand side (as torch.mm does it)",
       kMatvecBytes},
      {"cuda", "gemm", "cuBLAS ?gemm with an N x 1 right-hand side (as torch.mm does it)",
       kMatvecBytes},
      {"cuda", "gemv", "cuBLAS ?gemv", kMatvecBytes},
      {"cuda", "custom", "flopd kernel: 16-byte loads, warp per row, built for the memory roofline",
       kMatvecBytes},
  };

  OpSpec outer;
  outer.name = "outer";
  outer.description =
      "P = u v^T (N x 1 times 1 x N), then sum P over `axis` (0: column sums, 1: row sums)";
  outer.flop_formula = "2N^2 - N";
  outer.min_bytes_formula = kOuterBytes;
  outer.params = {{"axis",
                   "0 = column sums out_j = sum_i P_ij (seed's Figure 2); "
                   "1 = row sums out_i = sum_j P_ij (seed's Figure 3)",
                   {0, 1}}};
  outer.impls = {
      {"cpu", "library",
       "OpenBLAS ?gemm with k=1 writes the N x N product, then flopd's threaded reduction",
       kOuterLibraryBytes},
      {"cpu", "fused", "one threaded pass, no N x N temporary, the same N^2 mul and N^2-N add",
       kOuterBytes},
      {"cuda", "library", "cuBLAS ?gemm with k=1 writes the N x N product, then flopd's reduction",
       kOuterLibraryBytes},
      {"cuda", "fused", "one kernel, no N x N temporary, the same N^2 mul and N^2-N add",
       kOuterBytes},
  };
  return {matvec, outer};
}

}  // namespace

std::vector<std::string> OpSpec::ImplNames(absl::string_view backend) const {
  std::vector<std::string> names;
  for (const ImplSpec& impl : impls) {
    if (impl.backend == backend) names.push_back(impl.name);
  }
  return names;
}

const ParamSpec* OpSpec::FindParam(absl::string_view param_name) const {
  for (const ParamSpec& param : params) {
    if (param.name == param_name) return &param;
  }
  return nullptr;
}

const std::vector<OpSpec>& OpCatalog() {
  static const std::vector<OpSpec>* const catalog = new std::vector<OpSpec>(BuildCatalog());
  return *catalog;
}

std::string AllowedOps() {
  std::vector<std::string> names;
  for (const OpSpec& op : OpCatalog()) names.push_back(op.name);
  return absl::StrJoin(names, ", ");
}

absl::StatusOr<const OpSpec*> FindOp(absl::string_view name) {
  for (const OpSpec& op : OpCatalog()) {
    if (op.name == name) return &op;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("op: unknown op '", name, "'; allowed: ", AllowedOps()));
}

int64_t OpFlops(const PointSpec& point) { return 2 * point.n * point.n - point.n; }

int64_t MinBytes(const PointSpec& point) {
  const int64_t n = point.n;
  const int64_t elements = point.op == "matvec"                              ? n * n + 2 * n
                           : (point.op == "outer" && point.impl == "library") ? 2 * n * n + 3 * n
                                                                              : 3 * n;
  return elements * DTypeSize(point.dtype);
}

int64_t BufferBytes(const PointSpec& point) {
  const int64_t n = point.n;
  const int64_t elements = point.op == "matvec"                              ? n * n + 2 * n
                           : (point.op == "outer" && point.impl == "library") ? n * n + 3 * n
                                                                              : 3 * n;
  return elements * DTypeSize(point.dtype);
}

}  // namespace flopd
