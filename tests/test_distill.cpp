#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include <ATen/ATen.h>

#include "ddkit/data/registry.h"
#include "ddkit/distill/baselines.h"
#include "ddkit/util/error.h"
#include "fixtures.h"

using namespace ddkit;
namespace fs = std::filesystem;

namespace {
data::Dataset tiny_dataset() { return ddkit_test::tiny_mnist_dataset("distill_mnist"); }
// ipc distinct random real images per class: the matching methods' start.
data::ImageSet random_start(const data::Dataset& data, int64_t ipc) {
  distill::RandomOptions init;
  init.ipc = ipc;
  return distill::select_random(data, init);
}
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

// ------------------------------------------------------- gradient matching

#include "ddkit/distill/gradient_distance.h"

TEST(GradientDistance, HandComputedRows) {
  // Rows: (1,0) vs (1,0): cos 1 -> 1 - 1/(1 + 1e-6); (0,1) vs (1,0): cos 0 -> 1;
  // (3,4) vs (-3,-4): cos -1 -> 1 + 25/(25 + 1e-6).
  const auto real = at::tensor({1.0, 0.0, 0.0, 1.0, 3.0, 4.0}, at::kDouble).view({3, 2});
  const auto syn = at::tensor({1.0, 0.0, 1.0, 0.0, -3.0, -4.0}, at::kDouble).view({3, 2});
  const double expected = (1 - 1 / (1 + 1e-6)) + 1.0 + (1 + 25 / (25 + 1e-6));
  EXPECT_NEAR(distill::layer_gradient_distance(real, syn).item<double>(), expected, 1e-12);
}

TEST(GradientDistance, ConvGradientsAreComparedPerOutputChannelAndBiasesSkipped) {
  // A 2 x 1 x 1 x 2 conv gradient: channel 0 = (1, 1) vs (1, -1): cos 0 -> 1;
  // channel 1 = (2, 0) vs (5, 0): cos 1 -> 1 - 10/(10 + 1e-6).
  const auto real = at::tensor({1.0, 1.0, 2.0, 0.0}, at::kDouble).view({2, 1, 1, 2});
  const auto syn = at::tensor({1.0, -1.0, 5.0, 0.0}, at::kDouble).view({2, 1, 1, 2});
  const auto bias_real = at::tensor({1.0, 2.0}, at::kDouble), bias_syn = at::tensor({-1.0, 0.5}, at::kDouble);
  const double expected = 1.0 + (1 - 10 / (10 + 1e-6));
  EXPECT_NEAR(distill::gradient_distance({real, bias_real}, {syn, bias_syn}).item<double>(), expected, 1e-12);
}

TEST(GradientDistance, IsDifferentiableInTheSyntheticGradient) {
  const auto real = at::randn({4, 3}, at::kDouble);
  auto syn = at::randn({4, 3}, at::kDouble).requires_grad_();
  distill::layer_gradient_distance(real, syn).backward();
  ASSERT_TRUE(syn.grad().defined());
  EXPECT_GT(syn.grad().abs().sum().item<double>(), 0.0);
  // Moving syn toward real along the negative gradient lowers the distance.
  const auto stepped = (syn - 0.01 * syn.grad()).detach();
  EXPECT_LT(distill::layer_gradient_distance(real, stepped).item<double>(),
            distill::layer_gradient_distance(real, syn).item<double>());
}

// ------------------------------------------------------- distribution matching

#include "ddkit/distill/dm.h"

TEST(DistributionMatching, OneIterationLowersTheLossOnTheSameNetwork) {
  const auto data = tiny_dataset();
  const auto start = random_start(data, 2);
  distill::DmOptions options;
  options.model = "convnet-w32";
  options.batch_real = 16;
  options.lr_images = 0.5;
  distill::DmDistiller dm(data, start.images, 2, options);
  const double before = dm.loss(7);
  const double returned = dm.step(7);
  EXPECT_NEAR(returned, before, 1e-6 * std::max(1.0, before));
  EXPECT_LT(dm.loss(7), before);
  EXPECT_FALSE(at::equal(dm.images(), start.images));
}

TEST(DistributionMatching, SameSeedSameImages) {
  const auto data = tiny_dataset();
  const auto start = random_start(data, 1);
  distill::DmOptions options;
  options.model = "convnet-w32";
  options.batch_real = 8;
  std::vector<at::Tensor> results;
  for (int repeat = 0; repeat < 2; ++repeat) {
    distill::DmDistiller dm(data, start.images, 1, options);
    for (uint64_t it = 0; it < 3; ++it) dm.step(it);
    results.push_back(dm.images().detach().clone());
  }
  EXPECT_TRUE(at::equal(results[0], results[1]));
}

#include "ddkit/distill/matching_run.h"

TEST(DistributionMatching, CheckpointAndResumeGiveTheUninterruptedResult) {
  const auto data = tiny_dataset();
  const auto dir = ddkit_test::fresh_dir("dm_resume");
  distill::MatchingRunOptions options;
  options.ipc = 1;
  options.iterations = 4;
  options.checkpoint_every = 1;
  options.quiet = true;
  options.dm.model = "convnet-w32";
  options.dm.batch_real = 8;
  options.out = dir / "full";
  const auto full = distill::run_matching(data, options);
  EXPECT_FALSE(fs::exists(dir / "full.checkpoint"));  // removed once the set is written

  options.out = dir / "interrupted";
  options.stop_after = 3;
  EXPECT_EQ(distill::run_matching(data, options).size(), 0);
  EXPECT_FALSE(fs::exists(options.out));
  EXPECT_TRUE(fs::exists(dir / "interrupted.checkpoint" / "images.pt"));
  options.stop_after = 0;
  options.resume = true;
  const auto resumed = distill::run_matching(data, options);
  EXPECT_TRUE(at::equal(resumed.images, full.images));
  EXPECT_EQ(resumed.meta["resumed_from"], 3);
  // The loss log covers the iterations before the resume too (iteration 0 here).
  EXPECT_EQ(resumed.meta["loss_every_10"].size(), 1u);
  EXPECT_EQ(resumed.meta["loss_every_10"], full.meta["loss_every_10"]);
  const auto back = data::read_image_set(dir / "interrupted", data);
  EXPECT_TRUE(at::equal(back.images, full.images));
  // A checkpoint of other settings is refused.
  options.out = dir / "other";
  options.stop_after = 1;
  options.resume = false;
  distill::run_matching(data, options);
  options.dm.lr_images = 0.1;
  options.resume = true;
  EXPECT_THROW(distill::run_matching(data, options), Error);
}

// ------------------------------------------------------------ DC / DSA

#include "ddkit/distill/dc.h"

TEST(GradientMatching, PublishedLoopsPerIpc) {
  EXPECT_EQ(distill::dc_loops(1), (std::pair<int64_t, int64_t>{1, 1}));
  EXPECT_EQ(distill::dc_loops(10), (std::pair<int64_t, int64_t>{10, 50}));
  EXPECT_EQ(distill::dc_loops(50), (std::pair<int64_t, int64_t>{50, 10}));
  EXPECT_THROW(distill::dc_loops(7), Error);
}

TEST(GradientMatching, OneDcAndOneDsaIterationLowerTheLoss) {
  const auto data = tiny_dataset();
  const auto start = random_start(data, 2);
  for (const bool dsa : {false, true}) {
    distill::DcOptions options;
    options.model = "convnet-w32";
    options.outer_loop = 1;
    options.inner_loop = 1;
    options.batch_real = 16;
    options.lr_images = 1.0;
    options.dsa = dsa;
    distill::DcDistiller dc(data, start.images, 2, options);
    const double before = dc.loss(5);
    // With one outer step the returned mean is that step's loss over 10 classes.
    EXPECT_NEAR(dc.step(5) * 10, before, 1e-6 * std::max(1.0, before)) << dsa;
    EXPECT_LT(dc.loss(5), before) << (dsa ? "dsa" : "dc");
  }
}

// The CUDA path (docs/build.md): one iteration on the GPU from the same start and seed as
// on the CPU gives the same images up to float rounding (real batches, network draws and
// augmentation parameters are drawn on the CPU and moved, so they are the same).
TEST(CudaPath, OneDmDcAndDsaIterationMatchTheCpuOne) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA";
  const auto data = tiny_dataset();
  const auto start = random_start(data, 2);
  const c10::Device cuda(c10::kCUDA);
  distill::DmOptions dm_options;
  dm_options.model = "convnet-w32";
  dm_options.batch_real = 16;
  distill::DmDistiller dm_cpu(data, start.images, 2, dm_options);
  distill::DmDistiller dm_cuda(data, start.images.to(cuda), 2, dm_options);
  const double dm_loss_cpu = dm_cpu.step(7);
  EXPECT_NEAR(dm_cuda.step(7), dm_loss_cpu, 1e-3 * std::max(1.0, dm_loss_cpu));
  EXPECT_TRUE(dm_cuda.images().is_cuda());
  EXPECT_TRUE(at::allclose(dm_cuda.images().cpu(), dm_cpu.images(), 1e-3, 1e-3)) << "dm";
  for (const bool dsa : {false, true}) {
    distill::DcOptions options;
    options.model = "convnet-w32";
    options.outer_loop = 2;
    options.inner_loop = 2;
    options.batch_real = 16;
    options.dsa = dsa;
    distill::DcDistiller dc_cpu(data, start.images, 2, options);
    distill::DcDistiller dc_cuda(data, start.images.to(cuda), 2, options);
    const double loss_cpu = dc_cpu.step(5);
    EXPECT_NEAR(dc_cuda.step(5), loss_cpu, 1e-3 * std::max(1.0, loss_cpu)) << dsa;
    EXPECT_TRUE(at::allclose(dc_cuda.images().cpu(), dc_cpu.images(), 1e-3, 1e-3)) << (dsa ? "dsa" : "dc");
  }
}

