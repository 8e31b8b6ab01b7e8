// safetensors reader/writer: round trip, metadata, and every kind of corrupt header is refused
// with a message naming the file and the problem.
#include <gtest/gtest.h>

#include <fstream>

#include "core/check.h"
#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "io/state_dict.h"
#include "support.h"

namespace fs = std::filesystem;
using namespace sculpt;

namespace {
std::string header_file(const std::string& header_json, const std::string& data) {
  std::string out(8, '\0');
  const uint64_t n = header_json.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header_json + data;
}
void write_raw(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}
std::string error_of(const fs::path& p) {
  try {
    SafeTensorsFile f(p);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(SafeTensors, RoundTripAllDtypesAndMetadata) {
  auto dir = test::temp_dir("st_roundtrip");
  TensorMap in;
  in["f32"] = torch::randn({3, 4});
  in["f16"] = torch::randn({5}).to(torch::kFloat16);
  in["bf16"] = torch::randn({2, 2}).to(torch::kBFloat16);
  in["i64"] = torch::arange(7, torch::kInt64);
  in["i32"] = torch::arange(3, torch::kInt32);
  in["u8"] = torch::arange(9, torch::kUInt8).reshape({3, 3});
  in["bool"] = torch::tensor({true, false, true});
  in["scalar"] = torch::tensor(2.5f);
  write_safetensors(dir / "a.safetensors", in, {{"format", "pt"}, {"note", "x"}});

  const std::string bytes = read_file(dir / "a.safetensors");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
  EXPECT_EQ(n % 8, 0u) << "header must be padded to 8 bytes";

  SafeTensorsFile f(dir / "a.safetensors");
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.keys().size(), in.size());
  for (auto& [k, t] : in) {
    auto got = f.get(k);
    EXPECT_EQ(got.scalar_type(), t.scalar_type()) << k;
    EXPECT_TRUE(torch::equal(got, t)) << k;
  }
  // Writing to a loaded tensor must never reach the file (copy-on-write mapping).
  f.get("f32").fill_(0);
  EXPECT_TRUE(torch::equal(read_safetensors(dir / "a.safetensors").at("f32"), in["f32"]));
  EXPECT_FALSE(fs::exists(dir / ("a.safetensors.tmp-" + std::to_string(::getpid()))));
}

TEST(SafeTensors, RejectsCorruptFiles) {
  auto dir = test::temp_dir("st_corrupt");
  const std::string ok_header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  write_raw(dir / "ok.safetensors", header_file(ok_header, std::string(8, '\0')));
  EXPECT_EQ(error_of(dir / "ok.safetensors"), "");

  write_raw(dir / "short.safetensors", "abc");
  EXPECT_NE(error_of(dir / "short.safetensors").find("too short"), std::string::npos);

  // Header length larger than the file: a truncated download.
  std::string trunc = header_file(ok_header, std::string(8, '\0'));
  write_raw(dir / "trunc.safetensors", trunc.substr(0, 30));
  EXPECT_NE(error_of(dir / "trunc.safetensors").find("truncated"), std::string::npos);

  // Data buffer shorter than the offsets say.
  write_raw(dir / "trunc_data.safetensors", header_file(ok_header, std::string(4, '\0')));
  auto msg = error_of(dir / "trunc_data.safetensors");
  EXPECT_NE(msg.find("'w'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("outside"), std::string::npos) << msg;

  write_raw(dir / "json.safetensors", header_file("{not json", ""));
  EXPECT_NE(error_of(dir / "json.safetensors").find("malformed"), std::string::npos);

  // Offsets that lie about the size.
  write_raw(dir / "size.safetensors",
            header_file(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", std::string(8, '\0')));
  EXPECT_NE(error_of(dir / "size.safetensors").find("need 12"), std::string::npos);

  // Two tensors sharing bytes.
  write_raw(dir / "overlap.safetensors",
            header_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                        R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                        std::string(12, '\0')));
  EXPECT_NE(error_of(dir / "overlap.safetensors").find("overlap"), std::string::npos);

  write_raw(dir / "dtype.safetensors",
            header_file(R"({"w":{"dtype":"F8_E9","shape":[2],"data_offsets":[0,2]}})", std::string(2, '\0')));
  EXPECT_NE(error_of(dir / "dtype.safetensors").find("F8_E9"), std::string::npos);

  EXPECT_NE(error_of(dir / "missing.safetensors").find("missing.safetensors"), std::string::npos);
}

TEST(StateDict, StrictLoadReportsEverythingAtOnce) {
  torch::nn::Sequential net(torch::nn::Linear(4, 3), torch::nn::Linear(3, 2));
  TensorMap sd = state_dict(*net);
  TensorMap file;
  for (auto& [k, v] : sd) file[k] = torch::randn(v.sizes());
  load_state_dict(*net, file, "ok.safetensors");
  EXPECT_TRUE(torch::equal(net->named_parameters()["0.weight"], file["0.weight"]));

  TensorMap bad = file;
  bad.erase("1.bias");
  bad["extra.weight"] = torch::zeros({1});
  bad["0.weight"] = torch::zeros({5, 4});
  try {
    load_state_dict(*net, bad, "bad.safetensors");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("bad.safetensors"), std::string::npos) << m;
    EXPECT_NE(m.find("missing keys (1): 1.bias"), std::string::npos) << m;
    EXPECT_NE(m.find("unexpected keys (1): extra.weight"), std::string::npos) << m;
    EXPECT_NE(m.find("0.weight (file [5, 4], model [3, 4])"), std::string::npos) << m;
  }
}
