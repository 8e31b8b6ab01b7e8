#include "support.h"

#include <cstdio>
#include <sstream>

namespace sculpt::test {

std::filesystem::path temp_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("sculpt-test-" + std::to_string(::getpid())) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

::testing::AssertionResult close(const torch::Tensor& actual, const torch::Tensor& expected, double atol,
                                 double rtol, const std::string& label) {
  if (actual.sizes() != expected.sizes()) {
    return ::testing::AssertionFailure() << label << ": shape " << actual.sizes() << " != expected "
                                         << expected.sizes();
  }
  auto a = actual.detach().to(torch::kCPU, torch::kFloat64);
  auto e = expected.detach().to(torch::kCPU, torch::kFloat64);
  auto diff = (a - e).abs();
  auto excess = diff - (atol + rtol * e.abs());
  const double max_diff = diff.numel() ? diff.max().item<double>() : 0.0;
  const int64_t where = diff.numel() ? diff.flatten().argmax().item<int64_t>() : 0;
  const double max_ref = e.numel() ? e.abs().max().item<double>() : 0.0;
  const bool ok = excess.numel() == 0 || (excess.max().item<double>() <= 0 && !diff.isnan().any().item<bool>());
  std::ostringstream msg;
  msg << label << ": max|diff| " << max_diff << " at flat index " << where << " (max|ref| " << max_ref
      << "), tolerance atol " << atol << " + rtol " << rtol << "·|ref|";
  std::printf("[ parity   ] %s%s\n", msg.str().c_str(), ok ? "" : "  FAILED");
  if (ok) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << msg.str();
}

}  // namespace sculpt::test
