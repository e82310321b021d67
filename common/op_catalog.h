// The op catalog: the single source of truth for what each op computes, how
// many FLOPs it must perform and how many bytes each implementation must move
// at the least. Names are resolved here, once, when a job is planned
// (ResolvePoint): the rest of flopd dispatches on the resolved Kernel and
// reads the models below, which are code; their formula text is generated
// from the same code, so the two cannot disagree.
//
// Layout convention for every op: matrices are row-major, element (i, j) of an
// N x N matrix at i * N + j.
//
//   matvec:  y = A x, A is N x N, x is N x 1.            N^2 mul + N(N-1) add
//   outer:   P = u v^T (u, v are N-vectors), then
//            axis 0: out_j = sum_i P_ij (column sums)     N^2 mul + N(N-1) add
//            axis 1: out_i = sum_j P_ij (row sums)
//   Both: FLOPs = 2N^2 - N, exactly.
//   chain:      y <- a y + b, k times, over an N-vector    2kN (k FMAs per element)
//   batched_mv: Y = A X, A is N x N, X holds B N-vectors  B(2N^2 - N)
//               (vector b at X + b N; Y likewise)
//   attention:  O = softmax(Q K^T / sqrt(d)) V, Q, K, V, O are N x d  4dN^2 + 4N^2 - 2N
//
// Adding an op: a Kernel value per impl and an OpSpec (its models, buffers
// and fp64 reference) here, and one kernel per backend that offers it
// (docs/ARCHITECTURE.md has the recipe).
//
// Thread-safe: the catalog is immutable after first use.
#ifndef FLOPD_COMMON_OP_CATALOG_H_
#define FLOPD_COMMON_OP_CATALOG_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/point.h"

namespace flopd {

// Every (op, impl) algorithm of the catalog, whichever backend runs it.
// Backends dispatch on these; a backend implements the ones the catalog
// lists for it. (Declared opaque in common/point.h.)
enum class Kernel : int {
  kNone = 0,      // not resolved against the catalog
  kMatvecGemv,    // matvec/gemv
  kMatvecGemm,    // matvec/gemm
  kMatvecCustom,  // matvec/custom
  kOuterLibrary,  // outer/library
  kOuterFused,    // outer/fused
  kChainUnfused,  // chain/unfused
  kChainFused,    // chain/fused
  kBatchedMvLoop,  // batched_mv/loop
  kBatchedMvGemm,  // batched_mv/gemm
  kBatchedMvCustom,  // batched_mv/custom
  kAttentionMaterialized,  // attention/materialized
  kAttentionFused,         // attention/fused
};

// chain's step y <- kChainA * y + kChainB: exact in f32 and f64, fixed point
// 1, so values stay in [0.5, 1.5) for any k, and a^k (0.37 at k = 256) keeps
// every step visible in the result (a kernel that skips one fails).
inline constexpr double kChainA = 1.0 - 1.0 / 256;
inline constexpr double kChainB = 1.0 / 256;

// The fp64 reference of an op on the point's inputs (in the point's element
// type, in the order and sizes of OpSpec::inputs): one value per output
// element.
template <typename T>
using ReferenceFn = std::vector<double> (*)(const PointSpec& point,
                                            const std::vector<const T*>& inputs);

// A count as a polynomial in N whose terms may be scaled by one of the
// point's params: sum of coefficient * N^n_power * (param value, or 1).
struct CountModel {
  struct Term {
    int64_t coefficient = 0;
    int n_power = 0;
    std::string param;  // empty: not scaled by a param
  };
  std::vector<Term> terms;

  int64_t Evaluate(const PointSpec& point) const;
  // "2N^2 - N", "2N^2 + 3N", "2kN"
  std::string Formula() const;
};

struct ParamSpec {
  std::string name;
  std::string description;
  std::vector<int64_t> allowed_values;
};

struct ImplSpec {
  std::string backend;  // "cpu" | "cuda"
  std::string name;
  std::string description;
  Kernel kernel = Kernel::kNone;
  // Elements (of the point's dtype) the impl must move at the least.
  CountModel min_elements;
  // Elements of scratch buffers one execution needs besides the op's inputs
  // and output (outer/library: the N x N product).
  CountModel temp_elements;

