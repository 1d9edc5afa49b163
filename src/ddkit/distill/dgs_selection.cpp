#include "ddkit/distill/dgs_selection.h"

#include <cmath>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "ddkit/difficulty/scores.h"
#include "ddkit/sampling/dgs.h"
#include "ddkit/sampling/sample_run.h"
#include "ddkit/util/error.h"

namespace ddkit::distill {
namespace {

// "train/<i>" -> i, or -1 when the name is not of that form.
int64_t training_index(const std::string& name) {
  const std::string prefix = "train/";
  if (name.rfind(prefix, 0) != 0 || name.size() == prefix.size()) return -1;
  int64_t index = 0;
  for (size_t k = prefix.size(); k < name.size(); ++k) {
    if (name[k] < '0' || name[k] > '9' || index > (int64_t{1} << 40)) return -1;
    index = index * 10 + (name[k] - '0');
  }
  return index;
}

}  // namespace

at::Tensor training_split_scores(const data::Dataset& data, const DgsSelectionOptions& options) {
  const int64_t n = data.train.size();
  if (options.scores_file.empty()) {
    auto observer = train::obtain_observer(data, options.observer);
    spdlog::info("scoring the training split ({} images) with prob for --init dgs", n);
    const auto device = observer->parameters().front().device();
    return difficulty::model_scores(*observer, data.train.images.to(device), data.train.labels.to(device),
                                    difficulty::Scorer::kProb)
        .to(at::kCPU, at::kDouble);
  }
  const auto& file = options.scores_file;
  auto scores = at::full({n}, std::nan(""), at::kDouble);
  auto* s = scores.data_ptr<double>();
  const auto labels = data.train.labels.contiguous();
  const auto* label = labels.data_ptr<int64_t>();
  int64_t seen = 0;
  for (const auto& entry : data::read_metadata(file)) {
    const int64_t i = training_index(entry.file_name);
    if (i < 0 || i >= n) throw Error(file, fmt::format("entry '{}' is not an image of the training split", entry.file_name));
    if (!std::isnan(s[i])) throw Error(file, fmt::format("entry '{}' appears twice", entry.file_name));
    if (entry.label != label[i]) throw Error(file, fmt::format("entry '{}' has another label than the split", entry.file_name));
    if (!(entry.score >= 0 && entry.score <= 1)) throw Error(file, fmt::format("entry '{}' has no score in [0, 1]", entry.file_name));
    s[i] = entry.score;
    ++seen;
  }
  if (seen != n) throw Error(file, fmt::format("scores {} of the training split's {} images", seen, n));
  return scores;
}

data::ImageSet select_dgs(const data::Dataset& data, const DgsSelectionOptions& options) {
  if (options.per_class < 1) throw Error("--ipc", "must be >= 1");
  const auto target = sampling::parse_target(options.target);  // a bad target fails before any scoring
  const auto members = data::indices_by_class(data.train.labels, data.num_classes);
  for (int64_t c = 0; c < data.num_classes; ++c) {
    if (static_cast<int64_t>(members[static_cast<size_t>(c)].size()) < options.per_class) {
      throw Error("--ipc", fmt::format("class {} has fewer than {} training images", c, options.per_class));
    }
  }
  const auto scores = training_split_scores(data, options);
  const auto* s = scores.data_ptr<double>();
  // The pool of class c is its whole training split, so P and O are the same list.
  std::vector<sampling::ClassScores> classes;
  for (int64_t c = 0; c < data.num_classes; ++c) {
    sampling::ClassScores cs;
    cs.label = c;
    for (int64_t i : members[static_cast<size_t>(c)]) cs.pool.push_back(s[i]);
    cs.original = cs.pool;
    classes.push_back(std::move(cs));
  }
  const auto selections = sampling::select_classes(classes, options.per_class, target, options.seed);
  const auto chosen = sampling::selected_pool_indices(selections, members);
  const auto index = at::tensor(chosen, at::kLong);
  data::ImageSet set;
  set.images = data.train.images.index_select(0, index);
  set.labels = data.train.labels.index_select(0, index);
  set.scores = scores.index_select(0, index);
  set.meta = {{"method", "dgs-real"},
              {"target", options.target},
              {"source_indices", chosen},
              {"sampling", sampling::to_json(selections, target, options.per_class, options.seed)}};
  return set;
}

}  // namespace ddkit::distill
