// SCULPT_CHECK: the one way library code reports bad input or a failed invariant.
// Arguments are streamed like TORCH_CHECK's, so messages can name files, keys, shapes and values.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace sculpt {

// A failure while running: bad file, key, shape, NaN loss. The CLI maps it to exit code 1.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A bad command line or argument value (unknown scheduler, size not a multiple of 8, …): exit code 2.
struct UsageError : Error {
  using Error::Error;
};

namespace detail {
template <typename... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream s;
  (s << ... << args);
  return s.str();
}
}  // namespace detail

}  // namespace sculpt

#define SCULPT_CHECK(cond, ...) \
  do { if (!(cond)) throw ::sculpt::Error(::sculpt::detail::str_cat(__VA_ARGS__)); } while (0)

#define SCULPT_USAGE_CHECK(cond, ...) \
  do { if (!(cond)) throw ::sculpt::UsageError(::sculpt::detail::str_cat(__VA_ARGS__)); } while (0)
