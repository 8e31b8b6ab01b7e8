// The training core on the golden tiny model: parameter presets, LoRA (merge, formats), gradient
// checkpointing, delta files, resume, finetune end to end, and bad input.
#include <fstream>

#include "io/image.h"
#include "io/key_map.h"
#include "io/safetensors.h"
#include "pipeline/model_export.h"
#include "pipeline/stable_diffusion.h"
#include "schedulers/scheduler.h"
#include "support.h"
#include "train/finetune.h"
#include "train/lora.h"
#include "train/param_select.h"

namespace sculpt {
namespace {
namespace fs = std::filesystem;

StableDiffusion tiny() { return load_stable_diffusion(test::golden("tiny-sd/model")); }

struct UNetInputs {
  torch::Tensor x, t, ctx;
};
UNetInputs unet_inputs(const StableDiffusion& sd, int64_t b = 2) {
  auto gen = at::detail::createCPUGenerator(7);
  const auto& c = sd.unet->config;
  return {torch::randn({b, c.in_channels, c.sample_size, c.sample_size}, gen),
          torch::tensor({10, 700}, torch::kLong).slice(0, 0, b),
          torch::randn({b, 77, c.cross_attention_dim[0]}, gen)};
}

TEST(ParamSelect, PresetsPickThePapersParameters) {
  auto sd = tiny();
  auto names = [&](std::vector<std::string> presets) {
    std::vector<std::string> out;
    for (auto& p : select_trainable(sd, {presets, {}, {}})) out.push_back(p.name);
    return out;
  };
  for (const auto& n : names({"unet-xattn-kv"}))
    EXPECT_TRUE(n.find(".attn2.to_k.") != std::string::npos || n.find(".attn2.to_v.") != std::string::npos) << n;
  const auto xattn = names({"unet-xattn"});
  const auto noxattn = names({"unet-noxattn"});
  for (const auto& n : noxattn) {
    EXPECT_EQ(n.find(".attn2."), std::string::npos) << n;
    EXPECT_NE(n.rfind("unet.time_embedding.", 0), 0u) << n;
    EXPECT_NE(n.rfind("unet.conv_out.", 0), 0u) << n;
  }
  const auto all = names({"unet-all"});
  // xattn + noxattn + time embedding + conv_out = all
  size_t time_out = 0;
  for (const auto& n : all) time_out += n.rfind("unet.time_embedding.", 0) == 0 || n.rfind("unet.conv_out.", 0) == 0;
  EXPECT_EQ(xattn.size() + noxattn.size() + time_out, all.size());
  const int64_t layers = sd.text_encoder->config.num_hidden_layers;
  const auto last1 = names({"text-last-1"});
  for (const auto& n : last1)
    EXPECT_TRUE(n.find("encoder.layers." + std::to_string(layers - 1) + ".") != std::string::npos ||
                n.find("final_layer_norm") != std::string::npos)
        << n;
  // Frozen everything else.
  int64_t trainable = 0;
  for (auto& p : component_parameters(sd, "unet")) trainable += p.param.requires_grad();
  for (auto& p : component_parameters(sd, "text_encoder")) trainable += p.param.requires_grad();
  EXPECT_EQ(trainable, static_cast<int64_t>(last1.size()));
  EXPECT_THROW(names({"unet-bogus"}), std::exception);
  EXPECT_THROW(select_trainable(sd, {{}, {"nothing-matches-this"}, {}}), std::exception);
}

TEST(Lora, MergedForwardEqualsExplicitLowRankForward) {
  auto sd = tiny();
  auto in = unet_inputs(sd);
  torch::NoGradGuard no_grad;
  const auto base_out = sd.unet->forward(in.x, in.t, in.ctx);
  LoraConfig cfg;
  cfg.rank = 2, cfg.alpha = 3;
  auto net = LoraNetwork::inject(sd, cfg, at::detail::createCPUGenerator(1));
  ASSERT_GT(net.layers().size(), 0u);
  auto gen = at::detail::createCPUGenerator(2);
  for (auto& l : net.layers()) l.up.normal_(0, 0.05, gen);  // B = 0 at init: make the LoRA do something
  // Explicit forward of one patched layer: base(x) + (α/r)·B·A·x.
  auto& l0 = net.layers()[0];
  auto* lin = dynamic_cast<torch::nn::LinearImpl*>(l0.module.get());
  ASSERT_NE(lin, nullptr);
  auto xin = torch::randn({3, l0.base.size(1)}, gen);
  net.refresh();
  const auto patched = lin->forward(xin);
  const auto explicit_out = torch::nn::functional::linear(xin, l0.base, lin->bias) +
                            (1.5 * torch::mm(torch::mm(xin, l0.down.t()), l0.up.t()));
  EXPECT_CLOSE(patched, explicit_out, 1e-6, 0, "patched Linear vs base + (α/r)·B·A·x");
  const auto unmerged = sd.unet->forward(in.x, in.t, in.ctx);
  net.merge();
  const auto merged = sd.unet->forward(in.x, in.t, in.ctx);
  EXPECT_CLOSE(merged, unmerged, 1e-6, 0, "merged vs unmerged UNet");
  EXPECT_GT((merged - base_out).abs().max().item<double>(), 1e-4) << "the LoRA must change the output";
  net.unmerge();
  net.detach();
  // W + ΔW − ΔW rounds back to W only up to float32 ulps.
  EXPECT_CLOSE(sd.unet->forward(in.x, in.t, in.ctx), base_out, 1e-5, 0, "after unmerge + detach");
}

TEST(Lora, KohyaNamesRoundTripEveryAttentionAndTextLayer) {
  auto sd = tiny();
  int64_t checked = 0;
  for (const auto& [component, root] :
       std::vector<std::pair<std::string, torch::nn::Module*>>{{"unet", sd.unet.get()}, {"text_encoder", sd.text_encoder.get()}}) {
    for (const auto& item : root->named_modules("", false)) {
      if (!dynamic_cast<torch::nn::LinearImpl*>(item.value().get()) && !dynamic_cast<torch::nn::Conv2dImpl*>(item.value().get()))
        continue;
      const auto kohya = kohya_lora_name(component, item.key());
      EXPECT_EQ(kohya.find('.'), std::string::npos) << kohya;
      const auto back = kohya_lora_module(kohya);
      EXPECT_EQ(back.first, component);
      EXPECT_EQ(back.second, item.key()) << "via " << kohya;
      ++checked;
    }
  }
  EXPECT_GT(checked, 50);
  EXPECT_EQ(kohya_lora_name("unet", "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k"),
            "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k");
  EXPECT_EQ(kohya_lora_module("lora_te_text_model_encoder_layers_3_self_attn_out_proj").second,
            "text_model.encoder.layers.3.self_attn.out_proj");
}

TEST(Lora, FilesRoundTripBetweenFormatsAndApplyIdentically) {
  auto sd = tiny();
  LoraConfig cfg;
  cfg.rank = 2, cfg.alpha = 1;
  cfg.where.presets = {"unet-all", "text-all"};
  auto net = LoraNetwork::inject(sd, cfg, at::detail::createCPUGenerator(1));
  auto gen = at::detail::createCPUGenerator(3);
  {
    torch::NoGradGuard no_grad;
    for (auto& l : net.layers()) l.up.normal_(0, 0.05, gen);
  }
  const auto dir = test::temp_dir("lora_formats");
  net.save(dir / "kohya.safetensors", LoraFormat::Kohya);
  net.save(dir / "peft.safetensors", LoraFormat::Peft);
  auto kohya = read_safetensors(dir / "kohya.safetensors");
  EXPECT_TRUE(kohya.count("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight"));
  EXPECT_TRUE(kohya.count("lora_te_text_model_encoder_layers_0_self_attn_q_proj.alpha"));
  auto peft = read_safetensors(dir / "peft.safetensors");
  EXPECT_TRUE(peft.count("unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.lora_A.weight"));
  EXPECT_TRUE(peft.count("text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_B.weight"));

  auto in = unet_inputs(sd);
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> outs;
  for (const char* f : {"kohya.safetensors", "peft.safetensors"}) {
    auto m = tiny();
    lora_merge_file(m, dir / f, 0.7);
    outs.push_back(m.unet->forward(in.x, in.t, in.ctx));
  }
  net.layers();  // reference: the in-memory network at multiplier 0.7
  for (auto& l : net.layers()) l.multiplier = 0.7;
  net.merge();
  const auto ref = sd.unet->forward(in.x, in.t, in.ctx);
  EXPECT_CLOSE(outs[0], ref, 1e-6, 0, "kohya file merged");
  EXPECT_CLOSE(outs[1], ref, 1e-6, 0, "peft file merged");
  // kohya → peft → kohya keeps every tensor.
  write_safetensors(dir / "k2.safetensors", lora_tensors(lora_read(dir / "peft.safetensors"), LoraFormat::Kohya));
  auto k2 = read_safetensors(dir / "k2.safetensors");
  ASSERT_EQ(k2.size(), kohya.size());
  for (const auto& [k, v] : kohya) {
    ASSERT_TRUE(k2.count(k)) << k;
    if (k.find(".alpha") != std::string::npos) continue;  // peft folds α/r into B: alpha becomes r
    if (k.find("lora_up") != std::string::npos) EXPECT_LE((k2[k] - v * 0.5).abs().max().item<double>(), 1e-7) << k;
    else EXPECT_TRUE(torch::equal(k2[k], v)) << k;
  }
}

TEST(Lora, ExtractRecoversALowRankDifference) {
  auto base = tiny(), tuned = tiny();
  LoraConfig cfg;
  cfg.rank = 2;
  auto net = LoraNetwork::inject(tuned, cfg, at::detail::createCPUGenerator(1));
  auto gen = at::detail::createCPUGenerator(4);
  {
    torch::NoGradGuard no_grad;
    for (auto& l : net.layers()) l.up.normal_(0, 0.1, gen);
  }
  net.merge();
  auto layers = lora_extract(base, tuned, cfg, 2);
  EXPECT_EQ(layers.size(), net.layers().size());
  const auto dir = test::temp_dir("lora_extract");
  write_safetensors(dir / "x.safetensors", lora_tensors(layers, LoraFormat::Kohya));
  lora_merge_file(base, dir / "x.safetensors", 1.0);
  auto in = unet_inputs(base);
  torch::NoGradGuard no_grad;
  EXPECT_CLOSE(base.unet->forward(in.x, in.t, in.ctx), tuned.unet->forward(in.x, in.t, in.ctx), 2e-5, 0,
               "base + extracted LoRA vs tuned");
}

TEST(Lora, FileMatchingNothingListsTheModules) {
  auto sd = tiny();
  const auto dir = test::temp_dir("lora_bad");
  write_safetensors(dir / "bad.safetensors",
                    {{"lora_unet_down_blocks_9_attentions_0_proj_in.lora_down.weight", torch::zeros({2, 8})},
                     {"lora_unet_down_blocks_9_attentions_0_proj_in.lora_up.weight", torch::zeros({8, 2})}});
  try {
    lora_merge_file(sd, dir / "bad.safetensors", 1.0);
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("unet.down_blocks.9.attentions.0.proj_in"), std::string::npos) << e.what();
  }
  LoraConfig cfg;
  cfg.rank = 0;
  EXPECT_THROW(LoraNetwork::inject(sd, cfg, at::detail::createCPUGenerator(1)), std::exception);
}

// Checkpointed gradients equal the plain ones up to the order in which autograd sums the contributions
// of inputs shared by many blocks (the text context, the time embedding): every block's share is summed
// inside its recomputation first. Not bitwise equal in float32 for that reason (measured ≤ 1e-7 relative);
// in float64 the two agree to 1e-12 of the largest gradient, which a missing or wrong recomputation could never meet.
TEST(GradientCheckpointing, GradientsEqualThePlainRun) {
  auto run = [](bool ckpt, torch::Dtype dtype) {
    auto sd = tiny();
    sd.to(torch::kCPU, dtype);
    auto params = select_trainable(sd, {{"unet-all", "text-all"}, {}, {}});
    sd.unet->gradient_checkpointing = ckpt;
    sd.text_encoder->text_model->gradient_checkpointing = ckpt;
    auto in = unet_inputs(sd);
    auto ids = sd.tokenizer({"a red star", "a blue disk"});
    auto ctx = sd.text_encoder->forward(ids).last_hidden_state;
    auto out = sd.unet->forward(in.x.to(dtype), in.t, ctx);
    out.pow(2).mean().backward();
    std::vector<torch::Tensor> grads;
    for (auto& p : params) grads.push_back(p.param.grad().defined() ? p.param.grad().clone() : torch::zeros_like(p.param));
    return grads;
  };
  for (auto [dtype, rel] : {std::pair{torch::kFloat64, 1e-12}, std::pair{torch::kFloat32, 1e-5}}) {
    const auto plain = run(false, dtype), ckpt = run(true, dtype);
    ASSERT_EQ(plain.size(), ckpt.size());
    // Relative to the largest gradient: some are analytically zero (key biases) and hold only rounding noise.
    double scale = 0, worst = 0;
    for (const auto& g : plain) scale = std::max(scale, g.abs().max().item<double>());
    int64_t nonzero = 0;
    for (size_t i = 0; i < plain.size(); ++i) {
      const double diff = (plain[i] - ckpt[i]).abs().max().item<double>();
      EXPECT_LE(diff, rel * scale) << "gradient " << i << " (" << dtype << ")";
      worst = std::max(worst, diff / scale);
      nonzero += plain[i].abs().max().item<double>() > 1e-6 * scale;
    }
    std::cout << "[ parity   ] checkpointed vs plain gradients (" << dtype << "): max |Δ| / max |g| = " << worst << '\n';
    EXPECT_GT(nonzero, static_cast<int64_t>(plain.size()) / 2);
  }
}

// A folder of 8 images (coloured squares) with captions.
fs::path make_image_folder(const std::string& name, int64_t n = 8, int64_t size = 32) {
  const auto dir = test::temp_dir(name);
  auto gen = at::detail::createCPUGenerator(11);
  for (int64_t i = 0; i < n; ++i) {
    auto img = torch::rand({3, 1, 1}, gen).expand({3, size, size}).clone();
    img.slice(1, size / 4, size / 2).slice(2, size / 4, size / 2).fill_(1.0 * (i % 2));
    char file[32];
    std::snprintf(file, sizeof file, "%02lld", static_cast<long long>(i));
    image_write_png(dir / (std::string(file) + ".png"), img);
    std::ofstream(dir / (std::string(file) + ".txt")) << (i % 2 ? "a white square" : "a black square");
  }
  return dir;
}

FinetuneConfig small_finetune(const fs::path& data, const fs::path& out) {
  FinetuneConfig c;
  c.model = test::golden("tiny-sd/model");
  c.data = data;
  c.out = out;
  c.params = {{"unet-xattn-kv", "text-last-1"}, {}, {}};
  c.batch_size = 2;
  c.loop.steps = 6;
  c.loop.optimizer.lr = 1e-3;
  c.loop.progress = false;
  c.loop.seed = 5;
  c.loop.ema_decay = 0.9;
  c.random_flip = true;
  c.caption_dropout = 0.2;
  return c;
}

TEST(Finetune, ResumedRunEndsBitIdenticalAndDeltaReproducesTheModel) {
  const auto data = make_image_folder("ft_data");
  auto full = small_finetune(data, test::temp_dir("ft_full"));
  full.outputs = {"delta", "diffusers"};
  finetune_run(full);
  auto part = small_finetune(data, test::temp_dir("ft_part"));
  part.loop.steps = 3;  // an "interrupted" run: stops after the step-3 checkpoint
  part.outputs = {"delta"};
  finetune_run(part);
  auto resumed = small_finetune(data, part.out);
  resumed.loop.resume = true;
  resumed.outputs = {"delta"};
  const auto r = finetune_run(resumed);
  EXPECT_EQ(r.train.resumed_from, 3);
  auto a = read_safetensors(full.out / "delta.safetensors"), b = read_safetensors(part.out / "delta.safetensors");
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [k, v] : a) EXPECT_TRUE(torch::equal(v, b.at(k))) << k;

