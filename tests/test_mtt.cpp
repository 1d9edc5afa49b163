// MTT (docs/algorithms.md §7): the functional ConvNet, the expert buffer, the
// trajectory-matching iteration and its run loop.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "ddkit/data/tensor_io.h"
#include "ddkit/distill/baselines.h"
#include "ddkit/distill/buffer.h"
#include "ddkit/distill/matching_run.h"
#include "ddkit/distill/mtt.h"
#include "ddkit/models/convnet.h"
#include "ddkit/models/factory.h"
#include "ddkit/models/functional_convnet.h"
#include "ddkit/util/atomic_file.h"
#include "ddkit/util/error.h"
#include "fixtures.h"

using namespace ddkit;
namespace fs = std::filesystem;

namespace {

data::Dataset tiny_dataset() { return ddkit_test::tiny_mnist_dataset("mtt_mnist"); }

distill::BufferOptions tiny_buffer_options(const fs::path& out) {
  distill::BufferOptions o;
  o.experts = 2;
  o.epochs = 3;
  o.width = 16;
  o.batch_size = 32;
  o.quiet = true;
  o.seed = 3;
  o.out = out;
  return o;
}

// One tiny buffer per test process (2 experts x 3 epochs, ConvNet width 16).
const fs::path& tiny_buffer() {
  static const fs::path dir = [] {
    auto d = ddkit_test::fresh_dir("mtt_buffer_" + std::to_string(::getpid())) / "buffer";
    distill::build_buffer(tiny_dataset(), tiny_buffer_options(d));
    return d;
  }();
  return dir;
}

distill::MttOptions tiny_mtt_options(const fs::path& buffer) {
  distill::MttOptions o;
  o.buffer = buffer;
  o.syn_steps = 4;
  o.expert_epochs = 2;
  o.max_start_epoch = 2;
  o.lr_images = 100.0;
  o.lr_lr = 1e-5;
  o.lr_teacher = 0.01;
  o.batch_syn = 10;
  return o;
}

distill::MttDistiller make_distiller(const data::Dataset& data, const fs::path& buffer, distill::MttOptions o,
                                     int64_t ipc = 2, const c10::Device& device = c10::kCPU) {
  distill::RandomOptions init;
  init.ipc = ipc;
  init.seed = 1;
  const auto initial = distill::select_random(data, init);
  return distill::MttDistiller(data, initial.images.to(device), ipc, o, distill::open_buffer(buffer, data));
}

}  // namespace

// ------------------------------------------------------------ functional ConvNet

TEST(FunctionalConvNet, EqualsTheConvNetModuleForTheSameParameters) {
  struct Case {
    models::ImageShape shape;
    int64_t width, depth, classes;
  };
  for (const auto& c : {Case{{1, 28, 28}, 128, 3, 10}, Case{{3, 32, 32}, 16, 2, 7}, Case{{1, 16, 16}, 8, 1, 3}}) {
    at::manual_seed(5);
    models::ConvNetOptions options;
    options.shape = c.shape;
    options.width = c.width;
    options.depth = c.depth;
    options.num_classes = c.classes;
    models::ConvNet net(options);
    const models::FunctionalConvNet f{c.shape, c.classes, c.width, c.depth};
    EXPECT_EQ(f.parameter_count(), models::count_parameters(*net));
    if (c.width == 128) EXPECT_EQ(f.parameter_count(), 317706);
    // Perturb the norm affines so that they matter.
    for (auto& p : net->parameters()) {
      at::NoGradGuard no_grad;
      p.add_(at::randn_like(p) * 0.1);
    }
    const auto theta = models::flatten_parameters(*net);
    const auto x = at::randn({5, c.shape.channels, c.shape.height, c.shape.width});
    at::NoGradGuard no_grad;
    const auto expected = net->forward(x);
    EXPECT_TRUE(at::allclose(f.forward(theta, x, /*fused=*/true), expected, 1e-4, 1e-5));
    EXPECT_TRUE(at::allclose(f.forward(theta, x, /*fused=*/false), expected, 1e-4, 1e-5));
    // Round trip through a module.
    models::ConvNet other(options);
    models::load_flat_parameters(*other, theta);
    EXPECT_TRUE(at::equal(models::flatten_parameters(*other), theta));
  }
}

