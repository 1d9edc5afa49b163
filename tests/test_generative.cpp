// The generative route (docs/algorithms.md §11): noise schedule, forward noising, the
// DDPM loss going down, DDIM determinism, generator files and resume, DAG
// moving difficulty toward its target, and the CLI's error for a missing
// generator. Everything uses tiny UNets so the file runs in well under a minute.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <functional>
#include <fstream>
#include <sstream>

#include <torch/torch.h>

#include "ddkit/data/image_set.h"
#include "ddkit/distill/distill_run.h"
#include "ddkit/generative/dag_targets.h"
#include "ddkit/generative/sampler.h"
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
#include "generative_fixtures.h"

using namespace ddkit;
using namespace ddkit::generative;
using ddkit_test::tiny_training;
using ddkit_test::tiny_unet;
namespace fs = std::filesystem;

namespace {

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
  const NoiseSchedule schedule(ScheduleOptions::legacy());
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

TEST(NoiseSchedule, CosineIsImprovedDiffusionsAlphaBar) {
  const NoiseSchedule schedule;  // the default
  ASSERT_EQ(schedule.options.kind, ScheduleKind::cosine);
  auto f = [](double t) {
    const double c = std::cos((t / 1000.0 + 0.008) / 1.008 * M_PI / 2);
    return c * c;
  };
  for (int64_t i : {0, 1, 100, 500, 900, 990}) EXPECT_NEAR(schedule.alpha_bar(i), f(i + 1) / f(0), 1e-12) << i;
  EXPECT_LE(schedule.betas.max().item<double>(), 0.999);
  EXPECT_NEAR(schedule.betas[999].item<double>(), 0.999, 1e-15);  // clipped: abar(T) = 0
  EXPECT_LT(schedule.alpha_bar(999), 1e-6);
  EXPECT_THROW(parse_schedule_kind("quadratic"), Error);
  EXPECT_EQ(parse_schedule_kind("linear"), ScheduleKind::linear);
}

TEST(NoiseSchedule, VAndEpsTargetsInvertToTheCleanImageAndTheNoise) {
  auto generator = train::make_generator(3);
  const auto x0 = torch::rand({4, 1, 5, 5}, generator, torch::kDouble) * 2 - 1;
  const auto noise = torch::randn({4, 1, 5, 5}, generator, torch::kDouble);
  for (auto prediction : {Prediction::eps, Prediction::v}) {
    ScheduleOptions o;
    o.prediction = prediction;
    const NoiseSchedule schedule(o);
    for (int64_t step : {0, 300, 998}) {
      const auto t = torch::full({4}, step, torch::kLong);
      const auto x_t = schedule.add_noise(x0, t, noise);
      const auto e = estimates(prediction, x_t, schedule.target(x0, t, noise), schedule.alpha_bar(step));
      EXPECT_TRUE(torch::allclose(e.eps, noise, 1e-6, 1e-6)) << to_string(prediction) << " " << step;
      if (prediction == Prediction::v || step < 998) {  // eps's x0 divides by sqrt(abar) ~ 1e-3 at the top
        EXPECT_TRUE(torch::allclose(e.x0, x0, 1e-6, 1e-6)) << to_string(prediction) << " " << step;
      }
    }
  }
}

TEST(NoiseSchedule, MinSnrWeights) {
  ScheduleOptions o;
  o.prediction = Prediction::v;
  const NoiseSchedule v_schedule(o);
  o.prediction = Prediction::eps;
  const NoiseSchedule eps_schedule(o);
  const auto t = torch::tensor({0, 500, 999}, torch::kLong);
  const auto w_v = min_snr_weight(v_schedule, t, 5.0), w_eps = min_snr_weight(eps_schedule, t, 5.0);
  for (int i = 0; i < 3; ++i) {
    const double abar = v_schedule.alpha_bar(t[i].item<int64_t>()), snr = abar / (1 - abar);
    EXPECT_NEAR(w_v[i].item<double>(), std::min(snr, 5.0) / (snr + 1), 1e-12) << i;
    EXPECT_NEAR(w_eps[i].item<double>(), std::min(snr, 5.0) / snr, 1e-9) << i;
  }
  EXPECT_TRUE(torch::equal(min_snr_weight(v_schedule, t, 0.0), torch::ones({3}, torch::kDouble)));
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

TEST(Sampler, TrailingTimestepsAndOneStepIsX0Hat) {
  EXPECT_EQ(sampler_timesteps(1000, 1), (std::vector<int64_t>{999}));
  EXPECT_EQ(sampler_timesteps(1000, 4), (std::vector<int64_t>{999, 749, 499, 249}));
  EXPECT_EQ(sampler_timesteps(1000, 50).back(), 19);
  EXPECT_THROW(sampler_timesteps(1000, 0), Error);
  torch::manual_seed(0);
  UNet model(tiny_unet());
  {  // a trained-looking network: the output convolution is zero at initialisation
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters()) p.add_(0.05 * torch::randn_like(p));
  }
  const NoiseSchedule schedule(ScheduleOptions::legacy());  // eps-prediction
  auto noise_of = [](uint64_t seed) {
    auto generator = train::make_generator(seed);
    return torch::randn({4, 1, 28, 28}, generator);
  };
  const auto labels = torch::tensor({0, 1, 2, 3}, torch::kLong);
  SamplerOptions one;
  one.steps = 1;
  one.solver = Solver::ddim;
  const auto a = sample_diffusion(*model, schedule, noise_of(5), labels, one);
  const auto b = sample_diffusion(*model, schedule, noise_of(5), labels, one);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, sample_diffusion(*model, schedule, noise_of(6), labels, one)));
  // One step from T-1 is x0-hat itself (clamped): (x - sqrt(1-abar) eps) / sqrt(abar).
  torch::NoGradGuard no_grad;
  const auto x = noise_of(5);
  const auto tt = torch::full({4}, 999, torch::kLong);
  const auto e_c = model->forward(x, tt, labels), e_u = model->forward(x, tt, torch::full_like(labels, 10));
  const auto eps = e_u + one.guidance * (e_c - e_u);
  const double abar = schedule.alpha_bar(999);
  const auto expected = ((x - std::sqrt(1 - abar) * eps) / std::sqrt(abar)).clamp(-1, 1);
  EXPECT_TRUE(torch::allclose(a, expected, 1e-5, 1e-5));
  one.solver = Solver::dpm2m;  // one step: both solvers end at x0-hat
  EXPECT_TRUE(torch::allclose(sample_diffusion(*model, schedule, noise_of(5), labels, one), expected, 1e-5, 1e-5));
  // v-prediction: x0-hat = sqrt(abar) x - sqrt(1 - abar) v.
  const NoiseSchedule v_schedule;
  const double abar_v = v_schedule.alpha_bar(999);
  const auto v = e_u + one.guidance * (e_c - e_u);
  EXPECT_TRUE(torch::allclose(sample_diffusion(*model, v_schedule, noise_of(5), labels, one),
                              (std::sqrt(abar_v) * x - std::sqrt(1 - abar_v) * v).clamp(-1, 1), 1e-5, 1e-5));
}