  // delta applied to the base == the saved fine-tuned diffusers folder, exactly.
  auto base = tiny();
  delta_apply(base, full.out / "delta.safetensors");
  auto tuned = load_stable_diffusion(full.out / "model");
  auto in = unet_inputs(base);
  torch::NoGradGuard no_grad;
  auto ids = base.tokenizer({"a white square", "a black square"});
  EXPECT_TRUE(torch::equal(base.text_encoder->forward(ids).last_hidden_state,
                           tuned.text_encoder->forward(ids).last_hidden_state));
  EXPECT_TRUE(torch::equal(base.unet->forward(in.x, in.t, in.ctx), tuned.unet->forward(in.x, in.t, in.ctx)));
  auto untouched = tiny();
  EXPECT_FALSE(torch::equal(untouched.unet->forward(in.x, in.t, in.ctx), tuned.unet->forward(in.x, in.t, in.ctx)))
      << "the delta must change the model";
}

TEST(Finetune, LossGoesDownAndEveryOutputLoads) {
  const auto data = make_image_folder("ft_loss_data");
  auto c = small_finetune(data, test::temp_dir("ft_loss"));
  c.params = {{"unet-all"}, {}, {}};
  c.loop.ema_decay = 0;
  c.caption_dropout = 0;
  c.batch_size = 4;
  c.loop.steps = 30;
  c.loop.optimizer.lr = 2e-3;
  c.outputs = {"delta", "single-file"};
  const auto r = finetune_run(c);
  EXPECT_LT(r.train.last_loss, 0.6 * r.train.first_loss) << r.to_json().dump();
  auto single = load_stable_diffusion(c.out / "model.safetensors", {test::golden("tiny-sd/model"), ""});
  auto base = tiny();
  delta_apply(base, c.out / "delta.safetensors");
  auto in = unet_inputs(base);
  {
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(torch::equal(single.unet->forward(in.x, in.t, in.ctx), base.unet->forward(in.x, in.t, in.ctx)));
  }

  auto l = small_finetune(data, test::temp_dir("ft_lora"));
  l.lora = true;
  l.lora_config.rank = 4;
  l.outputs = {"lora", "delta"};
  l.loop.steps = 4;
  finetune_run(l);
  auto with_lora = tiny(), with_delta = tiny();
  lora_merge_file(with_lora, l.out / "lora.safetensors", 1.0);
  delta_apply(with_delta, l.out / "delta.safetensors");
  torch::NoGradGuard no_grad;
  EXPECT_CLOSE(with_lora.unet->forward(in.x, in.t, in.ctx), with_delta.unet->forward(in.x, in.t, in.ctx), 1e-6, 0,
               "LoRA file vs merged delta");
}

