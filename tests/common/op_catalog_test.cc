#include "common/op_catalog.h"

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/size_spec.h"
#include "common/verification.h"
#include "gtest/gtest.h"

namespace flopd {
namespace {

using Names = std::vector<std::string>;

PointSpec Point(const std::string& op, const std::string& impl, DType dtype, int64_t n) {
  PointSpec point{op, impl, {}, dtype, n};
  if (op == "outer") point.params["axis"] = 0;
  absl::StatusOr<PointSpec> resolved = ResolvePoint(point);
  EXPECT_TRUE(resolved.ok()) << resolved.status();
  return resolved.ok() ? *resolved : point;
}

TEST(OpCatalogTest, ListsTheSeedsPairThenTheOtherFamilies) {
  const std::vector<OpSpec>& catalog = OpCatalog();
  ASSERT_EQ(catalog.size(), 5u);
  EXPECT_EQ(catalog[0].name, "matvec");
  EXPECT_EQ(catalog[1].name, "outer");
  EXPECT_EQ(catalog[2].name, "chain");
  EXPECT_EQ(catalog[3].name, "batched_mv");
  EXPECT_EQ(catalog[4].name, "attention");
  EXPECT_EQ(AllowedOps(), "matvec, outer, chain, batched_mv, attention");
  EXPECT_EQ(&OpCatalog(), &catalog) << "the catalog is built once";
}

// Every impl of an op does the op's FLOPs: the formula is the op's, and each
// family's is its own.
TEST(OpCatalogTest, EachOpDeclaresItsFlopFormula) {
  const std::map<std::string, std::string> expected = {{"matvec", "2N^2 - N"},
                                                       {"outer", "2N^2 - N"},
                                                       {"chain", "2kN"},
                                                       {"batched_mv", "2BN^2 - BN"},
                                                       {"attention", "4dN^2 + 4N^2 - 2N"}};
  for (const OpSpec& op : OpCatalog()) {
    ASSERT_TRUE(expected.count(op.name)) << op.name;
    EXPECT_EQ(op.FlopFormula(), expected.at(op.name)) << op.name;
    EXPECT_FALSE(op.n_meaning.empty()) << op.name;
    for (const ImplSpec& impl : op.impls) {
      EXPECT_TRUE(impl.backend == "cpu" || impl.backend == "cuda") << op.name << "/" << impl.name;
      EXPECT_FALSE(impl.MinBytesFormula().empty()) << op.name << "/" << impl.name;
    }
  }
  PointSpec chain{"chain", "fused", {{"k", 8}}, DType::kF32, 1000};
  chain = *ResolvePoint(chain);
  EXPECT_EQ(OpFlops(chain), 2 * 8 * 1000);
  EXPECT_EQ(MinBytes(chain), 2 * 1000 * 4);  // read x, write y once
  chain.kernel = ResolvePoint(PointSpec{"chain", "unfused", {{"k", 8}}, DType::kF32, 1000})->kernel;
  EXPECT_EQ(MinBytes(chain), 8 * 2 * 1000 * 4);  // each of the 8 passes reads and writes
  PointSpec batched = *ResolvePoint(PointSpec{"batched_mv", "gemm", {{"B", 4}}, DType::kF64, 100});
  EXPECT_EQ(OpFlops(batched), 4 * (2 * 100 * 100 - 100));
  EXPECT_EQ(MinBytes(batched), (100 * 100 + 2 * 4 * 100) * 8);  // A once, X and Y
  EXPECT_EQ(InputCounts(batched), (std::vector<int64_t>{100 * 100, 4 * 100}));
  EXPECT_EQ(OutputCount(batched), 4 * 100);
  batched.kernel = ResolvePoint(PointSpec{"batched_mv", "loop", {{"B", 4}}, DType::kF64, 100})->kernel;
  EXPECT_EQ(MinBytes(batched), (4 * 100 * 100 + 2 * 4 * 100) * 8);  // A read B times
  PointSpec attention =
      *ResolvePoint(PointSpec{"attention", "fused", {{"d", 64}}, DType::kF32, 1000});
  EXPECT_EQ(OpFlops(attention), 4 * 64 * 1000 * 1000 + 4 * 1000 * 1000 - 2 * 1000);
  EXPECT_EQ(MinBytes(attention), 4 * 1000 * 64 * 4);  // Q, K, V read, O written
  EXPECT_EQ(TempCount(attention), 0);
  attention.kernel =
      ResolvePoint(PointSpec{"attention", "materialized", {{"d", 64}}, DType::kF32, 1000})->kernel;
  EXPECT_EQ(MinBytes(attention), (4 * 1000 * 64 + 2 * 1000 * 1000) * 4);  // and S written, read
  EXPECT_EQ(TempCount(attention), 1000 * 1000 + 1000);                   // S and l
}

// attention's reference follows the op's definition: a row's output is the
// softmax-weighted mean of V's rows (weights from the scaled scores).
TEST(OpCatalogTest, AttentionReferenceIsTheSoftmaxWeightedMeanOfV) {
  const int64_t n = 3, d = 64;
  std::vector<double> q(n * d), k(n * d), v(n * d);
  FillUniform(q.data(), n * d, kInputSeed);
  FillUniform(k.data(), n * d, kInputSeed + 1);
  FillUniform(v.data(), n * d, kInputSeed + 2);
  const PointSpec point = *ResolvePoint(PointSpec{"attention", "fused", {{"d", d}}, DType::kF64, n});
  const std::vector<double> ref = ReferenceResult<double>(point, {q.data(), k.data(), v.data()});
  ASSERT_EQ(ref.size(), static_cast<size_t>(n * d));
  for (int64_t i = 0; i < n; ++i) {
    double w[3], total = 0;
    for (int64_t j = 0; j < n; ++j) {
      double dot = 0;
      for (int64_t c = 0; c < d; ++c) dot += q[i * d + c] * k[j * d + c];
      w[j] = std::exp(dot / 8.0);  // 1 / sqrt(64), exact
      total += w[j];
    }
    for (int64_t c = 0; c < d; ++c) {
      double o = 0;
      for (int64_t j = 0; j < n; ++j) o += w[j] / total * v[j * d + c];
      EXPECT_NEAR(ref[i * d + c], o, 1e-13 * std::fabs(o)) << i << " " << c;
    }
  }
}

TEST(OpCatalogTest, FindOpFindsKnownOps) {
  for (const char* name : {"matvec", "outer"}) {
    absl::StatusOr<const OpSpec*> op = FindOp(name);
    ASSERT_TRUE(op.ok()) << op.status();
    ASSERT_NE(*op, nullptr);
    EXPECT_EQ((*op)->name, name);
  }
}

TEST(OpCatalogTest, FindOpRejectsUnknownNamingFieldAndAllowedOps) {
  absl::StatusOr<const OpSpec*> op = FindOp("conv");
  ASSERT_FALSE(op.ok());
  EXPECT_EQ(op.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(op.status().message()),
            "op: unknown op 'conv'; allowed: matvec, outer, chain, batched_mv, attention");
  for (const char* name : {"", "Matvec", "matvec ", "gemv"}) {
    absl::StatusOr<const OpSpec*> bad = FindOp(name);
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << "'" << name << "'";
  }
}

TEST(OpCatalogTest, ImplNamesPerBackendInCatalogOrder) {
  const OpSpec* matvec = *FindOp("matvec");
  const OpSpec* outer = *FindOp("outer");
  EXPECT_EQ(matvec->ImplNames("cpu"), (Names{"gemv", "gemm"}));
  EXPECT_EQ(matvec->ImplNames("cuda"), (Names{"gemm", "gemv", "custom"}));
  EXPECT_EQ(outer->ImplNames("cpu"), (Names{"library", "fused"}));
  EXPECT_EQ(outer->ImplNames("cuda"), (Names{"library", "fused"}));
  EXPECT_TRUE(matvec->ImplNames("tpu").empty());
  EXPECT_TRUE(matvec->ImplNames("").empty());
}

TEST(OpCatalogTest, OnlyOuterHasTheAxisParam) {
  const OpSpec* matvec = *FindOp("matvec");
  const OpSpec* outer = *FindOp("outer");
  EXPECT_EQ(matvec->FindParam("axis"), nullptr);
  EXPECT_TRUE(matvec->params.empty());
  const ParamSpec* axis = outer->FindParam("axis");
  ASSERT_NE(axis, nullptr);
  EXPECT_EQ(axis->name, "axis");
  EXPECT_EQ(axis->allowed_values, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(outer->FindParam("stride"), nullptr);
}

TEST(OpFlopsTest, IsExactly2NSquaredMinusNForEveryOpImplAndDtype) {
  struct Case {
    int64_t n;
    int64_t flops;
  };
  // N^2 multiplications plus N(N-1) additions.
  const Case cases[] = {{1, 1},
                        {2, 6},
                        {3, 15},
                        {1000, 1999000},
                        {19500, 760480500},
                        {20000, 799980000},
                        {kMaxN, 19999999900000000}};
  for (const Case& c : cases) {
    for (DType dtype : {DType::kF32, DType::kF64}) {
      for (const char* impl : {"gemv", "gemm", "custom"}) {
        EXPECT_EQ(OpFlops(Point("matvec", impl, dtype, c.n)), c.flops)
            << "matvec/" << impl << " N=" << c.n;
      }
      for (const char* impl : {"library", "fused"}) {
        for (int64_t axis : {0, 1}) {
          PointSpec point = Point("outer", impl, dtype, c.n);
          point.params["axis"] = axis;
          EXPECT_EQ(OpFlops(point), c.flops) << point.Label();
        }
      }
    }
  }
}

TEST(MinBytesTest, MatvecReadsMatrixAndVectorAndWritesVector) {
  // (N^2 + 2N) * sizeof(dtype), whatever the impl.
  for (const char* impl : {"gemv", "gemm", "custom"}) {
    EXPECT_EQ(MinBytes(Point("matvec", impl, DType::kF32, 20000)), 1600160000) << impl;
    EXPECT_EQ(MinBytes(Point("matvec", impl, DType::kF64, 20000)), 3200320000) << impl;
    EXPECT_EQ(MinBytes(Point("matvec", impl, DType::kF32, 3)), (9 + 6) * 4) << impl;
  }
}

TEST(MinBytesTest, OuterLibraryAlsoWritesAndReadsTheProduct) {
  // (2N^2 + 3N) * sizeof(dtype).
  EXPECT_EQ(MinBytes(Point("outer", "library", DType::kF32, 20000)),
            (2 * 20000LL * 20000 + 3 * 20000) * 4);
  EXPECT_EQ(MinBytes(Point("outer", "library", DType::kF32, 20000)), 3200240000);
  EXPECT_EQ(MinBytes(Point("outer", "library", DType::kF64, 20000)), 6400480000);
  EXPECT_EQ(MinBytes(Point("outer", "library", DType::kF32, 3)), (18 + 9) * 4);
}

TEST(MinBytesTest, OuterFusedMovesOnlyTheVectors) {
  // 3N * sizeof(dtype): u, v read once, out written once.
  EXPECT_EQ(MinBytes(Point("outer", "fused", DType::kF32, 20000)), 240000);
  EXPECT_EQ(MinBytes(Point("outer", "fused", DType::kF64, 20000)), 480000);
  PointSpec axis1 = Point("outer", "fused", DType::kF32, 20000);
  axis1.params["axis"] = 1;
  EXPECT_EQ(MinBytes(axis1), 240000);
}

TEST(MinBytesTest, LargestNDoesNotOverflow) {
  EXPECT_EQ(MinBytes(Point("outer", "library", DType::kF64, kMaxN)),
            (2 * kMaxN * kMaxN + 3 * kMaxN) * 8);
  EXPECT_EQ(MinBytes(Point("matvec", "gemv", DType::kF64, kMaxN)), (kMaxN * kMaxN + 2 * kMaxN) * 8);
}

TEST(BufferBytesTest, CountsInputsOutputsAndTemporaries) {
  // matvec: A, x, y.
  EXPECT_EQ(BufferBytes(Point("matvec", "gemv", DType::kF32, 20000)), 1600160000);
  EXPECT_EQ(BufferBytes(Point("matvec", "custom", DType::kF64, 20000)), 3200320000);
  // outer/library: u, v, out and the N x N product, which is allocated once
  // although it is both written and read.
  EXPECT_EQ(BufferBytes(Point("outer", "library", DType::kF32, 20000)),
            (20000LL * 20000 + 3 * 20000) * 4);
  EXPECT_EQ(BufferBytes(Point("outer", "library", DType::kF32, 20000)), 1600240000);
  EXPECT_EQ(BufferBytes(Point("outer", "library", DType::kF64, 20000)), 3200480000);
  // outer/fused: u, v, out.
  EXPECT_EQ(BufferBytes(Point("outer", "fused", DType::kF32, 20000)), 240000);
  EXPECT_EQ(BufferBytes(Point("outer", "fused", DType::kF64, 20000)), 480000);
}

TEST(OpCatalogTest, FormulaTextIsGeneratedFromTheModels) {
  const OpSpec* matvec = *FindOp("matvec");
  const OpSpec* outer = *FindOp("outer");
  EXPECT_EQ(matvec->MinBytesFormula(), "(N^2 + 2N) * sizeof(dtype)");
  EXPECT_EQ(outer->MinBytesFormula(), "3N * sizeof(dtype)");
  for (const ImplSpec& impl : outer->impls) {
    EXPECT_EQ(impl.MinBytesFormula(), impl.name == "library" ? "(2N^2 + 3N) * sizeof(dtype)"
                                                             : "3N * sizeof(dtype)")
        << impl.backend << "/" << impl.name;
  }
  CountModel scaled{{{2, 1, "k"}}};
  EXPECT_EQ(scaled.Formula(), "2kN");
  CountModel mixed{{{1, 2, "B"}, {-1, 1, "B"}, {4, 0, ""}}};
  EXPECT_EQ(mixed.Formula(), "BN^2 - BN + 4");
  PointSpec point;
  point.n = 10;
  point.params["B"] = 3;
  EXPECT_EQ(mixed.Evaluate(point), 300 - 30 + 4);
  EXPECT_EQ(CountModel{}.Formula(), "0");
}

TEST(OpCatalogTest, AnImplHasTheSameKernelAndModelsOnEveryBackend) {
  PointSpec probe;
  probe.n = 1234;
  probe.params["axis"] = 1;
  for (const OpSpec& op : OpCatalog()) {
    for (const ImplSpec& a : op.impls) {
      EXPECT_NE(a.kernel, Kernel::kNone) << op.name << "/" << a.name;
      EXPECT_EQ(&OpOf(a.kernel), &op) << op.name << "/" << a.name;
      for (const ImplSpec& b : op.impls) {
        if (a.name != b.name) {
          EXPECT_NE(a.kernel, b.kernel) << op.name << ": " << a.name << " vs " << b.name;
          continue;
        }
        EXPECT_EQ(a.kernel, b.kernel) << op.name << "/" << a.name;
        EXPECT_EQ(a.min_elements.Evaluate(probe), b.min_elements.Evaluate(probe)) << a.name;
        EXPECT_EQ(a.temp_elements.Evaluate(probe), b.temp_elements.Evaluate(probe)) << a.name;
      }
    }
  }
}

TEST(ResolvePointTest, SetsTheKernelFromTheNames) {
  struct Case {
    const char* op;
    const char* impl;
    Kernel kernel;
  };
  for (const Case& c : {Case{"matvec", "gemv", Kernel::kMatvecGemv},
                        Case{"matvec", "gemm", Kernel::kMatvecGemm},
                        Case{"matvec", "custom", Kernel::kMatvecCustom},
                        Case{"outer", "library", Kernel::kOuterLibrary},
                        Case{"outer", "fused", Kernel::kOuterFused},
                        Case{"batched_mv", "custom", Kernel::kBatchedMvCustom}}) {
    absl::StatusOr<PointSpec> point = ResolvePoint(PointSpec{c.op, c.impl, {}, DType::kF32, 10});
    ASSERT_TRUE(point.ok()) << point.status();
    EXPECT_EQ(point->kernel, c.kernel) << c.op << "/" << c.impl;
    EXPECT_EQ(KernelName(c.kernel), std::string(c.op) + "/" + c.impl);
  }
}

TEST(ResolvePointTest, RejectsUnknownNamesNamingTheField) {
  absl::StatusOr<PointSpec> bad_op = ResolvePoint(PointSpec{"conv", "gemv", {}, DType::kF32, 10});
  EXPECT_EQ(bad_op.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad_op.status().message(), "op: unknown op 'conv'; allowed: matvec, outer, chain, batched_mv, attention");
  absl::StatusOr<PointSpec> bad_impl = ResolvePoint(PointSpec{"outer", "gemv", {}, DType::kF32, 10});
  EXPECT_EQ(bad_impl.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad_impl.status().message(),
            "impl: unknown impl 'gemv' of op outer; allowed: library, fused");
}

TEST(OpCatalogTest, EachOpNamesTheBaselineOfItsVsColumn) {
  const std::map<std::string, std::string> expected = {{"matvec", "matvec/gemm"},
                                                       {"outer", "matvec/gemm"},
                                                       {"chain", "chain/unfused"},
                                                       {"batched_mv", "batched_mv/loop"},
                                                       {"attention", "attention/materialized"}};
  for (const OpSpec& op : OpCatalog()) {
    EXPECT_EQ(op.baseline.op + "/" + op.baseline.impl, expected.at(op.name)) << op.name;
    absl::StatusOr<PointSpec> baseline =
        ResolvePoint(PointSpec{op.baseline.op, op.baseline.impl, {}, DType::kF32, 1});
    EXPECT_TRUE(baseline.ok()) << "the baseline must be in the catalog: " << baseline.status();
  }
}

// The new families' defaults fit a quick run and differ per backend; the
// seed's ops keep the device's sweep.
TEST(OpCatalogTest, DefaultSizesArePerOpAndBackend) {
  for (const OpSpec& op : OpCatalog()) {
    for (const auto& [backend, spec] : op.default_sizes) {
      EXPECT_TRUE(backend == "cpu" || backend == "cuda") << op.name;
      EXPECT_TRUE(ParseSizeSpec(spec).ok()) << op.name << " " << spec;
    }
  }
  const OpSpec& chain = **FindOp("chain");
  EXPECT_EQ(chain.DefaultSizes("cuda", "1000"), "1048576,16777216,67108864");
  EXPECT_EQ(chain.DefaultSizes("cpu", "1000"), "65536,1048576,8388608");
  EXPECT_EQ((*FindOp("matvec"))->DefaultSizes("cuda", "1000:20000:500"), "1000:20000:500");
}

// chain's reference takes exactly k steps, and the tolerance follows the
// chain's length, not N: a kernel that skips one step fails.
TEST(OpCatalogTest, ChainReferenceTakesExactlyKStepsAndOneMissingStepFails) {
  for (int64_t k : {1, 8, 256}) {
    PointSpec point = *ResolvePoint(PointSpec{"chain", "fused", {{"k", k}}, DType::kF32, 3});
    const std::vector<float> x = {0.5f, 1.0f, 1.25f};
    const std::vector<double> ref = ReferenceResult<float>(point, {x.data()});
    ASSERT_EQ(ref.size(), 3u);
    for (int i = 0; i < 3; ++i) {
      double y = x[i];
      for (int64_t s = 0; s < k; ++s) y = kChainA * y + kChainB;
      EXPECT_EQ(ref[i], y);
      // One step short, computed in float the way a kernel would.
      float short_by_one = x[i];
      for (int64_t s = 0; s + 1 < k; ++s) {
        short_by_one = std::fma(static_cast<float>(kChainA), short_by_one,
                                static_cast<float>(kChainB));
      }
      if (x[i] != 1.0f) {
        EXPECT_FALSE(Verify<float>(point, &short_by_one, {ref[i]}).passed)
            << "k = " << k << ", x = " << x[i];
      }
    }
    EXPECT_LT(VerificationTolerance(point), 1e-4) << "k = " << k;
    point.n = 1 << 26;
    EXPECT_EQ(VerificationTolerance(point),
              VerificationTolerance(PointSpec{point.op, point.impl, point.params, point.dtype, 3,
                                              point.kernel}))
        << "N does not enter chain's tolerance";
  }
}

// batched_mv's reference is matvec's, vector by vector.
TEST(OpCatalogTest, BatchedMvReferenceIsMatvecPerVector) {
  const int64_t n = 5, batch = 3;
  std::vector<double> a(n * n), x(n * batch);
  FillUniform(a.data(), n * n, kInputSeed);
  FillUniform(x.data(), n * batch, kInputSeed + 1);
  PointSpec point = *ResolvePoint(PointSpec{"batched_mv", "gemm", {{"B", batch}}, DType::kF64, n});
  const std::vector<double> ref = ReferenceResult<double>(point, {a.data(), x.data()});
  ASSERT_EQ(ref.size(), static_cast<size_t>(n * batch));
  const PointSpec matvec = *ResolvePoint(PointSpec{"matvec", "gemv", {}, DType::kF64, n});
  for (int64_t b = 0; b < batch; ++b) {
    const std::vector<double> one = ReferenceResult<double>(matvec, {a.data(), x.data() + b * n});
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(ref[b * n + i], one[i]) << b << " " << i;
  }
}

}  // namespace
}  // namespace flopd
