#include "common.h"
#include "ddkit/generative/train_generator.h"

namespace ddkit::cli {

void add_sampler_flags(CLI::App& command, generative::SamplerOptions& o, const std::string& prefix,
                       const std::string& what) {
  command
      .add_option_function<std::string>(
          "--" + prefix + "solver", [&o](const std::string& name) { o.solver = generative::parse_solver(name); },
          what + ": sampler, dpm2m (DPM-Solver++ 2M) | ddim")
      ->option_text("dpm2m|ddim (default " + to_string(o.solver) + ")");
  command.add_option("--" + prefix + "steps", o.steps, what + ": sampling steps (network calls per image)")
      ->capture_default_str()
      ->check(at_least(1));
  command.add_option("--" + prefix + "guidance", o.guidance, what + ": classifier-free guidance scale (1 = none)")
      ->capture_default_str()
      ->check(at_least(0));
}

// --steps, --batch, --lr, --channels, ... of the generator's training (`ddkit
// gen-train`; `ddkit pipeline --method diffusion` uses the same flags with a
// gen- prefix).
void add_gen_train_flags(CLI::App& command, generative::GenTrainOptions& o, const std::string& prefix) {
  const auto p = "--" + prefix;
  command.add_option(p + "steps", o.steps, "Training steps")->capture_default_str()->check(CLI::PositiveNumber);
  command.add_option(p + "batch", o.batch, "Training batch")->capture_default_str()->check(CLI::PositiveNumber);
  command.add_option(p + "lr", o.lr, "Adam learning rate (after a linear warm-up)")->capture_default_str()
      ->check(greater_than(0));
  command.add_option(p + "warmup", o.warmup, "Linear lr warm-up steps")->capture_default_str()->check(at_least(0));
  command.add_option(p + "channels", o.unet.channels, "UNet base width")->capture_default_str()->check(CLI::PositiveNumber);
  command.add_option(p + "channel-mult", o.unet.channel_mult, "UNet width multiplier per level (levels halve the size)")
      ->delimiter(',')
      ->capture_default_str();
  command.add_option(p + "res-blocks", o.unet.res_blocks, "UNet residual blocks per level (one count, or one per level)")
      ->delimiter(',')
      ->capture_default_str();
  command.add_option(p + "attention-levels", o.unet.attention_levels,
                     "UNet levels with self-attention after every block (0 = full size; the middle always has one)")
      ->delimiter(',');
  command.add_option(p + "embedding-silu", o.unet.embedding_silu,
                     "UNet: SiLU before each block's embedding Linear (ADM; false: the former ddkit UNet)")
      ->capture_default_str();
  command.add_option(p + "upsample-to-level-width", o.unet.upsample_to_level_width,
                     "UNet: up-sampling convolution maps to the finer level's width (false: the former ddkit UNet)")
      ->capture_default_str();
  command
      .add_option_function<std::string>(
          p + "schedule", [&o](const std::string& name) { o.schedule.kind = generative::parse_schedule_kind(name); },
          "Noise schedule: cosine | linear")
      ->option_text("cosine|linear (default " + to_string(o.schedule.kind) + ")");
  command
      .add_option_function<std::string>(
          p + "prediction", [&o](const std::string& name) { o.schedule.prediction = generative::parse_prediction(name); },
          "What the UNet predicts: v | eps")
      ->option_text("v|eps (default " + to_string(o.schedule.prediction) + ")");
  command.add_option(p + "min-snr-gamma", o.min_snr_gamma, "Min-SNR loss weighting gamma (0 = unweighted)")
      ->capture_default_str()
      ->check(at_least(0));
  command.add_option(p + "ema-decay", o.ema_decay, "EMA decay of the saved weights (after the (1+n)/(10+n) ramp)")
      ->capture_default_str();
  command.add_option(p + "checkpoint-every", o.checkpoint_every, "Steps between checkpoints")->capture_default_str()
      ->check(at_least(1));
  command.add_option(p + "fid-every", o.fid_every,
                     "Steps between FID checks of the EMA weights (a multiple of --checkpoint-every; 0 = off)")
      ->capture_default_str()
      ->check(at_least(0));
  command.add_option(p + "fid-images", o.fid_images, "Images of each FID check (balanced over classes)")
      ->capture_default_str()
      ->check(at_least(2));
  add_sampler_flags(command, o.fid_sampler, prefix + "fid-", "FID checks");
}

void register_gen_train(CLI::App& app) {
  struct Options {
    CommonOptions common;
    generative::GenTrainOptions training;
  };
  auto options = std::make_shared<Options>();
  auto* command = app.add_subcommand("gen-train", "Train the class-conditional diffusion generator (docs/algorithms.md §11)");
  add_common_flags(*command, options->common);
  add_gen_train_flags(*command, options->training, "");
  command->add_flag("--resume", options->training.resume, "Continue from DIR/checkpoint.pt");
  command->add_option("--out", options->training.out, "Directory: model.pt (EMA weights), checkpoint.pt, train.json")
      ->required();
  command->callback([options] {
    lock_output(options->training.out, start_run(options->common));
    auto run = options->training;
    const auto data = load_data(options->common, /*load_test=*/run.fid_every > 0);
    apply_common(run, options->common);
    generative::train_generator(data, run);
  });
}

}  // namespace ddkit::cli
