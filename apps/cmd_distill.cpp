#include <chrono>

#include <spdlog/spdlog.h>

#include "common.h"
#include "ddkit/data/image_set.h"
#include "ddkit/distill/baselines.h"
#include "ddkit/distill/matching_run.h"
#include "ddkit/util/error.h"

namespace ddkit::cli {

void register_distill(CLI::App& app) {
  struct Options {
    CommonOptions common;
    std::string method = "random";
    int64_t ipc = 10;
    int64_t pool_factor = 1;
    std::string out;
    train::ObserverOptions observer;
    distill::MatchingRunOptions matching;
  };
  auto options = std::make_shared<Options>();
  auto* command = app.add_subcommand("distill", "Build a small image set (distilled, or a DGS pool)");
  add_common_flags(*command, options->common);
  command->add_option("--method", options->method, "random | herding | dc | dsa | dm")
      ->check(CLI::IsMember({"random", "herding", "dc", "dsa", "dm"}))
      ->capture_default_str();
  command->add_option("--ipc", options->ipc, "Images per class")->capture_default_str()->check(CLI::PositiveNumber);
  command->add_option("--pool-factor", options->pool_factor, "Write pool-factor x ipc images per class (random)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  add_observer_flags(*command, options->observer);  // herding's embedding
  // Matching methods (ALGORITHMS §5, §6); defaults are the published ones.
  auto& m = options->matching;
  command->add_option("--iterations", m.iterations, "Iterations (published: DM 20000, DC/DSA 1000)");
  command->add_option("--init", m.init, "real | noise")->capture_default_str();
  command->add_option("--lr-img", m.dm.lr_images, "DM: learning rate of the images")->capture_default_str();
  command->add_option("--batch-real", m.dm.batch_real, "Real images per class and step")->capture_default_str();
  command->add_option("--outer-loop", m.dc.outer_loop, "DC/DSA: outer loop (default: published for the IPC)");
  command->add_option("--inner-loop", m.dc.inner_loop, "DC/DSA: inner loop (default: published for the IPC)");
  command->add_option("--lr-img-dc", m.dc.lr_images, "DC/DSA: learning rate of the images")->capture_default_str();
  command->add_option("--sdc-lambda", m.sdc_lambda,
                      "SDC weight λ of the gradient-norm term (0 = off; default: ddkit's swept value for method and IPC)");
  command->add_option("--checkpoint-every", m.checkpoint_every, "Iterations between checkpoints")
      ->capture_default_str();
  command->add_flag("--resume", m.resume, "Continue from <out>.checkpoint/");
  command->add_option("--stop-after", m.stop_after, "Run at most N iterations now, checkpoint and stop");
  command->add_option("--out", options->out, "Image set directory to write")->required();
  command->callback([options] {
    start_run(options->common);
    const auto start = std::chrono::steady_clock::now();
    const auto data = load_data(options->common, /*load_test=*/false);
    data::ImageSet set;
    if (options->method == "random") {
      distill::RandomOptions random;
      random.ipc = options->ipc;
      random.pool_factor = options->pool_factor;
      random.seed = options->common.seed;
      set = distill::select_random(data, random);
    } else if (options->method != "herding") {
      auto matching = options->matching;
      matching.method = options->method;
      matching.ipc = options->ipc;
      matching.pool_factor = options->pool_factor;
      matching.seed = options->common.seed;
      matching.device = options->common.device;
      matching.quiet = options->common.quiet;
      matching.dc.batch_real = matching.dm.batch_real;
      matching.out = options->out;
      distill::run_matching(data, matching);  // writes the set itself (with its own wall time)
      return;
    } else {
      if (options->pool_factor != 1) throw Error("--pool-factor", "herding selects exactly ipc images per class");
      distill::HerdingOptions herding;
      herding.ipc = options->ipc;
      herding.observer = options->observer;
      herding.observer.seed = options->common.seed;
      herding.observer.device = options->common.device;
      herding.observer.quiet = options->common.quiet;
      set = distill::select_herding(data, herding);
    }
    set.meta["wall_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    data::write_image_set(options->out, set, data);
    spdlog::info("wrote {} images ({} per class) to {}", set.size(), set.size() / data.num_classes, options->out);
  });
}

}  // namespace ddkit::cli