TEST(Finetune, BadInputIsReportedClearly) {
  auto expect_error = [](FinetuneConfig c, const std::string& needle) {
    try {
      finetune_run(c);
      ADD_FAILURE() << "expected an error containing '" << needle << "'";
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error(small_finetune(test::temp_dir("ft_empty"), test::temp_dir("o1")), "holds no PNG/JPEG");
  auto nocap = make_image_folder("ft_nocap", 2);
  fs::remove(nocap / "01.txt");
  expect_error(small_finetune(nocap, test::temp_dir("o2")), "has no caption file");
  auto broken = make_image_folder("ft_broken", 2);
  std::ofstream(broken / "01.png") << "not a png";
  expect_error(small_finetune(broken, test::temp_dir("o3")), "01.png");
  auto nan = small_finetune(make_image_folder("ft_nan", 2), test::temp_dir("o4"));
  nan.loop.optimizer.lr = 1e30;
  nan.loop.max_grad_norm = 0;
  nan.loop.optimizer.name = "sgd";
  nan.loop.steps = 20;
  expect_error(nan, "became");
  bool kept = false;
  for (const auto& e : fs::directory_iterator(nan.out / "checkpoints")) kept = kept || e.path().extension() == ".safetensors";
  EXPECT_TRUE(kept) << "the last good state must be saved";
}

// Min-SNR-γ: each sample's squared error weighted by min(SNR_t, γ)/SNR_t (ε targets), recomputed here from
// the same draws; γ → ∞ is the plain loss.
TEST(DiffusionLoss, MinSnrWeightingMatchesItsDefinition) {
  auto sd = tiny();
  const auto schedule = make_scheduler("ddpm", sd.scheduler_config);
  const auto& u = sd.unet->config;
  auto z = torch::randn({3, u.in_channels, u.sample_size, u.sample_size}, train_generator(5, 0));
  torch::Tensor emb;
  {
    torch::NoGradGuard no_grad;
    emb = encode_prompts(sd, {"a cat", "a dog", ""});
  }
  torch::NoGradGuard no_grad;
  auto loss = [&](double gamma) {
    auto gen = train_generator(9, 1);
    return diffusion_loss(sd, *schedule, z, emb, gen, gamma).item<double>();
  };
  // The same draws by hand.
  auto gen = train_generator(9, 1);
  auto noise = torch::randn(z.sizes(), gen, torch::kFloat32);
  auto t = torch::randint(0, schedule->num_train_timesteps(), {3}, gen, torch::kLong);
  auto pred = sd.unet->forward(schedule->add_noise(z, noise, t), t, emb);
  auto per_sample = (pred - noise).pow(2).flatten(1).mean(1).to(torch::kFloat64);
  auto abar = schedule->alphas_cumprod().index_select(0, t).to(torch::kFloat64);
  auto snr = abar / (1 - abar);
  const double gamma = 1.0;
  const double expected = (per_sample * snr.clamp_max(gamma) / snr).mean().item<double>();
  EXPECT_NEAR(loss(gamma), expected, 1e-6 * expected);
  EXPECT_NEAR(loss(1e12), loss(0), 1e-6 * loss(0));
  EXPECT_NEAR(loss(0), per_sample.mean().item<double>(), 1e-6 * loss(0));
}

}  // namespace
}  // namespace sculpt
