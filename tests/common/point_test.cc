#include "common/point.h"

#include "gtest/gtest.h"

namespace flopd {
namespace {

TEST(PointSpecTest, ParamReturnsValueOrFallback) {
  PointSpec point{"outer", "fused", {{"axis", 1}}, DType::kF32, 2000};
  EXPECT_EQ(point.Param("axis"), 1);
  EXPECT_EQ(point.Param("axis", 7), 1);
  EXPECT_EQ(point.Param("stride"), 0);
  EXPECT_EQ(point.Param("stride", -3), -3);
}

TEST(PointSpecTest, LabelWithParams) {
  PointSpec point{"outer", "fused", {{"axis", 1}}, DType::kF32, 2000};
  EXPECT_EQ(point.Label(), "outer/fused axis=1 f32 N=2000");
  EXPECT_EQ(point.ParamsLabel(), "axis=1");
}

TEST(PointSpecTest, LabelWithoutParamsHasNoDoubleSpace) {
  PointSpec point{"matvec", "gemv", {}, DType::kF64, 19500};
  EXPECT_EQ(point.Label(), "matvec/gemv f64 N=19500");
  EXPECT_EQ(point.ParamsLabel(), "");
}

TEST(PointSpecTest, SeveralParamsAreSortedByName) {
  PointSpec point{"op", "impl", {{"z", 2}, {"axis", 0}}, DType::kF32, 1};
  EXPECT_EQ(point.ParamsLabel(), "axis=0 z=2");
  EXPECT_EQ(point.Label(), "op/impl axis=0 z=2 f32 N=1");
}

TEST(PointSpecTest, DefaultsAreF32AndZeroN) {
  PointSpec point;
  EXPECT_EQ(point.dtype, DType::kF32);
  EXPECT_EQ(point.n, 0);
  EXPECT_TRUE(point.params.empty());
}

}  // namespace
}  // namespace flopd
