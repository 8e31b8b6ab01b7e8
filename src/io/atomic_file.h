// Atomic writes: content goes to "<path>.tmp-<pid>" in the same directory, is flushed, then
// renamed over <path>. An interrupted run never leaves a half-written file under the final name.
#pragma once
#include <filesystem>
#include <functional>
#include <string>

namespace sculpt {

// Calls write(tmp_path) and renames tmp_path to path; removes tmp_path if write throws.
void write_atomically(const std::filesystem::path& path,
                      const std::function<void(const std::filesystem::path& tmp_path)>& write);

// Writes bytes to path atomically.
void write_file_atomically(const std::filesystem::path& path, const std::string& bytes);

// Reads a whole file; throws naming the path when it cannot.
std::string read_file(const std::filesystem::path& path);

}  // namespace sculpt
