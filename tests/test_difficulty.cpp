#include <gtest/gtest.h>

#include <fstream>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/nn/functional/loss.h>
#include <torch/nn/modules/linear.h>

#include "ddkit/data/image_set.h"
#include "ddkit/data/registry.h"
#include "ddkit/difficulty/score_run.h"
#include "ddkit/difficulty/scores.h"
#include "ddkit/models/factory.h"
#include "ddkit/util/error.h"
#include "fixtures.h"

using namespace ddkit;
namespace fs = std::filesystem;

namespace {

// A linear "model" with identity features and known logits: logits = W x.
class LinearProbe : public models::ClassifierImpl {
 public:
  explicit LinearProbe(at::Tensor weight) : linear_(register_module("fc", torch::nn::Linear(torch::nn::LinearOptions(weight.size(1), weight.size(0)).bias(false)))) {
    at::NoGradGuard no_grad;
    linear_->weight.copy_(weight);
  }
  at::Tensor embed(const at::Tensor& x) override { return x.flatten(1); }
  at::Tensor classify(const at::Tensor& f) override { return linear_->forward(f); }
  int64_t feature_dim() const override { return linear_->options.in_features(); }

 private:
  torch::nn::Linear linear_;
};

// Per-sample squared gradient norm the slow, obvious way.
double manual_grad_sq(models::ClassifierImpl& model, const at::Tensor& x, const at::Tensor& y) {
  const auto loss = torch::nn::functional::cross_entropy(model.forward(x), y);
  const auto grads = torch::autograd::grad({loss}, model.parameters(), {}, false, false, true);
  double sq = 0;
  for (const auto& g : grads)
    if (g.defined()) sq += g.pow(2).sum().item<double>();
  return sq;
}

data::Dataset tiny_dataset() { return ddkit_test::tiny_mnist_dataset("difficulty_mnist"); }

}  // namespace

TEST(Scores, ProbAndEl2nOnKnownProbabilities) {
  // Features x = (ln 1, ln 3) through W = I gives softmax (1/4, 3/4).
  auto model = std::make_shared<LinearProbe>(at::eye(2));
  const auto x = at::tensor({0.0f, std::log(3.0f), 0.0f, std::log(3.0f)}).view({2, 2});
  const auto y = at::tensor(std::vector<int64_t>{0, 1});
  const auto prob = difficulty::model_scores(*model, x, y, difficulty::Scorer::kProb);
  EXPECT_NEAR(prob[0].item<double>(), 0.75, 1e-6);  // 1 - 1/4
  EXPECT_NEAR(prob[1].item<double>(), 0.25, 1e-6);  // 1 - 3/4
  const auto el2n = difficulty::model_scores(*model, x, y, difficulty::Scorer::kEl2n);
  EXPECT_NEAR(el2n[0].item<double>(), std::sqrt(0.75 * 0.75 * 2), 1e-6);  // (1/4-1, 3/4)
  EXPECT_NEAR(el2n[1].item<double>(), std::sqrt(0.25 * 0.25 * 2), 1e-6);  // (1/4, 3/4-1)
}

TEST(Scores, GrandLastLayerMatchesAutogradOnTheLinearLayer) {
  // For a bias-free linear probe the last layer is the whole model; closed form
  // ||p - y|| * sqrt(||h||^2 + 1) includes a bias term, so compare squared norms minus it.
  at::manual_seed(1);
  auto model = std::make_shared<LinearProbe>(at::randn({3, 4}));
  const auto x = at::randn({5, 4});
  const auto y = at::tensor(std::vector<int64_t>{0, 1, 2, 1, 0});
  const auto closed = difficulty::model_scores(*model, x, y, difficulty::Scorer::kGrandLast);
  for (int64_t i = 0; i < 5; ++i) {
    const double weight_sq = manual_grad_sq(*model, x.narrow(0, i, 1), y.narrow(0, i, 1));
    const auto p = model->forward(x.narrow(0, i, 1)).softmax(1);
    const double bias_sq = (p - at::one_hot(y.narrow(0, i, 1), 3)).pow(2).sum().item<double>();
    EXPECT_NEAR(closed[i].item<double>(), std::sqrt(weight_sq + bias_sq), 1e-5);
  }
}

