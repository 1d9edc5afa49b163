#include "ddkit/difficulty/score_run.h"

#include <chrono>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "ddkit/data/image_set.h"
#include "ddkit/dist/context.h"
#include "ddkit/report/histogram_svg.h"
#include "ddkit/util/atomic_file.h"

namespace fs = std::filesystem;

namespace ddkit::difficulty {

std::vector<std::vector<double>> scores_by_class(const at::Tensor& labels, const at::Tensor& scores,
                                                 int64_t num_classes) {
  std::vector<std::vector<double>> out(static_cast<size_t>(num_classes));
  const auto l = labels.to(at::kCPU, at::kLong).contiguous();
  const auto s = scores.to(at::kCPU, at::kDouble).contiguous();
  for (int64_t i = 0; i < l.numel(); ++i) {
    out[static_cast<size_t>(l.data_ptr<int64_t>()[i])].push_back(s.data_ptr<double>()[i]);
  }
  return out;
}

ScoreRunResult run_scoring(const data::Dataset& data, const ScoreRunOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  ScoreRunResult result;
  at::Tensor images;
  if (options.set_dir.empty()) {
    images = data.train.images;
    result.labels = data.train.labels;
    for (int64_t i = 0; i < data.train.size(); ++i) result.file_names.push_back("train/" + std::to_string(i));
  } else {
    auto set = data::read_image_set(options.set_dir, data);
    images = set.images;
    result.labels = set.labels;
    result.file_names = set.file_names;
  }
  // Each rank scores its share (boundaries at whole batches of model_scores'
  // default 500, so every batch is the one a single process scores); the
  // shares are summed into place, which is exact (the rest is zeros).
  // Forgetting scores come from one training run over the whole split: rank 0's.
  const auto& world = options.world;
  const int rank = dist::rank_of(world), ranks = dist::size_of(world);
  result.scores = at::zeros({images.size(0)}, at::kDouble);
  const bool whole = options.scoring.scorer == Scorer::kForgetting;
  const auto [begin, end] = whole ? std::pair<int64_t, int64_t>{0, rank == 0 ? images.size(0) : 0}
                                  : dist::share(images.size(0), rank, ranks, /*align=*/500);
  if (end > begin) {
    const bool all = begin == 0 && end == images.size(0);
    result.scores.narrow(0, begin, end - begin)
        .copy_(score_images(data, all ? images : images.narrow(0, begin, end - begin),
                            all ? result.labels : result.labels.narrow(0, begin, end - begin), options.scoring));
  }
  if (world) world->all_reduce_sum(result.scores);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const auto by_class = scores_by_class(result.labels, result.scores, data.num_classes);
  std::vector<report::HistogramPanel> panels;
  nlohmann::json summary = {{"scorer", scorer_name(options.scoring.scorer)},
                            {"observers", options.scoring.observers},
                            {"source", options.set_dir.empty() ? "train split" : options.set_dir},
                            {"seconds", result.seconds}};
  for (size_t c = 0; c < by_class.size(); ++c) {
    double sum = 0;
    for (double v : by_class[c]) sum += v;
    result.class_means.push_back(by_class[c].empty() ? 0.0 : sum / static_cast<double>(by_class[c].size()));
    summary["class_mean"][std::to_string(c)] = result.class_means.back();
    panels.push_back({fmt::format("{} {}", c, data.class_names.at(c)), {{"scores", by_class[c]}}});
  }
  std::vector<double> all(result.scores.data_ptr<double>(), result.scores.data_ptr<double>() + result.scores.numel());
  panels.push_back({"all classes", {{"scores", all}}});
  summary["mean"] = all.empty() ? 0.0 : result.scores.mean().item<double>();

  report::HistogramOptions histogram;
  const bool unit_range = options.scoring.scorer == Scorer::kProb;
  histogram.lo = 0.0;
  histogram.hi = unit_range ? 1.0 : std::max(1e-9, result.scores.max().item<double>());
  histogram.x_label = scorer_name(options.scoring.scorer);

  if (!dist::is_root(world)) return result;  // rank 0 writes the outputs
  // A fresh output directory appears whole; in an existing one (e.g. the image
  // set itself, to give a pool its scores) each file is replaced atomically.
  const bool fresh = !fs::exists(options.out);
  std::unique_ptr<StagedDirectory> staged;
  fs::path dir = options.out;
  if (fresh) {
    staged = std::make_unique<StagedDirectory>(options.out);
    dir = staged->path();
  }
  write_file_atomic(dir / "metadata.jsonl", data::metadata_jsonl(result.file_names, result.labels, result.scores));
  write_file_atomic(dir / "difficulty.svg", report::histogram_svg(panels, histogram));
  write_file_atomic(dir / "difficulty.json", summary.dump(2) + "\n");
  if (staged) staged->commit();
  return result;
}

}  // namespace ddkit::difficulty
