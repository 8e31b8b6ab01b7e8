// The quality audit of a ToyWorld model (issue "ToyWorld", acceptance): does the model draw what its
// prompts ask for, also for (shape, colour) pairs it never saw and for paraphrased words?
//
// Conditions (each image judged against the attributes its prompt names):
//   held_out    every held-out pair, with a random background and style named in the prompt
//   seen        one seen pair per shape, the same way (the in-distribution reference)
//   paraphrase  every shape under its paraphrases ("disk", "five-pointed star", …) with a seen colour
//   empty       the empty prompt: are the images varied (shapes, colours, judge-feature spread)?
// First a sweep over guidance scales on the held-out pairs (its own seeds) picks the best scale; all
// conditions are then sampled at that scale.
#pragma once
#include <nlohmann/json.hpp>

#include <filesystem>
#include <vector>

#include "eval/sampling.h"
#include "pipeline/stable_diffusion.h"
#include "toyworld/judge.h"

namespace sculpt {

struct ToyQualityConfig {
  std::vector<double> guidance_scales{2.0, 3.0, 5.0, 7.5};
  int64_t images_per_condition = 64;  // per held-out pair, seen pair, paraphrased shape; and empty prompts
  int64_t sweep_images = 16;          // per held-out pair and scale
  int64_t seed = 1000;
  SampleSettings sampling;            // steps 25, DDIM; guidance_scale is what the sweep picks
  std::filesystem::path out;          // quality.json, quality.md, grid_<condition>.png
};

// The acceptance bars, recorded with the results.
struct ToyQualityBars {
  double held_out_shape = 0.90, held_out_colour = 0.90, held_out_background = 0.85, held_out_style = 0.80;
  double paraphrase_shape = 0.85;
  int empty_distinct_shapes = 6, empty_distinct_colours = 6;
};

nlohmann::json toyworld_quality(StableDiffusion& sd, toyworld::ToyJudge& judge, const ToyQualityConfig& config);

}  // namespace sculpt
