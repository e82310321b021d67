// The op catalog: the single source of truth for what each op computes, how
// many FLOPs it must perform and how many bytes each implementation must move
// at the least. Backends implement the (op, impl) pairs listed here for their
// backend name; the service and flopctl validate requests against it.
//
// Layout convention for every op: matrices are row-major, element (i, j) of an
// N x N matrix at i * N + j.
//
//   matvec:  y = A x, A is N x N, x is N x 1.            N^2 mul + N(N-1) add
//   outer:   P = u v^T (u, v are N-vectors), then
//            axis 0: out_j = sum_i P_ij (column sums)     N^2 mul + N(N-1) add
//            axis 1: out_i = sum_j P_ij (row sums)
//   Both: FLOPs = 2N^2 - N, exactly.
//
// Thread-safe: the catalog is immutable after first use.
#ifndef FLOPD_COMMON_OP_CATALOG_H_
#define FLOPD_COMMON_OP_CATALOG_H_

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "common/point.h"

namespace flopd {

struct ParamSpec {
  std::string name;
  std::string description;
  std::vector<int64_t> allowed_values;
};

struct ImplSpec {
  std::string backend;  // "cpu" | "cuda"
  std::string name;
  std::string description;
  std::string min_bytes_formula;
};

struct OpSpec {
  std::string name;
  std::string description;
  std::string flop_formula;
  std::string min_bytes_formula;  // of the op itself: inputs read once, output written once
  std::vector<ParamSpec> params;
  std::vector<ImplSpec> impls;

  // Names of the impls of this op on `backend`, in catalog order.
  std::vector<std::string> ImplNames(absl::string_view backend) const;
  const ParamSpec* FindParam(absl::string_view name) const;
};

const std::vector<OpSpec>& OpCatalog();
// "matvec, outer"
std::string AllowedOps();
// INVALID_ARGUMENT "op: unknown op 'x'; allowed: matvec, outer" when absent.
absl::StatusOr<const OpSpec*> FindOp(absl::string_view name);

// The op's arithmetic: 2N^2 - N for every op in the catalog.
int64_t OpFlops(const PointSpec& point);
// The fewest bytes the point's implementation must move through memory.
// For `outer/library` that includes writing and reading the N x N product.
int64_t MinBytes(const PointSpec& point);
// Bytes of device buffers one execution of the point needs (inputs, outputs,
// temporaries); what a backend checks against its memory limit.
int64_t BufferBytes(const PointSpec& point);

}  // namespace flopd

#endif  // FLOPD_COMMON_OP_CATALOG_H_