TEST(GradientMatching, InnerLoopsRunAndAreReproducible) {
  const auto data = tiny_dataset();
  const auto start = random_start(data, 1);
  distill::DcOptions options;
  options.model = "convnet-w32";
  options.outer_loop = 2;
  options.inner_loop = 2;
  options.batch_real = 8;
  options.dsa = true;
  std::vector<at::Tensor> results;
  for (int repeat = 0; repeat < 2; ++repeat) {
    distill::DcDistiller dc(data, start.images, 1, options);
    EXPECT_TRUE(std::isfinite(dc.step(1)));
    results.push_back(dc.images().detach().clone());
  }
  EXPECT_TRUE(at::equal(results[0], results[1]));
  EXPECT_FALSE(at::equal(results[0], start.images));
}

TEST(GradientMatching, DsaRunResumesExactly) {
  const auto data = tiny_dataset();
  const auto dir = ddkit_test::fresh_dir("dsa_resume");
  distill::MatchingRunOptions options;
  options.method = distill::Method::dsa;
  options.ipc = 1;  // published loops (1, 1)
  options.iterations = 3;
  options.quiet = true;
  options.dc.model = "convnet-w32";
  options.dc.batch_real = 8;
  options.out = dir / "full";
  const auto full = distill::run_matching(data, options);
  EXPECT_EQ(full.meta["outer_loop"], 1);
  EXPECT_EQ(full.meta["dsa"], true);
  EXPECT_EQ(full.meta["dsa_strategy"], "color_crop_cutout_scale_rotate");  // digits: no flip
  options.out = dir / "interrupted";
  options.stop_after = 2;
  distill::run_matching(data, options);
  options.stop_after = 0;
  options.resume = true;
  EXPECT_TRUE(at::equal(distill::run_matching(data, options).images, full.images));
}