  // "(2N^2 + 3N) * sizeof(dtype)"
  std::string MinBytesFormula() const;
};

// The point a row's "vs" column is relative to: the same dtype and N (and
// params, when the baseline's op has the same params) of this op/impl.
struct Baseline {
  std::string op;
  std::string impl;
  std::string why;  // shown beside the column's definition
};

struct OpSpec {
  std::string name;
  std::string description;
  CountModel flops;
  CountModel min_elements;  // of the op itself: inputs read once, output written once
  std::vector<ParamSpec> params;
  std::vector<ImplSpec> impls;
  Baseline baseline;
  // The input buffers in the order the op names them, as element counts
  // (matvec: A = N^2, x = N; outer: u = N, v = N), and the output's count.
  // Backends fill input i with FillUniform(seed kInputSeed + i).
  std::vector<CountModel> inputs;
  CountModel output;
  ReferenceFn<float> reference_f32 = nullptr;
  ReferenceFn<double> reference_f64 = nullptr;
  // What N means for this op, in the user's words ("the vector's length").
  std::string n_meaning;
  // Default sizes (a size spec, common/size_spec.h) per backend; a backend
  // not listed uses its device's default (the seed's sweep).
  std::vector<std::pair<std::string, std::string>> default_sizes;
  // Terms of the longest sum (or chain of roundings) behind one output: the
  // verification tolerance grows with its square root (common/verification.h).
  CountModel error_terms;

  // "2N^2 - N"
  std::string FlopFormula() const { return flops.Formula(); }
  std::string MinBytesFormula() const;
  // Names of the impls of this op on `backend`, in catalog order.
  std::vector<std::string> ImplNames(absl::string_view backend) const;
  const ParamSpec* FindParam(absl::string_view name) const;
  // The op's default sizes on `backend`, or `device_default` when it has none.
  std::string DefaultSizes(absl::string_view backend, absl::string_view device_default) const;
};

const std::vector<OpSpec>& OpCatalog();
// "matvec, outer, chain, batched_mv"
std::string AllowedOps();
// INVALID_ARGUMENT "op: unknown op 'x'; allowed: matvec, outer, ..." when absent.
absl::StatusOr<const OpSpec*> FindOp(absl::string_view name);

// Sets point.kernel from point.op and point.impl (any backend's impl of that
// name: an impl name means the same algorithm on every backend).
// INVALID_ARGUMENT naming the field and the allowed values when unknown.
absl::StatusOr<PointSpec> ResolvePoint(PointSpec point);

// The catalog entries of a resolved kernel. REQUIRES: kernel != kNone.
const OpSpec& OpOf(Kernel kernel);
// The first backend's entry; the models of an impl are the same on every
// backend (tested).
const ImplSpec& ImplOf(Kernel kernel);
// "outer/fused"
std::string KernelName(Kernel kernel);

// The models of a resolved point (REQUIRES: point.kernel != kNone):
// the op's arithmetic (2N^2 - N for matvec and outer);
int64_t OpFlops(const PointSpec& point);
// the fewest bytes the point's implementation must move through memory (for
// `outer/library` that includes writing and reading the N x N product);
int64_t MinBytes(const PointSpec& point);
// bytes of device buffers one execution needs (inputs, output, scratch);
// what the memory check uses;
int64_t BufferBytes(const PointSpec& point);
// element counts of the input buffers, of the output and of the impl's
// scratch.
std::vector<int64_t> InputCounts(const PointSpec& point);
int64_t OutputCount(const PointSpec& point);
int64_t TempCount(const PointSpec& point);

}  // namespace flopd

#endif  // FLOPD_COMMON_OP_CATALOG_H_
