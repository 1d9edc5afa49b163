#include "ddkit/distill/matching_run.h"

#include <algorithm>
#include <chrono>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "ddkit/data/tensor_io.h"
#include "ddkit/dist/context.h"
#include "ddkit/distill/baselines.h"
#include "ddkit/distill/dgs_selection.h"
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
  json s = {{"method", method_name(o.method)}, {"ipc", o.ipc}, {"pool_factor", o.pool_factor},
            {"iterations", iterations}, {"init", init_name(o.init)}, {"seed", o.seed}};
  if (o.init == Init::dgs) {
    s["init_target"] = o.init_target;
    if (!o.init_scores_file.empty()) {
      s["init_scores"] = o.init_scores_file;
    } else {
      s["init_observer"] = {{"model_file", o.observer.model_file}, {"model", o.observer.model},
                            {"epochs", o.observer.epochs}};
    }
  }
  if (o.method == Method::dm) {
    s.update({{"batch_real", o.dm.batch_real}, {"lr_images", o.dm.lr_images}, {"momentum", o.dm.momentum},
              {"dsa", o.dm.dsa}, {"dsa_strategy", o.dm.dsa ? o.dm.dsa_options.strategy : ""}, {"model", o.dm.model},
              {"sdc_lambda", o.dm.sdc_lambda}});
  } else if (o.method == Method::mtt) {
    const auto& m = o.mtt;
    s.update({{"buffer", m.buffer.string()}, {"syn_steps", m.syn_steps}, {"expert_epochs", m.expert_epochs},
              {"max_start_epoch", m.max_start_epoch}, {"lr_images", m.lr_images}, {"lr_lr", m.lr_lr},
              {"lr_teacher", m.lr_teacher}, {"batch_syn", m.batch_syn}, {"momentum", m.momentum}, {"dsa", m.dsa},
              {"dsa_strategy", m.dsa ? m.dsa_options.strategy : ""}, {"model", "convnet"},
              {"full_graph", m.full_graph}, {"sdc_lambda", m.sdc_lambda}});
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
  if (!is_matching(o.method)) throw Error("--method", method_name(o.method) + " is not a matching method");
  if (o.method == Method::mtt) {
    // The reference CIFAR-10 row for the final IPC [ddkit: also for pools];
    // batch_syn 0 = all images; start epochs capped by the buffer's length.
    auto& m = o.mtt;
    if (m.buffer.empty()) throw Error("--buffer", "--method mtt needs --buffer DIR (from ddkit buffer)");
    const auto d = mtt_defaults(o.ipc);
    if (m.syn_steps <= 0) m.syn_steps = d.syn_steps;
    if (m.expert_epochs <= 0) m.expert_epochs = d.expert_epochs;
    if (m.max_start_epoch <= 0) m.max_start_epoch = d.max_start_epoch;
    if (m.lr_images < 0) m.lr_images = d.lr_images;
    if (m.lr_lr < 0) m.lr_lr = d.lr_lr;
    const int64_t per_class = o.ipc * o.pool_factor;
    if (m.batch_syn <= 0 || m.batch_syn > per_class * data.num_classes) m.batch_syn = per_class * data.num_classes;
    const auto buffer = open_buffer(m.buffer, data);
    const int64_t cap = buffer.epochs - m.expert_epochs + 1;
    if (cap < 1) {
      throw Error(m.buffer.string(), "has " + std::to_string(buffer.epochs) + " epochs per expert, fewer than " +
                                         std::to_string(m.expert_epochs) + " expert epochs");
    }
    if (m.max_start_epoch > cap) {
      spdlog::warn("max_start_epoch {} capped at {}: the buffer has {} epochs per expert", m.max_start_epoch, cap,
                   buffer.epochs);
      m.max_start_epoch = cap;
    }
  }
  if (o.method == Method::dc || o.method == Method::dsa) {
    o.dc.dsa = o.method == Method::dsa;
    if (o.dc.outer_loop <= 0 || o.dc.inner_loop <= 0) {
      const auto [outer, inner] = dc_loops(o.ipc);
      if (o.dc.outer_loop <= 0) o.dc.outer_loop = outer;
      if (o.dc.inner_loop <= 0) o.dc.inner_loop = inner;
    }
  }
  if (data.name == "mnist") {
    o.dm.dsa_options.strategy = augment::strategy_without_flip(o.dm.dsa_options.strategy);
    o.dc.dsa_options.strategy = augment::strategy_without_flip(o.dc.dsa_options.strategy);
    o.mtt.dsa_options.strategy = augment::strategy_without_flip(o.mtt.dsa_options.strategy);
  }
  const double lambda = o.sdc_lambda >= 0 ? o.sdc_lambda : default_sdc_lambda(o.method, o.ipc);
  o.dm.sdc_lambda = lambda;
  o.dm.world = o.dc.world = o.mtt.world = o.world;
  o.dc.sdc_lambda = lambda;
  o.mtt.sdc_lambda = lambda;
  if (o.iterations < 0) o.iterations = o.method == Method::dm ? 20000 : o.method == Method::mtt ? 5000 : 1000;
  for (const int64_t n : o.snapshots) {
    if (n <= 0 || n >= o.iterations) {
      throw Error("--snapshots", fmt::format("{} is not an iteration between 0 and --iterations ({})", n, o.iterations));
    }
  }
  return o;
}

