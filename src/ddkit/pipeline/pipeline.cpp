#include "ddkit/pipeline/pipeline.h"

#include <chrono>
#include <functional>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "ddkit/data/image_set.h"
#include "ddkit/difficulty/score_run.h"
#include "ddkit/report/run_report.h"
#include "ddkit/sampling/dgs.h"
#include "ddkit/sampling/sample_run.h"
#include "ddkit/train/model_io.h"
#include "ddkit/util/atomic_file.h"
#include "ddkit/util/error.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ddkit::pipeline {
namespace {

// The evaluation settings of the pipeline's sets: the method's protocol
// (docs/algorithms.md §3) unless one is forced.
train::EvalOptions eval_options(const PipelineOptions& o) {
  const std::string& method = o.distill.method;
  const bool dsa = o.eval_protocol == "dsa" || (o.eval_protocol == "auto" && (method == "dsa" || method == "dm"));
  if (o.eval_protocol != "auto" && o.eval_protocol != "plain" && o.eval_protocol != "dsa") {
    throw Error("--eval-protocol", "must be auto, plain or dsa, not '" + o.eval_protocol + "'");
  }
  auto eval = o.eval;
  eval.training.dsa = dsa;
  eval.training.epochs = o.eval_epochs > 0 ? o.eval_epochs : (dsa ? 1000 : 300);
  eval.seed = o.seed;
  eval.device = o.device;
  eval.quiet = o.quiet;
  eval.resume = o.resume;
  return eval;
}

}  // namespace

