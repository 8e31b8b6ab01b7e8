#include "methods/demo.h"

#include <algorithm>
#include <chrono>

#include "eval/unlearn_eval.h"
#include "methods/erase.h"

namespace sculpt {

nlohmann::json demo_run(const DemoConfig& d) {
  const auto start = std::chrono::steady_clock::now();
  EraseConfig e;
  e.method = "abo";
  e.model = d.model;
  e.concepts = {d.concept};
  e.alternative = d.alternative;
  e.seed = d.seed;
  e.out = d.out / "erase";
  e.device = d.device;
  e.progress = d.progress;
  const auto erased = erase_run(e);

  auto in = load_eval_inputs({d.model, {}, e.out / "delta.safetensors", {}, {}, {}});
  UnlearnEvalConfig ev;  // the quick audit of `sculpt eval --quick`
  ev.concept = d.concept;
  ev.images = 32;
  ev.sampling.steps = 15;
  ev.sampling.progress = d.progress;
  ev.seed = d.seed;
  ev.out = d.out / "eval";
  ev.run_log = e.out / "run.json";
  ev.judge_file = in.judge_file;
  const auto metrics = unlearn_eval(in.original, in.edited, in.judge, in.clip ? &in.clip : nullptr, ev);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {{"erase", erased},
          {"metrics", metrics},
          {"report", (ev.out / "report.html").string()},
          {"seconds", seconds}};
}

}  // namespace sculpt
