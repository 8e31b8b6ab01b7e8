// sculpt demo: the main job: erase "star" from the built-in ToyWorld model (All-but-One, alternative
// "circle"), audit it with the quick eval, print where the report is.
#include <iostream>

#include "commands.h"
#include "methods/demo.h"

namespace sculpt::cli {

void add_demo(CLI::App& app) {
  auto cfg = std::make_shared<DemoConfig>();
  auto common = std::make_shared<CommonOptions>();
  auto* cmd = app.add_subcommand("demo", "Erase 'star' from the built-in model with All-but-One and audit it");
  cmd->footer("The same as: sculpt erase --method abo --concept star --alternative circle --out OUT/erase, then\n"
              "sculpt eval --delta OUT/erase/delta.safetensors --concept star --quick --run-log OUT/erase/run.json "
              "--out OUT/eval");
  cmd->add_option("--model", cfg->model, "ToyWorld model folder (default: the built-in one)");
  cmd->add_option("--out", cfg->out, "output folder")->capture_default_str();
  cmd->add_option("--concept", cfg->concept, "concept to erase")->capture_default_str();
  cmd->add_option("--alternative", cfg->alternative, "what it becomes")->capture_default_str();
  cmd->add_option("--seed", cfg->seed, "seed of the erase run and the audit")->capture_default_str();
  add_common_options(*cmd, *common);
  cmd->callback([cfg, common] {
    cfg->device = apply_common_options(*common);
    cfg->progress = !common->json;
    const auto r = demo_run(*cfg);
    if (common->json) return print_json(r);
    for (const auto& [row, m] : r["metrics"]["rows"].items())
      std::cout << row << ": UA " << m["UA"] << "  UA-para " << m["UA_paraphrase"] << "  IRA " << m["IRA"] << "  CRA "
                << m["CRA"] << "\n";
    std::cout << "demo took " << r["seconds"].get<double>() << " s\nreport: " << r["report"].get<std::string>() << "\n";
  });
}

}  // namespace sculpt::cli
