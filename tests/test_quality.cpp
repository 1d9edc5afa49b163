// Generator quality (docs/algorithms.md §11 "Generator quality"): the Fréchet distance
// against closed forms, its symmetry, the cached extractor, CAS and
// `gen-eval` plumbing on tiny data, and gen-train's FID signal.
#include <gtest/gtest.h>

#include <cmath>

#include <torch/torch.h>

#include "ddkit/data/image_set.h"
#include "ddkit/generative/generate_run.h"
#include "ddkit/generative/quality.h"
#include "ddkit/generative/train_generator.h"
#include "ddkit/train/rng.h"
#include "ddkit/util/atomic_file.h"
#include "ddkit/util/error.h"
#include "fixtures.h"
#include "generative_fixtures.h"

using namespace ddkit;
using namespace ddkit::generative;
using ddkit_test::tiny_training;
namespace fs = std::filesystem;

namespace {

GaussianStats gaussian(const torch::Tensor& mean, const torch::Tensor& covariance) {
  return {mean.to(torch::kDouble), covariance.to(torch::kDouble)};
}

// A random symmetric positive definite D x D matrix.
torch::Tensor random_spd(int64_t d, uint64_t seed) {
  auto generator = train::make_generator(seed);
  const auto a = torch::randn({d, d}, generator, torch::kDouble);
  return a.matmul(a.t()) / d + 0.1 * torch::eye(d, torch::kDouble);
}

QualityOptions tiny_quality(const fs::path& cache) {
  QualityOptions q;
  q.images = 20;
  q.extractor_epochs = 1;
  q.cas_epochs = 2;
  q.seed = 2;
  q.quiet = true;
  q.cache_dir = cache;
  return q;
}

}  // namespace

TEST(FrechetDistance, MatchesTheClosedFormForDiagonalGaussians) {
  // FID(N(m1, diag s1), N(m2, diag s2)) = |m1 - m2|^2 + sum (sqrt s1 - sqrt s2)^2.
  const auto m1 = torch::tensor({0.0, 1.0, -2.0}), m2 = torch::tensor({1.0, 1.0, 0.5});
  const auto s1 = torch::tensor({1.0, 4.0, 0.25}), s2 = torch::tensor({9.0, 1.0, 0.25});
  const double expected = (m1 - m2).pow(2).sum().item<double>() + (s1.sqrt() - s2.sqrt()).pow(2).sum().item<double>();
  EXPECT_NEAR(frechet_distance(gaussian(m1, torch::diag(s1)), gaussian(m2, torch::diag(s2))), expected, 1e-9);
  EXPECT_NEAR(frechet_distance(gaussian(m1, torch::diag(s1)), gaussian(m1, torch::diag(s1))), 0.0, 1e-9);
}

TEST(FrechetDistance, MatchesTheClosedFormForAScaledFullCovariance) {
  // C and k^2 C: tr C + k^2 tr C - 2 k tr C = (1 - k)^2 tr C, for any SPD C.
  const auto c = random_spd(16, 5);
  const auto zero = torch::zeros({16}, torch::kDouble);
  const double k = 3.0;
  EXPECT_NEAR(frechet_distance(gaussian(zero, c), gaussian(zero, k * k * c)), (1 - k) * (1 - k) * c.trace().item<double>(),
              1e-8 * c.trace().item<double>());
}

TEST(FrechetDistance, IsSymmetricInItsArguments) {
  auto generator = train::make_generator(9);
  const auto a = gaussian(torch::randn({24}, generator, torch::kDouble), random_spd(24, 1));
  const auto b = gaussian(torch::randn({24}, generator, torch::kDouble), random_spd(24, 2));
  const double ab = frechet_distance(a, b), ba = frechet_distance(b, a);
  EXPECT_GT(ab, 0.0);
  EXPECT_NEAR(ab, ba, 1e-9 * ab);
}

TEST(FrechetDistance, SymmetricSqrtSquaresBackAndStatsAreNumpysCov) {
  const auto c = random_spd(8, 3);
  const auto root = symmetric_sqrt(c);
  EXPECT_TRUE(torch::allclose(root.matmul(root), c, 1e-9, 1e-9));
  EXPECT_TRUE(torch::allclose(root, root.t(), 0, 1e-12));
  const auto x = torch::tensor({{1.0, 2.0}, {3.0, 1.0}, {5.0, 6.0}});
  const auto s = gaussian_stats(x);
  EXPECT_TRUE(torch::allclose(s.mean, torch::tensor({3.0, 3.0}, torch::kDouble)));
  // numpy.cov(x.T): [[4, 4], [4, 7]]
  EXPECT_TRUE(torch::allclose(s.covariance, torch::tensor({{4.0, 4.0}, {4.0, 7.0}}, torch::kDouble)));
  EXPECT_THROW(gaussian_stats(x.narrow(0, 0, 1)), Error);
}

