// Each verb registers itself on the app; its callback copies flags into a library Config and makes
// one library call. Parsed arguments never enter src/.
#pragma once
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>

namespace sculpt::cli {

// Options every verb shares: --threads, --device, --json.
struct CommonOptions {
  int threads = 0;  // 0: all available cores
  std::string device = "auto";
  bool json = false;
};
void add_common_options(CLI::App& cmd, CommonOptions& opts);
// Applies --threads; returns the torch device.
std::string apply_common_options(const CommonOptions& opts);
// Prints exactly one JSON object on stdout (with --json).
void print_json(const nlohmann::json& j);

void add_generate(CLI::App& app);
void add_tokenize(CLI::App& app);
void add_info(CLI::App& app);
void add_finetune(CLI::App& app);
void add_lora(CLI::App& app);
void add_toyworld(CLI::App& app);
void add_eval(CLI::App& app);
void add_erase(CLI::App& app);
void add_purify_image(CLI::App& app);
void add_demo(CLI::App& app);
void add_toyworld_render(CLI::App& toyworld_cmd);  // the `toyworld render` subcommand
void add_toyworld_eval(CLI::App& toyworld_cmd);    // the `toyworld eval` subcommand

}  // namespace sculpt::cli
