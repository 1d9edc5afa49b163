// Reference accuracies for the metrics beside accuracy (DD-Ranking, Li et al.
// 2025): "improvement over random" = accuracy − accuracy of random real images
// at the same IPC under the same protocol, and "gap to whole data" = accuracy
// of the same model trained on the whole training split − accuracy. Both
// references are computed once and cached on disk, keyed by everything that
// changes them, so every later `eval --baselines` reuses them.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "ddkit/data/dataset.h"
#include "ddkit/data/image_set.h"
#include "ddkit/train/eval_protocol.h"

namespace ddkit::pipeline {

struct ReferenceOptions {
  int64_t ipc = 10;  // random real images per class (the compared set's IPC)
  // The compared set's protocol: models, runs, epochs, DSA, seed, device, world.
  // The random-real reference uses it unchanged (lr 0.01: real images have no learned lr).
  train::EvalOptions eval;
  // Whole-data training [ddkit CPU budget: the papers train the whole split
  // with the full protocol; here a few epochs without augmentation, with the
  // protocol's optimiser and lr decay at half]. Published Fashion-MNIST
  // ConvNet: 93.5 % (docs/algorithms.md §3).
  int64_t whole_epochs = 5;
  int64_t whole_runs = 1;
  std::filesystem::path cache_dir;  // empty: default_reference_cache()
};

struct ReferenceAccuracy {
  double random_mean = 0, random_std = 0;
  int64_t random_runs = 0;
  double whole_mean = 0, whole_std = 0;
  int64_t whole_runs = 0, whole_epochs = 0;
};

// $DDKIT_CACHE_DIR, else $XDG_CACHE_HOME/ddkit/baselines, else ~/.cache/ddkit/baselines.
std::filesystem::path default_reference_cache();

// Per model of options.eval.models: the random-real and whole-data accuracies,
// read from the cache when present, else trained (and then cached by rank 0).
std::map<std::string, ReferenceAccuracy> reference_accuracies(const data::Dataset& data,
                                                              const ReferenceOptions& options);

// The references as results.json's "baselines" object (what EvalOptions::baselines takes):
// {model: {"random", "random_std", "random_runs", "ipc", "whole", "whole_std", "whole_runs", "whole_epochs"}}.
nlohmann::json references_json(const std::map<std::string, ReferenceAccuracy>& references, int64_t ipc);

// The IPC of a set for its random-real reference: its images per class, which
// must be equal for every class (ddkit::Error naming the set otherwise).
int64_t set_ipc(const data::ImageSet& set, const data::Dataset& data, const std::string& set_description);

}  // namespace ddkit::pipeline
