// The field's evaluation protocol (docs/algorithms.md §3): train N freshly initialised
// models of each architecture on an image set, test each on the full test split,
// report mean ± std in percent; results.json per docs/design.md "File formats".
#pragma once
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ddkit/data/dataset.h"
#include "ddkit/data/image_set.h"
#include "ddkit/train/trainer.h"
#include "ddkit/util/run_settings.h"

namespace ddkit::dist {
class Context;
}

namespace ddkit::train {

// RunSettings: run r uses seed + r; resume skips the runs already recorded in
// <out>/results.partial.json; results.json is written to out (if not empty).
struct EvalOptions : RunSettings {
  std::vector<std::string> models = {"convnet"};
  int64_t runs = 5;
  // 300 epochs without augmentation (the DC setting) by default; the DSA
  // setting is dsa = true with 1000 epochs (EvalOptions::dsa_setting()).
  TrainOptions training;
  // Distributed runs: the runs go round by round, run r of a round on rank
  // (r - first) % W; the accuracies are gathered after each round and rank 0
  // writes results(.partial).json. Null: a world of one.
  std::shared_ptr<dist::Context> world;
  // Reference accuracies per model ({model: {"random": %, "whole": %, ...}},
  // from pipeline::reference_accuracies); when set, results.json carries them
  // as "baselines" and each model's improvement_over_random and gap_to_whole.
  nlohmann::json baselines;

  static EvalOptions dsa_setting();
};

struct ModelResult {
  std::string model;
  std::vector<double> accuracies;  // percent, one per run
  double mean = 0, std = 0;        // population std (numpy's default, as the reference reports)
  double wall_seconds = 0;
};

struct EvalResult {
  std::vector<ModelResult> models;
  double wall_seconds = 0;
  nlohmann::json to_json(const EvalOptions& options, const std::string& set_description) const;
};

EvalResult evaluate_image_set(const data::ImageSet& set, const data::Dataset& data, const EvalOptions& options,
                              const std::string& set_description = "");

// The lr `set` is trained with (docs/algorithms.md §3): `explicit_lr` when > 0, else
// the lr its method learned (MTT's meta.json "learned_lr", carried over by DGS
// sampling), else the protocol's 0.01.
double evaluation_lr(const data::ImageSet& set, double explicit_lr = 0.0);

// The training settings that change an evaluation's accuracies (epochs, lr,
// momentum, weight decay, batch, DSA, seed, lr decay): what must match for a
// partial result to be resumed, and part of a cached reference's key.
nlohmann::json protocol_json(const EvalOptions& options);

// DD-Ranking's metrics beside accuracy, into one model's result (which has
// "mean"): improvement_over_random = mean − baselines[model]["random"],
// gap_to_whole = baselines[model]["whole"] − mean (each when known).
void add_metrics(nlohmann::json& model_result, const nlohmann::json& baselines, const std::string& model);

// mean and population std of a list.
std::pair<double, double> mean_std(const std::vector<double>& values);

}  // namespace ddkit::train