TEST(GradientMatching, ASnapshotIsTheSetOfARunOfThatManyIterations) {
  const auto data = tiny_dataset();
  const auto dir = ddkit_test::fresh_dir("dsa_snapshots");
  distill::MatchingRunOptions options;
  options.method = distill::Method::dsa;
  options.ipc = 1;
  options.quiet = true;
  options.dc.model = "convnet-w32";
  options.dc.batch_real = 8;
  options.iterations = 2;
  options.out = dir / "two";
  const auto two = distill::run_matching(data, options);

  // A run of 3 iterations, interrupted after its snapshot at 2 and resumed: the
  // snapshot is kept, and it is the 2-iteration run's set.
  options.iterations = 3;
  options.snapshots = {1, 2};
  options.checkpoint_every = 1;
  options.out = dir / "three";
  options.stop_after = 2;
  EXPECT_EQ(distill::run_matching(data, options).size(), 0);
  options.stop_after = 0;
  options.resume = true;
  const auto three = distill::run_matching(data, options);
  const auto snapshot = data::read_image_set(distill::snapshot_dir(dir / "three", 2), data);
  EXPECT_TRUE(at::equal(snapshot.images, two.images));
  EXPECT_FALSE(at::equal(snapshot.images, three.images));
  EXPECT_EQ(snapshot.meta["iterations"], 2);
  EXPECT_EQ(snapshot.meta["snapshot_of"], 3);
  EXPECT_TRUE(fs::exists(dir / "three.snapshots" / "it1" / "meta.json"));
  EXPECT_FALSE(fs::exists(dir / "three.snapshots" / "it3"));
  EXPECT_FALSE(three.meta.contains("snapshot_of"));

  // A snapshot must fall inside the run.
  options.resume = false;
  options.snapshots = {3};
  options.out = dir / "outside";
  EXPECT_THROW(distill::run_matching(data, options), Error);
  EXPECT_FALSE(fs::exists(dir / "outside"));
}

