#include "ddkit/distill/distill_run.h"

#include <chrono>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "ddkit/dist/context.h"
#include "ddkit/distill/baselines.h"
#include "ddkit/util/error.h"

namespace fs = std::filesystem;

namespace ddkit::distill {
namespace {

// A matching method's pool of independent runs: run k distils at plain IPC
// with seed + k into pool_run_dir(out, k) (reused under --resume once
// written), then the runs are joined class by class into out.
data::ImageSet distill_runs_pool(const data::Dataset& data, const DistillOptions& options,
                                 const MatchingRunOptions& matching) {
  std::vector<data::ImageSet> runs;
  nlohmann::json run_dirs = nlohmann::json::array();
  double seconds = 0;
  for (int64_t k = 0; k < options.pool_factor; ++k) {
    const auto dir = pool_run_dir(options.out, k);
    std::error_code ec;
    data::ImageSet run;
    if (options.resume && fs::exists(dir / "meta.json", ec)) {
      spdlog::info("pool run {}/{}: reusing {}", k + 1, options.pool_factor, dir.string());
      run = data::read_image_set(dir, data);
    } else {
      spdlog::info("pool run {}/{} (seed {})", k + 1, options.pool_factor, options.seed + k);
      auto m = matching;
      m.pool_factor = 1;
      m.seed = options.seed + static_cast<uint64_t>(k);
      m.out = dir;
      run = run_matching(data, m);
      if (run.size() == 0) return {};  // --stop-after: the run's checkpoint holds its state
    }
    seconds += run.meta.value("wall_seconds", 0.0);
    run_dirs.push_back(dir.string());
    runs.push_back(std::move(run));
  }
  // Class by class (as a joint pool is ordered): class c of run 0, of run 1, ...
  std::vector<at::Tensor> images, labels;
  for (int64_t c = 0; c < data.num_classes; ++c) {
    for (const auto& run : runs) {
      const auto rows = run.labels.eq(c).nonzero().squeeze(1);
      images.push_back(run.images.index_select(0, rows));
      labels.push_back(run.labels.index_select(0, rows));
    }
  }
  data::ImageSet pool;
  pool.images = at::cat(images);
  pool.labels = at::cat(labels);
  pool.meta = runs.front().meta;
  for (const char* key : {"loss_every_10", "initial_source_indices", "resumed_from", "learned_lr"}) pool.meta.erase(key);
  pool.meta["pool_mode"] = "runs";
  pool.meta["pool_factor"] = options.pool_factor;
  pool.meta["runs"] = run_dirs;
  pool.meta["seeds"] = {options.seed, options.seed + static_cast<uint64_t>(options.pool_factor) - 1};
  pool.meta["wall_seconds"] = seconds;  // the runs' own times, summed
  if (!dist::is_root(matching.world)) return pool;
  data::write_image_set(options.out, pool, data);
  spdlog::info("wrote a pool of {} runs ({} images per class) to {}", options.pool_factor,
               pool.size() / data.num_classes, options.out.string());
  return pool;
}

}  // namespace

PoolMode parse_pool_mode(const std::string& name) {
  if (name == "runs") return PoolMode::runs;
  if (name == "joint") return PoolMode::joint;
  throw Error("--pool-mode", "must be runs or joint, not '" + name + "'");
}

std::string pool_mode_name(PoolMode mode) { return mode == PoolMode::runs ? "runs" : "joint"; }

fs::path pool_run_dir(const fs::path& out, int64_t k) {
  fs::path dir = out;
  if (dir.filename().empty()) dir = dir.parent_path();
  dir += ".runs";
  return dir / fmt::format("run-{}", k);
}

data::ImageSet distill_set(const data::Dataset& data, const DistillOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  data::ImageSet set;
  if (options.method == Method::random) {
    // The real images a matching method would start from (random, or the DGS
    // pick of --init dgs), not distilled.
    if (options.matching.init == Init::noise) throw Error("--init", "random selects real images: --init real or dgs");
    auto start = options.matching;
    start.ipc = options.ipc;
    start.pool_factor = options.pool_factor;
    start.settings() = options.nested();
    start.observer = options.observer;
    set = initial_set(data, start);
    if (start.init == Init::dgs) {
      set.meta["method"] = "random";
      set.meta["init"] = "dgs";
      set.meta["init_target"] = start.init_target;
    }
  } else if (options.method == Method::herding) {
    if (options.pool_factor != 1) throw Error("--pool-factor", "herding selects exactly ipc images per class");
    HerdingOptions herding;
    herding.ipc = options.ipc;
    herding.observer = options.observer;
    herding.observer.settings() = options.nested();
    set = select_herding(data, herding);
  } else if (options.method == Method::diffusion) {
    auto generation = options.generation;
    generation.per_class = options.ipc * options.pool_factor;
    generation.observer = options.observer;
    generation.settings() = options.nested();
    set = generative::generate_set(data, generation);
    set.meta["ipc"] = options.ipc;
    set.meta["pool_factor"] = options.pool_factor;
  } else {
    auto matching = options.matching;
    matching.method = options.method;
    matching.ipc = options.ipc;
    matching.pool_factor = options.pool_factor;
    matching.settings() = options.nested(options.out);
    matching.observer = options.observer;  // --init dgs
    if (options.pool_factor > 1 && options.pool_mode == PoolMode::runs) {
      return distill_runs_pool(data, options, matching);
    }
    return run_matching(data, matching);  // writes the set itself, with its own wall time
  }
  set.meta["wall_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  data::write_image_set(options.out, set, data);
  spdlog::info("wrote {} images ({} per class) to {}", set.size(), set.size() / data.num_classes,
               options.out.string());
  return set;
}

}  // namespace ddkit::distill
