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
  const auto method = o.distill.method;
  const bool dsa = o.eval_protocol == "dsa" ||
                   (o.eval_protocol == "auto" && (method == distill::Method::dsa || method == distill::Method::dm));
  if (o.eval_protocol != "auto" && o.eval_protocol != "plain" && o.eval_protocol != "dsa") {
    throw Error("--eval-protocol", "must be auto, plain or dsa, not '" + o.eval_protocol + "'");
  }
  auto eval = o.eval;
  eval.training.dsa = dsa;
  eval.training.epochs = o.eval_epochs > 0 ? o.eval_epochs : (dsa ? 1000 : 300);
  eval.settings() = o.nested();  // out: each set's eval-<name>/
  return eval;
}

// One pipeline run: its stages in order (docs/design.md "Library first"), each
// writing its own directory under out and skipped under --resume once done.
class PipelineRun {
 public:
  PipelineRun(const data::Dataset& data, const PipelineOptions& options)
      : data_(data), o_(options), eval_(eval_options(options)), observer_(options.observer),
        generator_file_(options.distill.generation.generator_file),
        generative_(options.distill.method == distill::Method::diffusion),
        dgs_init_((distill::is_matching(options.distill.method) || options.distill.method == distill::Method::random) &&
                  options.distill.matching.init == distill::Init::dgs),
        runs_pool_(distill::is_matching(options.distill.method) && options.distill.pool_factor > 1 &&
                   options.distill.pool_mode == distill::PoolMode::runs) {}

  json run() {
    fs::create_directories(o_.out);
    // 1. The pool: the method distilled at pool_factor x ipc per class. The
    // generative pool (DAG, §11) and a DGS-initialised one (--init dgs) wait
    // for the observer and the original scores.
    const bool pool_needs_scores = generative_ || dgs_init_;
    if (generative_ && generator_file_.empty()) train_generator_stage();
    if (!pool_needs_scores) pool_stage();
    observer_stage();
    score_original_stage();
    if (pool_needs_scores) pool_stage();
    score_pool_stage();
    sample_stage();
    if (o_.compare_plain) plain_stage();
    if (o_.baselines) baselines_stage();
    json sets = json::object();
    sets["dgs"] = evaluate_stage("dgs", dgs_dir());
    if (o_.compare_plain) sets["plain"] = evaluate_stage("plain", o_.out / "plain");
    return write_results(sets);
  }

 private:
  fs::path pool_dir() const { return o_.out / "pool"; }
  fs::path dgs_dir() const { return o_.out / "dgs"; }

