// sculpt finetune: text-to-image fine-tuning of selected parameters or LoRA layers on an image folder.
#include <iostream>

#include "commands.h"
#include "train/finetune.h"

namespace sculpt::cli {
namespace {

struct FinetuneOpts {
  FinetuneConfig cfg;
  CommonOptions common;
  int64_t lora_rank = 0;
};

void run_finetune(FinetuneOpts& o) {
  o.cfg.device = apply_common_options(o.common);
  o.cfg.loop.progress = !o.common.json;
  if (o.lora_rank != 0) {
    o.cfg.lora = true;
    o.cfg.lora_config.rank = o.lora_rank;
    o.cfg.lora_config.where = o.cfg.params;
  }
  const auto result = finetune_run(o.cfg);
  auto j = result.to_json();
  if (o.common.json) return print_json(j);
  std::cout << "trained " << result.trained_parameters << " parameters for " << result.train.steps_done
            << " steps in " << result.train.seconds << " s; loss " << result.train.first_loss << " → "
            << result.train.last_loss << '\n';
  for (const auto& f : result.written) std::cout << "wrote " << f << '\n';
}

}  // namespace

void add_finetune(CLI::App& app) {
  auto o = std::make_shared<FinetuneOpts>();
  auto& c = o->cfg;
  auto* cmd = app.add_subcommand("finetune", "Fine-tune a model (selected parameters or LoRA) on an image folder");
  cmd->footer(
      "Example: sculpt finetune --model models/toyworld --data my_images --params unet-xattn --steps 500 "
      "--lr 1e-5 --out out/ft --output delta --output diffusers\n"
      "LoRA:    sculpt finetune --model models/toyworld --data my_images --lora-rank 4 --steps 500 --lr 1e-4 "
      "--out out/lora --output lora\n"
      "Presets: unet-xattn, unet-xattn-kv, unet-noxattn, unet-all, text-last-N, text-all");
  cmd->add_option("--model", c.model, "diffusers folder or single-file .safetensors")->required();
  cmd->add_option("--data", c.data, "image folder: PNG/JPEG with .txt captions, or metadata.jsonl")->required();
  cmd->add_option("--out", c.out, "output folder (outputs, checkpoints/, train_log.jsonl)")->required();
  cmd->add_option("--output", c.outputs, "delta | diffusers | single-file | lora (repeatable)")->capture_default_str();
  cmd->add_option("--params", c.params.presets, "parameter presets to train (repeatable)")->capture_default_str();
  cmd->add_option("--include", c.params.include, "regex over 'unet.…'/'text_encoder.…' names to train too");
  cmd->add_option("--exclude", c.params.exclude, "regex of names to keep frozen");
  cmd->add_option("--lora-rank", o->lora_rank, "train LoRA layers of this rank instead of the weights")
      ->check(CLI::Range(int64_t{1}, int64_t{4096}));
  cmd->add_option("--lora-alpha", c.lora_config.alpha, "LoRA alpha (0: = rank)")->capture_default_str();
  cmd->add_option("--lora-dropout", c.lora_config.dropout, "LoRA rank dropout")->capture_default_str();
  cmd->add_option("--lora-targets", c.lora_config.target_pattern, "regex over module paths to patch")
      ->capture_default_str();
  cmd->add_option("--lora-format", c.lora_format, "kohya | peft")->capture_default_str();
  cmd->add_option("--steps", c.loop.steps, "optimizer steps")->capture_default_str();
  cmd->add_option("--batch", c.batch_size, "images per micro-batch")->capture_default_str();
  cmd->add_option("--grad-accum", c.loop.grad_accum, "micro-batches per step")->capture_default_str();
  cmd->add_option("--lr", c.loop.optimizer.lr, "learning rate")->capture_default_str();
  cmd->add_option("--optimizer", c.loop.optimizer.name, "adamw | adam | sgd")->capture_default_str();
  cmd->add_option("--weight-decay", c.loop.optimizer.weight_decay, "weight decay")->capture_default_str();
  cmd->add_option("--momentum", c.loop.optimizer.momentum, "SGD momentum")->capture_default_str();
  cmd->add_option("--lr-schedule", c.loop.schedule.name, "constant | linear | cosine")->capture_default_str();
  cmd->add_option("--warmup", c.loop.schedule.warmup_steps, "warm-up steps")->capture_default_str();
  cmd->add_option("--max-grad-norm", c.loop.max_grad_norm, "gradient-norm clipping (0: off)")->capture_default_str();
  cmd->add_option("--ema", c.loop.ema_decay, "EMA decay of the trained weights (0: off)")->capture_default_str();
  cmd->add_option("--seed", c.loop.seed, "seed of data order, noise and timesteps")->capture_default_str();
  cmd->add_option("--save-every", c.loop.save_every, "checkpoint every N steps (0: at the end)")->capture_default_str();
  cmd->add_flag("--resume", c.loop.resume, "continue from the newest checkpoint in --out");
  cmd->add_option("--resolution", c.resolution, "training size in pixels (0: the model's)")->capture_default_str();
  cmd->add_flag("--random-flip", c.random_flip, "mirror images at random");
  cmd->add_option("--caption-dropout", c.caption_dropout, "share of captions replaced by \"\"")->capture_default_str();
  cmd->add_flag("--gradient-checkpointing", c.gradient_checkpointing, "recompute blocks in backward to save memory");
  cmd->add_option("--class-data", c.class_data, "prior preservation: folder of class images");
  cmd->add_option("--class-prompt", c.class_prompt, "prior preservation: the class prompt");
  cmd->add_option("--prior-weight", c.prior_weight, "prior preservation loss weight")->capture_default_str();
  add_common_options(*cmd, o->common);
  cmd->callback([o] { run_finetune(*o); });
}

}  // namespace sculpt::cli
