#include "common/op_catalog.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/sanitize.h"

namespace flopd {
namespace {

// N^2 + 2N: the matrix and two vectors.
const CountModel kMatvecElements{{{1, 2, ""}, {2, 1, ""}}};
// 3N: two input vectors and the output.
const CountModel kOuterElements{{{3, 1, ""}}};
// The product is written once and read once: 2N^2 + 3N.
const CountModel kOuterLibraryElements{{{2, 2, ""}, {3, 1, ""}}};
const CountModel kTwoNSquaredMinusN{{{2, 2, ""}, {-1, 1, ""}}};
const CountModel kN{{{1, 1, ""}}};
const CountModel kNSquared{{{1, 2, ""}}};
const CountModel kNothing{};
// chain: 2kN FLOPs; 2kN elements moved by k passes, 2N by one.
const CountModel kTwoKN{{{2, 1, "k"}}};
const CountModel kTwoN{{{2, 1, ""}}};
// batched_mv: B(2N^2 - N) FLOPs; X and Y are B N-vectors each.
const CountModel kBatchedFlops{{{2, 2, "B"}, {-1, 1, "B"}}};
const CountModel kBN{{{1, 1, "B"}}};
const CountModel kBatchedGemmElements{{{1, 2, ""}, {2, 1, "B"}}};  // A once, X, Y
const CountModel kBatchedLoopElements{{{1, 2, "B"}, {2, 1, "B"}}};  // A B times, X, Y

ImplSpec Impl(const char* backend, const char* name, const char* description, Kernel kernel,
              const CountModel& min_elements, const CountModel& temp_elements = kNothing) {
  return ImplSpec{backend, name, description, kernel, min_elements, temp_elements};
}

// y_i = sum_j A_ij x_j, in fp64.
template <typename T>
std::vector<double> MatvecReference(const PointSpec& point, const std::vector<const T*>& inputs) {
  const int64_t n = point.n;
  const T* a = inputs[0];
  const T* x = inputs[1];
  std::vector<double> ref(n, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    double sum = 0;
    const T* row = a + i * n;
    for (int64_t j = 0; j < n; ++j) sum += static_cast<double>(row[j]) * x[j];
    ref[i] = sum;
  }
  return ref;
}

// Column (axis 0) or row (axis 1) sums of u v^T. The reference may factor
// the sum (in fp64 it changes nothing that matters); the implementations
// under test may not.
template <typename T>
std::vector<double> OuterReference(const PointSpec& point, const std::vector<const T*>& inputs) {
  const int64_t n = point.n;
  const T* u = inputs[0];
  const T* v = inputs[1];
  const bool column_sums = point.Param("axis") == 0;
  const T* summed = column_sums ? u : v;
  const T* scaled = column_sums ? v : u;
  double total = 0;
  for (int64_t i = 0; i < n; ++i) total += summed[i];
  std::vector<double> ref(n, 0.0);
  for (int64_t i = 0; i < n; ++i) ref[i] = total * static_cast<double>(scaled[i]);
  return ref;
}

// y = x, then y <- a y + b k times, in fp64 (every step exact or rounded
// far below the tolerance).
template <typename T>
std::vector<double> ChainReference(const PointSpec& point, const std::vector<const T*>& inputs) {
  const int64_t steps = point.Param("k");
  std::vector<double> ref(point.n);
  for (int64_t i = 0; i < point.n; ++i) {
    double y = inputs[0][i];
    for (int64_t s = 0; s < steps; ++s) y = kChainA * y + kChainB;
    ref[i] = y;
  }
  return ref;
}

// y_b = A x_b for each of the B vectors, in fp64.
template <typename T>
std::vector<double> BatchedMvReference(const PointSpec& point,
                                       const std::vector<const T*>& inputs) {
  const int64_t n = point.n;
  const int64_t batch = point.Param("B");
  std::vector<double> ref(n * batch, 0.0);
  for (int64_t b = 0; b < batch; ++b) {
    const T* x = inputs[1] + b * n;
    for (int64_t i = 0; i < n; ++i) {
      const T* row = inputs[0] + i * n;
      double sum = 0;
      for (int64_t j = 0; j < n; ++j) sum += static_cast<double>(row[j]) * x[j];
      ref[b * n + i] = sum;
    }
  }
  return ref;
}

// O = softmax(Q K^T scale) V in fp64, row by row, as the op states it:
// s = (q . k) scale, m = max s, e = exp(s - m), l = sum e, o = (sum e v) / l.
template <typename T>
std::vector<double> AttentionReference(const PointSpec& point,
                                       const std::vector<const T*>& inputs) {
  const int64_t n = point.n;
  const int64_t d = point.Param("d");
  const double scale = static_cast<double>(static_cast<T>(1.0 / std::sqrt(static_cast<double>(d))));
  const T* q = inputs[0];
  const T* k = inputs[1];
  const T* v = inputs[2];
  std::vector<double> ref(n * d, 0.0);
  std::vector<double> e(n);
  for (int64_t i = 0; i < n; ++i) {
    double m = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < n; ++j) {
      double dot = 0;
      for (int64_t c = 0; c < d; ++c) dot += static_cast<double>(q[i * d + c]) * k[j * d + c];
      e[j] = dot * scale;
      m = std::max(m, e[j]);
    }
    double l = 0;
    for (int64_t j = 0; j < n; ++j) {
      e[j] = std::exp(e[j] - m);
      l += e[j];
    }
    double* o = ref.data() + i * d;
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t c = 0; c < d; ++c) o[c] += e[j] * v[j * d + c];
    }
    for (int64_t c = 0; c < d; ++c) o[c] /= l;
  }
  return ref;
}

