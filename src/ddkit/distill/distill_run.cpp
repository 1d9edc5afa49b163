#include "ddkit/distill/distill_run.h"

#include <chrono>

#include <spdlog/spdlog.h>

#include "ddkit/distill/baselines.h"
#include "ddkit/util/error.h"

namespace ddkit::distill {

data::ImageSet distill_set(const data::Dataset& data, const DistillOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  data::ImageSet set;
  if (options.method == "random") {
    RandomOptions random;
    random.ipc = options.ipc;
    random.pool_factor = options.pool_factor;
    random.seed = options.seed;
    set = select_random(data, random);
  } else if (options.method == "herding") {
    if (options.pool_factor != 1) throw Error("--pool-factor", "herding selects exactly ipc images per class");
    HerdingOptions herding;
    herding.ipc = options.ipc;
    herding.observer = options.observer;
    herding.observer.seed = options.seed;
    herding.observer.device = options.device;
    herding.observer.quiet = options.quiet;
    set = select_herding(data, herding);
  } else if (options.method == "diffusion") {
    auto generation = options.generation;
    generation.per_class = options.ipc * options.pool_factor;
    generation.observer = options.observer;
    generation.seed = options.seed;
    generation.device = options.device;
    generation.quiet = options.quiet;
    set = generative::generate_set(data, generation);
    set.meta["ipc"] = options.ipc;
    set.meta["pool_factor"] = options.pool_factor;
  } else {
    auto matching = options.matching;
    matching.method = options.method;
    matching.ipc = options.ipc;
    matching.pool_factor = options.pool_factor;
    matching.seed = options.seed;
    matching.device = options.device;
    matching.quiet = options.quiet;
    matching.out = options.out;
    return run_matching(data, matching);  // writes the set itself, with its own wall time
  }
  set.meta["wall_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  data::write_image_set(options.out, set, data);
  spdlog::info("wrote {} images ({} per class) to {}", set.size(), set.size() / data.num_classes,
               options.out.string());
  return set;
}

}  // namespace ddkit::distill
