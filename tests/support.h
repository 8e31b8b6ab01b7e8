// Test helpers: golden paths and expect_close, which prints how far off a tensor is.
#pragma once
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <string>

namespace sculpt::test {

inline std::filesystem::path golden(const std::string& rel) {
  return std::filesystem::path(SCULPT_GOLDEN_DIR) / rel;
}
inline std::filesystem::path source_dir(const std::string& rel = "") {
  return std::filesystem::path(SCULPT_SOURCE_DIR) / rel;
}

// Fresh empty directory for one test's outputs.
std::filesystem::path temp_dir(const std::string& name);

// Passes iff |actual - expected| <= atol + rtol * |expected| everywhere (and shapes match).
// Always prints the label, max |Δ|, where it occurs and the tolerance.
::testing::AssertionResult close(const torch::Tensor& actual, const torch::Tensor& expected, double atol,
                                 double rtol, const std::string& label);

}  // namespace sculpt::test

#define EXPECT_CLOSE(actual, expected, atol, rtol, label) \
  EXPECT_TRUE(::sculpt::test::close((actual), (expected), (atol), (rtol), (label)))
#define ASSERT_CLOSE(actual, expected, atol, rtol, label) \
  ASSERT_TRUE(::sculpt::test::close((actual), (expected), (atol), (rtol), (label)))