std::vector<OpSpec> BuildCatalog() {
  OpSpec matvec;
  matvec.name = "matvec";
  matvec.description = "y = A x: N x N matrix times N x 1 vector";
  matvec.flops = kTwoNSquaredMinusN;
  matvec.min_elements = kMatvecElements;
  matvec.baseline = {"matvec", "gemm", "torch.mm's way, the seed's reference"};
  matvec.inputs = {kNSquared, kN};  // A, x
  matvec.output = kN;
  matvec.reference_f32 = &MatvecReference<float>;
  matvec.reference_f64 = &MatvecReference<double>;
  matvec.n_meaning = "the matrix's order (N x N) and the vector's length";
  matvec.error_terms = kN;
  matvec.impls = {
      Impl("cpu", "gemv", "OpenBLAS ?gemv", Kernel::kMatvecGemv, kMatvecElements),
      Impl("cpu", "gemm", "OpenBLAS ?gemm with an N x 1 right-hand side (as torch.mm does it)",
           Kernel::kMatvecGemm, kMatvecElements),
      Impl("cuda", "gemm", "cuBLAS ?gemm with an N x 1 right-hand side (as torch.mm does it)",
           Kernel::kMatvecGemm, kMatvecElements),
      Impl("cuda", "gemv", "cuBLAS ?gemv", Kernel::kMatvecGemv, kMatvecElements),
      Impl("cuda", "custom",
           "flopd kernel: 16-byte loads, warp per row, built for the memory roofline",
           Kernel::kMatvecCustom, kMatvecElements),
  };

  OpSpec outer;
  outer.name = "outer";
  outer.description =
      "P = u v^T (N x 1 times 1 x N), then sum P over `axis` (0: column sums, 1: row sums)";
  outer.flops = kTwoNSquaredMinusN;
  outer.min_elements = kOuterElements;
  outer.baseline = matvec.baseline;
  outer.inputs = {kN, kN};  // u, v
  outer.output = kN;
  outer.reference_f32 = &OuterReference<float>;
  outer.reference_f64 = &OuterReference<double>;
  outer.n_meaning = "the length of u and v (the product is N x N)";
  outer.error_terms = kN;
  outer.params = {{"axis",
                   "0 = column sums out_j = sum_i P_ij; "
                   "1 = row sums out_i = sum_j P_ij",
                   {0, 1}}};
  outer.impls = {
      Impl("cpu", "library",
           "OpenBLAS ?gemm with k=1 writes the N x N product, then flopd's threaded reduction",
           Kernel::kOuterLibrary, kOuterLibraryElements, /*temp_elements=*/kNSquared),
      Impl("cpu", "fused",
           "one threaded pass, no N x N temporary, the same N^2 mul and N^2-N add; both axes one "
           "vector kernel, AVX-512F or AVX2+FMA by the CPU (owned outputs in registers, the summed "
           "vector streamed); sum order: 4 partial sums by summed index mod 4, each from its first "
           "product on in increasing index (one FMA per later product; mul then add on a CPU "
           "without FMA), then (p0 + p1) + (p2 + p3)",
           Kernel::kOuterFused, kOuterElements),
      Impl("cuda", "library",
           "cuBLAS ?gemm with k=1 writes the N x N product, then flopd's reduction",
           Kernel::kOuterLibrary, kOuterLibraryElements, /*temp_elements=*/kNSquared),
      Impl("cuda", "fused",
           "one kernel, no N x N temporary, the same N^2 mul and N^2-N add; one block per SM "
           "owns a tile of outputs (its width, a multiple of 4, and any split of the summed "
           "axis planned per N and SM count); sum order: each lane adds one FMA per product "
           "into its partial sum in increasing index over its 4-element groups of its warp's "
           "share, then the 4 lane groups' partials (8 for tile widths not a multiple of 8; "
           "shuffles), the 8 warps' (a fixed tree) and the splits' (in order)",
           Kernel::kOuterFused, kOuterElements),
  };

  OpSpec chain;
  chain.name = "chain";
  chain.description = absl::StrCat(
      "y <- a y + b, k times, over an N-vector x (y = x first; a = 1 - 2^-8, b = 2^-8, exact in "
      "f32 and f64): k fused multiply-adds per element. Is fusing an elementwise chain worth it?");
  chain.n_meaning = "the vector's length";
  chain.flops = kTwoKN;
  chain.min_elements = kTwoN;
  chain.params = {{"k", "fused multiply-adds per element (the chain's length)",
                   {1, 2, 4, 8, 16, 32, 64, 128, 256}}};
  chain.baseline = {"chain", "unfused", "k separate passes, the way k library calls run"};
  chain.inputs = {kN};  // x
  chain.output = kN;
  chain.reference_f32 = &ChainReference<float>;
  chain.reference_f64 = &ChainReference<double>;
  // Each step rounds once and damps the earlier errors by a, so the error
  // is at most u (1 - a^k) / (1 - a) < min(k, 256) u; near the fixed point
  // the roundings can all go one way, so it does reach ~150 u at k = 256.
  // 64k terms make the tolerance 8 sqrt(64k + 2) u ~ 64 sqrt(k) u: 1024 u
  // at k = 256, still 12x below one missing step's difference there.
  chain.error_terms = CountModel{{{64, 0, "k"}}};
  // The vector in L2 (4 MiB in f32), past it, and far past it.
  chain.default_sizes = {{"cpu", "65536,1048576,8388608"}, {"cuda", "1048576,16777216,67108864"}};
  chain.impls = {
      Impl("cpu", "unfused",
           "k threaded passes, each reading and writing the whole vector (as k separate library "
           "calls would)",
           Kernel::kChainUnfused, kTwoKN),
      Impl("cpu", "fused", "one threaded pass: each block of the vector takes its k steps in "
           "registers (AVX-512F or AVX2+FMA where the CPU has it)",
           Kernel::kChainFused, kTwoN),
      Impl("cuda", "unfused", "k kernel launches, each reading and writing the whole vector",
           Kernel::kChainUnfused, kTwoKN),
      Impl("cuda", "fused", "one kernel: each thread takes its elements through the k steps in "
           "registers",
           Kernel::kChainFused, kTwoN),
  };

  OpSpec batched;
  batched.name = "batched_mv";
  batched.description =
      "Y = A X: one N x N matrix times B different N-vectors (X and Y hold the vectors one after "
      "another). Why is batching vectors into a matrix nearly free?";
  batched.n_meaning = "the matrix's order (N x N) and each vector's length";
  batched.flops = kBatchedFlops;
  batched.min_elements = kBatchedGemmElements;
  batched.params = {{"B", "vectors multiplied by the matrix", {1, 2, 4, 8, 16, 32, 64}}};
  batched.baseline = {"batched_mv", "loop", "B matrix-vector calls, the matrix read B times"};
  batched.inputs = {kNSquared, kBN};  // A, X
  batched.output = kBN;
  batched.reference_f32 = &BatchedMvReference<float>;
  batched.reference_f64 = &BatchedMvReference<double>;
  batched.error_terms = kN;
  batched.default_sizes = {{"cpu", "1000,2000,4000"}, {"cuda", "2000,4000,8000,16000"}};
  batched.impls = {
      Impl("cpu", "loop", "B OpenBLAS ?gemv calls, one per vector", Kernel::kBatchedMvLoop,
           kBatchedLoopElements),
      Impl("cpu", "gemm", "one OpenBLAS ?gemm, N x N times N x B", Kernel::kBatchedMvGemm,
           kBatchedGemmElements),
      Impl("cuda", "loop", "B cuBLAS ?gemv calls, one per vector", Kernel::kBatchedMvLoop,
           kBatchedLoopElements),
      Impl("cuda", "gemm", "one cuBLAS ?gemm, N x N times N x B", Kernel::kBatchedMvGemm,
           kBatchedGemmElements),
      Impl("cuda", "custom",
           "flopd kernel: the matrix streamed once (16-byte loads); each block stages the "
           "vectors' current columns in shared memory (double-buffered); a warp's lanes across "
           "the columns of 1-4 rows, or from B = 8 on large N, 4 groups of 8 lanes on their own "
           "rows sharing each load of x_b; per-lane sums in column order, then a butterfly "
           "over the row's lanes; built for the memory roofline (B <= 16 in f32)",
           Kernel::kBatchedMvCustom, kBatchedGemmElements),
  };

  // Q K^T: (2d - 1)N^2; scale, subtract, exp: 3N^2; max and sum: 2(N^2 - N);
  // E V: N d outputs of N products and N - 1 sums, 2dN^2 - dN; the division:
  // dN. Total 4dN^2 + 4N^2 - 2N.
  const CountModel attention_flops{{{4, 2, "d"}, {4, 2, ""}, {-2, 1, ""}}};
  const CountModel nd{{{1, 1, "d"}}};
  const CountModel qkvo{{{4, 1, "d"}}};                      // Q, K, V read, O written
  const CountModel qkvo_and_scores{{{4, 1, "d"}, {2, 2, ""}}};  // and S written, read back
  OpSpec attention;
  attention.name = "attention";
  attention.description =
      "O = softmax(Q K^T / sqrt(d)) V for N tokens, one head of size d (Q, K, V, O are N x d): "
      "s = (q . k) * scale, m = max s, e = exp(s - m), l = sum e, o = (sum e v) / l (exp "
      "counted as one FLOP). Why is FlashAttention faster with the same FLOPs?";
  attention.n_meaning = "the sequence length (tokens); the score matrix is N x N";
  attention.flops = attention_flops;
  attention.min_elements = qkvo;
  attention.params = {{"d", "the head size", {64, 128}}};
  attention.baseline = {"attention", "materialized", "the textbook way, the N x N scores in memory"};
  attention.inputs = {nd, nd, nd};  // Q, K, V
  attention.output = nd;
  attention.reference_f32 = &AttentionReference<float>;
  attention.reference_f64 = &AttentionReference<double>;
  // A score is a d-term dot product whose rounding exp turns into relative
  // error of every weight, on top of the N-term sums.
  attention.error_terms = nd;
  attention.default_sizes = {{"cpu", "256,512,1024,2048"}, {"cuda", "1024,2048,4096,8192,16384"}};
  const CountModel scores{{{1, 2, ""}, {1, 1, ""}}};  // S (N x N) and l
  attention.impls = {
      Impl("cpu", "materialized",
           "OpenBLAS ?gemm for Q K^T into an N x N buffer, a threaded softmax pass over it, "
           "?gemm for E V, then the division by l",
           Kernel::kAttentionMaterialized, qkvo_and_scores, scores),
      Impl("cpu", "fused",
           "one threaded pass over query tiles streaming K/V blocks with an online softmax, no "
           "N x N buffer; when a row's max grows it rescales l and o (1 exp and d + 1 multiplies, "
           "not counted in the FLOPs)",
           Kernel::kAttentionFused, qkvo),
      Impl("cuda", "materialized",
           "cuBLAS ?gemm for Q K^T into an N x N buffer, flopd's softmax kernel, ?gemm for E V, "
           "then the division by l",
           Kernel::kAttentionMaterialized, qkvo_and_scores, scores),
      Impl("cuda", "fused",
           "flopd's flash-attention kernel: query tiles of 32 rows, K/V tiles in shared memory, "
           "online softmax in registers, no N x N buffer; rescales as the cpu one does, and "
           "merges 2-4 partial rows per block (d + 3 operations each, not counted)",
           Kernel::kAttentionFused, qkvo),
  };
  return {matvec, outer, chain, batched, attention};
}