// ------------------------------------------------------------ SDC

#include "ddkit/distill/sdc.h"
#include "ddkit/models/factory.h"
#include "ddkit/train/rng.h"

TEST(Sdc, GradientNormOfHandMadeGradients) {
  const std::vector<at::Tensor> grads = {at::full({1}, 3.0, at::kDouble), at::tensor({4.0, 0.0}, at::kDouble).view({1, 2})};
  EXPECT_NEAR(distill::gradient_norm(grads).item<double>(), 5.0, 1e-12);
}

TEST(Sdc, ClassGradientNormOfALinearModelByHand) {
  // logits = W x with W = 0: p = (1/2, 1/2), so for images x of class c the
  // gradient of CE w.r.t. W is (p - e_c) x^T with norm ‖p - e_c‖ ‖x‖ = √½ · 5.
  const auto w = at::zeros({2, 2}, at::kDouble).requires_grad_(true);
  const auto x = at::tensor({3.0, 4.0, 3.0, 4.0}, at::kDouble).view({2, 2});  // two equal images
  const auto logits = at::matmul(x, w.t());
  for (const int64_t label : {0, 1}) {
    EXPECT_NEAR(distill::class_gradient_norm(logits, label, {w}, true).item<double>(), std::sqrt(0.5) * 5.0, 1e-9);
  }
}

namespace {
// Mean over networks seeded like iterations 0..2 of Σ_c ‖∇θ CE(f(S_c), c)‖.
double synthetic_gradient_norm(const data::Dataset& data, const at::Tensor& images, int64_t ipc) {
  double sum = 0;
  for (uint64_t seed = 0; seed < 3; ++seed) {
    train::seed_unit_of_work(seed);
    auto net = models::make_model("convnet-w32", {data.channels, data.height, data.width}, data.num_classes);
    sum += distill::sdc_penalty(*net, images.split(ipc), false).item<double>();
  }
  return sum / 3;
}
}  // namespace

TEST(Sdc, PositiveLambdaLowersTheSyntheticGradientNormInDcAndDm) {
  const auto data = tiny_dataset();
  const auto start = random_start(data, 2);
  for (const std::string method : {"dc", "dm"}) {
    std::vector<double> norms;
    for (const double lambda : {0.0, 10.0}) {
      std::unique_ptr<distill::MatchingDistiller> distiller;
      if (method == "dc") {
        distill::DcOptions options;
        options.model = "convnet-w32";
        options.outer_loop = 1;
        options.inner_loop = 1;
        options.batch_real = 16;
        options.sdc_lambda = lambda;
        distiller = std::make_unique<distill::DcDistiller>(data, start.images, 2, options);
      } else {
        distill::DmOptions options;
        options.model = "convnet-w32";
        options.batch_real = 16;
        options.sdc_lambda = lambda;
        distiller = std::make_unique<distill::DmDistiller>(data, start.images, 2, options);
      }
      for (uint64_t seed = 0; seed < 3; ++seed) distiller->step(seed);
      norms.push_back(synthetic_gradient_norm(data, distiller->images().detach(), 2));
    }
    EXPECT_LT(norms[1], norms[0]) << method;
  }
}
