// The main() of the Google Benchmark programs here: ddkit's runtime flags
// (--threads N, --no-keep-memory) are taken off argv before the benchmark
// library sees it; the runtime is configured (threads, allocator) and recorded
// in the output's context with the loaded BLAS.
#pragma once
#include <benchmark/benchmark.h>

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "ddkit/util/runtime.h"

namespace ddkit_bench {

struct Arguments {
  ddkit::RuntimeOptions runtime;
  std::vector<char*> rest;  // argv without the runtime flags (argv[0] kept)

  // Removes `name` from rest; true if it was there.
  bool take_flag(const char* name) {
    for (size_t i = 0; i < rest.size(); ++i) {
      if (std::strcmp(rest[i], name) == 0) {
        rest.erase(rest.begin() + static_cast<long>(i));
        return true;
      }
    }
    return false;
  }
  // Removes `name VALUE` from rest; the value, or nullptr if absent.
  const char* take_option(const char* name) {
    for (size_t i = 0; i + 1 < rest.size(); ++i) {
      if (std::strcmp(rest[i], name) == 0) {
        const char* value = rest[i + 1];
        rest.erase(rest.begin() + static_cast<long>(i), rest.begin() + static_cast<long>(i) + 2);
        return value;
      }
    }
    return nullptr;
  }
};

inline Arguments parse_arguments(int argc, char** argv) {
  Arguments args;
  args.rest.assign(argv, argv + argc);
  if (const char* threads = args.take_option("--threads")) args.runtime.threads = std::stoi(threads);
  if (args.take_flag("--no-keep-memory")) args.runtime.keep_freed_memory = false;
  return args;
}

// Configures the runtime, runs the registered benchmarks with `context` added
// to the output's, and returns main()'s exit code.
inline int run_benchmarks(Arguments& args, const std::vector<std::pair<std::string, std::string>>& context = {}) {
  const int threads = ddkit::configure_runtime(args.runtime);
  int rest_argc = static_cast<int>(args.rest.size());
  benchmark::Initialize(&rest_argc, args.rest.data());
  benchmark::AddCustomContext("threads", std::to_string(threads));
  benchmark::AddCustomContext("keep_freed_memory", args.runtime.keep_freed_memory ? "yes" : "no");
  benchmark::AddCustomContext("blas", ddkit::loaded_blas_library());
  for (const auto& [key, value] : context) benchmark::AddCustomContext(key, value);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace ddkit_bench
