// Atomic outputs: every file is written under a temporary name and renamed into
// place, so an interrupted or failed run never leaves a half-written output.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace ddkit {

// Write `bytes` to `path` atomically (temp file in the same directory + rename).
void write_file_atomic(const std::filesystem::path& path, const std::string& bytes);
void write_file_atomic(const std::filesystem::path& path, const std::vector<char>& bytes);

// Read a whole file; throws ddkit::Error naming the file if it cannot be read.
std::vector<char> read_file_bytes(const std::filesystem::path& path);

// A directory built under a temporary sibling name and moved into place by
// commit(). If commit() is never called (an exception), the temporary is removed.
class StagedDirectory {
 public:
  explicit StagedDirectory(std::filesystem::path final_path);
  ~StagedDirectory();
  StagedDirectory(const StagedDirectory&) = delete;
  StagedDirectory& operator=(const StagedDirectory&) = delete;

  const std::filesystem::path& path() const { return staging_; }
  const std::filesystem::path& final_path() const { return final_; }
  // Replace `final_path` (if it exists) with the staged directory.
  void commit();

 private:
  std::filesystem::path final_;
  std::filesystem::path staging_;
  bool committed_ = false;
};

}  // namespace ddkit
