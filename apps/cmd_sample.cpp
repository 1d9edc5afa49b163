#include <spdlog/spdlog.h>

#include "common.h"
#include "ddkit/sampling/sample_run.h"

namespace ddkit::cli {

void register_sample(CLI::App& app) {
  struct Options {
    CommonOptions common;
    std::string pool;
    sampling::SampleRunOptions run;
  };
  auto options = std::make_shared<Options>();
  auto* command = app.add_subcommand("sample", "Difficulty-guided sampling (DGS) of ipc images per class from a pool");
  add_common_flags(*command, options->common);
  command->add_option("--pool", options->pool, "Pool image set (ddkit's, or PNG class folders)")->required();
  command->add_option("--ipc", options->run.ipc, "Images per class to select")->capture_default_str()
      ->check(at_least(1));
  command->add_option("--target", options->run.target, "original | ground | hill | slope | cliff | FILE.json | random (control: a uniform pick from the pool)")
      ->capture_default_str();
  command->add_option("--repeat", options->run.repeat, "Independent selections (seeds seed..seed+R-1)")
      ->capture_default_str()
      ->check(at_least(1));
  command->add_flag("--rescore", options->run.rescore, "Score the pool even if its metadata.jsonl has scores");
  command->add_option("--original-scores", options->run.original_scores_file,
                      "metadata.jsonl of `ddkit score --split train` (else computed)");
  add_observer_flags(*command, options->run.observer);
  command->add_option("--out", options->run.out, "Output image set (with sampling.json)")->required();
  command->callback([options] {
    lock_output(options->run.out, start_run(options->common));
    const auto data = load_data(options->common, /*load_test=*/false);
    auto run = options->run;
    run.pool_dir = options->pool;
    run.seed = options->common.seed;
    apply_common(run.observer, options->common);
    const auto result = sampling::run_sampling(data, run);
    spdlog::info("wrote {} selection(s) of {} images to {}", result.sets.size(), result.sets.front().size(),
                 run.out.string());
  });
}

}  // namespace ddkit::cli
