// Process-wide runtime set-up done once by the CLI: thread count, device choice.
#pragma once
#include <torch/torch.h>
#include <string>

namespace sculpt {

// Number of cores this process may run on (sched affinity, not the machine's total).
int available_cores();

// Sets libtorch's intra-op thread count; n <= 0 means available_cores(). libtorch starts with
// one thread on some machines, which makes every matmul several times slower.
void configure_threads(int n);

// "auto" → cuda if available, else cpu; otherwise parsed by torch ("cpu", "cuda", "cuda:1").
torch::Device device_from_string(const std::string& name);

// Peak resident memory of this process in MB (VmHWM of /proc/self/status), 0 where unknown.
double peak_memory_mb();

// Versions of sculpt and libtorch, for --version and JSON outputs.
std::string version_string();

}  // namespace sculpt
