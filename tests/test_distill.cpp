#include <gtest/gtest.h>

#include <set>

#include <ATen/ATen.h>

#include "ddkit/data/registry.h"
#include "ddkit/distill/baselines.h"
#include "ddkit/util/error.h"
#include "fixtures.h"

using namespace ddkit;

namespace {
data::Dataset tiny_dataset() { return ddkit_test::tiny_mnist_dataset("distill_mnist"); }
}  // namespace

TEST(Herding, GreedyOrderOnHandMadeFeatures) {
  // 1-D features {0, 10, 4, 7}, mean 5.25. Step 1: |5.25 - x| is smallest for
  // x = 4 (1.25) -> row 2. Step 2: (4 + x)/2 closest to 5.25: 0 -> 2, 10 -> 7,
  // 7 -> 5.5 -> row 3. Step 3: (11 + x)/3: 0 -> 3.67 (1.58 away), 10 -> 7 (1.75) -> row 0.
  const auto features = at::tensor({0.0, 10.0, 4.0, 7.0}).view({4, 1});
  EXPECT_EQ(distill::herding_order(features, 3), (std::vector<int64_t>{2, 3, 0}));
}

TEST(Herding, SelectionMeanIsCloserThanRandom) {
  at::manual_seed(0);
  const auto features = at::randn({200, 8}, at::kDouble) + 3.0;
  const auto order = distill::herding_order(features, 5);
  const auto herded = features.index_select(0, at::tensor(order, at::kLong)).mean(0);
  const auto first = features.narrow(0, 0, 5).mean(0);
  const auto mu = features.mean(0);
  EXPECT_LT((herded - mu).norm().item<double>(), (first - mu).norm().item<double>());
  EXPECT_EQ(std::set<int64_t>(order.begin(), order.end()).size(), 5u);
}

TEST(RandomSelection, DistinctImagesPerClassAndReproducible) {
  const auto data = tiny_dataset();
  distill::RandomOptions options;
  options.ipc = 3;
  options.pool_factor = 2;
  options.seed = 4;
  const auto a = distill::select_random(data, options);
  const auto b = distill::select_random(data, options);
  ASSERT_EQ(a.size(), 60);
  EXPECT_TRUE(at::equal(a.images, b.images));
  EXPECT_EQ(at::bincount(a.labels).min().item<int64_t>(), 6);
  const auto indices = a.meta["source_indices"].get<std::vector<int64_t>>();
  EXPECT_EQ(std::set<int64_t>(indices.begin(), indices.end()).size(), 60u);
  for (size_t i = 0; i < indices.size(); ++i)
    EXPECT_EQ(data.train.labels[static_cast<int64_t>(indices[i])].item<int64_t>(), a.labels[static_cast<int64_t>(i)].item<int64_t>());
  options.seed = 5;
  EXPECT_FALSE(at::equal(a.images, distill::select_random(data, options).images));
}

TEST(RandomSelection, TooFewImagesIsAUserError) {
  const auto data = tiny_dataset();  // 20 images per class
  distill::RandomOptions options;
  options.ipc = 11;
  options.pool_factor = 2;
  EXPECT_THROW(distill::select_random(data, options), Error);
}

TEST(HerdingSelection, PicksIpcImagesPerClassWithATrainedObserver) {
  const auto data = tiny_dataset();
  distill::HerdingOptions options;
  options.ipc = 2;
  options.observer.model = "convnet-w32";
  options.observer.epochs = 1;
  options.observer.quiet = true;
  const auto set = distill::select_herding(data, options);
  EXPECT_EQ(set.size(), 20);
  EXPECT_EQ(at::bincount(set.labels).min().item<int64_t>(), 2);
  EXPECT_EQ(set.meta["method"], "herding");
}
