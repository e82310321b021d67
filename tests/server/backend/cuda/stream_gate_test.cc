// The hot mode's stream gate (support_kernels.cuh) on a real GPU: it holds
// the stream until the host opens it, and says so when it gave up waiting.
// Needs a GPU; skips without one.
#include <cuda_runtime.h>

#include <chrono>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "server/backend/cuda/gpu_context.h"
#include "server/backend/cuda/support_kernels.cuh"
#include "tests/server/backend/cuda/no_gpu_reason.h"

namespace flopd {
namespace {

class StreamGateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string why = NoGpuReason(); !why.empty()) GTEST_SKIP() << why;
    ASSERT_TRUE(context_.Init().ok());
    ASSERT_TRUE(gate_.Allocate(context_, 2).ok());
    ASSERT_EQ(cudaEventCreate(&before_), cudaSuccess);
    ASSERT_EQ(cudaEventCreate(&after_), cudaSuccess);
  }
  void TearDown() override {
    if (before_ != nullptr) cudaEventDestroy(before_);
    if (after_ != nullptr) cudaEventDestroy(after_);
  }

  // Milliseconds the stream spent in a gate enqueued between the two events,
  // opened by the host after `open_after` (never when negative).
  float GateMs(std::chrono::milliseconds open_after, int64_t timeout_ns) {
    cudaStream_t stream = context_.stream();
    volatile int* words = gate_.words();
    words[0] = 0;
    words[1] = 0;
    EXPECT_EQ(cudaEventRecord(before_, stream), cudaSuccess);
    EXPECT_EQ(kernels::LaunchStreamGate(words, timeout_ns, stream), cudaSuccess);
    EXPECT_EQ(cudaEventRecord(after_, stream), cudaSuccess);
    if (open_after.count() >= 0) {
      std::this_thread::sleep_for(open_after);
      // Still closed: the event behind the gate has not happened.
      EXPECT_EQ(cudaEventQuery(after_), cudaErrorNotReady);
      words[0] = 1;
    }
    EXPECT_EQ(cudaEventSynchronize(after_), cudaSuccess);
    float ms = 0;
    EXPECT_EQ(cudaEventElapsedTime(&ms, before_, after_), cudaSuccess);
    return ms;
  }

  GpuContext context_{0};
  MappedWords gate_;
  cudaEvent_t before_ = nullptr;
  cudaEvent_t after_ = nullptr;
};

TEST_F(StreamGateTest, HoldsTheStreamUntilTheHostOpensIt) {
  const float ms = GateMs(std::chrono::milliseconds(50), /*timeout_ns=*/5'000'000'000);
  EXPECT_GE(ms, 45.0f);
  EXPECT_LT(ms, 4000.0f);
  EXPECT_EQ(gate_.words()[1], 0) << "opened by the host, not timed out";
}

TEST_F(StreamGateTest, GivesUpAfterItsTimeoutAndSaysSo) {
  const float ms = GateMs(std::chrono::milliseconds(-1), /*timeout_ns=*/20'000'000);
  EXPECT_GE(ms, 19.0f);
  EXPECT_LT(ms, 2000.0f);
  EXPECT_EQ(gate_.words()[1], 1);
}

}  // namespace
}  // namespace flopd
