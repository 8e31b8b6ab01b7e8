// The `sculpt` command line: golden parity from the command line, seed semantics, and bad input
// (one clear message naming the file/key/value, exit code 1 for runtime and 2 for usage errors).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "support.h"

namespace fs = std::filesystem;
using namespace sculpt;

namespace {

struct CliResult {
  int code;
  std::string output;  // stdout + stderr
};

CliResult run_cli(const std::string& args) {
  const auto log = test::temp_dir("cli_log") / "out.txt";
  const std::string cmd = std::string(SCULPT_CLI) + " " + args + " > '" + log.string() + "' 2>&1";
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_file(log)};
}

const std::string kModel = test::golden("tiny-sd/model").string();
const std::string kPromptArgs =
    "--prompt 'a photo of a cat' --prompt 'A painting of a SQUIRREL eating a burger!!' "
    "--steps 10 --cfg 7.5 --width 32 --height 32 --threads 2";

fs::path copy_model(const std::string& name) {
  auto dir = test::temp_dir(name) / "model";
  fs::copy(kModel, dir, fs::copy_options::recursive);
  for (auto& e : fs::recursive_directory_iterator(dir))
    fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
  return dir;
}

}  // namespace

TEST(Cli, GenerateReproducesGoldenLatents) {
  auto dir = test::temp_dir("cli_golden");
  auto ref = read_safetensors(test::golden("tiny-sd/reference/pipeline_dpmpp.safetensors"));
  write_safetensors(dir / "init.safetensors", {{"latents", ref.at("init_latents")}});
  auto r = run_cli("generate --model " + kModel + " " + kPromptArgs + " --scheduler dpm++2m --init-latents " +
                   (dir / "init.safetensors").string() + " --save-latents " + (dir / "final.safetensors").string() +
                   " --out " + (dir / "img").string());
  ASSERT_EQ(r.code, 0) << r.output;
  auto latents = read_safetensors(dir / "final.safetensors").at("latents");
  EXPECT_CLOSE(latents, ref.at("latents"), 1e-5 * ref.at("latents").abs().max().item<double>(), 0,
               "CLI dpm++2m final latents");
  EXPECT_TRUE(fs::exists(dir / "img" / "000.png"));
  EXPECT_TRUE(fs::exists(dir / "img" / "grid.png"));
}

TEST(Cli, SeedDrawsTorchRandnFromCpuGenerator) {
  auto dir = test::temp_dir("cli_seed");
  auto gen = at::detail::createCPUGenerator(1234);
  write_safetensors(dir / "init.safetensors", {{"latents", torch::randn({2, 4, 4, 4}, gen)}});
  const std::string args = "generate --model " + kModel + " --prompt a --prompt b --steps 3 --width 8 --height 8 ";
  auto a = run_cli(args + "--seed 1234 --save-latents " + (dir / "a.safetensors").string() + " --out " +
                   (dir / "a.png").string());
  ASSERT_EQ(a.code, 0) << a.output;
  auto b = run_cli(args + "--init-latents " + (dir / "init.safetensors").string() + " --save-latents " +
                   (dir / "b.safetensors").string() + " --out " + (dir / "b.png").string());
  ASSERT_EQ(b.code, 0) << b.output;
  EXPECT_TRUE(torch::equal(read_safetensors(dir / "a.safetensors").at("latents"),
                           read_safetensors(dir / "b.safetensors").at("latents")));
}

TEST(Cli, TokenizeJsonGivesGoldenIds) {
  auto r = run_cli("tokenize --model " + kModel + " 'a photo of a cat' --json");
  ASSERT_EQ(r.code, 0) << r.output;
  auto j = nlohmann::json::parse(r.output);
  auto ids = read_safetensors(test::golden("tiny-sd/reference/tokenizer.safetensors")).at("input_ids")[0];
  auto got = j["tokens"][0]["ids"].get<std::vector<int64_t>>();
  EXPECT_TRUE(torch::equal(torch::tensor(got), ids));
}

TEST(Cli, HelpOnEveryVerb) {
  for (const std::string verb : {"generate", "tokenize", "info"}) {
    auto r = run_cli(verb + " --help");
    EXPECT_EQ(r.code, 0) << verb;
    EXPECT_NE(r.output.find("Example:"), std::string::npos) << verb << ": " << r.output;
  }
}

TEST(Cli, InfoOnSingleFile) {
  auto r = run_cli("info --model " + test::golden("tiny-sd-single-file/tiny-sd.safetensors").string() + " --json");
  ASSERT_EQ(r.code, 0) << r.output;
  auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["unet"]["block_out_channels"], nlohmann::json({32, 64}));
  EXPECT_EQ(j["vae"]["latent_channels"], 4);
}

TEST(CliBadInput, TruncatedWeights) {
  auto model = copy_model("bad_trunc");
  const auto file = model / "unet" / "diffusion_pytorch_model.safetensors";
  fs::resize_file(file, fs::file_size(file) / 2);
  auto r = run_cli("info --model " + model.string());
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find(file.string()), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("outside"), std::string::npos) << r.output;
}

TEST(CliBadInput, HeaderWithLyingOffsets) {
  auto model = copy_model("bad_offsets");
  const auto file = model / "vae" / "diffusion_pytorch_model.safetensors";
  std::string bytes = read_file(file);
  // Make the first tensor claim more bytes than it has by bumping one digit of its end offset.
  const auto pos = bytes.find("\"data_offsets\":[0,");
  ASSERT_NE(pos, std::string::npos);
  bytes[pos + 18] = bytes[pos + 18] == '9' ? '8' : static_cast<char>(bytes[pos + 18] + 1);
  write_file_atomically(file, bytes);
  auto r = run_cli("info --model " + model.string());
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find(file.string()), std::string::npos) << r.output;
}

TEST(CliBadInput, MissingUnetConfig) {
  auto model = copy_model("bad_config");
  fs::remove(model / "unet" / "config.json");
  auto r = run_cli("info --model " + model.string());
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("unet/config.json"), std::string::npos) << r.output;
}

TEST(CliBadInput, WrongShapeWeightNamesTheKey) {
  auto model = copy_model("bad_shape");
  const auto file = model / "unet" / "diffusion_pytorch_model.safetensors";
  auto w = read_safetensors(file);
  w["conv_in.weight"] = torch::zeros({32, 4, 3, 1});
  w.erase("conv_out.bias");
  write_safetensors(file, w);
  auto r = run_cli("info --model " + model.string());
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("conv_in.weight"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("conv_out.bias"), std::string::npos) << r.output;  // all problems at once
}

TEST(CliBadInput, UnknownSchedulerIsAUsageError) {
  auto r = run_cli("generate --model " + kModel + " --prompt x --scheduler lms --out /tmp/x.png");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("lms"), std::string::npos) << r.output;
}

TEST(CliBadInput, PickleIsRefused) {
  auto dir = test::temp_dir("bad_pickle");
  std::ofstream(dir / "model.ckpt") << "PK\x03\x04 not really a zip";
  auto r = run_cli("info --model " + (dir / "model.ckpt").string());
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("never unpickles"), std::string::npos) << r.output;
}