TEST(Quality, GenEvalMeasuresAGeneratorAndTheSameImagesAsASet) {
  const auto data = ddkit_test::tiny_mnist_dataset("quality_mnist");
  const auto dir = ddkit_test::fresh_dir("quality_gen_eval");
  train_generator(data, tiny_training(dir / "gen", 10));
  GenEvalOptions o;
  o.generator_file = dir / "gen" / "model.pt";
  o.sampler.steps = 3;
  o.quality = tiny_quality(dir / "cache");
  o.out = dir / "quality.json";
  const auto r = evaluate_generator(data, o);
  EXPECT_EQ(r.at("images"), 20);
  EXPECT_EQ(r.at("per_class"), 2);
  EXPECT_GE(r.at("fid").get<double>(), 0.0);
  EXPECT_GE(r.at("cas").get<double>(), 0.0);
  EXPECT_LE(r.at("cas").get<double>(), 100.0);
  EXPECT_GE(r.at("real").at("fid").get<double>(), 0.0);
  EXPECT_TRUE(r.at("real").contains("cas"));
  EXPECT_TRUE(fs::exists(o.out));
  // The extractor and the real reference were cached, and are reused.
  int extractors = 0, references = 0;
  for (const auto& entry : fs::directory_iterator(dir / "cache")) {
    const auto name = entry.path().filename().string();
    extractors += name.rfind("extractor-convnet-", 0) == 0;
    references += name.rfind("quality-real-", 0) == 0;
  }
  EXPECT_EQ(extractors, 1);
  EXPECT_EQ(references, 1);
  const auto again = evaluate_generator(data, o);
  EXPECT_EQ(again.at("fid"), r.at("fid"));  // same seed: same images, same extractor
  EXPECT_EQ(again.at("real"), r.at("real"));

  // The same images written as an image set give the same FID through --set.
  GenerateOptions g;
  g.generator_file = o.generator_file;
  g.per_class = 2;
  g.sampler = o.sampler;
  g.seed = o.quality.seed;
  g.quiet = true;
  data::write_image_set(dir / "set", generate_set(data, g), data);
  GenEvalOptions from_set = o;
  from_set.generator_file.clear();
  from_set.set_dir = dir / "set";
  from_set.out.clear();
  EXPECT_NEAR(evaluate_generator(data, from_set).at("fid").get<double>(), r.at("fid").get<double>(),
              1e-4 * (1 + r.at("fid").get<double>()));
  from_set.generator_file = o.generator_file;  // both: refused
  EXPECT_THROW(evaluate_generator(data, from_set), Error);
}

TEST(Quality, GenTrainLogsFidAtItsChecksAndResumesTheCurve) {
  const auto data = ddkit_test::tiny_mnist_dataset("quality_mnist");
  const auto dir = ddkit_test::fresh_dir("quality_gen_train");
  ::setenv("DDKIT_CACHE_DIR", (dir / "cache").c_str(), 1);
  auto o = tiny_training(dir / "gen", 10);
  o.fid_every = 5;
  o.fid_images = 20;
  o.fid_sampler.steps = 2;
  o.fid_extractor_epochs = 1;
  const auto straight = train_generator(data, o);
  ASSERT_EQ(straight.at("fid_curve").size(), 2u);
  EXPECT_EQ(straight.at("fid_curve")[0].at("step"), 5);
  EXPECT_EQ(straight.at("fid_curve")[1].at("step"), 10);
  EXPECT_GE(straight.at("fid_curve")[1].at("fid").get<double>(), 0.0);
  // Stopped at 5 and resumed to 10: the same curve, the same weights.
  auto first = o;
  first.out = dir / "resumed";
  first.steps = 5;
  train_generator(data, first);
  auto second = first;
  second.steps = 10;
  second.resume = true;
  const auto resumed = train_generator(data, second);
  EXPECT_EQ(resumed.at("fid_curve"), straight.at("fid_curve"));
  ::unsetenv("DDKIT_CACHE_DIR");
  o.fid_every = 3;  // not a multiple of --checkpoint-every
  o.out = dir / "bad";
  EXPECT_THROW(train_generator(data, o), Error);
}
