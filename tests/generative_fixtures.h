// A tiny generator for the tests of the generative route: width 8, two levels
// (28 and 14), 1 and 2 residual blocks, attention at 14x14 — every structural
// option of the UNet, at a size that trains in seconds.
#pragma once
#include <filesystem>

#include "ddkit/generative/train_generator.h"

namespace ddkit_test {

inline ddkit::generative::UNetOptions tiny_unet() {
  ddkit::generative::UNetOptions o;
  o.channels = 8;
  o.channel_mult = {1, 2};
  o.res_blocks = {1, 2};
  o.attention_levels = {1};
  return o;
}

// `steps` steps of batch 16, checkpoints every 5, no FID checks.
inline ddkit::generative::GenTrainOptions tiny_training(const std::filesystem::path& out, int64_t steps) {
  ddkit::generative::GenTrainOptions o;
  o.unet = tiny_unet();
  o.steps = steps;
  o.batch = 16;
  o.lr = 2e-3;
  o.warmup = 5;
  o.checkpoint_every = 5;
  o.fid_every = 0;
  o.seed = 3;
  o.quiet = true;
  o.out = out;
  return o;
}

}  // namespace ddkit_test
