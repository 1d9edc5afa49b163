#include "ddkit/sampling/sample_run.h"

#include <cmath>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "ddkit/difficulty/score_run.h"
#include "ddkit/difficulty/scores.h"
#include "ddkit/report/histogram_svg.h"
#include "ddkit/sampling/dgs.h"
#include "ddkit/train/device.h"
#include "ddkit/util/error.h"

namespace ddkit::sampling {
namespace {

// Per-class original scores from a metadata.jsonl written by `ddkit score`.
// Per class, in DGS's transformed space T(.; b, t): the original scores (their
// own transform), the pool and the selected images (the pool's transform).
std::string transformed_histograms(const std::vector<ClassScores>& classes,
                                   const std::vector<ClassSelection>& selections, const data::Dataset& data) {
  std::vector<report::HistogramPanel> panels;
  for (size_t c = 0; c < selections.size(); ++c) {
    const auto& selection = selections[c];
    const auto& scores = classes[c];
    const LogTransform pool_transform{selection.bottom, selection.top, selection.top <= selection.bottom};
    std::vector<double> selected;
    for (int64_t i : selection.indices) selected.push_back(pool_transform.apply(scores.pool[static_cast<size_t>(i)]));
    report::HistogramPanel panel{fmt::format("{} {} (b={}, t={})", c, data.class_names.at(c), selection.b, selection.t), {}};
    if (!scores.original.empty()) {
      const LogTransform original{selection.original_bottom, selection.original_top,
                                  selection.original_top <= selection.original_bottom};
      panel.series.push_back({"original T(O)", original.apply(scores.original)});
    }
    panel.series.push_back({"pool T(P)", pool_transform.apply(scores.pool)});
    panel.series.push_back({"selected", selected});
    panels.push_back(std::move(panel));
  }
  report::HistogramOptions options;
  options.bins = kBins;
  options.x_label = "transformed prob difficulty";
  return report::histogram_svg(panels, options);
}

}  // namespace

SampleRunResult run_sampling(const data::Dataset& data, const SampleRunOptions& options) {
  if (options.repeat < 1) throw Error("--repeat", "must be >= 1");
  const Target target = parse_target(options.target);  // reject a bad target before any work
  auto pool = data::read_image_set(options.pool_dir, data);
  // Check the pool's size before any (costly) scoring.
  const auto members = data::indices_by_class(pool.labels, data.num_classes);
  for (size_t c = 0; c < members.size(); ++c) {
    if (static_cast<int64_t>(members[c].size()) < options.ipc) {
      throw Error(options.pool_dir.string(), fmt::format("class {} has {} pool images, fewer than ipc {}", c,
                                                         members[c].size(), options.ipc));
    }
  }
  SampleRunResult result;

  const bool pool_scored = pool.scores.defined() && !at::isnan(pool.scores).any().item<bool>();
  const bool need_pool_scores = options.rescore || !pool_scored;
  const bool need_original = target.kind == "original" && options.original_scores_file.empty();
  std::shared_ptr<models::ClassifierImpl> observer;
  if (need_pool_scores || need_original) observer = train::obtain_observer(data, options.observer);
  const auto device = train::parse_device(options.observer.device);
  if (need_pool_scores) {
    spdlog::info("scoring the pool ({} images) with prob", pool.size());
    result.pool_scores = difficulty::model_scores(*observer, pool.images.to(device), pool.labels.to(device),
                                                  difficulty::Scorer::kProb);
  } else {
    result.pool_scores = pool.scores.to(at::kDouble);
  }
  if (target.kind == "original") {
    result.original_by_class = original_scores_by_class(data, observer.get(), options.original_scores_file);
  } else {
    result.original_by_class.assign(static_cast<size_t>(data.num_classes), {});
  }

  // Positions of each class in the pool (members), and its scores in the same order.
  std::vector<ClassScores> classes;
  result.pool_scores = result.pool_scores.contiguous();
  const double* pool_scores = result.pool_scores.data_ptr<double>();
  for (int64_t c = 0; c < data.num_classes; ++c) {
    ClassScores scores;
    scores.label = c;
    for (int64_t i : members[static_cast<size_t>(c)]) scores.pool.push_back(pool_scores[i]);
    scores.original = result.original_by_class[static_cast<size_t>(c)];
    classes.push_back(std::move(scores));
  }

  for (int64_t r = 0; r < options.repeat; ++r) {
    const uint64_t seed = options.seed + static_cast<uint64_t>(r);
    const auto selections = select_classes(classes, options.ipc, target, seed);
    const auto chosen = selected_pool_indices(selections, members);
    const auto index = at::tensor(chosen, at::kLong);
    data::ImageSet set;
    set.images = pool.images.index_select(0, index);  // the pool's exact tensors
    set.labels = pool.labels.index_select(0, index);
    set.scores = result.pool_scores.index_select(0, index);
    auto sampling_json = to_json(selections, target, options.ipc, seed);
    sampling_json["pool"] = options.pool_dir.string();
    set.meta = {{"method", "dgs"},
                {"ipc", options.ipc},
                {"target", options.target},
                {"seed", seed},
                {"pool", options.pool_dir.string()},
                {"pool_method", pool.meta.value("method", "unknown")},
                {"pool_indices", chosen}};
    if (pool.meta.contains("learned_lr")) set.meta["learned_lr"] = pool.meta["learned_lr"];
    const auto dir = options.repeat == 1 ? options.out : options.out / ("repeat-" + std::to_string(r));
    data::write_image_set(dir, set, data,
                          {{"sampling.json", sampling_json.dump(2) + "\n"},
                           {"difficulty.svg", transformed_histograms(classes, selections, data)}});
    result.sets.push_back(std::move(set));
    result.sampling.push_back(std::move(sampling_json));
  }
  return result;
}

std::vector<int64_t> selected_pool_indices(const std::vector<ClassSelection>& selections,
                                           const std::vector<std::vector<int64_t>>& members) {
  std::vector<int64_t> chosen;
  for (const auto& selection : selections) {
    if (selection.degenerate) spdlog::warn("class {}: {}", selection.label, selection.warning);
    for (int64_t position : selection.indices) {
      chosen.push_back(members[static_cast<size_t>(selection.label)][static_cast<size_t>(position)]);
    }
  }
  return chosen;
}

std::vector<std::vector<double>> original_scores_by_class(const data::Dataset& data, models::ClassifierImpl* observer,
                                                          const std::string& file) {
  if (!file.empty()) {
    std::vector<std::vector<double>> by_class(static_cast<size_t>(data.num_classes));
    for (const auto& entry : data::read_metadata(file)) {
      if (entry.label < 0 || entry.label >= data.num_classes) {
        throw Error(file, "entry '" + entry.file_name + "' has no label in range");
      }
      if (std::isnan(entry.score)) throw Error(file, "entry '" + entry.file_name + "' has no score");
      by_class[static_cast<size_t>(entry.label)].push_back(entry.score);
    }
    return by_class;
  }
  spdlog::info("scoring the training split ({} images) with prob", data.train.size());
  const auto device = observer->parameters().front().device();
  const auto scores = difficulty::model_scores(*observer, data.train.images.to(device), data.train.labels.to(device),
                                               difficulty::Scorer::kProb);
  return difficulty::scores_by_class(data.train.labels, scores, data.num_classes);
}

}  // namespace ddkit::sampling
