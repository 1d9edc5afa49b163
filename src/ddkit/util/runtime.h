// Process-wide runtime set-up done once at start: allocator, threads, BLAS check.
#pragma once
#include <string>

namespace ddkit {

struct RuntimeOptions {
  int threads = 0;        // 0 = all cores
  bool keep_freed_memory = true;  // see configure_allocator()
  bool warn_reference_blas = true;
};

// glibc's malloc serves large blocks (>= 128 KiB by default, adaptively up to
// 32 MiB) with mmap and gives them back with munmap on free; every training step
// then page-faults its activation buffers in again, and the kernel's zeroing of
// fresh pages costs several times the arithmetic. Disabling mmap'd blocks and
// trimming keeps freed tensor buffers in the heap for reuse
// (docs/design.md "Performance expectations"). bench/ measures the effect.
void configure_allocator(bool keep_freed_memory);

// Apply all of RuntimeOptions; returns the number of threads in use.
int configure_runtime(const RuntimeOptions& options);

// Path of the BLAS library the process has loaded ("" if none found), and whether
// it is Debian's unoptimised reference BLAS.
std::string loaded_blas_library();
bool is_reference_blas(const std::string& path);

}  // namespace ddkit
