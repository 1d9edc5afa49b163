// The networks of fuzz_model's seeds (fuzz/make_model_corpus.cpp writes them; fuzz_model
// builds the generator again to read checkpoints into).
#pragma once
#include "ddkit/generative/generator_io.h"
#include "ddkit/train/model_io.h"

namespace ddkit_fuzz {

// ConvNet of depth 1 on 1x2x2 images, 2 classes: the ConvNet family's layout (conv,
// instance norm, pooling, linear head) at 1,794 parameters.
inline ddkit::train::ModelInfo seed_model_info() {
  ddkit::train::ModelInfo info;
  info.model_name = "convnet-d1";
  info.shape = {1, 2, 2};
  info.num_classes = 2;
  info.dataset = "fuzz";
  return info;
}

// A one-level UNet of width 4 on 1x4x4 images, 2 classes, attention in the middle: 2,281
// parameters.
inline ddkit::generative::GeneratorInfo seed_generator_info() {
  ddkit::generative::GeneratorInfo info;
  info.unet.image_channels = 1;
  info.unet.num_classes = 2;
  info.unet.channels = 4;
  info.unet.channel_mult = {1};
  info.unet.res_blocks = {1};
  info.unet.groups = 2;
  info.unet.attention_heads = 1;
  info.height = 4;
  info.width = 4;
  info.dataset = "fuzz";
  return info;
}

}  // namespace ddkit_fuzz
