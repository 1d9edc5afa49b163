#include "common.h"

#include <spdlog/spdlog.h>

#include "ddkit/data/registry.h"
#include "ddkit/util/runtime.h"

namespace ddkit::cli {

void add_common_flags(CLI::App& command, CommonOptions& options, bool with_data) {
  command.add_option("--seed", options.seed, "Seed of every random source")->capture_default_str();
  command.add_option("--threads", options.threads, "CPU threads (0 = all cores)")->capture_default_str();
  command.add_option("--device", options.device, "cpu, cuda or cuda:N")->capture_default_str();
  command.add_flag("--quiet,-q", options.quiet, "No progress output");
  if (with_data) {
    command.add_option("--data", options.data,
                       "fashion-mnist | mnist:PATH | cifar10:PATH | cifar100:PATH | folder:PATH")
        ->capture_default_str();
    command.add_option("--data-dir", options.data_dir, "Folder of the packaged datasets")->capture_default_str();
  }
}

void start_run(const CommonOptions& options) {
  if (options.quiet) spdlog::set_level(spdlog::level::warn);
  RuntimeOptions runtime;
  runtime.threads = options.threads;
  const int threads = configure_runtime(runtime);
  spdlog::debug("using {} threads", threads);
}

data::Dataset load_data(const CommonOptions& options, bool load_test) {
  data::DataOptions data_options;
  data_options.data_dir = options.data_dir;
  data_options.load_test = load_test;
  return data::load_dataset(options.data, data_options);
}

}  // namespace ddkit::cli
