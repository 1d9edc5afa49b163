#include "common.h"

#include <cstdlib>
#include <memory>
#include <thread>

#include <spdlog/spdlog.h>

#include "ddkit/data/registry.h"
#include "ddkit/pipeline/reference_accuracy.h"
#include "ddkit/train/device.h"
#include "ddkit/util/error.h"
#include "ddkit/util/output_lock.h"
#include "ddkit/util/runtime.h"

namespace ddkit::cli {
namespace {

CLI::Validator number_check(double bound, bool inclusive) {
  const std::string relation = inclusive ? "at least" : "greater than";
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        double value = 0;
        if (!CLI::detail::lexical_cast(text, value)) return "'" + text + "' is not a number";
        if (inclusive ? value >= bound : value > bound) return {};
        return "must be " + relation + " " + CLI::detail::to_string(bound) + ", not " + text;
      },
      "NUMBER " + std::string(inclusive ? ">= " : "> ") + CLI::detail::to_string(bound), relation);
}

}  // namespace

CLI::Validator at_least(double minimum) { return number_check(minimum, true); }
CLI::Validator greater_than(double bound) { return number_check(bound, false); }

void add_common_flags(CLI::App& command, CommonOptions& options, bool with_data) {
  command.add_option("--seed", options.seed, "Seed of every random source")->capture_default_str();
  command.add_option("--threads", options.threads, "CPU threads (0 = all cores)")->capture_default_str()
      ->check(at_least(0));
  command.add_option("--device", options.device, "cpu, cuda or cuda:N")->capture_default_str();
  command.add_flag("--quiet,-q", options.quiet, "No progress output");
  if (with_data) {
    command.add_option("--data", options.data,
                       "fashion-mnist | mnist:PATH | cifar10:PATH | cifar100:PATH | folder:PATH")
        ->capture_default_str();
    command.add_option("--data-dir", options.data_dir, "Folder of the packaged datasets")->capture_default_str();
  }
  auto* group = command.add_option_group("Distributed", "Multi-process runs (default: the environment)");
  group->add_option("--rank", options.world.rank, "This process's rank (default $RANK, else 0)")
      ->check(at_least(0));
  group->add_option("--world-size", options.world.world_size, "Number of processes (default $WORLD_SIZE, else 1)")
      ->check(at_least(1));
  group->add_option("--master-addr", options.world.master_addr, "Rank 0's address (default $MASTER_ADDR, else 127.0.0.1)");
  group->add_option("--master-port", options.world.master_port, "Rank 0's TCPStore port (default $MASTER_PORT, else 29500)");
  group->add_option("--dist-backend", options.world.backend, "gloo | nccl | auto")->capture_default_str();
}

void apply_common(RunSettings& run, const CommonOptions& common) {
  run.seed = common.seed;
  run.threads = common.threads;
  run.device = common.device;
  run.quiet = common.quiet;
}

void lock_output(const std::filesystem::path& out, const std::shared_ptr<dist::Context>& world) {
  // Released (and its file removed) when the process exits; the kernel drops it on a kill.
  static std::vector<std::unique_ptr<OutputLock>> held;
  if (!out.empty() && dist::is_root(world)) held.push_back(std::make_unique<OutputLock>(out));
}

std::shared_ptr<dist::Context> start_run(const CommonOptions& options) {
  if (options.quiet) spdlog::set_level(spdlog::level::warn);
  auto world_options = options.world;
  // Checked before joining, and with its GPU index, so NCCL gets this worker's GPU.
  world_options.device = train::parse_device(options.device).str();
  world_options = dist::resolve_world(world_options);
  if (world_options.world_size > 1 && !options.splits_work) {
    throw Error("WORLD_SIZE", "this subcommand runs in one process; distributed runs are score, eval, buffer "
                              "and distill --method dm|dc|dsa");
  }
  RuntimeOptions runtime;
  runtime.threads = options.threads;
  // Workers started by `ddkit launch` share this host's cores by default.
  const char* local = std::getenv("LOCAL_WORLD_SIZE");
  if (runtime.threads == 0 && local != nullptr && std::atoi(local) > 1) {
    runtime.threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / std::atoi(local));
  }
  const int threads = configure_runtime(runtime);
  spdlog::debug("using {} threads", threads);
  return dist::Context::connect(world_options);
}

data::Dataset load_data(const CommonOptions& options, bool load_test) {
  data::DataOptions data_options;
  data_options.data_dir = options.data_dir;
  data_options.load_test = load_test;
  return data::load_dataset(options.data, data_options);
}

void add_baseline_flags(CLI::App& command, bool& enabled, pipeline::ReferenceOptions& references) {
  command.add_flag("--baselines", enabled,
                   "Add DD-Ranking's metrics: improvement over random real at the same IPC and gap to whole-data "
                   "training (references computed once, then cached)");
  command.add_option("--baselines-cache", references.cache_dir,
                     "Cache of reference accuracies (default $DDKIT_CACHE_DIR, else ~/.cache/ddkit/baselines)");
  command.add_option("--whole-epochs", references.whole_epochs,
                     "Epochs of the whole-data reference [ddkit CPU budget; no augmentation]")
      ->capture_default_str()
      ->check(at_least(1));
  command.add_option("--whole-runs", references.whole_runs, "Runs of the whole-data reference")->capture_default_str()
      ->check(at_least(1));
}

}  // namespace ddkit::cli
