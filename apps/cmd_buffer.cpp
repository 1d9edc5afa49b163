#include <spdlog/spdlog.h>

#include "common.h"
#include "ddkit/distill/buffer.h"

namespace ddkit::cli {

void register_buffer(CLI::App& app) {
  struct Options {
    CommonOptions common;
    distill::BufferOptions buffer;
  };
  auto options = std::make_shared<Options>();
  auto* command = app.add_subcommand("buffer", "Train MTT expert trajectories (docs/algorithms.md §7)");
  add_common_flags(*command, options->common);
  auto& b = options->buffer;
  command->add_option("--experts", b.experts, "Number of experts (reference: 100)")->capture_default_str()
      ->check(at_least(1));
  command->add_option("--epochs", b.epochs, "Epochs per expert; parameters saved after each (reference: 50)")
      ->capture_default_str()
      ->check(at_least(1));
  command->add_option("--lr", b.lr, "SGD learning rate (no momentum, no weight decay, constant)")->capture_default_str()
      ->check(greater_than(0));
  command->add_option("--batch", b.batch_size, "Mini-batch size")->capture_default_str()
      ->check(at_least(1));
  command->add_option("--width", b.width, "ConvNet width")->capture_default_str()
      ->check(at_least(1));
  command->add_option("--depth", b.depth, "ConvNet depth")->capture_default_str()
      ->check(at_least(1));
  auto* o = options.get();
  command->add_flag_callback("--no-dsa", [o] { o->buffer.dsa = false; }, "Train without DSA augmentation");
  command->add_flag_callback("--no-test", [o] { o->buffer.test_every_epoch = false; },
                             "Skip the test accuracy after each epoch");
  command->add_flag("--resume", b.resume, "Keep the finished experts in --out (same settings; may add experts)");
  command->add_option("--stop-after", b.stop_after, "Train at most N experts now and stop")
      ->check(at_least(0));
  command->add_option("--out", b.out, "Buffer directory")->required();
  command->callback([options] {
    options->common.splits_work = true;  // by experts
    const auto world = start_run(options->common);
    lock_output(options->buffer.out, world);
    const auto data = load_data(options->common, /*load_test=*/options->buffer.test_every_epoch);
    auto run = options->buffer;
    run.world = world;
    apply_common(run, options->common);
    distill::build_buffer(data, run);
    spdlog::info("buffer in {}", run.out.string());
  });
}

}  // namespace ddkit::cli
