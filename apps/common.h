// Flags shared by every subcommand (docs/design.md "CLI contract": --seed, --threads,
// --device, --resume, --quiet, --data, --data-dir).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

#include <CLI/CLI.hpp>

#include "ddkit/data/dataset.h"
#include "ddkit/dist/context.h"
#include "ddkit/train/observer.h"
#include "ddkit/util/run_settings.h"

namespace ddkit::distill {
struct DistillOptions;
}
namespace ddkit::generative {
struct GenTrainOptions;
struct SamplerOptions;
}
namespace ddkit::pipeline {
struct ReferenceOptions;
}

namespace ddkit::cli {

// --seed, --threads, --device and --quiet fill the RunSettings base; each
// subcommand binds its own --resume and --out.
struct CommonOptions : RunSettings {
  std::string data = "fashion-mnist";
  std::string data_dir = DDKIT_DEFAULT_DATA_DIR;
  // Distributed runs: --rank/--world-size/--master-addr/--master-port, else
  // RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT. Only subcommands that split their
  // work set splits_work; the others refuse a world of more than one.
  dist::WorldOptions world;
  bool splits_work = false;
};

// Numeric flag checks with one plain message ("must be at least 1, not 0").
CLI::Validator at_least(double minimum);
CLI::Validator greater_than(double bound);

// Add the common flags; `with_data` adds --data/--data-dir too.
void add_common_flags(CLI::App& command, CommonOptions& options, bool with_data = true);
// Configure threads/allocator/logging for this run and join its world (a
// world of one unless distributed); call first in a subcommand.
std::shared_ptr<dist::Context> start_run(const CommonOptions& options);
// Takes the run's output lock (util/output_lock.h) on the root rank, held until the
// process ends: a second run given the same --out is refused before it writes.
void lock_output(const std::filesystem::path& out, const std::shared_ptr<dist::Context>& world);
// A subcommand's settings from the common flags (seed, threads, device, quiet);
// its own resume and out stay as bound.
void apply_common(RunSettings& run, const CommonOptions& common);
data::Dataset load_data(const CommonOptions& options, bool load_test = true);

// Each subcommand registers itself on the app.
void register_datasets(CLI::App& app);
void register_train(CLI::App& app);
void register_gen_train(CLI::App& app);
void register_gen_eval(CLI::App& app);
void register_distill(CLI::App& app);
void register_buffer(CLI::App& app);
void register_eval(CLI::App& app);
void register_score(CLI::App& app);
void register_sample(CLI::App& app);
void register_pipeline(CLI::App& app);
void register_launch(CLI::App& app);
void register_report(CLI::App& app);

// --observer, --observer-model, --observer-epochs.
void add_observer_flags(CLI::App& command, train::ObserverOptions& observer);
// --baselines and the reference flags (--baselines-cache, --whole-epochs, --whole-runs).
void add_baseline_flags(CLI::App& command, bool& enabled, pipeline::ReferenceOptions& references);
// The method flags of `ddkit distill` (also used by `ddkit pipeline`).
void add_distill_flags(CLI::App& command, distill::DistillOptions& options);
// The generator's training flags; `prefix` ("" or "gen-") goes before steps/batch/lr.
void add_gen_train_flags(CLI::App& command, generative::GenTrainOptions& options, const std::string& prefix);
// --<prefix>solver, --<prefix>steps, --<prefix>guidance; `what` starts each help line.
void add_sampler_flags(CLI::App& command, generative::SamplerOptions& options, const std::string& prefix,
                       const std::string& what);

}  // namespace ddkit::cli
