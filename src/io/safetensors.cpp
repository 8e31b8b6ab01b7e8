#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "io/atomic_file.h"

namespace sculpt {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {
// Headers of real checkpoints are a few hundred KB; anything near this is corrupt.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
}  // namespace

struct SafeTensorsFile::Mapping {
  void* data = MAP_FAILED;
  size_t size = 0;
  ~Mapping() {
    if (data != MAP_FAILED && size > 0) ::munmap(data, size);
  }
  const uint8_t* bytes() const { return static_cast<const uint8_t*>(data); }
};

torch::Dtype dtype_from_safetensors(const std::string& name) {
  static const std::map<std::string, torch::Dtype> table = {
      {"F64", torch::kFloat64}, {"F32", torch::kFloat32}, {"F16", torch::kFloat16},
      {"BF16", torch::kBFloat16}, {"I64", torch::kInt64}, {"I32", torch::kInt32},
      {"I16", torch::kInt16}, {"I8", torch::kInt8}, {"U8", torch::kUInt8}, {"BOOL", torch::kBool}};
  auto it = table.find(name);
  SCULPT_CHECK(it != table.end(), "unsupported safetensors dtype '", name, "'");
  return it->second;
}

std::string dtype_to_safetensors(torch::Dtype dtype) {
  switch (dtype) {
    case torch::kFloat64: return "F64";
    case torch::kFloat32: return "F32";
    case torch::kFloat16: return "F16";
    case torch::kBFloat16: return "BF16";
    case torch::kInt64: return "I64";
    case torch::kInt32: return "I32";
    case torch::kInt16: return "I16";
    case torch::kInt8: return "I8";
    case torch::kUInt8: return "U8";
    case torch::kBool: return "BOOL";
    default: SCULPT_CHECK(false, "dtype ", dtype, " cannot be stored in safetensors");
  }
  return {};
}

SafeTensorsFile::SafeTensorsFile(const fs::path& path) : path_(path), mapping_(std::make_shared<Mapping>()) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  SCULPT_CHECK(fd >= 0, "cannot open ", path, ": ", std::strerror(errno));
  struct stat st {};
  const int stat_rc = ::fstat(fd, &st);
  const uint64_t file_size = stat_rc == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  if (stat_rc == 0 && file_size > 0) {
    // MAP_PRIVATE + PROT_WRITE: tensors may be modified in place without reaching the file.
    mapping_->data = ::mmap(nullptr, file_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    mapping_->size = file_size;
  }
  ::close(fd);
  SCULPT_CHECK(stat_rc == 0, "cannot stat ", path);
  SCULPT_CHECK(file_size >= 8, path, " is not a safetensors file: ", file_size,
               " bytes, too short for the 8-byte header length");
  SCULPT_CHECK(mapping_->data != MAP_FAILED, "cannot map ", path, ": ", std::strerror(errno));

  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | mapping_->bytes()[i];
  SCULPT_CHECK(header_len <= kMaxHeaderBytes && header_len <= file_size - 8, path,
               " is truncated or not a safetensors file: header length ", header_len, " but the file has ",
               file_size, " bytes");
  data_start_ = 8 + header_len;
  const uint64_t data_size = file_size - data_start_;

  json header;
  try {
    header = json::parse(mapping_->bytes() + 8, mapping_->bytes() + 8 + header_len);
  } catch (const json::exception& e) {
    SCULPT_CHECK(false, path, " has a malformed safetensors header (", e.what(), ")");
  }
  SCULPT_CHECK(header.is_object(), path, ": safetensors header is not a JSON object");

  for (auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      SCULPT_CHECK(value.is_object(), path, ": __metadata__ is not an object");
      for (auto& [mk, mv] : value.items()) {
        SCULPT_CHECK(mv.is_string(), path, ": __metadata__ value of '", mk, "' is not a string");
        metadata_[mk] = mv.get<std::string>();
      }
      continue;
    }
    SCULPT_CHECK(value.is_object() && value.contains("dtype") && value.contains("shape") &&
                     value.contains("data_offsets"),
                 path, ": tensor '", key, "' needs dtype, shape and data_offsets");
    Entry e{};
    SCULPT_CHECK(value["dtype"].is_string(), path, ": tensor '", key, "' has a non-string dtype");
    try {
      e.dtype = dtype_from_safetensors(value["dtype"].get<std::string>());
    } catch (const Error& err) {
      SCULPT_CHECK(false, path, ": tensor '", key, "': ", err.what());
    }
    uint64_t numel = 1;
    SCULPT_CHECK(value["shape"].is_array(), path, ": tensor '", key, "' has a non-array shape");
    for (auto& d : value["shape"]) {
      SCULPT_CHECK(d.is_number_unsigned(), path, ": tensor '", key, "' has a bad dimension ", d.dump());
      const uint64_t dim = d.get<uint64_t>();
      SCULPT_CHECK(dim < (1ull << 40) && (dim == 0 || numel <= (1ull << 48) / dim), path, ": tensor '", key,
                   "' has an absurd shape ", value["shape"].dump());
      numel *= dim;
      e.shape.push_back(static_cast<int64_t>(dim));
    }
    const auto& off = value["data_offsets"];
    SCULPT_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned(),
                 path, ": tensor '", key, "' has bad data_offsets ", off.dump());
    e.begin = off[0].get<uint64_t>();
    e.end = off[1].get<uint64_t>();
    SCULPT_CHECK(e.begin <= e.end && e.end <= data_size, path, ": tensor '", key, "' has data_offsets [", e.begin,
                 ", ", e.end, "] outside the ", data_size, "-byte data buffer (truncated file?)");
    const uint64_t expected = numel * c10::elementSize(e.dtype);
    SCULPT_CHECK(e.end - e.begin == expected, path, ": tensor '", key, "' has ", e.end - e.begin,
                 " bytes but dtype ", value["dtype"].get<std::string>(), " and shape ", value["shape"].dump(),
                 " need ", expected);
    entries_.emplace(key, std::move(e));
  }

  std::vector<std::pair<uint64_t, std::string>> order;
  for (auto& [k, e] : entries_) order.emplace_back(e.begin, k);
  std::sort(order.begin(), order.end());
  uint64_t prev_end = 0;
  std::string prev_key;
  for (auto& [begin, k] : order) {
    const Entry& e = entries_.at(k);
    SCULPT_CHECK(e.begin >= prev_end || e.begin == e.end, path, ": tensors '", prev_key, "' and '", k,
                 "' overlap in the data buffer");
    if (e.end > e.begin) {
      prev_end = e.end;
      prev_key = k;
    }
    keys_.push_back(k);
  }
}

