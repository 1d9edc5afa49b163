#include "ddkit/distill/matching_run.h"

#include <chrono>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "ddkit/data/tensor_io.h"
#include "ddkit/distill/baselines.h"
#include "ddkit/distill/sdc.h"
#include "ddkit/train/device.h"
#include "ddkit/train/rng.h"
#include "ddkit/util/atomic_file.h"
#include "ddkit/util/error.h"
#include "ddkit/util/progress.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ddkit::distill {
namespace {

// Every setting that shapes the result (meta.json; a checkpoint must match it).
json settings_json(const MatchingRunOptions& o, int64_t iterations) {
  json s = {{"method", o.method}, {"ipc", o.ipc}, {"pool_factor", o.pool_factor},
            {"iterations", iterations}, {"init", o.init}, {"seed", o.seed}};
  if (o.method == "dm") {
    s.update({{"batch_real", o.dm.batch_real}, {"lr_images", o.dm.lr_images}, {"momentum", o.dm.momentum},
              {"dsa", o.dm.dsa}, {"dsa_strategy", o.dm.dsa ? o.dm.dsa_options.strategy : ""}, {"model", o.dm.model},
              {"sdc_lambda", o.dm.sdc_lambda}});
  } else {
    s.update({{"outer_loop", o.dc.outer_loop}, {"inner_loop", o.dc.inner_loop}, {"lr_images", o.dc.lr_images},
              {"momentum", o.dc.momentum}, {"lr_net", o.dc.lr_net}, {"batch_real", o.dc.batch_real},
              {"batch_train", o.dc.batch_train}, {"dsa", o.dc.dsa},
              {"dsa_strategy", o.dc.dsa ? o.dc.dsa_options.strategy : ""}, {"model", o.dc.model},
              {"sdc_lambda", o.dc.sdc_lambda}});
  }
  return s;
}

// The method's options with the published defaults that depend on the run
// filled in: DC/DSA loops for the IPC [ddkit: the final IPC's, also for pools],
// DSA on for "dsa", no flip for digit data (the DSA paper's MNIST strategy).
MatchingRunOptions resolved(const data::Dataset& data, MatchingRunOptions o) {
  if (o.method != "dm" && o.method != "dc" && o.method != "dsa") {
    throw Error("--method", "unknown matching method '" + o.method + "'");
  }
  if (o.method != "dm") {
    o.dc.dsa = o.method == "dsa";
    if (o.dc.outer_loop <= 0 || o.dc.inner_loop <= 0) {
      const auto [outer, inner] = dc_loops(o.ipc);
      if (o.dc.outer_loop <= 0) o.dc.outer_loop = outer;
      if (o.dc.inner_loop <= 0) o.dc.inner_loop = inner;
    }
  }
  if (data.name == "mnist") {
    o.dm.dsa_options.strategy = augment::strategy_without_flip(o.dm.dsa_options.strategy);
    o.dc.dsa_options.strategy = augment::strategy_without_flip(o.dc.dsa_options.strategy);
  }
  const double lambda = o.sdc_lambda >= 0 ? o.sdc_lambda : default_sdc_lambda(o.method, o.ipc);
  o.dm.sdc_lambda = lambda;
  o.dc.sdc_lambda = lambda;
  if (o.iterations < 0) o.iterations = o.method == "dm" ? 20000 : 1000;
  return o;
}

fs::path checkpoint_dir(const fs::path& out) {
  fs::path dir = out;
  if (dir.filename().empty()) dir = dir.parent_path();
  dir += ".checkpoint";
  return dir;
}

}  // namespace

uint64_t iteration_seed(uint64_t seed, int64_t iteration) {
  return seed * 1000003ULL + static_cast<uint64_t>(iteration);
}