std::string SizeofSuffix(const CountModel& elements) {
  const std::string formula = elements.Formula();
  return elements.terms.size() > 1 ? absl::StrCat("(", formula, ") * sizeof(dtype)")
                                   : absl::StrCat(formula, " * sizeof(dtype)");
}

int64_t Pow(int64_t base, int power) {
  int64_t value = 1;
  for (int i = 0; i < power; ++i) value *= base;
  return value;
}

[[noreturn]] void Unresolved(const char* what) {
  std::fprintf(stderr, "flopd: %s called with an unresolved point (Kernel::kNone)\n", what);
  std::abort();
}

}  // namespace

int64_t CountModel::Evaluate(const PointSpec& point) const {
  int64_t total = 0;
  for (const Term& term : terms) {
    const int64_t scale = term.param.empty() ? 1 : point.Param(term.param, 0);
    total += term.coefficient * Pow(point.n, term.n_power) * scale;
  }
  return total;
}

std::string CountModel::Formula() const {
  std::string text;
  for (const Term& term : terms) {
    const int64_t magnitude = term.coefficient < 0 ? -term.coefficient : term.coefficient;
    std::string factor = magnitude == 1 && (term.n_power > 0 || !term.param.empty())
                             ? ""
                             : absl::StrCat(magnitude);
    factor += term.param;
    if (term.n_power >= 1) factor += "N";
    if (term.n_power >= 2) absl::StrAppend(&factor, "^", term.n_power);
    if (text.empty()) {
      text = term.coefficient < 0 ? absl::StrCat("-", factor) : factor;
    } else {
      absl::StrAppend(&text, term.coefficient < 0 ? " - " : " + ", factor);
    }
  }
  return text.empty() ? "0" : text;
}