TEST(Scores, BatchedConvNetGrandEqualsPerSampleAutograd) {
  for (const std::string name : {"convnet-w32", "convnet-maxpool", "convnet-d1"}) {
    at::manual_seed(2);
    auto model = models::make_model(name, {1, 28, 28}, 10);
    const auto x = at::randn({4, 1, 28, 28});
    const auto y = at::tensor(std::vector<int64_t>{3, 1, 4, 1});
    const auto batched = difficulty::per_sample_grad_sq_norms(*model, x, y);
    for (int64_t i = 0; i < 4; ++i) {
      const double expected = manual_grad_sq(*model, x.narrow(0, i, 1), y.narrow(0, i, 1));
      EXPECT_NEAR(batched[i].item<double>(), expected, 1e-3 * expected) << name << " sample " << i;
    }
  }
}

TEST(Scores, GrandFallbackForOtherModels) {
  at::manual_seed(3);
  auto model = models::make_model("lenet", {1, 28, 28}, 10);
  const auto x = at::randn({2, 1, 28, 28});
  const auto y = at::tensor(std::vector<int64_t>{0, 9});
  const auto scores = difficulty::model_scores(*model, x, y, difficulty::Scorer::kGrand);
  model->eval();
  EXPECT_NEAR(scores[1].item<double>(), std::sqrt(manual_grad_sq(*model, x.narrow(0, 1, 1), y.narrow(0, 1, 1))), 1e-4);
}

TEST(Scores, UnknownScorerIsAUserError) { EXPECT_THROW(difficulty::parse_scorer("loss"), Error); }

TEST(Scores, ForgettingCountsAreBoundedAndReproducible) {
  const auto data = tiny_dataset();
  difficulty::ScoreOptions options;
  options.scorer = difficulty::Scorer::kForgetting;
  options.observer.model = "convnet-w32";
  options.observer.epochs = 3;
  options.observer.quiet = true;
  const auto a = difficulty::score_images(data, data.train.images, data.train.labels, options);
  const auto b = difficulty::score_images(data, data.train.images, data.train.labels, options);
  EXPECT_TRUE(at::equal(a, b));
  EXPECT_GE(a.min().item<double>(), 0.0);
  EXPECT_LE(a.max().item<double>(), 4.0);  // never learnt = epochs + 1
  // Forgetting needs the training run: another image set is refused.
  EXPECT_THROW(difficulty::score_images(data, data.test.images, data.test.labels, options), Error);
}

TEST(ScoreRun, ScoresAnImageSetInPlaceAndItReadsBack) {
  const auto data = tiny_dataset();
  const auto dir = ddkit_test::fresh_dir("score_in_place") / "set";
  data::ImageSet set;
  set.images = data.train.images.narrow(0, 0, 30);
  set.labels = data.train.labels.narrow(0, 0, 30);
  data::write_image_set(dir, set, data);
  difficulty::ScoreRunOptions options;
  options.set_dir = dir.string();
  options.out = dir;
  options.scoring.observer.model = "convnet-w32";
  options.scoring.observer.epochs = 1;
  options.scoring.observer.quiet = true;
  const auto result = difficulty::run_scoring(data, options);
  EXPECT_TRUE(fs::exists(dir / "difficulty.svg"));
  EXPECT_TRUE(fs::exists(dir / "difficulty.json"));
  const auto back = data::read_image_set(dir, data);
  ASSERT_TRUE(back.scores.defined());
  EXPECT_TRUE(at::allclose(back.scores, result.scores));
  EXPECT_TRUE(at::equal(back.images, set.images));
  EXPECT_GE(result.scores.min().item<double>(), 0.0);
  EXPECT_LE(result.scores.max().item<double>(), 1.0);
}

TEST(ScoreRun, TrainingSplitGetsOneLinePerImage) {
  const auto data = tiny_dataset();
  difficulty::ScoreRunOptions options;
  options.out = ddkit_test::fresh_dir("score_train") / "out";
  options.scoring.observer.model = "convnet-w32";
  options.scoring.observer.epochs = 1;
  options.scoring.observer.quiet = true;
  options.scoring.observers = 2;
  const auto result = difficulty::run_scoring(data, options);
  const auto entries = data::read_metadata(options.out / "metadata.jsonl");
  ASSERT_EQ(entries.size(), static_cast<size_t>(data.train.size()));
  EXPECT_EQ(entries[5].file_name, "train/5");
  EXPECT_EQ(entries[5].label, data.train.labels[5].item<int64_t>());
  EXPECT_NEAR(entries[5].score, result.scores[5].item<double>(), 1e-12);
  EXPECT_EQ(result.class_means.size(), 10u);
}

