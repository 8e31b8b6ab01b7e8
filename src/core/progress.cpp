#include "core/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace sculpt {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", (long long)(s / 3600), (long long)(s / 60 % 60),
                  (long long)(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", (long long)(s / 60), (long long)(s % 60));
  return buf;
}

ProgressBar::ProgressBar(int64_t total, std::string label, bool enabled)
    : total_(std::max<int64_t>(total, 1)), label_(std::move(label)), enabled_(enabled),
      tty_(isatty(STDERR_FILENO) != 0), start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::update(int64_t n, const std::string& note) {
  done_ = std::min(done_ + n, total_);
  note_ = note;
  draw(false);
}

void ProgressBar::finish() {
  if (finished_) return;
  finished_ = true;
  draw(true);
}

void ProgressBar::draw(bool final_line) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const int percent = static_cast<int>(100 * done_ / total_);
  if (tty_) {
    if (!final_line && std::chrono::duration<double>(now - last_draw_).count() < 0.1 && done_ < total_) return;
  } else {
    // Plain lines: one every 5 %, and the final one.
    if (!final_line && (percent / 5 == last_percent_printed_ / 5 || done_ == total_)) return;
    if (final_line && last_percent_printed_ == 100) return;
    last_percent_printed_ = percent;
  }
  last_draw_ = now;
  const double rate = elapsed > 0 ? done_ / elapsed : 0.0;
  const double eta = rate > 0 ? (total_ - done_) / rate : NAN;
  constexpr int kWidth = 24;
  const int filled = static_cast<int>(kWidth * done_ / total_);
  std::string bar(filled, '#');
  bar.append(kWidth - filled, '.');
  char rate_buf[48];
  if (rate >= 1 || rate == 0)
    std::snprintf(rate_buf, sizeof rate_buf, "%.2f it/s", rate);
  else
    std::snprintf(rate_buf, sizeof rate_buf, "%.2f s/it", 1.0 / rate);
  std::fprintf(stderr, "%s%s [%s] %lld/%lld %3d%%  %s  %s %s%s%s", tty_ ? "\r\033[K" : "", label_.c_str(),
               bar.c_str(), (long long)done_, (long long)total_, percent, rate_buf,
               done_ == total_ ? "took" : "ETA", format_duration(done_ == total_ ? elapsed : eta).c_str(),
               note_.empty() ? "" : "  ", note_.c_str());
  if (!tty_ || final_line) std::fputc('\n', stderr);
  std::fflush(stderr);
}

}  // namespace sculpt