TEST(FunctionalConvNet, GradientsMatchTheModule) {
  at::manual_seed(2);
  models::ConvNetOptions options;
  options.width = 8;
  models::ConvNet net(options);
  const models::FunctionalConvNet f{options.shape, 10, 8, 3};
  const auto x = at::randn({4, 1, 28, 28});
  const auto y = at::tensor({1, 2, 3, 4}, at::kLong);
  at::cross_entropy_loss(net->forward(x), y).backward();
  std::vector<at::Tensor> grads;
  for (const auto& p : net->parameters()) grads.push_back(p.grad().reshape(-1));
  const auto theta = models::flatten_parameters(*net).requires_grad_(true);
  at::cross_entropy_loss(f.forward(theta, x, false), y).backward();
  EXPECT_TRUE(at::allclose(theta.grad(), at::cat(grads), 1e-4, 1e-6));
}

// ------------------------------------------------------------ buffer

TEST(ExpertBuffer, StoresEveryEpochAsFloat32Rows) {
  const auto data = tiny_dataset();
  const auto buffer = distill::open_buffer(tiny_buffer(), data);
  EXPECT_EQ(buffer.experts, 2);
  EXPECT_EQ(buffer.epochs, 3);
  const auto t0 = buffer.trajectory(0), t1 = buffer.trajectory(1);
  EXPECT_EQ(t0.scalar_type(), at::kFloat);
  EXPECT_EQ(t0.sizes(), (at::IntArrayRef{4, buffer.net.parameter_count()}));
  EXPECT_FALSE(at::equal(t0[0], t1[0]));       // experts start from different inits
  EXPECT_GT((t0[3] - t0[0]).norm().item<double>(), 0.0);  // and move
  EXPECT_TRUE(fs::exists(tiny_buffer() / "expert_0.json"));
  // A trajectory's parameters load into a ConvNet that beats chance on the tiny data.
  models::ConvNetOptions options;
  options.width = 16;
  models::ConvNet net(options);
  models::load_flat_parameters(*net, t0[3]);
  at::NoGradGuard no_grad;
  const auto correct = net->forward(data.test.images).argmax(1).eq(data.test.labels).sum().item<int64_t>();
  EXPECT_GT(correct, data.test.size() / 5);
}

TEST(ExpertBuffer, ResumeAfterAnInterruptionGivesTheUninterruptedFiles) {
  const auto data = tiny_dataset();
  const auto dir = ddkit_test::fresh_dir("mtt_buffer_resume");
  auto o = tiny_buffer_options(dir / "interrupted");
  o.stop_after = 1;  // interrupted after expert 1
  distill::build_buffer(data, o);
  EXPECT_TRUE(fs::exists(o.out / "expert_0.pt"));
  EXPECT_FALSE(fs::exists(o.out / "expert_1.pt"));
  o.stop_after = 0;
  o.resume = true;
  distill::build_buffer(data, o);
  for (int e = 0; e < 2; ++e) {
    const auto name = "expert_" + std::to_string(e) + ".pt";
    EXPECT_TRUE(at::equal(data::load_tensor(o.out / name), data::load_tensor(tiny_buffer() / name))) << name;
  }
  // Resume with other settings is refused.
  o.lr = 0.02;
  EXPECT_THROW(distill::build_buffer(data, o), Error);
}

// ------------------------------------------------------------ MTT iteration

TEST(Mtt, PublishedCifar10Rows) {
  EXPECT_EQ(distill::mtt_defaults(1).syn_steps, 50);
  EXPECT_EQ(distill::mtt_defaults(10).max_start_epoch, 20);
  EXPECT_DOUBLE_EQ(distill::mtt_defaults(10).lr_images, 100000.0);
  EXPECT_DOUBLE_EQ(distill::mtt_defaults(50).lr_lr, 1e-5);
  EXPECT_EQ(distill::mtt_defaults(50).max_start_epoch, 40);
}