  // Runs a stage unless --resume finds its finished output (`done_file`).
  void stage(const std::string& name, const fs::path& done_file, const std::function<void()>& body) {
    std::error_code ec;
    if (o_.resume && fs::exists(done_file, ec)) {
      spdlog::info("pipeline: {} already done ({}), reused", name, done_file.string());
      stages_[name] = {{"reused", true}};
      return;
    }
    spdlog::info("pipeline: {}", name);
    const auto start = std::chrono::steady_clock::now();
    body();
    stages_[name] = {{"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()}};
  }

  // 0. The generator (docs/algorithms.md §11), trained on the training split
  // when --method diffusion comes without --generator.
  void train_generator_stage() {
    const auto generator_dir = o_.out / "generator";
    stage("gen-train", generator_dir / "train.json", [&] {
      auto training = o_.generator_training;
      training.settings() = o_.nested(generator_dir);
      generative::train_generator(data_, training);
    });
    generator_file_ = generator_dir / "model.pt";
  }

  // The distill stage's options: the pipeline's method and settings, the
  // generator and DAG's inputs for diffusion, the original scores for --init dgs.
  distill::DistillOptions distill_options(int64_t pool_factor, const fs::path& dir) const {
    auto d = o_.distill;
    if (generative_) {
      d.generation.generator_file = generator_file_;
      d.generation.dag_target = o_.target;
      d.generation.original_scores_file = original_scores_.string();
      d.observer = observer_;  // DAG's observer is the pipeline's
    }
    if (dgs_init_ && d.matching.init_scores_file.empty()) d.matching.init_scores_file = original_scores_.string();
    d.pool_factor = pool_factor;
    d.settings() = o_.nested(dir);
    return d;
  }

  void distill_into(const distill::DistillOptions& d) {
    if (distill::distill_set(data_, d).size() == 0) throw Error(d.out.string(), "distillation stopped early");
  }

  // 1. The pool: the method at pool_factor x ipc per class.
  void pool_stage() {
    stage("distill-pool", pool_dir() / "meta.json",
          [&] { distill_into(distill_options(o_.distill.pool_factor, pool_dir())); });
  }

  // 6. For comparison: the method at plain IPC from random real images (the
  // control of --init dgs too). A runs pool's run 0 is exactly that set
  // (same seed and settings), so it is copied instead of distilled again.
  void plain_stage() {
    const auto plain_dir = o_.out / "plain";
    if (runs_pool_ && !dgs_init_) {
      stage("distill-plain", plain_dir / "meta.json", [&] {
        const auto run0 = distill::pool_run_dir(pool_dir(), 0);
        spdlog::info("pipeline: plain is the pool's run 0 ({})", run0.string());
        fs::remove_all(plain_dir);
        fs::copy(run0, plain_dir, fs::copy_options::recursive);
      });
      return;
    }
    stage("distill-plain", plain_dir / "meta.json", [&] {
      auto d = distill_options(1, plain_dir);
      d.matching.init = distill::Init::real;
      distill_into(d);
    });
  }

  // 2. The observer (prob scores): a given model file, or one trained once
  // on the training split and kept as observer.pt for the later stages.
  void observer_stage() {
    observer_.settings() = o_.nested();
    if (!observer_.model_file.empty()) return;
    const auto observer_file = o_.out / "observer.pt";
    stage("observer", observer_file, [&] {
      auto model = train::obtain_observer(data_, observer_);
      train::ModelInfo info;
      info.model_name = observer_.model;
      info.shape = {data_.channels, data_.height, data_.width};
      info.num_classes = data_.num_classes;
      info.dataset = data_.spec;
      info.extra = {{"epochs", observer_.epochs}, {"seed", o_.seed}};
      train::save_model(observer_file, *model, info);
    });
    observer_.model_file = observer_file.string();
  }

  // 3. Difficulty of the training split (DGS's "original" distribution).
  void score_original_stage() {
    original_scores_ = o_.original_scores_file;
    if (!original_scores_.empty()) return;
    const auto scores_dir = o_.out / "original-scores";
    original_scores_ = scores_dir / "metadata.jsonl";
    stage("score-original", original_scores_, [&] { score(scores_dir, ""); });
  }

  // 4. Difficulty of the pool, written into its metadata.jsonl (DGS and the
  // report read it from there).
  void score_pool_stage() {
    stage("score-pool", pool_dir() / "difficulty.json", [&] { score(pool_dir(), pool_dir().string()); });
  }

  void score(const fs::path& out, const std::string& set_dir) {
    difficulty::ScoreRunOptions score;
    score.scoring.observer = observer_;
    score.set_dir = set_dir;
    score.out = out;
    score.quiet = o_.quiet;
    difficulty::run_scoring(data_, score);
  }

  // 5. DGS: ipc per class from the pool.
  void sample_stage() {
    stage("sample-dgs", dgs_dir() / "sampling.json", [&] {
      sampling::SampleRunOptions sample;
      sample.pool_dir = pool_dir();
      sample.ipc = o_.distill.ipc;
      sample.target = o_.target;
      sample.seed = o_.seed;
      sample.original_scores_file = original_scores_.string();
      sample.observer = observer_;
      sample.out = dgs_dir();
      sampling::run_sampling(data_, sample);
    });
  }

  // 7. Reference accuracies for the metrics (cached across runs).
  void baselines_stage() {
    stage("baselines", {}, [&] {
      auto references = o_.references;
      references.ipc = o_.distill.ipc;
      references.eval = eval_;
      eval_.baselines = references_json(reference_accuracies(data_, references), references.ipc);
    });
  }

  // 7. A set evaluated under the pipeline's protocol and seeds; returns its results.json.
  json evaluate_stage(const std::string& name, const fs::path& dir) {
    const auto eval_dir = o_.out / ("eval-" + name);
    stage("eval-" + name, eval_dir / "results.json", [&] {
      auto e = eval_;
      e.out = eval_dir;
      const auto set = data::read_image_set(dir, data_);
      e.training.lr = train::evaluation_lr(set);  // MTT's learned lr, as `ddkit eval`
      train::evaluate_image_set(set, data_, e, dir.string());
    });
    const auto bytes = read_file_bytes(eval_dir / "results.json");
    auto results = json::parse(bytes.begin(), bytes.end());
    // The metrics also for an evaluation reused from before --baselines was given.
    for (auto& [model, m] : results["models"].items()) train::add_metrics(m, eval_.baselines, model);
    return results;
  }

  // results.json, then (8.) the HTML report of everything above.
  json write_results(json& sets) {
    json results = {{"dataset", data_.spec},
                    {"method", distill::method_name(o_.distill.method)},
                    {"ipc", o_.distill.ipc},
                    {"pool_factor", o_.distill.pool_factor},
                    {"pool_mode", distill::pool_mode_name(o_.distill.pool_mode)},
                    {"init", distill::init_name(o_.distill.matching.init)},
                    {"target", o_.target},
                    {"seed", o_.seed},
                    {"stages", stages_},
                    {"sets", sets},
                    {"units", "percent"}};
    if (o_.baselines) results["baselines"] = eval_.baselines;
    if (o_.compare_plain) {
      json gain = json::object();
      for (auto& [model, r] : sets["dgs"]["models"].items()) {
        if (sets["plain"]["models"].contains(model)) {
          gain[model] = r["mean"].get<double>() - sets["plain"]["models"][model]["mean"].get<double>();
        }
      }
      results["dgs_minus_plain"] = gain;
    }
    write_file_atomic(o_.out / "results.json", results.dump(2));
    spdlog::info("pipeline: report {}", report::write_run_report(o_.out, data_).string());
    for (const auto& [name, r] : sets.items()) {
      for (const auto& [model, m] : r["models"].items()) {
        spdlog::info("pipeline: {} {}: {:.2f} ± {:.2f} %", name, model, m["mean"].get<double>(),
                     m["std"].get<double>());
      }
    }
    return results;
  }

  const data::Dataset& data_;
  const PipelineOptions& o_;
  train::EvalOptions eval_;
  train::ObserverOptions observer_;
  fs::path generator_file_;   // diffusion: given, or trained by train_generator_stage
  fs::path original_scores_;  // set before a generative pool is made (DAG needs it)
  const bool generative_;
  const bool dgs_init_;   // --init dgs: the pool's real initialisation picked by DGS
  const bool runs_pool_;  // a matching pool of independent runs
  json stages_ = json::object();
};

}  // namespace

json run_pipeline(const data::Dataset& data, const PipelineOptions& options) {
  if (options.out.empty()) throw Error("--out", "the pipeline needs an output directory");
  if (options.distill.pool_factor < 1) throw Error("--pool-factor", "must be >= 1");
  PipelineRun run(data, options);  // a bad --eval-protocol fails here,
  sampling::parse_target(options.target);  // a bad target here: both before any work
  return run.run();
}

}  // namespace ddkit::pipeline
