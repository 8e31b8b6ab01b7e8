// sculpt tokenize: the 77 token ids per prompt, as the model's tokenizer makes them.
#include <iostream>

#include "commands.h"
#include "tokenizer/clip_tokenizer.h"

namespace sculpt::cli {
namespace fs = std::filesystem;

void add_tokenize(CLI::App& app) {
  struct Opts {
    std::string model;
    std::vector<std::string> prompts;
    CommonOptions common;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("tokenize", "Print the token ids of prompts (padded/truncated to the model's length)");
  cmd->footer("Example: sculpt tokenize --model models/sd15 \"a photo of a cat\" --json");
  cmd->add_option("--model", o->model, "diffusers folder (its tokenizer/) or a tokenizer folder")->required();
  cmd->add_option("prompts", o->prompts, "one or more prompts")->required();
  add_common_options(*cmd, o->common);
  cmd->callback([o] {
    const fs::path dir = fs::exists(fs::path(o->model) / "tokenizer") ? fs::path(o->model) / "tokenizer" : fs::path(o->model);
    auto tok = CLIPTokenizer::from_dir(dir);
    auto ids = tok(o->prompts);
    nlohmann::json out = nlohmann::json::array();
    for (size_t i = 0; i < o->prompts.size(); ++i) {
      auto row = ids[static_cast<int64_t>(i)];
      std::vector<int64_t> v(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + row.numel());
      out.push_back({{"prompt", o->prompts[i]}, {"ids", v},
                     {"num_tokens_untruncated", tok.encode(o->prompts[i]).size()}});
    }
    if (o->common.json) return print_json({{"tokens", out}});
    for (const auto& r : out) {
      std::cout << r["prompt"].get<std::string>() << "\n ";
      for (auto id : r["ids"]) std::cout << ' ' << id;
      std::cout << '\n';
    }
  });
}

}  // namespace sculpt::cli
