#include "core/runtime.h"

#include <sched.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "core/check.h"

namespace sculpt {

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

void configure_threads(int n) {
  at::set_num_threads(n > 0 ? n : available_cores());
}

torch::Device device_from_string(const std::string& name) {
  if (name == "auto") return torch::cuda::is_available() ? torch::kCUDA : torch::kCPU;
  try {
    torch::Device d(name);
    SCULPT_USAGE_CHECK(!d.is_cuda() || torch::cuda::is_available(), "device '", name,
                       "' was asked for but this libtorch sees no CUDA device");
    return d;
  } catch (const c10::Error&) {
    throw UsageError(detail::str_cat("unknown device '", name, "' (use auto, cpu, cuda or cuda:N)"));
  }
}

std::string version_string() {
  return detail::str_cat("sculpt 0.1.0 (libtorch ", TORCH_VERSION_MAJOR, ".", TORCH_VERSION_MINOR,
                         ".", TORCH_VERSION_PATCH, ")");
}

double peak_memory_mb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) != 0) continue;
    std::istringstream s(line.substr(6));
    double kb = 0;
    s >> kb;
    return kb / 1024.0;
  }
  return 0;
}

}  // namespace sculpt
