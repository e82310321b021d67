#include "common/dtype.h"

#include <cmath>
#include <limits>
#include <string>

#include "gtest/gtest.h"

namespace flopd {
namespace {

TEST(DTypeTest, NamesAndSizes) {
  EXPECT_EQ(std::string(DTypeName(DType::kF32)), "f32");
  EXPECT_EQ(std::string(DTypeName(DType::kF64)), "f64");
  EXPECT_EQ(DTypeSize(DType::kF32), 4);
  EXPECT_EQ(DTypeSize(DType::kF64), 8);
  EXPECT_EQ(AllowedDTypes(), "f32, f64");
}

TEST(DTypeTest, UnitRoundoffIsHalfAnUlpOfOne) {
  EXPECT_EQ(DTypeUnitRoundoff(DType::kF32), std::ldexp(1.0, -24));
  EXPECT_EQ(DTypeUnitRoundoff(DType::kF64), std::ldexp(1.0, -53));
  EXPECT_EQ(DTypeUnitRoundoff(DType::kF32), std::numeric_limits<float>::epsilon() / 2);
  EXPECT_EQ(DTypeUnitRoundoff(DType::kF64), std::numeric_limits<double>::epsilon() / 2);
}

TEST(DTypeTest, ParsesShortAndLongNames) {
  for (const char* text : {"f32", "float32"}) {
    absl::StatusOr<DType> dtype = ParseDType(text);
    ASSERT_TRUE(dtype.ok()) << text << ": " << dtype.status();
    EXPECT_EQ(*dtype, DType::kF32) << text;
  }
  for (const char* text : {"f64", "float64"}) {
    absl::StatusOr<DType> dtype = ParseDType(text);
    ASSERT_TRUE(dtype.ok()) << text << ": " << dtype.status();
    EXPECT_EQ(*dtype, DType::kF64) << text;
  }
}

TEST(DTypeTest, RejectsUnknownNamingFieldAndAllowedValues) {
  absl::StatusOr<DType> dtype = ParseDType("f16");
  ASSERT_FALSE(dtype.ok());
  EXPECT_EQ(dtype.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(dtype.status().message()), "dtype: unknown dtype 'f16'; allowed: f32, f64");

  absl::StatusOr<DType> custom_field = ParseDType("", "points[3].dtype");
  ASSERT_FALSE(custom_field.ok());
  EXPECT_EQ(custom_field.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(custom_field.status().message()),
            "points[3].dtype: unknown dtype ''; allowed: f32, f64");

  for (const char* text : {"F32", "f32 ", "float", "double", "fp64"}) {
    EXPECT_FALSE(ParseDType(text).ok()) << "'" << text << "' should be rejected";
  }
}

}  // namespace
}  // namespace flopd
