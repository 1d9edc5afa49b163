#include <gtest/gtest.h>

#include <fstream>

#include <ATen/ATen.h>

#include "ddkit/data/registry.h"
#include "ddkit/models/factory.h"
#include "ddkit/train/eval_protocol.h"
#include "ddkit/train/model_io.h"
#include "ddkit/train/observer.h"
#include "ddkit/train/rng.h"
#include "ddkit/train/trainer.h"
#include "ddkit/util/error.h"
#include "expect_error.h"
#include "fixtures.h"

namespace fs = std::filesystem;
using namespace ddkit;

namespace {

data::Dataset tiny_dataset() { return ddkit_test::tiny_mnist_dataset("train_mnist"); }

train::EvalOptions quick_eval(uint64_t seed) {
  train::EvalOptions options;
  options.models = {"convnet-w32"};
  options.runs = 2;
  options.training.epochs = 6;
  options.seed = seed;
  options.quiet = true;
  return options;
}

}  // namespace

TEST(MeanStd, PopulationStd) {
  // mean of {1,2,3,4} = 2.5; population variance = (2.25+0.25+0.25+2.25)/4 = 1.25
  auto [mean, std] = train::mean_std({1, 2, 3, 4});
  EXPECT_DOUBLE_EQ(mean, 2.5);
  EXPECT_NEAR(std, std::sqrt(1.25), 1e-12);
}

TEST(Evaluation, SameSeedGivesIdenticalAccuracies) {
  const auto data = tiny_dataset();
  const auto set = ddkit_test::first_per_class(data, 2);
  const auto a = train::evaluate_image_set(set, data, quick_eval(7));
  const auto b = train::evaluate_image_set(set, data, quick_eval(7));
  ASSERT_EQ(a.models.size(), 1u);
  ASSERT_EQ(a.models[0].accuracies.size(), 2u);
  EXPECT_EQ(a.models[0].accuracies, b.models[0].accuracies);
  // The separable toy data is learnt well above chance (10%).
  EXPECT_GT(a.models[0].mean, 50.0);
}

TEST(Evaluation, DsaSettingIsReproducibleToo) {
  const auto data = tiny_dataset();
  const auto set = ddkit_test::first_per_class(data, 1);
  auto options = quick_eval(3);
  options.training.dsa = true;
  options.runs = 1;
  const auto a = train::evaluate_image_set(set, data, options);
  const auto b = train::evaluate_image_set(set, data, options);
  EXPECT_EQ(a.models[0].accuracies, b.models[0].accuracies);
}

TEST(Evaluation, ResumeSkipsFinishedRunsAndMatchesAFullRun) {
  const auto data = tiny_dataset();
  const auto set = ddkit_test::first_per_class(data, 2);
  const auto out = ddkit_test::fresh_dir("eval_resume");
  auto options = quick_eval(11);
  options.out = out;
  options.runs = 1;
  train::evaluate_image_set(set, data, options);  // one run finished ...
  fs::rename(out / "results.json", out / "first.json");
  // ... recorded as a partial result, as an interrupted 2-run evaluation leaves it.
  std::ifstream first(out / "first.json");
  auto saved = nlohmann::json::parse(first);
  options.runs = 2;
  nlohmann::json partial = {{"protocol", saved["protocol"]},
                            {"models", {{"convnet-w32", {saved["models"]["convnet-w32"]["accuracies"][0]}}}}};
  std::ofstream(out / "results.partial.json") << partial.dump();
  options.resume = true;
  const auto resumed = train::evaluate_image_set(set, data, options);
  options.resume = false;
  options.out.clear();
  const auto full = train::evaluate_image_set(set, data, options);
  EXPECT_EQ(resumed.models[0].accuracies, full.models[0].accuracies);
  EXPECT_TRUE(fs::exists(out / "results.json"));
  EXPECT_FALSE(fs::exists(out / "results.partial.json"));
}

TEST(Evaluation, ResumeRefusesOtherSettings) {
  const auto data = tiny_dataset();
  const auto set = ddkit_test::first_per_class(data, 1);
  const auto out = ddkit_test::fresh_dir("eval_resume_other");
  std::ofstream(out / "results.partial.json") << R"({"protocol": {"epochs": 999}, "models": {}})";
  auto options = quick_eval(1);
  options.out = out;
  options.resume = true;
  EXPECT_THROW(train::evaluate_image_set(set, data, options), Error);
}

TEST(Evaluation, UnknownModelIsAUserError) {
  const auto data = tiny_dataset();
  auto options = quick_eval(1);
  options.models = {"convnet", "no-such-net"};
  EXPECT_THROW(train::evaluate_image_set(ddkit_test::first_per_class(data, 1), data, options), Error);
}

TEST(Evaluation, LrIsTheFlagsThenTheLearnedLrThenTheProtocols) {
  data::ImageSet set;
  EXPECT_DOUBLE_EQ(train::evaluation_lr(set), 0.01);
  set.meta["learned_lr"] = 0.0123;  // MTT's, also carried into a DGS pick of an MTT pool
  EXPECT_DOUBLE_EQ(train::evaluation_lr(set), 0.0123);
  EXPECT_DOUBLE_EQ(train::evaluation_lr(set, 0.05), 0.05);
}

