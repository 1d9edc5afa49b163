// Progress for long work: a redrawn bar with rate and ETA on a TTY, or one plain
// log line every `log_every_seconds` otherwise (CI logs, files).
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace ddkit {

struct ProgressOptions {
  bool quiet = false;               // print nothing at all
  double log_every_seconds = 10.0;  // non-TTY: one line per this many seconds
  std::string unit = "it";
};

class Progress {
 public:
  Progress(std::string label, int64_t total, ProgressOptions options = {});
  ~Progress();
  // Advance by `n` units; `status` (e.g. "loss 0.231") is shown beside the rate.
  void advance(int64_t n = 1, const std::string& status = "");
  // Print the final line (called by the destructor if not called before).
  void finish(const std::string& status = "");
  double elapsed_seconds() const;

 private:
  void render(bool final_line);

  std::string label_;
  int64_t total_;
  int64_t done_ = 0;
  ProgressOptions options_;
  bool tty_;
  bool finished_ = false;
  std::string status_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_render_;
};

// "1h02m", "3m05s", "12.3s"
std::string format_duration(double seconds);

}  // namespace ddkit
