#include "ddkit/util/progress.h"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

namespace ddkit {

std::string format_duration(double seconds) {
  if (seconds < 0) seconds = 0;
  if (seconds < 60) return fmt::format("{:.1f}s", seconds);
  const auto s = static_cast<int64_t>(seconds + 0.5);
  if (s < 3600) return fmt::format("{}m{:02d}s", s / 60, static_cast<int>(s % 60));
  return fmt::format("{}h{:02d}m", s / 3600, static_cast<int>((s % 3600) / 60));
}

Progress::Progress(std::string label, int64_t total, ProgressOptions options)
    : label_(std::move(label)),
      total_(total),
      options_(std::move(options)),
      tty_(::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      last_render_(start_) {}

Progress::~Progress() {
  if (!finished_) finish();
}

double Progress::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::advance(int64_t n, const std::string& status) {
  done_ += n;
  if (!status.empty()) status_ = status;
  if (options_.quiet) return;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_render_).count();
  const double every = tty_ ? 0.2 : options_.log_every_seconds;
  if (since >= every) {
    last_render_ = now;
    render(false);
  }
}

void Progress::finish(const std::string& status) {
  if (finished_) return;
  finished_ = true;
  if (!status.empty()) status_ = status;
  if (!options_.quiet) render(true);
}

void Progress::render(bool final_line) {
  const double elapsed = elapsed_seconds();
  const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done_) / rate : 0.0;
  const double frac = total_ > 0 ? static_cast<double>(done_) / static_cast<double>(total_) : 1.0;
  std::string rate_text = rate >= 1.0 || rate == 0.0
                              ? fmt::format("{:.1f} {}/s", rate, options_.unit)
                              : fmt::format("{:.2f} s/{}", 1.0 / rate, options_.unit);
  std::string tail = final_line ? fmt::format("done in {}", format_duration(elapsed))
                                : fmt::format("ETA {}", format_duration(eta));
  std::string status = status_.empty() ? "" : "  " + status_;
  if (tty_) {
    constexpr int kWidth = 24;
    const int filled = static_cast<int>(frac * kWidth);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(kWidth, '.');
    std::fprintf(stderr, "\r\033[K%s [%s] %lld/%lld  %s  %s%s%s", label_.c_str(), bar.c_str(),
                 static_cast<long long>(done_), static_cast<long long>(total_), rate_text.c_str(),
                 tail.c_str(), status.c_str(), final_line ? "\n" : "");
  } else {
    std::fprintf(stderr, "%s %lld/%lld (%.0f%%)  %s  %s%s\n", label_.c_str(),
                 static_cast<long long>(done_), static_cast<long long>(total_), frac * 100.0,
                 rate_text.c_str(), tail.c_str(), status.c_str());
  }
  std::fflush(stderr);
}

}  // namespace ddkit
