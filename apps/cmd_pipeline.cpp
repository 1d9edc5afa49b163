#include <cstdio>

#include "common.h"
#include "ddkit/generative/train_generator.h"
#include "ddkit/pipeline/pipeline.h"

namespace ddkit::cli {

void register_pipeline(CLI::App& app) {
  struct Options {
    CommonOptions common;
    pipeline::PipelineOptions run;
  };
  auto options = std::make_shared<Options>();
  options->run.distill.pool_factor = 5;
  auto* command = app.add_subcommand(
      "pipeline", "distill a pool -> score -> DGS sample -> evaluate (beside the method at plain IPC)");
  add_common_flags(*command, options->common);
  add_distill_flags(*command, options->run.distill);
  add_gen_train_flags(*command, options->run.generator_training, "gen-");  // diffusion without --generator
  command->add_option("--target", options->run.target, "DGS target: original | ground | hill | slope | cliff | FILE.json | random (control)")
      ->capture_default_str();
  command->add_option("--runs", options->run.eval.runs, "Evaluation runs per set")->capture_default_str()
      ->check(at_least(1));
  command->add_option("--models", options->run.eval.models, "Evaluation models, comma-separated")
      ->delimiter(',')
      ->capture_default_str();
  command->add_option("--eval-protocol", options->run.eval_protocol,
                      "auto (the method's: DSA setting for dsa/dm, plain otherwise) | plain | dsa")
      ->check(CLI::IsMember({"auto", "plain", "dsa"}))
      ->capture_default_str();
  command->add_option("--eval-epochs", options->run.eval_epochs, "Evaluation epochs (default: the protocol's 300/1000)")
      ->check(at_least(1));
  command->add_flag("--no-plain", [options](int64_t) { options->run.compare_plain = false; },
                    "Skip the comparison with the method at plain IPC");
  command->add_option("--score-observer", options->run.observer.model_file,
                      "Observer model file for difficulty (default: train one, kept as DIR/observer.pt)");
  command->add_option("--score-observer-epochs", options->run.observer.epochs, "Epochs of the trained observer")
      ->capture_default_str()
      ->check(at_least(0));
  command->add_option("--original-scores", options->run.original_scores_file,
                      "metadata.jsonl of `ddkit score --split train` (default: scored with the observer)");
  add_baseline_flags(*command, options->run.baselines, options->run.references);
  command->add_flag("--resume", options->run.resume, "Reuse finished stages in --out and continue unfinished ones");
  command->add_option("--out", options->run.out, "Run directory")->required();
  command->callback([options] {
    lock_output(options->run.out, start_run(options->common));
    const auto data = load_data(options->common);
    auto run = options->run;
    apply_common(run, options->common);
    const auto results = pipeline::run_pipeline(data, run);
    for (const auto& [name, set] : results["sets"].items()) {
      for (const auto& [model, m] : set["models"].items()) {
        std::printf("%s %s: %.2f ± %.2f %%\n", name.c_str(), model.c_str(), m["mean"].get<double>(),
                    m["std"].get<double>());
        if (m.contains("improvement_over_random")) {
          std::printf("%s %s: improvement over random %+.2f, gap to whole data %.2f\n", name.c_str(), model.c_str(),
                      m["improvement_over_random"].get<double>(), m["gap_to_whole"].get<double>());
        }
      }
    }
  });
}

}  // namespace ddkit::cli
