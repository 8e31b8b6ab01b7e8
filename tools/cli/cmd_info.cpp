// sculpt info: detected architecture and parameter counts of a model.
#include <iostream>

#include "commands.h"
#include "pipeline/model_loader.h"

namespace sculpt::cli {

void add_info(CLI::App& app) {
  struct Opts {
    std::string model, config, prediction_type;
    CommonOptions common;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("info", "Show a model's detected architecture and parameter counts");
  cmd->footer("Example: sculpt info --model sd15.safetensors --json");
  cmd->add_option("--model", o->model, "diffusers folder or single-file .safetensors")->required();
  cmd->add_option("--config", o->config, "diffusers folder whose configs/tokenizer describe a single file");
  cmd->add_option("--prediction-type", o->prediction_type, "override: epsilon | v_prediction")
      ->check(CLI::IsMember({"epsilon", "v_prediction", "sample"}));
  add_common_options(*cmd, o->common);
  cmd->callback([o] {
    apply_common_options(o->common);
    auto sd = load_stable_diffusion(o->model, {o->config, o->prediction_type});
    auto d = describe_model(sd);
    if (o->common.json) return print_json(d);
    std::cout << "model            " << d["source"].get<std::string>() << '\n'
              << "prediction type  " << d["prediction_type"].get<std::string>() << '\n'
              << "text encoder     " << d["text_encoder"]["parameters"] << " parameters, "
              << d["text_encoder"]["num_hidden_layers"] << " layers of " << d["text_encoder"]["hidden_size"] << ", "
              << d["text_encoder"]["hidden_act"].get<std::string>() << '\n'
              << "unet             " << d["unet"]["parameters"] << " parameters, channels "
              << d["unet"]["block_out_channels"].dump() << ", cross-attention dim " << d["unet"]["cross_attention_dim"]
              << (d["unet"]["use_linear_projection"].get<bool>() ? ", linear projections" : "") << '\n'
              << "vae              " << d["vae"]["parameters"] << " parameters, ×" << d["vae"]["scale_factor"]
              << " downsampling, " << d["vae"]["latent_channels"] << " latent channels\n";
  });
}

}  // namespace sculpt::cli
