#include "common.h"
#include "ddkit/generative/train_generator.h"

namespace ddkit::cli {

// --steps, --batch, --lr, --channels, ... of the
// generator's training (`ddkit gen-train`; `ddkit pipeline --method diffusion`
// uses the same flags with a gen- prefix).
void add_gen_train_flags(CLI::App& command, generative::GenTrainOptions& o, const std::string& prefix) {
  command.add_option("--" + prefix + "steps", o.steps, "Training steps")->capture_default_str()->check(CLI::PositiveNumber);
  command.add_option("--" + prefix + "batch", o.batch, "Training batch")->capture_default_str()->check(CLI::PositiveNumber);
  command.add_option("--" + prefix + "lr", o.lr, "Adam learning rate (after a linear warm-up)")->capture_default_str();
  command.add_option("--" + prefix + "channels", o.channels, "UNet base width")->capture_default_str()->check(CLI::PositiveNumber);
  command.add_option("--" + prefix + "channel-mult", o.channel_mult, "UNet width multiplier per level (levels halve the size)")
      ->delimiter(',')
      ->capture_default_str();
  command.add_option("--" + prefix + "ema-decay", o.ema_decay, "EMA decay of the saved weights")->capture_default_str();
  command.add_option("--" + prefix + "checkpoint-every", o.checkpoint_every, "Steps between checkpoints")->capture_default_str();
}

void register_gen_train(CLI::App& app) {
  struct Options {
    CommonOptions common;
    generative::GenTrainOptions training;
  };
  auto options = std::make_shared<Options>();
  auto* command = app.add_subcommand("gen-train", "Train the class-conditional diffusion generator (DDPM, ALGORITHMS §11)");
  add_common_flags(*command, options->common);
  add_gen_train_flags(*command, options->training, "");
  command->add_flag("--resume", options->training.resume, "Continue from DIR/checkpoint.pt");
  command->add_option("--out", options->training.out, "Directory: model.pt (EMA weights), checkpoint.pt, train.json")
      ->required();
  command->callback([options] {
    start_run(options->common);
    const auto data = load_data(options->common, /*load_test=*/false);
    auto run = options->training;
    run.seed = options->common.seed;
    run.device = options->common.device;
    run.quiet = options->common.quiet;
    generative::train_generator(data, run);
  });
}

}  // namespace ddkit::cli