TEST(Sampler, DpmSolverIsDeterministicAndItsSecondOrderStepDiffersFromDdim) {
  torch::manual_seed(0);
  UNet model(tiny_unet());
  {
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters()) p.add_(0.05 * torch::randn_like(p));
  }
  const NoiseSchedule schedule;
  auto generator = train::make_generator(5);
  const auto noise = torch::randn({4, 1, 28, 28}, generator);
  const auto labels = torch::tensor({0, 1, 2, 3}, torch::kLong);
  SamplerOptions dpm;
  dpm.steps = 4;
  const auto a = sample_diffusion(*model, schedule, noise, labels, dpm);
  EXPECT_TRUE(torch::equal(a, sample_diffusion(*model, schedule, noise, labels, dpm)));
  SamplerOptions ddim = dpm;
  ddim.solver = Solver::ddim;
  EXPECT_FALSE(torch::allclose(a, sample_diffusion(*model, schedule, noise, labels, ddim), 1e-4, 1e-4));
  EXPECT_LE(a.abs().max().item<double>(), 1.0);
  EXPECT_THROW(parse_solver("euler"), Error);
}

TEST(UNet, LegacyFilesKeepTheirArchitectureAndParameterNames) {
  // A generator file of one block per level, without the embedding SiLU: the
  // README's former default (795,105 parameters at width 32, levels 1,2,2).
  const auto j = nlohmann::json{{"image_channels", 1}, {"num_classes", 10}, {"channels", 32},
                                {"channel_mult", {1, 2, 2}}, {"groups", 8}, {"attention_heads", 4}};
  const auto legacy = unet_options_from_json(j);
  EXPECT_EQ(legacy.res_blocks, std::vector<int64_t>{1});
  EXPECT_FALSE(legacy.embedding_silu);
  EXPECT_FALSE(legacy.upsample_to_level_width);
  UNet old_model(legacy);
  int64_t count = 0;
  for (const auto& p : old_model->parameters()) count += p.numel();
  EXPECT_EQ(count, 795105);
  // The options round-trip; the new default keeps the old names for its first blocks.
  const UNetOptions current;
  const auto back = unet_options_from_json(to_json(current));
  EXPECT_EQ(back.res_blocks, current.res_blocks);
  EXPECT_EQ(back.attention_levels, current.attention_levels);
  EXPECT_TRUE(back.embedding_silu);
  UNet new_model(current);
  const auto names = new_model->named_parameters();
  for (const auto& item : old_model->named_parameters()) {
    if (item.key().find("_sample") != std::string::npos || item.key().rfind("up", 0) == 0) continue;
    EXPECT_TRUE(names.contains(item.key())) << item.key();
  }
  UNetOptions bad = current;
  bad.attention_levels = {3};
  EXPECT_THROW(UNet{bad}, Error);
  bad = current;
  bad.res_blocks = {1, 2};
  EXPECT_THROW(UNet{bad}, Error);
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

// A generator file's information decides the UNet built before its weights are read:
// widths, levels, blocks, heads, classes, image size and schedule are bounded.
TEST(GeneratorFiles, InformationPastTheBoundsIsRefusedBeforeBuilding) {
  UNet model(tiny_unet());
  const auto dir = ddkit_test::fresh_dir("generator_bounds");
  int n = 0;
  const auto refused = [&](const std::function<void(GeneratorInfo&)>& change, const std::string& what) {
    GeneratorInfo info;
    info.unet = tiny_unet();
    change(info);
    const auto file = dir / ("g" + std::to_string(n++) + ".pt");
    save_generator(file, *model, info);  // the tiny UNet's weights, whatever the information says
    ddkit_test::expect_error([&] { load_generator(file); }, file.string(), what);
  };
  refused([](GeneratorInfo& i) { i.unet.channels = 1 << 20; }, "positive width");
  refused([](GeneratorInfo& i) { i.unet.channel_mult = {1, 2, 4, 8, 8, 8}; }, "levels");
  refused([](GeneratorInfo& i) { i.unet.channel_mult = {1, int64_t{1} << 62}; }, "width");
  refused([](GeneratorInfo& i) { i.unet.res_blocks = {1000}; }, "residual blocks");
  refused([](GeneratorInfo& i) { i.unet.attention_heads = 1 << 20; }, "attention heads");
  refused([](GeneratorInfo& i) { i.unet.num_classes = int64_t{1} << 40; }, "classes");
  refused([](GeneratorInfo& i) { i.height = i.width = 1 << 20; }, "pixels");
  // 64 x 64 images with self-attention only at 32 x 32, the coarsest of two levels: 1,024 pixels
  // is inside the bound, 64 x 64 attention at level 0 is not.
  refused([](GeneratorInfo& i) {
    i.height = i.width = 64;
    i.unet.channel_mult = {1, 2};
    i.unet.res_blocks = {1};
    i.unet.attention_levels = {0};
  }, "self-attention at level 0");
  refused([](GeneratorInfo& i) { i.schedule.steps = int64_t{1} << 40; }, "1..100000");
  refused([](GeneratorInfo& i) {
    i.schedule.kind = ScheduleKind::linear;
    i.schedule.beta_end = 1.5;
  }, "beta");
  // Inside the bounds, the weights must match the UNet the information describes.
  refused([](GeneratorInfo& i) { i.unet.channels = 16; }, "");
  EXPECT_THROW(check_unet_image(tiny_unet(), 0, 28), Error);
  EXPECT_NO_THROW(check_unet_image(UNetOptions{}, 28, 28));  // the default generator's images
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
  SamplerOptions sampler;
  sampler.steps = 10;
  sampler.guidance = 1.0;
  const auto mean_difficulty = [&](const torch::Tensor& x) {
    torch::NoGradGuard no_grad;
    return prob_difficulty(*observer, x, labels, data.normalization).mean().item<double>();
  };
  const double off = mean_difficulty(sample_diffusion(*loaded.model, schedule, noise, labels, sampler));
  // Aim at the far end from where the unguided pool is.
  const double target = off > 0.5 ? 0.0 : 1.0;
  DagGuide dag;
  dag.observer = observer.get();
  dag.normalization = data.normalization;
  dag.scale = 1000.0;
  dag.stop = 0;
  dag.targets = torch::full({n}, target, torch::kDouble);
  const double on = mean_difficulty(sample_diffusion(*loaded.model, schedule, noise, labels, sampler, dag));
  EXPECT_LT(std::abs(on - target), std::abs(off - target) - 0.05) << "off " << off << " on " << on << " target " << target;
}

TEST(DistillDiffusion, WritesAPoolImageSetWithGeneratorInfo) {
  const auto data = ddkit_test::tiny_mnist_dataset("generative_mnist");
  distill::DistillOptions options;
  options.method = distill::Method::diffusion;
  options.ipc = 2;
  options.pool_factor = 2;
  options.seed = 1;
  options.quiet = true;
  options.generation.generator_file = tiny_generator(data);
  options.generation.sampler.steps = 3;
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
