#include "io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/check.h"

namespace sculpt {
namespace fs = std::filesystem;

void write_atomically(const fs::path& path, const std::function<void(const fs::path&)>& write) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  const fs::path tmp = path.string() + ".tmp-" + std::to_string(::getpid());
  try {
    write(tmp);
    // fsync so a crash after rename cannot expose an empty file.
    const int fd = ::open(tmp.c_str(), O_RDONLY);
    SCULPT_CHECK(fd >= 0, "cannot reopen ", tmp, ": ", std::strerror(errno));
    ::fsync(fd);
    ::close(fd);
    fs::rename(tmp, path);
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
}

void write_file_atomically(const fs::path& path, const std::string& bytes) {
  write_atomically(path, [&](const fs::path& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    SCULPT_CHECK(out.good(), "cannot open ", tmp, " for writing");
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    SCULPT_CHECK(out.good(), "failed writing ", tmp, " (disk full?)");
  });
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  SCULPT_CHECK(in.good(), "cannot read ", path, fs::exists(path) ? "" : ": no such file");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace sculpt
