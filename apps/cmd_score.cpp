#include <spdlog/spdlog.h>

#include "common.h"
#include "ddkit/difficulty/score_run.h"
#include "ddkit/util/error.h"

namespace ddkit::cli {

void add_observer_flags(CLI::App& command, train::ObserverOptions& observer) {
  command.add_option("--observer", observer.model_file, "Observer model.pt from `ddkit train`");
  command.add_option("--observer-model", observer.model, "Observer to train if no --observer")->capture_default_str();
  command.add_option("--observer-epochs", observer.epochs, "Epochs of an observer trained here")
      ->capture_default_str()
      ->check(at_least(0));
}

void register_score(CLI::App& app) {
  struct Options {
    CommonOptions common;
    std::string scorer = "prob";
    std::string split;
    difficulty::ScoreRunOptions run;
  };
  auto options = std::make_shared<Options>();
  auto* command = app.add_subcommand("score", "Score sample difficulty of the training split or an image set");
  add_common_flags(*command, options->common);
  command->add_option("--scorer", options->scorer, "prob | el2n | grand | grand-last | forgetting")
      ->capture_default_str();
  auto* set = command->add_option("--set", options->run.set_dir, "Image set directory to score");
  command->add_option("--split", options->split, "train: score the real training split")
      ->check(CLI::IsMember({"train"}))
      ->excludes(set);
  command->add_option("--observers", options->run.scoring.observers, "K observers to average over")
      ->capture_default_str()
      ->check(at_least(1));
  add_observer_flags(*command, options->run.scoring.observer);
  command->add_option("--out", options->run.out, "Output directory (may be the image set itself)")->required();
  command->callback([options] {
    if (options->split.empty() && options->run.set_dir.empty()) {
      throw Error("--set", "give --set DIR or --split train");
    }
    options->common.splits_work = true;  // by samples
    const auto world = start_run(options->common);
    lock_output(options->run.out, world);
    const auto data = load_data(options->common, /*load_test=*/false);
    auto run = options->run;
    run.world = world;
    run.scoring.scorer = difficulty::parse_scorer(options->scorer);
    apply_common(run.scoring.observer, options->common);
    const auto result = difficulty::run_scoring(data, run);
    spdlog::info("scored {} images with {} in {:.1f} s; mean difficulty per class:", result.scores.numel(),
                 options->scorer, result.seconds);
    if (!world->root()) return;
    for (size_t c = 0; c < result.class_means.size(); ++c) {
      std::printf("%zu %-12s %.4f\n", c, data.class_names[c].c_str(), result.class_means[c]);
    }
  });
}

}  // namespace ddkit::cli
