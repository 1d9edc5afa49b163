// The generative route (ALGORITHMS §11): noise schedule, forward noising, the
// DDPM loss going down, DDIM determinism, generator files and resume, DAG
// moving difficulty toward its target, and the CLI's error for a missing
// generator. Everything uses tiny UNets so the file runs in well under a minute.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include <torch/torch.h>

#include "ddkit/data/image_set.h"
#include "ddkit/distill/distill_run.h"
#include "ddkit/generative/dag_targets.h"
#include "ddkit/generative/ddim.h"
#include "ddkit/generative/generator_io.h"
#include "ddkit/generative/schedule.h"
#include "ddkit/generative/train_generator.h"
#include "ddkit/generative/unet.h"
#include "ddkit/train/observer.h"
#include "ddkit/train/rng.h"
#include "ddkit/util/atomic_file.h"
#include "ddkit/util/error.h"
#include "expect_error.h"
#include "fixtures.h"

using namespace ddkit;
using namespace ddkit::generative;
namespace fs = std::filesystem;

namespace {

UNetOptions tiny_unet() {
  UNetOptions o;
  o.channels = 8;
  o.channel_mult = {1, 2};
  return o;
}

GenTrainOptions tiny_training(const fs::path& out, int64_t steps) {
  GenTrainOptions o;
  o.channels = 8;
  o.channel_mult = {1, 2};
  o.steps = steps;
  o.batch = 16;
  o.lr = 2e-3;
  o.warmup = 5;
  o.checkpoint_every = 5;
  o.seed = 3;
  o.quiet = true;
  o.out = out;
  return o;
}

// One generator file shared by the tests of this process (trained once).
fs::path tiny_generator(const data::Dataset& data) {
  static const fs::path file = [&] {
    const auto dir = ddkit_test::fresh_dir("generative_generator_" + std::to_string(::getpid()));
    train_generator(data, tiny_training(dir, 120));
    return dir / "model.pt";
  }();
  return file;
}

}  // namespace

TEST(NoiseSchedule, LinearBetasAndCumulativeProducts) {
  const NoiseSchedule schedule;
  ASSERT_EQ(schedule.steps(), 1000);
  EXPECT_DOUBLE_EQ(schedule.betas[0].item<double>(), 1e-4);     // beta_1
  EXPECT_NEAR(schedule.betas[999].item<double>(), 0.02, 1e-15);  // beta_T
  EXPECT_NEAR(schedule.betas[499].item<double>(), 1e-4 + 499 * (0.02 - 1e-4) / 999, 1e-15);
  EXPECT_NEAR(schedule.alpha_bar(0), 1 - 1e-4, 1e-15);
  const double beta2 = 1e-4 + (0.02 - 1e-4) / 999;
  EXPECT_NEAR(schedule.alpha_bar(1), (1 - 1e-4) * (1 - beta2), 1e-15);
  // abar_T = prod (1 - beta_t), summed in logs in long double; ≈ 4.036e-5.
  long double log_abar = 0;
  for (int i = 0; i < 1000; ++i) log_abar += std::log1p(-(1e-4L + i * (0.02L - 1e-4L) / 999));
  EXPECT_NEAR(schedule.alpha_bar(999), static_cast<double>(std::exp(log_abar)), 1e-12);
  EXPECT_NEAR(schedule.alpha_bar(999), 4.036e-5, 1e-7);
  EXPECT_EQ(schedule.alpha_bar(-1), 1.0);
}

TEST(NoiseSchedule, ForwardNoisingFormula) {
  const NoiseSchedule schedule;
  auto generator = train::make_generator(1);
  const auto x0 = torch::rand({3, 1, 4, 4}, generator) * 2 - 1;
  const auto noise = torch::randn({3, 1, 4, 4}, generator);
  const auto t = torch::tensor({0, 500, 999}, torch::kLong);
  const auto x_t = schedule.add_noise(x0, t, noise);
  for (int i = 0; i < 3; ++i) {
    const double abar = schedule.alpha_bar(t[i].item<int64_t>());
    const auto expected = std::sqrt(abar) * x0[i] + std::sqrt(1 - abar) * noise[i];
    EXPECT_TRUE(torch::allclose(x_t[i], expected, 1e-5, 1e-5)) << i;
  }
}

TEST(UNet, OutputShapeAndTrainingStepsLowerTheLoss) {
  const auto data = ddkit_test::tiny_mnist_dataset("generative_mnist");
  torch::manual_seed(0);
  UNet model(tiny_unet());
  const NoiseSchedule schedule;
  auto generator = train::make_generator(2);
  const auto x0 = to_model_space(data.train.images.narrow(0, 0, 16), data.normalization);
  const auto labels = data.train.labels.narrow(0, 0, 16);
  const auto t = torch::randint(1000, {16}, generator, torch::kLong);
  const auto noise = torch::randn(x0.sizes(), generator);
  EXPECT_EQ(model->forward(x0, t, labels).sizes(), x0.sizes());
  EXPECT_EQ(model->forward(x0, t, torch::full_like(labels, model->null_class())).sizes(), x0.sizes());
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(2e-3));
  const double before = diffusion_loss(*model, schedule, x0, labels, t, noise).item<double>();
  for (int step = 0; step < 5; ++step) {
    optimizer.zero_grad();
    diffusion_loss(*model, schedule, x0, labels, t, noise).backward();
    optimizer.step();
  }
  const double after = diffusion_loss(*model, schedule, x0, labels, t, noise).item<double>();
  EXPECT_LT(after, before * 0.95) << before << " -> " << after;
}

