// Tests for DSA (docs/algorithms.md §4). Exact-value tests re-create the draws the way
// dsa.cpp documents them: in a Siamese call, draw k comes from a fresh CPU
// generator seeded with seed + k; in S mode draw 0 is the family choice.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "ddkit/augment/dsa.h"
#include "ddkit/util/error.h"

namespace {

using ddkit::augment::dsa_augment;
using ddkit::augment::DsaOptions;
using ddkit::augment::strategy_without_flip;

const std::vector<std::string> kFamilies = {"color", "crop", "cutout", "flip", "scale", "rotate"};

at::Generator cpu_generator(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

at::Tensor random_images(at::IntArrayRef shape, uint64_t seed) {
  return at::rand(shape, cpu_generator(seed));
}

DsaOptions single_family(const std::string& family) {
  DsaOptions options;
  options.strategy = family;
  options.single_mode = true;
  return options;
}

DsaOptions all_families_in_order() {
  DsaOptions options;
  options.single_mode = false;
  return options;
}

at::Tensor siamese(const at::Tensor& x, const DsaOptions& options, int64_t seed) {
  return dsa_augment(x, options, seed, at::Generator());
}

at::Tensor per_sample(const at::Tensor& x, const DsaOptions& options, uint64_t generator_seed) {
  return dsa_augment(x, options, std::nullopt, cpu_generator(generator_seed));
}

// Draw `seed` of a Siamese call, re-created.
double siamese_uniform(int64_t seed) {
  return at::rand({1}, cpu_generator(seed)).item<double>();
}
int64_t siamese_integer(int64_t seed, int64_t low, int64_t high) {
  return at::randint(low, high, {1}, cpu_generator(seed)).item<int64_t>();
}

bool close(const at::Tensor& a, const at::Tensor& b, double tolerance = 1e-6) {
  return a.sizes() == b.sizes() && at::allclose(a, b, /*rtol=*/0, /*atol=*/tolerance);
}

// x (C x H x W) translated so that output (i, j) = x(i + dy, j + dx), zero outside.
at::Tensor shifted_with_zero_fill(const at::Tensor& x, int64_t dy, int64_t dx) {
  auto out = at::zeros_like(x);
  const int64_t h = x.size(1), w = x.size(2);
  for (int64_t i = 0; i < h; ++i)
    for (int64_t j = 0; j < w; ++j)
      if (i + dy >= 0 && i + dy < h && j + dx >= 0 && j + dx < w)
        out.select(1, i).select(1, j).copy_(x.select(1, i + dy).select(1, j + dx));
  return out;
}

// ---------------------------------------------------------------- gradients

TEST(DsaGradient, EveryFamilyGivesAFiniteNonZeroGradient) {
  for (const auto& family : kFamilies) {
    for (const bool use_seed : {true, false}) {
      SCOPED_TRACE(family + (use_seed ? " siamese" : " per-sample"));
      const auto x = random_images({4, 3, 8, 8}, 1).requires_grad_();
      const auto weights = random_images({4, 3, 8, 8}, 2);
      const auto y = use_seed ? siamese(x, single_family(family), 5)
                              : per_sample(x, single_family(family), 5);
      (y * weights).sum().backward();
      ASSERT_TRUE(x.grad().defined());
      EXPECT_TRUE(x.grad().isfinite().all().item<bool>());
      EXPECT_GT(x.grad().abs().sum().item<double>(), 0.0);
    }
  }
}

// Every op is affine in x once its parameters are drawn, so a central
// difference matches the autograd directional derivative almost exactly.
TEST(DsaGradient, GradientMatchesFiniteDifferences) {
  const auto x = random_images({3, 3, 7, 9}, 3).to(at::kDouble);
  const auto weights = random_images({3, 3, 7, 9}, 4).to(at::kDouble);
  const auto direction = random_images({3, 3, 7, 9}, 5).to(at::kDouble);
  for (const auto& family : kFamilies) {
    SCOPED_TRACE(family);
    const auto loss = [&](const at::Tensor& input) {
      return (siamese(input, single_family(family), 11) * weights).sum();
    };
    const auto input = x.clone().requires_grad_();
    loss(input).backward();
    const double analytic = (input.grad() * direction).sum().item<double>();
    const double step = 1e-3;
    const double numeric =
        (loss(x + step * direction) - loss(x - step * direction)).item<double>() / (2 * step);
    EXPECT_NEAR(analytic, numeric, 1e-8 * std::max(1.0, std::abs(numeric)));
  }
}

// ---------------------------------------------------------------- Siamese

std::vector<DsaOptions> strategies_to_check() {
  std::vector<DsaOptions> all;
  for (const auto& family : kFamilies) all.push_back(single_family(family));
  all.push_back(DsaOptions{});
  all.push_back(all_families_in_order());
  return all;
}

TEST(DsaSiamese, SameSeedGivesSameTransformInBatchesOfDifferentSizes) {
  const auto big = random_images({7, 3, 12, 12}, 6);
  auto small = random_images({3, 3, 12, 12}, 7);
  small[0].copy_(big[0]);
  small[2].copy_(big[5]);
  for (const auto& options : strategies_to_check()) {
    for (int64_t seed = 0; seed < 5; ++seed) {
      SCOPED_TRACE(options.strategy + (options.single_mode ? " S" : " M") + " seed " +
                   std::to_string(seed));
      const auto out_big = siamese(big, options, seed);
      const auto out_small = siamese(small, options, seed);
      EXPECT_TRUE(close(out_big[0], out_small[0]));
      EXPECT_TRUE(close(out_big[5], out_small[2]));
    }
  }
}

TEST(DsaSiamese, CopiesOfOneImageGetIdenticalOutputs) {
  const auto copies = random_images({1, 3, 10, 10}, 8).expand({6, 3, 10, 10}).contiguous();
  for (const auto& options : strategies_to_check()) {
    for (int64_t seed = 0; seed < 5; ++seed) {
      SCOPED_TRACE(options.strategy + " seed " + std::to_string(seed));
      const auto out = siamese(copies, options, seed);
      for (int64_t k = 1; k < 6; ++k) EXPECT_TRUE(close(out[k], out[0])) << "sample " << k;
    }
  }
}

TEST(DsaSiamese, DifferentSeedsGiveDifferentTransforms) {
  const auto x = random_images({2, 3, 10, 10}, 9);
  for (const auto& options : {DsaOptions{}, all_families_in_order()}) {
    const auto first = siamese(x, options, 0);
    bool any_different = false;
    for (int64_t seed = 1; seed < 6; ++seed) any_different |= !close(siamese(x, options, seed), first);
    EXPECT_TRUE(any_different) << (options.single_mode ? "S" : "M");
  }
  // Rotation angles are continuous: every seed gives its own rotation.
  const auto rotated = siamese(x, single_family("rotate"), 0);
  for (int64_t seed = 1; seed < 6; ++seed)
    EXPECT_FALSE(close(siamese(x, single_family("rotate"), seed), rotated)) << seed;
}

TEST(DsaRandomness, NeverTouchesTheGlobalRngNorTheGeneratorWhenSiamese) {
  auto global = at::detail::getDefaultCPUGenerator();
  const auto global_before = global.get_state();
  auto generator = cpu_generator(21);
  const auto x = random_images({4, 3, 8, 8}, 10);
  siamese(x, all_families_in_order(), 3);
  dsa_augment(x, all_families_in_order(), 3, generator);
  EXPECT_TRUE(at::equal(generator.get_state(), cpu_generator(21).get_state()));
  per_sample(x, all_families_in_order(), 4);
  EXPECT_TRUE(at::equal(global.get_state(), global_before));
}

// ---------------------------------------------------------------- per-sample

TEST(DsaPerSample, IdenticalImagesGetDifferentParameters) {
  const auto copies = random_images({1, 3, 10, 10}, 11).expand({8, 3, 10, 10}).contiguous();
  for (const auto& family : {"rotate", "scale", "color"}) {
    SCOPED_TRACE(family);
    const auto out = per_sample(copies, single_family(family), 12);
    for (int64_t k = 1; k < 8; ++k) EXPECT_FALSE(close(out[k], out[0])) << "sample " << k;
  }
}

TEST(DsaPerSample, SameGeneratorSeedReproducesTheOutput) {
  const auto x = random_images({5, 3, 10, 10}, 13);
  for (const auto& options : {DsaOptions{}, all_families_in_order()}) {
    EXPECT_TRUE(at::equal(per_sample(x, options, 42), per_sample(x, options, 42)));
  }
  EXPECT_FALSE(close(per_sample(x, all_families_in_order(), 42),
                     per_sample(x, all_families_in_order(), 43)));
}

TEST(DsaPerSample, CropShiftsEachSampleOnItsOwn) {
  DsaOptions options = single_family("crop");
  options.crop_ratio = 0.25;  // shifts in [-2, 2] on 8 x 8
  const auto x = random_images({6, 2, 8, 8}, 14);
  const auto out = per_sample(x, options, 15);
  std::set<std::pair<int64_t, int64_t>> shifts_seen;
  for (int64_t k = 0; k < 6; ++k) {
    bool matched = false;
    for (int64_t dy = -2; dy <= 2 && !matched; ++dy)
      for (int64_t dx = -2; dx <= 2 && !matched; ++dx)
        if (at::equal(out[k], shifted_with_zero_fill(x[k], dy, dx))) {
          matched = true;
          shifts_seen.insert({dy, dx});
        }
    EXPECT_TRUE(matched) << "sample " << k << " is not a zero-filled shift within range";
  }
  EXPECT_GT(shifts_seen.size(), 1u);
}

TEST(DsaPerSample, SModeAppliesOneFamilyToTheWholeBatch) {
  // On a constant image cutout leaves exact zeros and ones, and color leaves a
  // constant 1 + (r - 0.5) with no zeros: every sample must show the same one.
  DsaOptions options = single_family("cutout_color");
  const auto ones = at::ones({6, 1, 8, 8});
  auto generator = cpu_generator(16);
  std::set<bool> outcomes;
  for (int call = 0; call < 20; ++call) {
    const auto out = dsa_augment(ones, options, std::nullopt, generator);
    const auto has_zeros = (out == 0).flatten(1).any(1);
    EXPECT_TRUE(at::equal(has_zeros, has_zeros[0].expand({6}))) << "call " << call;
    outcomes.insert(has_zeros[0].item<bool>());
  }
  EXPECT_EQ(outcomes.size(), 2u) << "both families should be picked over 20 calls";
}

TEST(DsaPerSample, NeedsAGeneratorWithoutASeed) {
  EXPECT_THROW(dsa_augment(at::ones({1, 1, 4, 4}), DsaOptions{}, std::nullopt, at::Generator()),
               c10::Error);
}

// ---------------------------------------------------------------- exact values

TEST(DsaExact, FlipWithProbabilityOneAndZero) {
  const auto x = random_images({4, 3, 5, 6}, 17);
  DsaOptions options = single_family("flip");
  options.flip_probability = 1.0;
  EXPECT_TRUE(at::equal(per_sample(x, options, 1), x.flip({3})));
  EXPECT_TRUE(at::equal(siamese(x, options, 1), x.flip({3})));
  options.flip_probability = 0.0;
  EXPECT_TRUE(at::equal(per_sample(x, options, 1), x));
}

TEST(DsaExact, FlipFollowsTheDrawnValue) {
  const auto x = random_images({2, 3, 5, 6}, 18);
  for (int64_t seed = 0; seed < 10; ++seed) {
    const bool flips = siamese_uniform(seed + 1) < 0.5;  // draw 0 picks the family
    EXPECT_TRUE(at::equal(siamese(x, single_family("flip"), seed), flips ? x.flip({3}) : x)) << seed;
  }
}

TEST(DsaExact, BrightnessOfAConstantImageWithAKnownDraw) {
  // Saturation and contrast leave a constant image unchanged, so color only
  // adds (r - 0.5) * brightness, r being draw 1 (draw 0 picks the family).
  const auto gray = at::full({3, 3, 5, 5}, 0.3);
  for (int64_t seed = 0; seed < 5; ++seed) {
    const double expected = 0.3 + (siamese_uniform(seed + 1) - 0.5) * 1.0;
    EXPECT_TRUE(close(siamese(gray, single_family("color"), seed), at::full_like(gray, expected)))
        << seed;
  }
}

TEST(DsaExact, ColorIsBrightnessThenSaturationThenContrast) {
  const auto x = random_images({2, 3, 5, 5}, 19);
  const DsaOptions options = single_family("color");
  const int64_t seed = 30;
  const double brightness = siamese_uniform(seed + 1);
  const double saturation = siamese_uniform(seed + 2);
  const double contrast = siamese_uniform(seed + 3);
  auto expected = x + (brightness - 0.5) * options.brightness;
  auto gray = expected.mean({1}, true);
  expected = (expected - gray) * (saturation * options.saturation) + gray;
  auto mean = expected.mean({1, 2, 3}, true);
  expected = (expected - mean) * (contrast + options.contrast) + mean;
  EXPECT_TRUE(close(siamese(x, options, seed), expected));
}

TEST(DsaExact, CropIsAZeroFilledShiftByTheDrawnAmount) {
  DsaOptions options = single_family("crop");
  options.crop_ratio = 0.25;  // rows shift in [-2, 2] (H = 8), columns in [-3, 3] (W = 12)
  const auto image = random_images({1, 2, 8, 12}, 20);
  auto one_hot = at::zeros({1, 1, 8, 12});
  one_hot[0][0][4][6] = 1.0;
  std::set<std::pair<int64_t, int64_t>> shifts_seen;
  for (int64_t seed = 0; seed < 30; ++seed) {
    SCOPED_TRACE(seed);
    const int64_t dy = siamese_integer(seed + 1, -2, 3);
    const int64_t dx = siamese_integer(seed + 2, -3, 4);
    shifts_seen.insert({dy, dx});
    EXPECT_TRUE(at::equal(siamese(image, options, seed)[0], shifted_with_zero_fill(image[0], dy, dx)));
    const auto moved = siamese(one_hot, options, seed)[0][0];
    EXPECT_EQ(moved.sum().item<double>(), 1.0);
    EXPECT_EQ(moved[4 - dy][6 - dx].item<double>(), 1.0);
  }
  EXPECT_GT(shifts_seen.size(), 5u);
}

TEST(DsaExact, CropReturnsNchwStrides) {
  // Channels-last strides would send the next convolution to other kernels
  // (and for one channel they even pass is_contiguous()).
  for (int64_t channels : {1, 3}) {
    const auto out = siamese(random_images({4, channels, 8, 12}, 21), single_family("crop"), 5);
    // The tensor is kept: strides() is a view into it (ASan found the temporary's freed strides).
    const auto reference = at::empty({4, channels, 8, 12});
    EXPECT_EQ(out.strides(), reference.strides()) << channels;
    EXPECT_EQ(out.suggest_memory_format(), at::MemoryFormat::Contiguous) << channels;
  }
}

TEST(DsaExact, CutoutZeroesTheDrawnSquareClippedAtTheBorder) {
  for (const int64_t size : {8, 7}) {
    for (const double ratio : {0.5, 0.4}) {  // sides 4 (even) and 3 (odd)
      DsaOptions options = single_family("cutout");
      options.cutout_ratio = ratio;
      const auto side = static_cast<int64_t>(size * ratio + 0.5);
      const auto ones = at::ones({1, 2, size, size});
      bool saw_full_square = false;
      for (int64_t seed = 0; seed < 40; ++seed) {
        SCOPED_TRACE("size " + std::to_string(size) + " side " + std::to_string(side) + " seed " +
                     std::to_string(seed));
        const int64_t high = size + (1 - side % 2);
        const int64_t centre_row = siamese_integer(seed + 1, 0, high);
        const int64_t centre_col = siamese_integer(seed + 2, 0, high);
        const int64_t top = std::max<int64_t>(0, centre_row - side / 2);
        const int64_t bottom = std::min<int64_t>(size - 1, centre_row - side / 2 + side - 1);
        const int64_t left = std::max<int64_t>(0, centre_col - side / 2);
        const int64_t right = std::min<int64_t>(size - 1, centre_col - side / 2 + side - 1);
        auto expected = at::ones({2, size, size});
        using at::indexing::Slice;
        expected.index_put_({Slice(), Slice(top, bottom + 1), Slice(left, right + 1)}, 0);
        const auto out = siamese(ones, options, seed)[0];
        EXPECT_TRUE(at::equal(out, expected));
        const auto zeros = (out == 0).sum().item<int64_t>();
        EXPECT_LE(zeros, 2 * side * side);
        saw_full_square |= zeros == 2 * side * side;
      }
      EXPECT_TRUE(saw_full_square) << "size " << size << " ratio " << ratio;
    }
  }
}

TEST(DsaExact, ScaleRatioOneAndRotateZeroAreIdentity) {
  const auto x = random_images({3, 3, 9, 7}, 22);
  DsaOptions scale = single_family("scale");
  scale.scale_ratio = 1.0;
  DsaOptions rotate = single_family("rotate");
  rotate.rotate_degrees = 0.0;
  for (const auto& options : {scale, rotate}) {
    EXPECT_TRUE(close(siamese(x, options, 2), x, 1e-5)) << options.strategy;
    EXPECT_TRUE(close(per_sample(x, options, 2), x, 1e-5)) << options.strategy;
  }
  // And the defaults do move pixels.
  EXPECT_FALSE(close(siamese(x, single_family("scale"), 2), x, 1e-3));
  EXPECT_FALSE(close(siamese(x, single_family("rotate"), 2), x, 1e-3));
}

TEST(DsaExact, ScaleStretchesColumnsBySxAndRowsBySy) {
  // Bilinear sampling reproduces a linear ramp exactly, so each output pixel
  // holds the input coordinate it sampled: column sx * x, row sy * y in the
  // normalized [-1, 1] coordinates of align_corners=true.
  const int64_t h = 9, w = 11;
  const auto rows = at::arange(h, at::kFloat).view({h, 1});
  const auto cols = at::arange(w, at::kFloat).view({1, w});
  const auto ramp = (cols + 100 * rows).view({1, 1, h, w});
  const DsaOptions options = single_family("scale");
  const double ratio = options.scale_ratio;
  for (int64_t seed = 0; seed < 5; ++seed) {
    const double sx = siamese_uniform(seed + 1) * (ratio - 1 / ratio) + 1 / ratio;
    const double sy = siamese_uniform(seed + 2) * (ratio - 1 / ratio) + 1 / ratio;
    const auto out = siamese(ramp, options, seed)[0][0];
    for (int64_t i = 0; i < h; ++i) {
      for (int64_t j = 0; j < w; ++j) {
        const double x = sx * (-1.0 + 2.0 * j / (w - 1));
        const double y = sy * (-1.0 + 2.0 * i / (h - 1));
        if (std::abs(x) > 1 || std::abs(y) > 1) continue;  // zero padding blends in
        const double expected = (x + 1) / 2 * (w - 1) + 100 * (y + 1) / 2 * (h - 1);
        EXPECT_NEAR(out[i][j].item<double>(), expected, 1e-3) << seed << " " << i << " " << j;
      }
    }
  }
}

TEST(DsaExact, RotateUsesTheSpecifiedMatrix) {
  // Choose rotate_degrees so that the drawn angle is exactly +90 degrees; the
  // reference's map [[cos, -sin], [sin, cos]] then samples input
  // (x, y) = (-y_out, x_out), i.e. out[i][j] = in[j][H - 1 - i] on a square image.
  const int64_t seed = 3;
  const double u = siamese_uniform(seed + 1);
  DsaOptions options = single_family("rotate");
  options.rotate_degrees = 90.0 / ((u - 0.5) * 2);
  const auto x = random_images({1, 2, 6, 6}, 27);
  auto expected = at::empty_like(x);
  for (int64_t i = 0; i < 6; ++i)
    for (int64_t j = 0; j < 6; ++j)
      expected.select(2, i).select(2, j).copy_(x.select(2, j).select(2, 5 - i));
  EXPECT_TRUE(close(siamese(x, options, seed), expected, 1e-4));
}

// ---------------------------------------------------------------- strategy

TEST(DsaStrategy, UnknownFamilyThrowsAUserError) {
  const auto x = at::ones({1, 1, 4, 4});
  for (const bool single_mode : {true, false}) {
    DsaOptions options;
    options.single_mode = single_mode;
    options.strategy = "color_xyz";
    try {
      siamese(x, options, 0);
      FAIL() << "expected ddkit::Error";
    } catch (const ddkit::Error& e) {
      EXPECT_EQ(e.subject(), "--dsa-strategy");
      EXPECT_EQ(e.problem(), "unknown augmentation family 'xyz'");
    }
  }
}

TEST(DsaStrategy, EmptyStrategyReturnsTheInput) {
  const auto x = random_images({2, 3, 4, 4}, 23);
  DsaOptions options;
  options.strategy = "";
  EXPECT_TRUE(siamese(x, options, 0).is_same(x));
  EXPECT_TRUE(dsa_augment(x, options, std::nullopt, at::Generator()).is_same(x));
}

TEST(DsaStrategy, WithoutFlip) {
  EXPECT_EQ(strategy_without_flip("color_crop_cutout_flip_scale_rotate"),
            "color_crop_cutout_scale_rotate");
  EXPECT_EQ(strategy_without_flip("flip_color"), "color");
  EXPECT_EQ(strategy_without_flip("flip"), "");
  EXPECT_EQ(strategy_without_flip("crop"), "crop");
  EXPECT_EQ(strategy_without_flip(""), "");
}

TEST(DsaStrategy, SModeWithAFixedSeedPicksTheSameFamilyEachCall) {
  const auto x = random_images({3, 3, 10, 10}, 24);
  const DsaOptions options;  // the default strategy, S mode
  std::set<std::string> picked;
  for (int64_t seed = 0; seed < 60; ++seed) {
    SCOPED_TRACE(seed);
    const auto first = siamese(x, options, seed);
    EXPECT_TRUE(at::equal(siamese(x, options, seed), first));
    EXPECT_TRUE(at::equal(siamese(x, options, seed), first));
    // Draw 0 picks the family; a one-family strategy spends the same draw, so
    // the output equals that family's alone under the same seed.
    const auto& family = kFamilies[siamese_integer(seed, 0, 6)];
    EXPECT_TRUE(at::equal(first, siamese(x, single_family(family), seed))) << family;
    picked.insert(family);
  }
  EXPECT_EQ(picked.size(), kFamilies.size());
}

TEST(DsaStrategy, MModeAppliesEveryFamilyInOrderAdvancingTheSeed) {
  // M mode spends no family draw: color uses seeds s..s+2, crop s+3..s+4,
  // cutout s+5..s+6, flip s+7, scale s+8..s+9, rotate s+10. A one-family S call
  // with seed t spends t on the choice, so its op draws start at t + 1.
  DsaOptions options = all_families_in_order();
  options.flip_probability = 1.0;
  const auto x = random_images({2, 3, 10, 10}, 25);
  const int64_t s = 100;
  const auto alone = [&](const std::string& family) {
    DsaOptions one = options;
    one.strategy = family;
    one.single_mode = true;
    return one;
  };
  auto expected = siamese(x, alone("color"), s - 1);
  expected = siamese(expected, alone("crop"), s + 2);
  expected = siamese(expected, alone("cutout"), s + 4);
  expected = siamese(expected, alone("flip"), s + 6);
  expected = siamese(expected, alone("scale"), s + 7);
  expected = siamese(expected, alone("rotate"), s + 9);
  EXPECT_TRUE(close(siamese(x, options, s), expected));
}

// ---------------------------------------------------------------- devices

TEST(DsaDevice, CudaMatchesCpu) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA";
  const auto x = random_images({4, 3, 10, 10}, 26);
  for (const auto& options : strategies_to_check()) {
    const auto on_cpu = siamese(x, options, 7);
    const auto on_cuda = siamese(x.to(at::kCUDA), options, 7);
    EXPECT_TRUE(on_cuda.is_cuda());
    EXPECT_TRUE(close(on_cuda.cpu(), on_cpu, 1e-5)) << options.strategy;
  }
}

}  // namespace
