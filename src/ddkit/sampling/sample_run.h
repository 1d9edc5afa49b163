// `ddkit sample`: DGS (docs/algorithms.md §10) on an image set used as a pool — from
// ddkit or a plain PNG class-folder tree from another tool.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ddkit/data/dataset.h"
#include "ddkit/data/image_set.h"
#include "ddkit/sampling/dgs.h"
#include "ddkit/train/observer.h"

namespace ddkit::sampling {

struct SampleRunOptions {
  std::filesystem::path pool_dir;
  int64_t ipc = 10;
  std::string target = "original";  // original | ground | hill | slope | cliff | FILE.json | random
  int64_t repeat = 1;               // R selections, seeds seed ... seed + R - 1
  uint64_t seed = 0;
  bool rescore = false;                 // ignore scores in the pool's metadata.jsonl
  std::string original_scores_file;     // metadata.jsonl of `ddkit score --split train`
  train::ObserverOptions observer;      // scores what has none (prob)
  std::filesystem::path out;            // R = 1: the set; R > 1: out/repeat-<r>/
};

struct SampleRunResult {
  std::vector<data::ImageSet> sets;     // one per repeat
  std::vector<nlohmann::json> sampling;  // sampling.json of each
  at::Tensor pool_scores;                // prob scores of the pool (double)
  std::vector<std::vector<double>> original_by_class;
};

SampleRunResult run_sampling(const data::Dataset& data, const SampleRunOptions& options);

// The images a selection picked, as indices into the pool: class c's positions
// map through members[c] (the pool indices of class c, in the order its scores
// were given to select_classes). Logs the warning of every degenerate class.
std::vector<int64_t> selected_pool_indices(const std::vector<ClassSelection>& selections,
                                           const std::vector<std::vector<int64_t>>& members);

// The training split's prob scores per class (DGS's "original" distribution,
// also DAG's): read from `file` (metadata.jsonl of `ddkit score --split train`)
// when given, else scored now with `observer` (which may be null only then).
std::vector<std::vector<double>> original_scores_by_class(const data::Dataset& data, models::ClassifierImpl* observer,
                                                          const std::string& file);

}  // namespace ddkit::sampling