TEST(Ddim, TrailingTimestepsAndOneStepIsDeterministic) {
  EXPECT_EQ(ddim_timesteps(1000, 1), (std::vector<int64_t>{999}));
  EXPECT_EQ(ddim_timesteps(1000, 4), (std::vector<int64_t>{999, 749, 499, 249}));
  EXPECT_EQ(ddim_timesteps(1000, 50).back(), 19);
  EXPECT_THROW(ddim_timesteps(1000, 0), Error);
  torch::manual_seed(0);
  UNet model(tiny_unet());
  const NoiseSchedule schedule;
  auto noise_of = [](uint64_t seed) {
    auto generator = train::make_generator(seed);
    return torch::randn({4, 1, 28, 28}, generator);
  };
  const auto labels = torch::tensor({0, 1, 2, 3}, torch::kLong);
  DdimOptions one;
  one.steps = 1;
  const auto a = ddim_sample(*model, schedule, noise_of(5), labels, one);
  const auto b = ddim_sample(*model, schedule, noise_of(5), labels, one);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, ddim_sample(*model, schedule, noise_of(6), labels, one)));
  // One step from T-1 is x0-hat itself (clamped): (x - sqrt(1-abar) eps) / sqrt(abar).
  torch::NoGradGuard no_grad;
  const auto x = noise_of(5);
  const auto tt = torch::full({4}, 999, torch::kLong);
  const auto e_c = model->forward(x, tt, labels), e_u = model->forward(x, tt, torch::full_like(labels, 10));
  const auto eps = e_u + one.guidance * (e_c - e_u);
  const double abar = schedule.alpha_bar(999);
  const auto expected = ((x - std::sqrt(1 - abar) * eps) / std::sqrt(abar)).clamp(-1, 1);
  EXPECT_TRUE(torch::allclose(a, expected, 1e-5, 1e-5));
}

TEST(GeneratorFiles, RoundTripAndResumeMatchesAnUninterruptedRun) {
  const auto data = ddkit_test::tiny_mnist_dataset("generative_mnist");
  // save/load gives the same outputs.
  torch::manual_seed(1);
  UNet model(tiny_unet());
  GeneratorInfo info;
  info.unet = tiny_unet();
  info.dataset = data.spec;
  const auto dir = ddkit_test::fresh_dir("generative_roundtrip");
  save_generator(dir / "model.pt", *model, info);
  auto loaded = load_generator(dir / "model.pt");
  EXPECT_EQ(loaded.info.unet.channels, 8);
  auto generator = train::make_generator(4);
  const auto x = torch::randn({2, 1, 28, 28}, generator);
  const auto t = torch::tensor({10, 900}, torch::kLong), y = torch::tensor({3, 10}, torch::kLong);
  model->eval();
  {
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(torch::equal(model->forward(x, t, y), loaded.model->forward(x, t, y)));
  }
  EXPECT_THROW(load_generator(dir / "missing.pt"), Error);
  write_file_atomic(dir / "bad.pt", std::string("not a model"));
  EXPECT_THROW(load_generator(dir / "bad.pt"), Error);

  // 10 steps in one go == 5 steps, then --resume to 10 (checkpoints every 5).
  const auto straight = ddkit_test::fresh_dir("generative_straight"), resumed = ddkit_test::fresh_dir("generative_resumed");
  train_generator(data, tiny_training(straight, 10));
  train_generator(data, tiny_training(resumed, 5));
  auto again = tiny_training(resumed, 10);
  again.resume = true;
  train_generator(data, again);
  const auto a = load_generator(straight / "model.pt"), b = load_generator(resumed / "model.pt");
  const auto pa = a.model->parameters(), pb = b.model->parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i])) << i;
  EXPECT_TRUE(fs::exists(straight / "checkpoint.pt"));
  EXPECT_TRUE(fs::exists(straight / "train.json"));
}

