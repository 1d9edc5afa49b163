// `ddkit score`: score the training split or an image set and write
// metadata.jsonl (file_name, label, score), difficulty.svg (per-class
// histograms) and difficulty.json (per-class mean difficulty).
#pragma once
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ddkit/data/dataset.h"
#include "ddkit/difficulty/scores.h"

namespace ddkit::dist {
class Context;
}

namespace ddkit::difficulty {

struct ScoreRunOptions {
  ScoreOptions scoring;
  std::string set_dir;  // empty: the training split
  std::filesystem::path out;
  bool quiet = false;
  // Distributed runs: each rank scores a contiguous share of the images (whole
  // batches, as in one process; observers are trained identically on every
  // rank), rank 0 gathers the scores and writes. Null: a world of one.
  std::shared_ptr<dist::Context> world;
};

struct ScoreRunResult {
  std::vector<std::string> file_names;  // "train/<index>" for the training split
  at::Tensor labels;                     // int64 N
  at::Tensor scores;                     // float64 N
  std::vector<double> class_means;
  double seconds = 0;  // scoring time (observers included)
};

ScoreRunResult run_scoring(const data::Dataset& data, const ScoreRunOptions& options);

// Per-class lists of the scores (for histograms and DGS).
std::vector<std::vector<double>> scores_by_class(const at::Tensor& labels, const at::Tensor& scores,
                                                 int64_t num_classes);

}  // namespace ddkit::difficulty