std::string ImplSpec::MinBytesFormula() const { return SizeofSuffix(min_elements); }
std::string OpSpec::MinBytesFormula() const { return SizeofSuffix(min_elements); }

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

std::string OpSpec::DefaultSizes(absl::string_view backend,
                                 absl::string_view device_default) const {
  for (const auto& [name, sizes] : default_sizes) {
    if (name == backend) return sizes;
  }
  return std::string(device_default);
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
      absl::StrCat("op: unknown op '", Sanitized(name, kQuotedValueBytes), "'; allowed: ",
                   AllowedOps()));
}

absl::StatusOr<PointSpec> ResolvePoint(PointSpec point) {
  absl::StatusOr<const OpSpec*> op = FindOp(point.op);
  if (!op.ok()) return op.status();
  std::vector<std::string> names;
  for (const ImplSpec& impl : (*op)->impls) {
    if (impl.name == point.impl) {
      point.kernel = impl.kernel;
      return point;
    }
    if (std::find(names.begin(), names.end(), impl.name) == names.end()) names.push_back(impl.name);
  }
  return absl::InvalidArgumentError(absl::StrCat("impl: unknown impl '",
                                                 Sanitized(point.impl, kQuotedValueBytes),
                                                 "' of op ", point.op, "; allowed: ",
                                                 absl::StrJoin(names, ", ")));
}

