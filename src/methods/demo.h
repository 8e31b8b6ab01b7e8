// `sculpt demo`, the main job: erase "star" from the built-in ToyWorld model with All-but-One
// (alternative "circle"), audit the result with the quick `sculpt eval`, and write the report.
#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace sculpt {

struct DemoConfig {
  std::filesystem::path model;              // empty: the built-in ToyWorld model
  std::filesystem::path out = "out/demo";   // erase/ (delta, run.json, log) and eval/ (metrics, report)
  std::string concept = "star", alternative = "circle";
  int64_t seed = 0;
  std::string device = "cpu";
  bool progress = true;
};

// Returns {"erase": run summary, "metrics": the eval rows, "report": path, "seconds": total}.
nlohmann::json demo_run(const DemoConfig& config);

}  // namespace sculpt