TEST(Mtt, LossIsZeroWhenTheStudentReachesTheExpertEndpoint) {
  // A hand-made buffer: one expert whose θ*_2 is set to exactly where the
  // student goes from θ*_0 in this iteration (the endpoint does not depend on
  // the target), so the normalized distance is 0; with θ*_2 one expert step
  // short of it, it is not.
  const auto data = tiny_dataset();
  const auto dir = ddkit_test::fresh_dir("mtt_zero") / "buffer";
  fs::create_directories(dir);
  auto meta = nlohmann::json::parse(std::string(read_file_bytes(tiny_buffer() / "meta.json").data(),
                                                read_file_bytes(tiny_buffer() / "meta.json").size()));
  meta["settings"]["epochs"] = 2;
  write_file_atomic(dir / "meta.json", meta.dump());
  auto trajectory = distill::open_buffer(tiny_buffer(), data).trajectory(0).narrow(0, 0, 3).clone();
  data::save_tensor(dir / "expert_0.pt", trajectory);
  auto o = tiny_mtt_options(dir);
  o.max_start_epoch = 1;
  auto distiller = make_distiller(data, dir, o);
  const uint64_t seed = 11;
  const auto end = distiller.student_endpoint(seed);
  EXPECT_GT(distiller.loss(seed), 0.0);
  trajectory[2].copy_(end);
  data::save_tensor(dir / "expert_0.pt", trajectory);
  EXPECT_NEAR(distiller.loss(seed), 0.0, 1e-12);
  const auto g = distiller.gradients(seed);
  EXPECT_NEAR(g.match_loss, 0.0, 1e-12);
  EXPECT_NEAR(g.images.abs().max().item<double>(), 0.0, 1e-12);  // at the minimum: no gradient
}

TEST(Mtt, GradientReachesTheImagesAndTheLr) {
  const auto data = tiny_dataset();
  auto distiller = make_distiller(data, tiny_buffer(), tiny_mtt_options(tiny_buffer()));
  const auto g = distiller.gradients(4);
  EXPECT_GT(g.match_loss, 0.0);
  EXPECT_TRUE(at::isfinite(g.images).all().item<bool>());
  EXPECT_GT(g.images.abs().sum().item<double>(), 0.0);
  // Every class's images get a gradient (every image takes part in a step).
  for (int64_t c = 0; c < data.num_classes; ++c) {
    EXPECT_GT(g.images.narrow(0, c * 2, 2).abs().sum().item<double>(), 0.0) << c;
  }
  EXPECT_NE(g.lr, 0.0);
  EXPECT_TRUE(std::isfinite(g.lr));
}

TEST(Mtt, StepwiseReverseSweepEqualsTheFullGraph) {
  const auto data = tiny_dataset();
  auto o = tiny_mtt_options(tiny_buffer());
  auto stepwise = make_distiller(data, tiny_buffer(), o);
  o.full_graph = true;
  auto full = make_distiller(data, tiny_buffer(), o);
  for (uint64_t seed : {4u, 9u}) {
    const auto a = stepwise.gradients(seed), b = full.gradients(seed);
    EXPECT_EQ(a.expert, b.expert);
    EXPECT_EQ(a.start_epoch, b.start_epoch);
    EXPECT_NEAR(a.match_loss, b.match_loss, 1e-5 * b.match_loss);
    const double scale = b.images.abs().max().item<double>();
    EXPECT_LT((a.images - b.images).abs().max().item<double>(), 1e-3 * scale);
    EXPECT_NEAR(a.lr, b.lr, 1e-3 * std::abs(b.lr));
  }
}

TEST(Mtt, OneIterationLowersTheLossForTheSameExpertAndStart) {
  const auto data = tiny_dataset();
  auto distiller = make_distiller(data, tiny_buffer(), tiny_mtt_options(tiny_buffer()));
  const uint64_t seed = 7;
  const double before = distiller.loss(seed);
  const double lr_before = distiller.learned_lr();
  EXPECT_NEAR(distiller.step(seed), before, 1e-5 * before);
  const double after = distiller.loss(seed);
  EXPECT_LT(after, before);
  EXPECT_NE(distiller.learned_lr(), lr_before);
}