// <out><suffix>: a folder beside out (out may end with a slash).
fs::path beside(const fs::path& out, const char* suffix) {
  fs::path dir = out;
  if (dir.filename().empty()) dir = dir.parent_path();
  dir += suffix;
  return dir;
}

fs::path checkpoint_dir(const fs::path& out) { return beside(out, ".checkpoint"); }

}  // namespace

data::ImageSet initial_set(const data::Dataset& data, const MatchingRunOptions& o) {
  if (o.init == Init::dgs) {
    DgsSelectionOptions dgs;
    dgs.per_class = o.ipc * o.pool_factor;
    dgs.target = o.init_target;
    dgs.scores_file = o.init_scores_file;
    dgs.observer = o.observer;
    dgs.observer.settings() = o.nested();
    dgs.seed = o.seed;
    return select_dgs(data, dgs);
  }
  RandomOptions init;
  init.ipc = o.ipc;
  init.pool_factor = o.pool_factor;
  init.seed = o.seed;
  auto initial = select_random(data, init);
  if (o.init == Init::noise) {
    initial.images = at::randn(initial.images.sizes(), train::make_generator(o.seed), at::kFloat);
  }
  return initial;
}

Init parse_init(const std::string& name) {
  if (name == "real") return Init::real;
  if (name == "noise") return Init::noise;
  if (name == "dgs") return Init::dgs;
  throw Error("--init", "must be real, noise or dgs, not '" + name + "'");
}

std::string init_name(Init init) {
  switch (init) {
    case Init::real: return "real";
    case Init::noise: return "noise";
    case Init::dgs: return "dgs";
  }
  return "real";
}

fs::path snapshot_dir(const fs::path& out, int64_t iteration) {
  return beside(out, ".snapshots") / fmt::format("it{}", iteration);
}

uint64_t iteration_seed(uint64_t seed, int64_t iteration) {
  return seed * 1000003ULL + static_cast<uint64_t>(iteration);
}

