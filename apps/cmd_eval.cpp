#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common.h"
#include "ddkit/data/image_set.h"
#include "ddkit/pipeline/reference_accuracy.h"
#include "ddkit/train/eval_protocol.h"

namespace ddkit::cli {

void register_eval(CLI::App& app) {
  struct Options {
    CommonOptions common;
    std::string set;
    std::string out;
    std::vector<std::string> models = {"convnet"};
    int64_t epochs = 0;  // 0 = protocol default: 300, or 1000 with --dsa
    double lr = 0.0;     // 0 = 0.01, or the learned lr recorded in the set's meta.json
    train::EvalOptions eval;
    bool baselines = false;
    pipeline::ReferenceOptions references;
  };
  auto options = std::make_shared<Options>();
  auto* command = app.add_subcommand("eval", "Evaluate an image set with the standard protocol (N runs, mean ± std)");
  add_common_flags(*command, options->common);
  command->add_option("--set", options->set, "Image set directory")->required();
  command->add_option("--models", options->models, "Models, comma-separated (convnet,resnet18,...)")
      ->delimiter(',')
      ->capture_default_str();
  command->add_option("--runs", options->eval.runs, "Models trained per architecture")->capture_default_str()
      ->check(at_least(1));
  command->add_option("--epochs", options->epochs, "Training epochs (default 300, or 1000 with --dsa)")
      ->check(at_least(1));
  command->add_flag("--dsa", options->eval.training.dsa, "The DSA setting: DSA augmentation, 1000 epochs");
  command->add_option("--lr", options->lr, "Learning rate (default 0.01, or the set's learned lr)")
      ->check(greater_than(0));
  command->add_option("--batch", options->eval.training.batch_size, "Mini-batch size")->capture_default_str()
      ->check(at_least(1));
  command->add_flag("--resume", options->eval.resume, "Continue after the runs recorded in --out");
  add_baseline_flags(*command, options->baselines, options->references);
  command->add_option("--out", options->out, "Directory for results.json")->required();
  command->callback([options] {
    options->common.splits_work = true;  // by runs
    const auto world = start_run(options->common);
    lock_output(options->out, world);
    const auto data = load_data(options->common);
    const auto set = data::read_image_set(options->set, data);
    auto eval = options->eval;
    eval.models = options->models;
    eval.training.epochs = options->epochs > 0 ? options->epochs : (eval.training.dsa ? 1000 : 300);
    eval.training.lr = train::evaluation_lr(set, options->lr);
    apply_common(eval, options->common);
    eval.out = options->out;
    eval.world = world;
    if (options->baselines) {
      auto references = options->references;
      references.ipc = pipeline::set_ipc(set, data, options->set);
      references.eval = eval;
      eval.baselines = pipeline::references_json(pipeline::reference_accuracies(data, references), references.ipc);
    }
    const auto result = train::evaluate_image_set(set, data, eval, options->set);
    if (!world->root()) return;
    for (const auto& m : result.models) {
      std::printf("%s: %.2f ± %.2f %% (%zu runs, %s)\n", m.model.c_str(), m.mean, m.std, m.accuracies.size(),
                  fmt::format("{:.1f} s", m.wall_seconds).c_str());
      if (eval.baselines.contains(m.model)) {
        const auto& b = eval.baselines[m.model];
        std::printf("%s: improvement over random real (%.2f %%): %+.2f; gap to whole data (%.2f %%): %.2f\n",
                    m.model.c_str(), b["random"].get<double>(), m.mean - b["random"].get<double>(),
                    b["whole"].get<double>(), b["whole"].get<double>() - m.mean);
      }
    }
  });
}

}  // namespace ddkit::cli
