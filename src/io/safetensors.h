// safetensors reader (memory-mapped, bounds-checked) and writer (atomic, header padded to 8).
// Format: u64 little-endian header length N, N bytes of JSON
//   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the data buffer; offsets are relative to the buffer's start.
// Spec: https://github.com/huggingface/safetensors (README, "Format").
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace sculpt {

using TensorMap = std::map<std::string, torch::Tensor>;
using Metadata = std::map<std::string, std::string>;

class SafeTensorsFile {
 public:
  // Maps the file and validates the whole header: its length, the JSON, every dtype, shape and
  // offset pair (inside the buffer, size = numel * element size, no two tensors overlapping).
  explicit SafeTensorsFile(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  const std::vector<std::string>& keys() const { return keys_; }  // in file-offset order
  bool contains(const std::string& key) const { return entries_.count(key) != 0; }
  std::vector<int64_t> shape(const std::string& key) const;
  torch::Dtype dtype(const std::string& key) const;
  const Metadata& metadata() const { return metadata_; }

  // CPU tensor viewing the mapping (copy-on-write: writing to it never touches the file).
  torch::Tensor get(const std::string& key) const;
  TensorMap load_all() const;

 private:
  struct Entry {
    torch::Dtype dtype;
    std::vector<int64_t> shape;
    uint64_t begin, end;
  };
  struct Mapping;
  const Entry& entry(const std::string& key) const;

  std::filesystem::path path_;
  std::shared_ptr<Mapping> mapping_;
  std::map<std::string, Entry> entries_;
  std::vector<std::string> keys_;
  Metadata metadata_;
  uint64_t data_start_ = 0;
};

TensorMap read_safetensors(const std::filesystem::path& path);

// Writes tensors (any device; made contiguous CPU) atomically. Keys are written sorted.
void write_safetensors(const std::filesystem::path& path, const TensorMap& tensors,
                       const Metadata& metadata = {});

// "F32" ↔ torch::kFloat32 …; throws naming the dtype when unsupported.
torch::Dtype dtype_from_safetensors(const std::string& name);
std::string dtype_to_safetensors(torch::Dtype dtype);

}  // namespace sculpt