// ------------------------------------------------------------ ddkit sample

#include "ddkit/sampling/sample_run.h"

namespace {
fs::path write_pool(const data::Dataset& data, const std::string& name, int64_t per_class, bool with_scores) {
  auto pool = ddkit_test::first_per_class(data, per_class);
  // Known scores: 0.01 .. 0.99 spread within each class.
  if (with_scores) pool.scores = (at::arange(pool.size(), at::kDouble).remainder(per_class) + 1) / (per_class + 1);
  pool.meta = {{"method", "random-pool"}};
  const auto dir = ddkit_test::fresh_dir(name) / "pool";
  data::write_image_set(dir, pool, data);
  return dir;
}
}  // namespace

TEST(SampleRun, SelectsIpcPerClassFromAScoredPoolWithExactTensors) {
  const auto data = tiny_dataset();
  const auto pool_dir = write_pool(data, "sample_scored", 10, true);
  sampling::SampleRunOptions options;
  options.pool_dir = pool_dir;
  options.ipc = 4;
  options.target = "slope";
  options.out = pool_dir.parent_path() / "sampled";
  const auto result = sampling::run_sampling(data, options);
  ASSERT_EQ(result.sets.size(), 1u);
  const auto back = data::read_image_set(options.out, data);
  EXPECT_EQ(back.size(), 40);
  EXPECT_EQ(at::bincount(back.labels).min().item<int64_t>(), 4);
  // Every selected image is one of the pool's, bit for bit, with its pool score.
  const auto pool = data::read_image_set(pool_dir, data);
  const auto indices = back.meta["pool_indices"].get<std::vector<int64_t>>();
  for (size_t i = 0; i < indices.size(); ++i) {
    EXPECT_TRUE(at::equal(back.images[static_cast<int64_t>(i)], pool.images[indices[i]]));
    EXPECT_DOUBLE_EQ(back.scores[static_cast<int64_t>(i)].item<double>(), pool.scores[indices[i]].item<double>());
  }
  std::ifstream in(options.out / "sampling.json");
  const auto sampling_json = nlohmann::json::parse(in);
  for (const char* key : {"th_b", "th_t", "bottom", "top", "target", "drawn", "shortfall"})
    EXPECT_TRUE(sampling_json["classes"]["3"].contains(key)) << key;
  EXPECT_EQ(sampling_json["classes"]["3"]["target"].size(), 10u);
}

TEST(SampleRun, UnscoredPngPoolIsScoredByAnObserverAndRepeatsDiffer) {
  const auto data = tiny_dataset();
  const auto pool_dir = write_pool(data, "sample_png", 6, false);
  // Keep only the PNG tree, as another tool would hand it over.
  for (const char* name : {"images.pt", "labels.pt", "metadata.jsonl", "meta.json"}) fs::remove(pool_dir / name);
  sampling::SampleRunOptions options;
  options.pool_dir = pool_dir;
  options.ipc = 2;
  options.repeat = 2;
  options.observer.model = "convnet-w32";
  options.observer.epochs = 1;
  options.observer.quiet = true;
  options.out = pool_dir.parent_path() / "sampled";
  const auto result = sampling::run_sampling(data, options);
  ASSERT_EQ(result.sets.size(), 2u);
  EXPECT_TRUE(fs::exists(options.out / "repeat-0" / "sampling.json"));
  EXPECT_TRUE(fs::exists(options.out / "repeat-1" / "images.pt"));
  EXPECT_EQ(result.original_by_class[0].size(), 20u);  // all training images of class 0 were scored
  EXPECT_EQ(result.sets[0].meta["seed"], 0);
  EXPECT_EQ(result.sets[1].meta["seed"], 1);
}

TEST(SampleRun, PoolTooSmallIsAUserErrorAndWritesNothing) {
  const auto data = tiny_dataset();
  const auto pool_dir = write_pool(data, "sample_small", 3, true);
  sampling::SampleRunOptions options;
  options.pool_dir = pool_dir;
  options.ipc = 4;
  options.target = "ground";
  options.out = pool_dir.parent_path() / "sampled";
  EXPECT_THROW(sampling::run_sampling(data, options), Error);
  EXPECT_FALSE(fs::exists(options.out));
}
