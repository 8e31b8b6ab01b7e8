#include <iostream>

#include "commands.h"
#include "core/runtime.h"

namespace sculpt::cli {

void add_common_options(CLI::App& cmd, CommonOptions& opts) {
  cmd.add_option("--threads", opts.threads, "CPU threads for libtorch (default: all available cores)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--device", opts.device, "auto | cpu | cuda | cuda:N")->capture_default_str();
  cmd.add_flag("--json", opts.json, "print one JSON object on stdout instead of the human summary");
}

std::string apply_common_options(const CommonOptions& opts) {
  configure_threads(opts.threads);
  return device_from_string(opts.device).str();
}

void print_json(const nlohmann::json& j) { std::cout << j.dump(2) << std::endl; }

}  // namespace sculpt::cli
