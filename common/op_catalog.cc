#include "common/op_catalog.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

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
           "AVX2+FMA kernel (owned outputs in registers, the summed vector streamed); sum order: "
           "4 partial sums by summed index mod 4, each from its first product on in increasing "
           "index (one FMA per later product; mul then add on a CPU without FMA), then (p0 + p1) + "
           "(p2 + p3)",
           Kernel::kOuterFused, kOuterElements),
      Impl("cuda", "library",
           "cuBLAS ?gemm with k=1 writes the N x N product, then flopd's reduction",
           Kernel::kOuterLibrary, kOuterLibraryElements, /*temp_elements=*/kNSquared),
      Impl("cuda", "fused", "one kernel, no N x N temporary, the same N^2 mul and N^2-N add",
           Kernel::kOuterFused, kOuterElements),
  };
  return {matvec, outer};
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