data::ImageSet run_matching(const data::Dataset& data, const MatchingRunOptions& requested) {
  const auto options = resolved(data, requested);
  const auto device = train::parse_device(options.device);
  const int64_t per_class = options.ipc * options.pool_factor;
  const auto start_time = std::chrono::steady_clock::now();

  auto initial = initial_set(data, options);
  const auto settings = settings_json(options, options.iterations);
  const auto ckpt = checkpoint_dir(options.out);
  int64_t first_iteration = 0;
  at::Tensor start_images = initial.images, start_velocity;
  json start_state;
  std::error_code ec;
  if (options.resume && fs::exists(ckpt / "state.json", ec)) {
    const auto bytes = read_file_bytes(ckpt / "state.json");
    const auto state = json::parse(bytes.begin(), bytes.end(), nullptr, false);
    if (!state.is_object() || state.value("settings", json()) != settings || !state.value("iteration", json()).is_number_integer()) {
      throw Error((ckpt / "state.json").string(), "was written with other settings; remove it or drop --resume");
    }
    first_iteration = state.at("iteration").get<int64_t>();
    start_images = data::load_tensor(ckpt / "images.pt");
    start_velocity = data::load_tensor(ckpt / "velocity.pt");
    start_state = state;
    spdlog::info("resuming {} at iteration {}", method_name(options.method), first_iteration);
  }
  std::unique_ptr<MatchingDistiller> owned;
  if (options.method == Method::dm) {
    owned = std::make_unique<DmDistiller>(data, start_images.to(device), per_class, options.dm);
  } else if (options.method == Method::mtt) {
    owned = std::make_unique<MttDistiller>(data, start_images.to(device), per_class, options.mtt,
                                           open_buffer(options.mtt.buffer, data));
  } else {
    owned = std::make_unique<DcDistiller>(data, start_images.to(device), per_class, options.dc);
  }
  MatchingDistiller& distiller = *owned;
  if (start_velocity.defined()) distiller.set_velocity(start_velocity.to(device));
  // MTT also learns its lr (with its own momentum): part of the state.
  auto* mtt = dynamic_cast<MttDistiller*>(owned.get());
  if (mtt && start_state.contains("learned_lr")) {
    mtt->set_lr_state(start_state.at("learned_lr").get<double>(), start_state.at("lr_velocity").get<double>());
  }

  ProgressOptions progress_options;
  progress_options.quiet = options.quiet;
  Progress progress(method_name(options.method), options.iterations - first_iteration, progress_options);
  // The loss log and the wall time so far are part of the state, so a resumed
  // run's meta.json covers every iteration and the whole run's time.
  const bool resumed = start_state.is_object();
  json losses = resumed ? start_state.value("loss_every_10", json::array()) : json::array();
  const double earlier_seconds = resumed ? start_state.value("wall_seconds", 0.0) : 0.0;
  auto seconds_so_far = [&] {
    return earlier_seconds + std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
  };
  auto save_checkpoint = [&](int64_t next_iteration) {
    if (!dist::is_root(options.world)) return;  // rank 0 writes (every rank holds the same state)
    fs::create_directories(ckpt);
    data::save_tensor(ckpt / "images.pt", distiller.images());
    data::save_tensor(ckpt / "velocity.pt", distiller.velocity());
    json state = {{"iteration", next_iteration},
                  {"settings", settings},
                  {"loss_every_10", losses},
                  {"wall_seconds", seconds_so_far()}};
    if (mtt) state.update({{"learned_lr", mtt->learned_lr()}, {"lr_velocity", mtt->lr_velocity()}});
    write_file_atomic(ckpt / "state.json", state.dump(2));
  };
  // The set as it stands after `iterations` iterations (the final one, or a snapshot's).
  auto current_set = [&](int64_t iterations) {
    data::ImageSet set;
    set.images = distiller.images().detach().to(at::kCPU);
    set.labels = initial.labels;
    set.meta = settings;
    set.meta["iterations"] = iterations;
    set.meta["initial_source_indices"] = initial.meta["source_indices"];
    set.meta["loss_every_10"] = losses;
    set.meta["resumed_from"] = first_iteration;
    if (mtt) set.meta["learned_lr"] = mtt->learned_lr();  // ddkit eval trains with it
    set.meta["wall_seconds"] = seconds_so_far();  // of every session of the run
    return set;
  };
  auto is_snapshot = [&](int64_t n) {
    return std::find(options.snapshots.begin(), options.snapshots.end(), n) != options.snapshots.end();
  };
  const int64_t last = options.stop_after > 0 ? std::min(options.iterations, first_iteration + options.stop_after)
                                             : options.iterations;
  for (int64_t it = first_iteration; it < last; ++it) {
    const double loss = distiller.step(iteration_seed(options.seed, it));
    if (it % 10 == 0) losses.push_back({it, loss});
    progress.advance(1, mtt ? fmt::format("loss {:.4f} lr {:.5f}", loss, mtt->learned_lr())
                            : fmt::format("loss {:.4f}", loss));
    if (is_snapshot(it + 1) && dist::is_root(options.world)) {
      auto snapshot = current_set(it + 1);
      snapshot.meta["snapshot_of"] = options.iterations;
      data::write_image_set(snapshot_dir(options.out, it + 1), snapshot, data);
    }
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

  auto set = current_set(options.iterations);
  if (!dist::is_root(options.world)) return set;
  data::write_image_set(options.out, set, data);
  fs::remove_all(ckpt, ec);
  return set;
}

}  // namespace ddkit::distill
