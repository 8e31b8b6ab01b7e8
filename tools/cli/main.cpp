// sculpt command-line entry point: the verb table, the only try/catch, and exit codes
// (0 success, 1 runtime failure, 2 usage error).
#include <CLI/CLI.hpp>
#include <iostream>

#include "commands.h"
#include "core/check.h"
#include "core/runtime.h"

int main(int argc, char** argv) {
  CLI::App app{"sculpt: change what text-to-image diffusion models know", "sculpt"};
  app.require_subcommand(1);
  app.set_version_flag("--version", sculpt::version_string());
  sculpt::cli::add_generate(app);
  sculpt::cli::add_tokenize(app);
  sculpt::cli::add_info(app);
  sculpt::cli::add_finetune(app);
  sculpt::cli::add_lora(app);
  sculpt::cli::add_toyworld(app);
  sculpt::cli::add_erase(app);
  sculpt::cli::add_purify_image(app);
  sculpt::cli::add_eval(app);
  sculpt::cli::add_demo(app);
  try {
    app.parse(argc, argv);
    return 0;
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const sculpt::UsageError& e) {
    std::cerr << "sculpt: usage error: " << e.what() << '\n';
    return 2;
  } catch (const c10::Error& e) {
    std::cerr << "sculpt: error: " << e.what_without_backtrace() << '\n';
  } catch (const std::exception& e) {
    std::cerr << "sculpt: error: " << e.what() << '\n';
  }
  return 1;
}
