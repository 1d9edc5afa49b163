// Shared by the fuzz targets (docs/reliability.md). ddkit's readers take paths, so each
// input is written to a file in a per-process folder on tmpfs and read back through the
// real reader. A reader may refuse bad input only with ddkit::Error (the one-line
// "ddkit: error: <file>: <what>" of apps/); any other exception escapes, std::terminate
// aborts, and libFuzzer reports the input as a crash.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "ddkit/util/error.h"

namespace ddkit_fuzz {

inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    const std::filesystem::path base =
        std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
    auto made = base / ("ddkit-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(made);
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(scratch_dir(), ignored);
    });
    return made;
  }();
  return dir;
}

// Writes `size` bytes to scratch_dir()/name (sub-folders made as needed); returns its path.
inline std::filesystem::path write_input(const std::string& name, const uint8_t* data, size_t size) {
  const auto file = scratch_dir() / name;
  std::filesystem::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return file;
}

// Runs `read`; true when it returned, false when it refused the input with ddkit::Error.
template <class Read>
bool read_or_refuse(Read&& read) {
  try {
    read();
    return true;
  } catch (const ddkit::Error&) {
    return false;
  }
}

// A broken promise of a reader that accepted its input: libFuzzer reports the abort.
inline void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace ddkit_fuzz