// The CUDA path (docs/build.md): one iteration on the GPU from the same start, expert and
// seed as on the CPU gives the same images and lr up to float rounding.
TEST(Mtt, OneCudaIterationMatchesTheCpuOne) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA";
  const auto data = tiny_dataset();
  auto on_cpu = make_distiller(data, tiny_buffer(), tiny_mtt_options(tiny_buffer()));
  auto on_cuda = make_distiller(data, tiny_buffer(), tiny_mtt_options(tiny_buffer()), 2, c10::Device(c10::kCUDA));
  const double loss_cpu = on_cpu.step(7);
  const double loss_cuda = on_cuda.step(7);
  EXPECT_TRUE(on_cuda.images().is_cuda());
  EXPECT_NEAR(loss_cuda, loss_cpu, 1e-3 * std::max(1.0, loss_cpu));
  EXPECT_TRUE(at::allclose(on_cuda.images().cpu(), on_cpu.images(), 1e-3, 1e-3));
  EXPECT_NEAR(on_cuda.learned_lr(), on_cpu.learned_lr(), 1e-4 * std::abs(on_cpu.learned_lr()));
}

TEST(Mtt, SdcAddsTheStartPointGradientNormAndLowersIt) {
  const auto data = tiny_dataset();
  auto o = tiny_mtt_options(tiny_buffer());
  o.sdc_lambda = 0.5;
  auto with = make_distiller(data, tiny_buffer(), o);
  const auto g = with.gradients(4);
  EXPECT_GT(g.loss, g.match_loss);
  o.sdc_lambda = 0.0;
  auto without = make_distiller(data, tiny_buffer(), o);
  EXPECT_FALSE(at::allclose(g.images, without.gradients(4).images));
  // With a large λ a few steps lower the penalty part of the loss.
  o.sdc_lambda = 5.0;
  o.lr_images = 1.0;
  auto strong = make_distiller(data, tiny_buffer(), o);
  const auto first = strong.gradients(4);
  for (int i = 0; i < 3; ++i) strong.step(4);
  const auto last = strong.gradients(4);
  EXPECT_LT(last.loss - last.match_loss, first.loss - first.match_loss);
}

TEST(Mtt, RunResumesExactlyAndRecordsTheLearnedLr) {
  const auto data = tiny_dataset();
  const auto dir = ddkit_test::fresh_dir("mtt_run");
  distill::MatchingRunOptions options;
  options.method = distill::Method::mtt;
  options.ipc = 1;
  options.iterations = 3;
  options.checkpoint_every = 1;
  options.quiet = true;
  options.sdc_lambda = 0;
  options.mtt = tiny_mtt_options(tiny_buffer());
  options.mtt.max_start_epoch = 5;  // capped at epochs - M + 1 = 2
  options.out = dir / "full";
  const auto full = distill::run_matching(data, options);
  EXPECT_EQ(full.meta["max_start_epoch"], 2);
  EXPECT_EQ(full.meta["batch_syn"], 10);
  ASSERT_TRUE(full.meta.contains("learned_lr"));
  EXPECT_NE(full.meta["learned_lr"].get<double>(), 0.01);

  options.out = dir / "interrupted";
  options.stop_after = 2;
  EXPECT_EQ(distill::run_matching(data, options).size(), 0);
  options.stop_after = 0;
  options.resume = true;
  const auto resumed = distill::run_matching(data, options);
  EXPECT_TRUE(at::equal(resumed.images, full.images));
  EXPECT_EQ(resumed.meta["learned_lr"].get<double>(), full.meta["learned_lr"].get<double>());
  EXPECT_EQ(resumed.meta["resumed_from"], 2);
  const auto back = data::read_image_set(dir / "interrupted", data);
  EXPECT_EQ(back.meta["learned_lr"].get<double>(), full.meta["learned_lr"].get<double>());

  // No buffer: a user error.
  options.mtt.buffer.clear();
  options.out = dir / "nobuffer";
  EXPECT_THROW(distill::run_matching(data, options), Error);
}