json run_pipeline(const data::Dataset& data, const PipelineOptions& options) {
  if (options.out.empty()) throw Error("--out", "the pipeline needs an output directory");
  if (options.distill.pool_factor < 1) throw Error("--pool-factor", "must be >= 1");
  auto eval = eval_options(options);
  sampling::parse_target(options.target);  // a bad target fails before any work
  fs::create_directories(options.out);
  json stages = json::object();
  // Runs a stage unless --resume finds its finished output (`done_file`).
  auto stage = [&](const std::string& name, const fs::path& done_file, const std::function<void()>& body) {
    std::error_code ec;
    if (options.resume && fs::exists(done_file, ec)) {
      spdlog::info("pipeline: {} already done ({}), reused", name, done_file.string());
      stages[name] = {{"reused", true}};
      return;
    }
    spdlog::info("pipeline: {}", name);
    const auto start = std::chrono::steady_clock::now();
    body();
    stages[name] = {{"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()}};
  };
  fs::path generator_file = options.distill.generation.generator_file;  // diffusion
  fs::path original_scores;  // set below, before a generative pool is made
  train::ObserverOptions observer = options.observer;
  auto distill_options = [&](int64_t pool_factor, const fs::path& dir) {
    auto d = options.distill;
    if (d.method == "diffusion") {
      d.generation.generator_file = generator_file;
      d.generation.dag_target = options.target;
      d.generation.original_scores_file = original_scores.string();
      d.observer = observer;  // DAG's observer is the pipeline's
    }
    d.pool_factor = pool_factor;
    d.seed = options.seed;
    d.device = options.device;
    d.quiet = options.quiet;
    d.matching.resume = options.resume;
    d.out = dir;
    return d;
  };

  // 1. The pool: the method distilled at pool_factor x ipc per class. The
  // generative pool waits for the observer and the original scores (DAG, §11).
  const bool generative = options.distill.method == "diffusion";
  const auto pool_dir = options.out / "pool";
  auto make_pool = [&] {
    stage("distill-pool", pool_dir / "meta.json", [&] {
      if (distill::distill_set(data, distill_options(options.distill.pool_factor, pool_dir)).size() == 0) {
        throw Error(pool_dir.string(), "distillation stopped early");
      }
    });
  };
  if (generative && options.distill.generation.generator_file.empty()) {
    // 0. The generator (docs/algorithms.md §11), trained on the training split.
    const auto generator_dir = options.out / "generator";
    stage("gen-train", generator_dir / "train.json", [&] {
      auto training = options.generator_training;
      training.seed = options.seed;
      training.device = options.device;
      training.quiet = options.quiet;
      training.resume = options.resume;
      training.out = generator_dir;
      generative::train_generator(data, training);
    });
    generator_file = generator_dir / "model.pt";
  }
  if (!generative) make_pool();

  // 2. The observer (prob scores): a given model file, or one trained once
  // on the training split and kept as observer.pt for the later stages.
  observer.seed = options.seed;
  observer.device = options.device;
  observer.quiet = options.quiet;
  if (observer.model_file.empty()) {
    const auto observer_file = options.out / "observer.pt";
    stage("observer", observer_file, [&] {
      auto model = train::obtain_observer(data, observer);
      train::ModelInfo info;
      info.model_name = observer.model;
      info.shape = {data.channels, data.height, data.width};
      info.num_classes = data.num_classes;
      info.dataset = data.spec;
      info.extra = {{"epochs", observer.epochs}, {"seed", options.seed}};
      train::save_model(observer_file, *model, info);
    });
    observer.model_file = observer_file.string();
  }

  // 3. Difficulty of the training split (DGS's "original" distribution).
  const auto scores_dir = options.out / "original-scores";
  original_scores = options.original_scores_file;
  if (original_scores.empty()) {
    original_scores = scores_dir / "metadata.jsonl";
    stage("score-original", original_scores, [&] {
      difficulty::ScoreRunOptions score;
      score.scoring.observer = observer;
      score.out = scores_dir;
      score.quiet = options.quiet;
      difficulty::run_scoring(data, score);
    });
  }

  if (generative) make_pool();

  // 4. Difficulty of the pool, written into its metadata.jsonl (DGS and the
  // report read it from there).
  stage("score-pool", pool_dir / "difficulty.json", [&] {
    difficulty::ScoreRunOptions score;
    score.scoring.observer = observer;
    score.set_dir = pool_dir.string();
    score.out = pool_dir;
    score.quiet = options.quiet;
    difficulty::run_scoring(data, score);
  });

  // 5. DGS: ipc per class from the pool.
  const auto dgs_dir = options.out / "dgs";
  stage("sample-dgs", dgs_dir / "sampling.json", [&] {
    sampling::SampleRunOptions sample;
    sample.pool_dir = pool_dir;
    sample.ipc = options.distill.ipc;
    sample.target = options.target;
    sample.seed = options.seed;
    sample.original_scores_file = original_scores.string();
    sample.observer = observer;
    sample.out = dgs_dir;
    sampling::run_sampling(data, sample);
  });

  // 6. For comparison: the same method at plain IPC.
  const auto plain_dir = options.out / "plain";
  if (options.compare_plain) {
    stage("distill-plain", plain_dir / "meta.json", [&] {
      if (distill::distill_set(data, distill_options(1, plain_dir)).size() == 0) {
        throw Error(plain_dir.string(), "distillation stopped early");
      }
    });
  }

  // 7. Reference accuracies for the metrics (cached across runs), then the
  // evaluation of each set under the same protocol and seeds.
  if (options.baselines) {
    stage("baselines", {}, [&] {
      auto references = options.references;
      references.ipc = options.distill.ipc;
      references.eval = eval;
      eval.baselines = references_json(reference_accuracies(data, references), references.ipc);
    });
  }
  json sets = json::object();
  std::vector<std::pair<std::string, fs::path>> to_evaluate = {{"dgs", dgs_dir}};
  if (options.compare_plain) to_evaluate.emplace_back("plain", plain_dir);
  for (const auto& [name, dir] : to_evaluate) {
    const auto eval_dir = options.out / ("eval-" + name);
    stage("eval-" + name, eval_dir / "results.json", [&] {
      auto e = eval;
      e.out_dir = eval_dir;
      const auto set = data::read_image_set(dir, data);
      e.training.lr = train::evaluation_lr(set);  // MTT's learned lr, as `ddkit eval`
      train::evaluate_image_set(set, data, e, dir.string());
    });
    const auto bytes = read_file_bytes(eval_dir / "results.json");
    sets[name] = json::parse(bytes.begin(), bytes.end());
    // The metrics also for an evaluation reused from before --baselines was given.
    for (auto& [model, m] : sets[name]["models"].items()) train::add_metrics(m, eval.baselines, model);
  }

  json results = {{"dataset", data.spec},
                  {"method", options.distill.method},
                  {"ipc", options.distill.ipc},
                  {"pool_factor", options.distill.pool_factor},
                  {"target", options.target},
                  {"seed", options.seed},
                  {"stages", stages},
                  {"sets", sets},
                  {"units", "percent"}};
  if (options.baselines) results["baselines"] = eval.baselines;
  if (options.compare_plain) {
    json gain = json::object();
    for (auto& [model, r] : sets["dgs"]["models"].items()) {
      if (sets["plain"]["models"].contains(model)) {
        gain[model] = r["mean"].get<double>() - sets["plain"]["models"][model]["mean"].get<double>();
      }
    }
    results["dgs_minus_plain"] = gain;
  }
  write_file_atomic(options.out / "results.json", results.dump(2));
  // 8. The HTML report of everything above.
  spdlog::info("pipeline: report {}", report::write_run_report(options.out, data).string());
  for (const auto& [name, r] : sets.items()) {
    for (const auto& [model, m] : r["models"].items()) {
      spdlog::info("pipeline: {} {}: {:.2f} ± {:.2f} %", name, model, m["mean"].get<double>(), m["std"].get<double>());
    }
  }
  return results;
}

}  // namespace ddkit::pipeline
