#include "ddkit/util/runtime.h"

#include <malloc.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>

namespace ddkit {

void configure_allocator(bool keep_freed_memory) {
  if (!keep_freed_memory) return;
  // No mmap'd blocks at all: every tensor, however large (DM's 2,560-image
  // forward makes 1.3 GB activations), comes from the heap and is reused.
  mallopt(M_MMAP_MAX, 0);
  // Never give the top of the heap back to the OS (it would be faulted in again).
  mallopt(M_TRIM_THRESHOLD, -1);
  mallopt(M_TOP_PAD, 64 << 20);
}

std::string loaded_blas_library() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    const auto pos = line.find('/');
    if (pos == std::string::npos) continue;
    const std::string path = line.substr(pos);
    const auto name = std::filesystem::path(path).filename().string();
    if (name.rfind("libblas.so", 0) == 0 || name.rfind("libopenblas", 0) == 0 ||
        name.rfind("libmkl_rt", 0) == 0 || name.rfind("libblis", 0) == 0) {
      std::error_code ec;
      auto real = std::filesystem::canonical(path, ec);
      return ec ? path : real.string();
    }
  }
  return "";
}

bool is_reference_blas(const std::string& path) {
  // Debian's reference BLAS lives in .../blas/libblas.so.3; OpenBLAS and BLIS
  // alternatives live in .../openblas-*/ or .../blis-*/.
  return path.find("/blas/libblas.so") != std::string::npos;
}

int configure_runtime(const RuntimeOptions& options) {
  configure_allocator(options.keep_freed_memory);
  int threads = options.threads;
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(threads);
  try {
    at::set_num_interop_threads(1);
  } catch (const std::exception&) {
    // Only settable once per process, before any inter-op work; keep the first value.
  }
  if (options.warn_reference_blas) {
    const auto blas = loaded_blas_library();
    if (is_reference_blas(blas)) {
      spdlog::warn(
          "the reference BLAS ({}) is loaded: matrix products will be ~20x slower; "
          "install libopenblas0-openmp",
          blas);
    }
  }
  return threads;
}

}  // namespace ddkit