TEST(Training, LearningRateDecaysAfterHalfTheEpochs) {
  // With lr decay after epoch E/2+1 = 3 (E = 4, 5 passes), the per-epoch change of
  // the weights shrinks by ~10x from pass 4 on.
  const auto data = tiny_dataset();
  const auto set = ddkit_test::first_per_class(data, 2);
  at::manual_seed(0);
  auto model = models::make_model("convnet-w32", {1, 28, 28}, 10);
  train::TrainOptions options;
  options.epochs = 4;
  options.momentum = 0.0;
  options.weight_decay = 0.0;
  options.batch_size = 1000;  // one step per epoch
  std::vector<at::Tensor> snapshots{model->parameters().back().detach().clone()};
  train::train_classifier(*model, set.images, set.labels, options, train::make_generator(0),
                          [&](int64_t, double) { snapshots.push_back(model->parameters().back().detach().clone()); });
  ASSERT_EQ(snapshots.size(), 6u);
  auto step = [&](size_t i) { return (snapshots[i + 1] - snapshots[i]).norm().item<double>(); };
  // Steps 0..3 use lr 0.01; step 4 (after epoch index 3) uses 0.001.
  EXPECT_LT(step(4), 0.35 * step(3));
}

TEST(ModelFile, RoundTripKeepsPredictions) {
  const auto data = tiny_dataset();
  at::manual_seed(5);
  auto model = models::make_model("convnet-w32", {1, 28, 28}, 10);
  const auto file = ddkit_test::fresh_dir("model_io") / "model.pt";
  train::ModelInfo info;
  info.model_name = "convnet-w32";
  info.dataset = data.spec;
  info.extra = {{"epochs", 3}};
  train::save_model(file, *model, info);
  auto loaded = train::load_model(file);
  EXPECT_EQ(loaded.info.model_name, "convnet-w32");
  EXPECT_EQ(loaded.info.extra["epochs"], 3);
  model->eval();
  loaded.model->eval();
  const auto x = data.test.images.narrow(0, 0, 8);
  EXPECT_TRUE(at::equal(model->forward(x), loaded.model->forward(x)));
}

TEST(ModelFile, GarbageIsAUserError) {
  const auto file = ddkit_test::fresh_dir("model_garbage") / "model.pt";
  std::ofstream(file) << "not a model";
  ddkit_test::expect_error([&] { train::load_model(file); }, file.string(), "");
}

// The information inside a model file decides the model built before its weights are read:
// past make_model's bounds it is refused without building anything.
TEST(ModelFile, InformationPastTheBoundsIsRefusedBeforeBuilding) {
  auto model = models::make_model("mlp", {1, 4, 4}, 2);
  const auto dir = ddkit_test::fresh_dir("model_bounds");
  const auto refused = [&](const std::string& name, models::ImageShape shape, int64_t classes,
                           const std::string& what) {
    train::ModelInfo info;
    info.model_name = name;
    info.shape = shape;
    info.num_classes = classes;
    const auto file = dir / (name + "-" + std::to_string(shape.height) + "-" + std::to_string(classes) + ".pt");
    train::save_model(file, *model, info);  // the weights of a 1x4x4 mlp, whatever the information says
    ddkit_test::expect_error([&] { train::load_model(file); }, file.string(), what);
  };
  refused("convnet-d1", {1, 1 << 20, 1 << 20}, 10, "larger than ddkit's models take");
  refused("convnet", {5, 28, 28}, 10, "larger than ddkit's models take");
  refused("convnet", {1, 512, 512}, 100, "more than ddkit's models take");
  refused("convnet", {1, 28, 28}, int64_t{1} << 40, "more than ddkit's models take");
  refused("convnet", {0, 28, 28}, 10, "positive image shape");
  refused("transformer", {1, 28, 28}, 10, "unknown model");
  // Inside the bounds, the weights must match the model the information describes.
  refused("mlp", {1, 8, 8}, 2, "wrong shape");
  // The field's largest sets are inside them.
  EXPECT_NO_THROW(models::make_model("convnet", {3, 64, 64}, 200));   // Tiny-ImageNet
  EXPECT_NO_THROW(models::make_model("convnet", {3, 128, 128}, 10));  // ImageNet subsets
}

TEST(Observer, ObserverOfTheWrongShapeIsRejected) {
  const auto data = tiny_dataset();
  auto model = models::make_model("convnet-w32", {3, 32, 32}, 10);
  const auto file = ddkit_test::fresh_dir("observer_shape") / "model.pt";
  train::ModelInfo info;
  info.model_name = "convnet-w32";
  info.shape = {3, 32, 32};
  train::save_model(file, *model, info);
  train::ObserverOptions options;
  options.model_file = file.string();
  EXPECT_THROW(train::obtain_observer(data, options), Error);
}

TEST(Observer, EpochsMeansThatManyPasses) {
  // An observer's --epochs E is E passes, not the evaluation protocol's E + 1:
  // obtain_observer equals an exact-E training run and differs from the protocol's.
  const auto data = tiny_dataset();
  train::ObserverOptions options;
  options.model = "convnet-w32";
  options.epochs = 1;
  options.seed = 3;
  options.quiet = true;
  const auto observer = train::obtain_observer(data, options);
  train::TrainOptions exact;
  exact.epochs = 1;
  exact.extra_epoch = false;
  ASSERT_EQ(train::passes(exact), 1);
  const auto one_pass = train::train_on_training_split(data, options.model, exact, options.seed, "cpu", true);
  train::TrainOptions protocol;
  protocol.epochs = 1;
  ASSERT_EQ(train::passes(protocol), 2);
  const auto two_passes = train::train_on_training_split(data, options.model, protocol, options.seed, "cpu", true);
  const auto weights = [](const std::shared_ptr<models::ClassifierImpl>& m) { return m->parameters().back(); };
  EXPECT_TRUE(at::equal(weights(observer), weights(one_pass)));
  EXPECT_FALSE(at::equal(weights(observer), weights(two_passes)));
}
