// A progress bar on stderr: "label  [#####.....] 12/50  3.4 it/s  ETA 0:11  loss 0.123".
// On a terminal it redraws one line; otherwise it prints a plain line every few percent,
// so logs of CI and background runs stay readable.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace sculpt {

class ProgressBar {
 public:
  ProgressBar(int64_t total, std::string label, bool enabled = true);
  ~ProgressBar();
  // Advances by n and shows `note` (e.g. "loss 0.12") after the rate.
  void update(int64_t n = 1, const std::string& note = "");
  void finish();

 private:
  void draw(bool final_line);
  int64_t total_, done_ = 0;
  std::string label_, note_;
  bool enabled_, tty_, finished_ = false;
  int last_percent_printed_ = -1;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

// "1:02:03" or "2:03".
std::string format_duration(double seconds);

}  // namespace sculpt
