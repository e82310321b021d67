#include "common/op_catalog.h"

#include <cstdint>
#include <string>
#include <vector>

#include "common/size_spec.h"
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

TEST(OpCatalogTest, ListsMatvecThenOuter) {
  const std::vector<OpSpec>& catalog = OpCatalog();
  ASSERT_EQ(catalog.size(), 2u);
  EXPECT_EQ(catalog[0].name, "matvec");
  EXPECT_EQ(catalog[1].name, "outer");
  EXPECT_EQ(AllowedOps(), "matvec, outer");
  EXPECT_EQ(&OpCatalog(), &catalog) << "the catalog is built once";
}

TEST(OpCatalogTest, EveryOpDeclaresTheSameFlopFormula) {
  for (const OpSpec& op : OpCatalog()) {
    EXPECT_EQ(op.FlopFormula(), "2N^2 - N") << op.name;
    for (const ImplSpec& impl : op.impls) {
      EXPECT_TRUE(impl.backend == "cpu" || impl.backend == "cuda") << op.name << "/" << impl.name;
      EXPECT_FALSE(impl.MinBytesFormula().empty()) << op.name << "/" << impl.name;
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
  EXPECT_EQ(std::string(op.status().message()), "op: unknown op 'conv'; allowed: matvec, outer");
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
                        Case{"outer", "fused", Kernel::kOuterFused}}) {
    absl::StatusOr<PointSpec> point = ResolvePoint(PointSpec{c.op, c.impl, {}, DType::kF32, 10});
    ASSERT_TRUE(point.ok()) << point.status();
    EXPECT_EQ(point->kernel, c.kernel) << c.op << "/" << c.impl;
    EXPECT_EQ(KernelName(c.kernel), std::string(c.op) + "/" + c.impl);
  }
}

TEST(ResolvePointTest, RejectsUnknownNamesNamingTheField) {
  absl::StatusOr<PointSpec> bad_op = ResolvePoint(PointSpec{"conv", "gemv", {}, DType::kF32, 10});
  EXPECT_EQ(bad_op.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad_op.status().message(), "op: unknown op 'conv'; allowed: matvec, outer");
  absl::StatusOr<PointSpec> bad_impl = ResolvePoint(PointSpec{"outer", "gemv", {}, DType::kF32, 10});
  EXPECT_EQ(bad_impl.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad_impl.status().message(),
            "impl: unknown impl 'gemv' of op outer; allowed: library, fused");
}

TEST(OpCatalogTest, BothOpsAreComparedWithMatvecGemm) {
  for (const OpSpec& op : OpCatalog()) {
    EXPECT_EQ(op.baseline.op, "matvec") << op.name;
    EXPECT_EQ(op.baseline.impl, "gemm") << op.name;
    absl::StatusOr<PointSpec> baseline =
        ResolvePoint(PointSpec{op.baseline.op, op.baseline.impl, {}, DType::kF32, 1});
    EXPECT_TRUE(baseline.ok()) << "the baseline must be in the catalog: " << baseline.status();
  }
}

}  // namespace
}  // namespace flopd
