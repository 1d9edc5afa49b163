#include "ddkit/distill/baselines.h"

#include <limits>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "ddkit/train/rng.h"
#include "ddkit/util/error.h"

namespace ddkit::distill {
namespace {

void require_class_sizes(const data::Dataset& data, const std::vector<std::vector<int64_t>>& by_class,
                         int64_t needed) {
  for (size_t c = 0; c < by_class.size(); ++c) {
    if (static_cast<int64_t>(by_class[c].size()) < needed) {
      throw Error(data.spec, fmt::format("class {} has {} training images, fewer than the {} requested",
                                         c, by_class[c].size(), needed));
    }
  }
}

data::ImageSet gather(const data::Dataset& data, const std::vector<int64_t>& indices) {
  const auto index = at::tensor(indices, at::kLong);
  data::ImageSet set;
  set.images = data.train.images.index_select(0, index);
  set.labels = data.train.labels.index_select(0, index);
  return set;
}

}  // namespace

data::ImageSet select_random(const data::Dataset& data, const RandomOptions& options) {
  if (options.ipc < 1 || options.pool_factor < 1) throw Error("--ipc", "ipc and pool factor must be >= 1");
  const int64_t per_class = options.ipc * options.pool_factor;
  const auto by_class = data::indices_by_class(data.train.labels, data.num_classes);
  require_class_sizes(data, by_class, per_class);
  auto generator = train::make_generator(options.seed);
  std::vector<int64_t> chosen;
  for (const auto& members : by_class) {
    const auto order = at::randperm(static_cast<int64_t>(members.size()), generator, at::kLong);
    for (int64_t i = 0; i < per_class; ++i) chosen.push_back(members[static_cast<size_t>(order[i].item<int64_t>())]);
  }
  auto set = gather(data, chosen);
  set.meta = {{"method", options.pool_factor > 1 ? "random-pool" : "random"},
              {"ipc", options.ipc},
              {"pool_factor", options.pool_factor},
              {"images_per_class", per_class},
              {"seed", options.seed},
              {"source_indices", chosen}};
  return set;
}

std::vector<int64_t> herding_order(const at::Tensor& features, int64_t count) {
  const auto f = features.to(at::kDouble);
  const auto mu = f.mean(0);
  auto running_sum = at::zeros_like(mu);
  auto taken = at::zeros({f.size(0)}, at::kBool);
  std::vector<int64_t> order;
  for (int64_t k = 0; k < count; ++k) {
    // Distance of the class mean to the selection's mean if row i were added.
    auto distance = (mu - (running_sum + f) / static_cast<double>(k + 1)).norm(2, {1});
    distance.masked_fill_(taken, std::numeric_limits<double>::infinity());
    const int64_t best = distance.argmin().item<int64_t>();
    order.push_back(best);
    taken[best] = true;
    running_sum += f[best];
  }
  return order;
}

data::ImageSet select_herding(const data::Dataset& data, const HerdingOptions& options) {
  if (options.ipc < 1) throw Error("--ipc", "ipc must be >= 1");
  const auto by_class = data::indices_by_class(data.train.labels, data.num_classes);
  require_class_sizes(data, by_class, options.ipc);
  auto observer = train::obtain_observer(data, options.observer);
  const auto device = observer->parameters().front().device();
  const auto features = train::embed_all(*observer, data.train.images.to(device)).to(at::kCPU);
  std::vector<int64_t> chosen;
  for (const auto& members : by_class) {
    const auto class_features = features.index_select(0, at::tensor(members, at::kLong));
    for (int64_t row : herding_order(class_features, options.ipc)) chosen.push_back(members[static_cast<size_t>(row)]);
  }
  auto set = gather(data, chosen);
  set.meta = {{"method", "herding"},
              {"ipc", options.ipc},
              {"seed", options.observer.seed},
              {"observer", options.observer.model_file.empty() ? options.observer.model : options.observer.model_file},
              {"observer_epochs", options.observer.epochs},
              {"source_indices", chosen}};
  return set;
}

}  // namespace ddkit::distill