const SafeTensorsFile::Entry& SafeTensorsFile::entry(const std::string& key) const {
  auto it = entries_.find(key);
  SCULPT_CHECK(it != entries_.end(), path_, " has no tensor '", key, "'");
  return it->second;
}

std::vector<int64_t> SafeTensorsFile::shape(const std::string& key) const { return entry(key).shape; }
torch::Dtype SafeTensorsFile::dtype(const std::string& key) const { return entry(key).dtype; }

torch::Tensor SafeTensorsFile::get(const std::string& key) const {
  const Entry& e = entry(key);
  auto* ptr = const_cast<uint8_t*>(mapping_->bytes()) + data_start_ + e.begin;
  const auto options = torch::TensorOptions().dtype(e.dtype).device(torch::kCPU);
  if (e.begin == e.end) return torch::empty(e.shape, options);
  if (reinterpret_cast<uintptr_t>(ptr) % c10::elementSize(e.dtype) != 0) {
    // Unaligned in the file: copy into an aligned tensor rather than give torch a bad pointer.
    auto out = torch::empty(e.shape, options);
    std::memcpy(out.data_ptr(), ptr, e.end - e.begin);
    return out;
  }
  auto keep_alive = mapping_;
  return torch::from_blob(ptr, e.shape, [keep_alive](void*) {}, options);
}

TensorMap SafeTensorsFile::load_all() const {
  TensorMap out;
  for (const auto& k : keys_) out.emplace(k, get(k));
  return out;
}

TensorMap read_safetensors(const fs::path& path) { return SafeTensorsFile(path).load_all(); }

void write_safetensors(const fs::path& path, const TensorMap& tensors, const Metadata& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> data;
  uint64_t offset = 0;
  for (const auto& [key, t] : tensors) {
    SCULPT_CHECK(t.defined(), "cannot save undefined tensor '", key, "' to ", path);
    auto c = t.detach().to(torch::kCPU).contiguous();
    const uint64_t bytes = c.numel() * c.element_size();
    header[key] = {{"dtype", dtype_to_safetensors(c.scalar_type())},
                   {"shape", c.sizes().vec()},
                   {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(std::move(c));
  }
  std::string head = header.dump();
  head.append((8 - head.size() % 8) % 8, ' ');
  write_atomically(path, [&](const fs::path& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    SCULPT_CHECK(out.good(), "cannot open ", tmp, " for writing");
    uint8_t len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(static_cast<uint64_t>(head.size()) >> (8 * i));
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(head.data(), static_cast<std::streamsize>(head.size()));
    for (const auto& c : data)
      out.write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.numel() * c.element_size()));
    out.close();
    SCULPT_CHECK(out.good(), "failed writing ", tmp, " (disk full?)");
  });
}

}  // namespace sculpt