const OpSpec& OpOf(Kernel kernel) {
  for (const OpSpec& op : OpCatalog()) {
    for (const ImplSpec& impl : op.impls) {
      if (impl.kernel == kernel) return op;
    }
  }
  Unresolved("OpOf");
}

const ImplSpec& ImplOf(Kernel kernel) {
  for (const OpSpec& op : OpCatalog()) {
    for (const ImplSpec& impl : op.impls) {
      if (impl.kernel == kernel) return impl;
    }
  }
  Unresolved("ImplOf");
}

std::string KernelName(Kernel kernel) {
  if (kernel == Kernel::kNone) return "(unresolved)";
  return absl::StrCat(OpOf(kernel).name, "/", ImplOf(kernel).name);
}

int64_t OpFlops(const PointSpec& point) { return OpOf(point.kernel).flops.Evaluate(point); }

int64_t MinBytes(const PointSpec& point) {
  return ImplOf(point.kernel).min_elements.Evaluate(point) * DTypeSize(point.dtype);
}

std::vector<int64_t> InputCounts(const PointSpec& point) {
  std::vector<int64_t> counts;
  for (const CountModel& input : OpOf(point.kernel).inputs) counts.push_back(input.Evaluate(point));
  return counts;
}

int64_t OutputCount(const PointSpec& point) { return OpOf(point.kernel).output.Evaluate(point); }

int64_t TempCount(const PointSpec& point) {
  return ImplOf(point.kernel).temp_elements.Evaluate(point);
}

int64_t BufferBytes(const PointSpec& point) {
  int64_t elements = OutputCount(point) + TempCount(point);
  for (int64_t count : InputCounts(point)) elements += count;
  return elements * DTypeSize(point.dtype);
}

}  // namespace flopd