data::ImageSet run_matching(const data::Dataset& data, const MatchingRunOptions& requested) {
  const auto options = resolved(data, requested);
  if (options.init != "real" && options.init != "noise") throw Error("--init", "must be real or noise");
  const auto device = train::parse_device(options.device);
  const int64_t per_class = options.ipc * options.pool_factor;
  const auto start_time = std::chrono::steady_clock::now();

  // Initialisation: distinct real images per class (a pool's images are
  // distinct too), or Gaussian noise.
  RandomOptions init;
  init.ipc = options.ipc;
  init.pool_factor = options.pool_factor;
  init.seed = options.seed;
  auto initial = select_random(data, init);
  if (options.init == "noise") {
    initial.images = at::randn(initial.images.sizes(), train::make_generator(options.seed), at::kFloat);
  }
  const auto settings = settings_json(options, options.iterations);
  const auto ckpt = checkpoint_dir(options.out);
  int64_t first_iteration = 0;
  at::Tensor start_images = initial.images, start_velocity;
  std::error_code ec;
  if (options.resume && fs::exists(ckpt / "state.json", ec)) {
    const auto bytes = read_file_bytes(ckpt / "state.json");
    const auto state = json::parse(bytes.begin(), bytes.end(), nullptr, false);
    if (state.is_discarded() || state.value("settings", json()) != settings) {
      throw Error((ckpt / "state.json").string(), "was written with other settings; remove it or drop --resume");
    }
    first_iteration = state.at("iteration").get<int64_t>();
    start_images = data::load_tensor(ckpt / "images.pt");
    start_velocity = data::load_tensor(ckpt / "velocity.pt");
    spdlog::info("resuming {} at iteration {}", options.method, first_iteration);
  }
  std::unique_ptr<MatchingDistiller> owned;
  if (options.method == "dm") {
    owned = std::make_unique<DmDistiller>(data, start_images.to(device), per_class, options.dm);
  } else {
    owned = std::make_unique<DcDistiller>(data, start_images.to(device), per_class, options.dc);
  }
  MatchingDistiller& distiller = *owned;
  if (start_velocity.defined()) distiller.set_velocity(start_velocity.to(device));

  ProgressOptions progress_options;
  progress_options.quiet = options.quiet;
  Progress progress(options.method, options.iterations - first_iteration, progress_options);
  auto save_checkpoint = [&](int64_t next_iteration) {
    fs::create_directories(ckpt);
    data::save_tensor(ckpt / "images.pt", distiller.images());
    data::save_tensor(ckpt / "velocity.pt", distiller.velocity());
    write_file_atomic(ckpt / "state.json", json{{"iteration", next_iteration}, {"settings", settings}}.dump(2));
  };
  json losses = json::array();
  const int64_t last = options.stop_after > 0 ? std::min(options.iterations, first_iteration + options.stop_after)
                                             : options.iterations;
  for (int64_t it = first_iteration; it < last; ++it) {
    const double loss = distiller.step(iteration_seed(options.seed, it));
    if (it % 10 == 0) losses.push_back({it, loss});
    progress.advance(1, fmt::format("loss {:.4f}", loss));
    if (options.checkpoint_every > 0 && (it + 1) % options.checkpoint_every == 0 && it + 1 < options.iterations) {
      save_checkpoint(it + 1);
    }
  }
  progress.finish();
  if (last < options.iterations) {
    save_checkpoint(last);
    spdlog::info("stopped after iteration {} of {}; --resume continues from {}", last, options.iterations,
                 ckpt.string());
    return {};
  }

  data::ImageSet set;
  set.images = distiller.images().detach().to(at::kCPU);
  set.labels = initial.labels;
  set.meta = settings;
  set.meta["initial_source_indices"] = initial.meta["source_indices"];
  set.meta["loss_every_10"] = losses;
  set.meta["resumed_from"] = first_iteration;
  set.meta["wall_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
  data::write_image_set(options.out, set, data);
  fs::remove_all(ckpt, ec);
  return set;
}

}  // namespace ddkit::distill
