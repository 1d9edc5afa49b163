// `ddkit pipeline`: the stages chained (docs/design.md "Library first") — distill a
// pool of pool_factor x ipc images per class, score the training split with an
// observer, DGS-sample ipc per class from the pool, and evaluate the sampled
// set beside the same method distilled at plain IPC. Every stage writes its own
// directory under `out`, so each can be inspected or rerun alone; report.html
// shows them all. For --method diffusion the pool is generated after the
// observer and the original scores (DAG needs both), from a generator given
// with --generator or trained as the first stage.
#pragma once
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "ddkit/data/dataset.h"
#include "ddkit/distill/distill_run.h"
#include "ddkit/generative/train_generator.h"
#include "ddkit/pipeline/reference_accuracy.h"
#include "ddkit/train/eval_protocol.h"
#include "ddkit/train/observer.h"
#include "ddkit/util/run_settings.h"

namespace ddkit::pipeline {

// RunSettings: resume reuses finished stages and continues unfinished ones;
// every stage writes its own directory under out.
struct PipelineOptions : RunSettings {
  distill::DistillOptions distill;  // method, ipc, pool_factor (default 5 in the CLI), method flags
  std::string target = "original";  // DGS target (docs/algorithms.md §10)
  train::ObserverOptions observer;  // scores difficulty (prob), trained once and saved as observer.pt
  std::string original_scores_file; // metadata.jsonl of `ddkit score --split train`; empty: scored here
  // "auto": the method's published protocol (docs/algorithms.md §3) — DSA setting
  // (1000 epochs with DSA) for dsa and dm, plain 300 epochs otherwise.
  std::string eval_protocol = "auto";  // auto | plain | dsa
  int64_t eval_epochs = 0;             // 0: the protocol's
  train::EvalOptions eval;             // models, runs
  // --method diffusion without --generator: the generator is trained first
  // (out/generator/, resumable) with these settings (docs/algorithms.md §11).
  generative::GenTrainOptions generator_training;
  bool compare_plain = true;           // also distill and evaluate the method at plain IPC
  // DD-Ranking's metrics (improvement over random, gap to whole data) from
  // cached reference accuracies at the run's IPC and protocol.
  bool baselines = false;
  ReferenceOptions references;         // whole-data budget and cache (ipc, eval filled in here)
};

// Runs every stage and writes out/results.json (also returned): per evaluated
// set (dgs, plain) the accuracy per model, and the wall time of every stage.
nlohmann::json run_pipeline(const data::Dataset& data, const PipelineOptions& options);

}  // namespace ddkit::pipeline
