// One writer per output: a run takes an exclusive lock on its --out before writing, so
// two runs given the same --out cannot interleave their files; the second is refused
// with one line (docs/design.md §4 "File formats"). The lock is an flock(2) on a hidden
// sibling file, `.<name>.lock` beside <out>: the kernel drops it when its holder exits,
// however it exits (kill -9 included), so a crashed run never leaves a stale lock.
#pragma once
#include <filesystem>

namespace ddkit {

class OutputLock {
 public:
  // Locks `out` (a directory or a file, existing or not; its parent is created). Throws
  // ddkit::Error naming `out` when another process holds the lock.
  explicit OutputLock(const std::filesystem::path& out);
  ~OutputLock();  // removes the lock file, then releases the lock
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;

  const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path file_;
  int fd_ = -1;
};

// The lock file of `out`: <parent>/.<name>.lock.
std::filesystem::path output_lock_file(const std::filesystem::path& out);

}  // namespace ddkit