TEST(Dag, TargetsFollowTheDgsTargetInRawScoreSpace) {
  std::vector<double> original;
  for (int i = 1; i <= 200; ++i) original.push_back(std::pow(10.0, -4.0 + 4.0 * i / 200.0));  // 1e-4 .. 1
  sampling::Target ground;
  ground.kind = "ground";
  const auto targets = draw_dag_targets(original, ground, 20, train::make_generator(1));
  ASSERT_EQ(targets.size(), 20u);
  const auto transform = sampling::fit_log_transform(original, 0, 0);
  sampling::Counts bins{};
  for (double d : targets) {
    EXPECT_GE(d, transform.bottom * (1 - 1e-12));
    EXPECT_LE(d, transform.top * (1 + 1e-12));
    ++bins[static_cast<size_t>(sampling::bin_of(transform.apply(d)))];
  }
  for (int k = 0; k < sampling::kBins; ++k) EXPECT_EQ(bins[static_cast<size_t>(k)], 2) << k;  // ground: 2 per bin
  EXPECT_EQ(targets, draw_dag_targets(original, ground, 20, train::make_generator(1)));

  sampling::Target random;  // DGS's control sets no difficulty target
  random.kind = "random";
  ddkit_test::expect_error([&] { draw_dag_targets(original, random, 20, train::make_generator(1)); }, "--dag-target",
                           "DAG needs one");
}

TEST(Dag, GuidanceMovesThePoolsDifficultyTowardTheTarget) {
  const auto data = ddkit_test::tiny_mnist_dataset("generative_mnist");
  auto loaded = load_generator(tiny_generator(data));
  train::ObserverOptions observer_options;
  observer_options.model = "convnet-w32";
  observer_options.epochs = 2;
  observer_options.quiet = true;
  auto observer = train::obtain_observer(data, observer_options);
  observer->eval();
  for (auto& p : observer->parameters()) p.set_requires_grad(false);
  const NoiseSchedule schedule(loaded.info.schedule);
  auto generator = train::make_generator(7);
  const int64_t n = 20;
  const auto noise = torch::randn({n, 1, 28, 28}, generator);
  const auto labels = torch::arange(n, torch::kLong).remainder(10);
  DdimOptions ddim;
  ddim.steps = 10;
  ddim.guidance = 1.0;
  const auto mean_difficulty = [&](const torch::Tensor& x) {
    torch::NoGradGuard no_grad;
    return prob_difficulty(*observer, x, labels, data.normalization).mean().item<double>();
  };
  const double off = mean_difficulty(ddim_sample(*loaded.model, schedule, noise, labels, ddim));
  // Aim at the far end from where the unguided pool is.
  const double target = off > 0.5 ? 0.0 : 1.0;
  DagGuide dag;
  dag.observer = observer.get();
  dag.normalization = data.normalization;
  dag.scale = 1000.0;
  dag.stop = 0;
  dag.targets = torch::full({n}, target, torch::kDouble);
  const double on = mean_difficulty(ddim_sample(*loaded.model, schedule, noise, labels, ddim, dag));
  EXPECT_LT(std::abs(on - target), std::abs(off - target) - 0.05) << "off " << off << " on " << on << " target " << target;
}

TEST(DistillDiffusion, WritesAPoolImageSetWithGeneratorInfo) {
  const auto data = ddkit_test::tiny_mnist_dataset("generative_mnist");
  distill::DistillOptions options;
  options.method = "diffusion";
  options.ipc = 2;
  options.pool_factor = 2;
  options.seed = 1;
  options.quiet = true;
  options.generation.generator_file = tiny_generator(data);
  options.generation.ddim.steps = 3;
  options.generation.dag_scale = 5.0;
  options.generation.dag_stop = 500;
  options.observer.model = "convnet-w32";
  options.observer.epochs = 1;
  options.out = ddkit_test::fresh_dir("generative_distill") / "pool";
  const auto set = distill::distill_set(data, options);
  EXPECT_EQ(set.size(), 40);
  const auto read = data::read_image_set(options.out, data);
  EXPECT_EQ(read.size(), 40);
  EXPECT_TRUE(torch::allclose(read.images, set.images));
  const auto bytes = read_file_bytes(options.out / "meta.json");
  const auto meta = nlohmann::json::parse(bytes.begin(), bytes.end());
  EXPECT_EQ(meta["method"], "diffusion");
  EXPECT_EQ(meta["generator"]["info"]["unet"]["channels"], 8);
  EXPECT_EQ(meta["dag"]["targets"].size(), 40u);
  // Same seed, same pool.
  options.out = options.out.parent_path() / "again";
  EXPECT_TRUE(torch::equal(distill::distill_set(data, options).images, set.images));
}

TEST(DistillDiffusion, MissingGeneratorIsAOneLineUserError) {
  const auto dir = ddkit_test::fresh_dir("generative_cli");
  ddkit_test::write_tiny_mnist(dir / "data");
  const auto err_file = dir / "stderr.txt";
  const std::string command = std::string(DDKIT_BINARY) + " distill --method diffusion --ipc 1 --data mnist:" +
                              (dir / "data").string() + " --generator " + (dir / "nope.pt").string() + " --out " +
                              (dir / "pool").string() + " --threads 1 > /dev/null 2> " + err_file.string();
  const int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  std::ifstream in(err_file);
  std::stringstream text;
  text << in.rdbuf();
  const auto err = text.str();
  EXPECT_EQ(err.rfind("ddkit: error: " + (dir / "nope.pt").string() + ": ", 0), 0u) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_FALSE(fs::exists(dir / "pool"));
}
