// A small class-conditional UNet for pixel-space DDPM (docs/algorithms.md §11 [ddkit]):
// residual blocks with GroupNorm and SiLU, a sinusoidal time embedding plus a
// learned class embedding (with one extra "null" class for classifier-free
// guidance, Ho & Salimans 2022), self-attention at the lowest resolution and
// optionally at other levels. Each level after the first halves the resolution
// with a strided convolution (28 -> 14 -> 7 for Fashion-MNIST; odd sizes are
// handled by upsampling to the skip connection's exact size).
//
// The defaults follow the ADM UNet's block (Dhariwal & Nichol 2021, as in
// openai/guided-diffusion): each block reads the embedding through SiLU then
// its own Linear, so the class and the step enter every block non-linearly
// (without the SiLU, the embedding MLP's last Linear and the block's Linear
// collapse into one map and the class is a per-channel bias fixed over t).
// Fields absent from an older generator file take the values that file was
// trained with (UNetOptions::legacy()).
#pragma once
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

namespace ddkit::generative {

struct UNetOptions {
  int64_t image_channels = 1;
  int64_t num_classes = 10;
  int64_t channels = 32;                   // base width
  std::vector<int64_t> channel_mult{1, 2, 2};  // one level per entry; level i > 0 is at 1/2^i resolution
  int64_t groups = 8;                      // GroupNorm groups (clamped to divide the width)
  int64_t attention_heads = 4;
  // Residual blocks per level, on the way down and on the way up (one entry
  // per level; a single entry applies to every level).
  std::vector<int64_t> res_blocks{1, 2, 2};
  // Levels with a self-attention block after each of their residual blocks
  // (besides the one in the middle, always present).
  std::vector<int64_t> attention_levels{};
  bool embedding_silu = true;              // SiLU before each block's embedding Linear (ADM)
  // The up-sampling convolution maps to the next (finer) level's width
  // rather than keeping the coarse one: at 28x28 that halves the cost of the
  // network's most expensive convolution.
  bool upsample_to_level_width = true;

  int64_t blocks_at(size_t level) const;
  // The options of generator files written before these fields existed.
  static UNetOptions legacy();
};
nlohmann::json to_json(const UNetOptions& options);
UNetOptions unet_options_from_json(const nlohmann::json& json);

// Bounds on the UNets ddkit builds. A generator file's information decides the network
// built before its weights are read (generator_io.cpp), so these keep a crafted file from
// asking for gigabytes; ddkit's generators are far inside them (docs/reliability.md).
constexpr size_t kMaxUNetLevels = 5;
constexpr int64_t kMaxUNetWidth = 256;         // --channels x each --channel-mult
constexpr int64_t kMaxUNetBlocks = 4;          // residual blocks per level
constexpr int64_t kMaxUNetImageChannels = 4;
constexpr int64_t kMaxUNetClasses = 4096;
constexpr int64_t kMaxAttentionHeads = 8;
constexpr int64_t kMaxUNetPixels = int64_t{1} << 14;      // height x width: 128 x 128
constexpr int64_t kMaxAttentionPixels = int64_t{1} << 11;  // where self-attention runs: 32 x 64
// Throws ddkit::Error naming the flag for options past the bounds or inconsistent (the
// UNet constructor calls it).
void check_unet_options(const UNetOptions& options);
// Throws ddkit::Error for images the UNet of `options` should not take: past kMaxUNetPixels,
// or with self-attention over more than kMaxAttentionPixels pixels.
void check_unet_image(const UNetOptions& options, int64_t height, int64_t width);

// Residual block: GN-SiLU-Conv, + Linear(embedding), GN-SiLU-Conv, + skip.
class ResBlockImpl : public torch::nn::Module {
 public:
  ResBlockImpl(int64_t in, int64_t out, int64_t embedding_dim, int64_t groups, bool embedding_silu);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& embedding);

 private:
  torch::nn::GroupNorm norm1_{nullptr}, norm2_{nullptr};
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, skip_{nullptr};
  torch::nn::Linear embedding_{nullptr};
  bool embedding_silu_;
};
TORCH_MODULE(ResBlock);

// Multi-head self-attention over the H*W positions, residual.
class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(int64_t channels, int64_t heads, int64_t groups);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  int64_t heads_;
  torch::nn::GroupNorm norm_{nullptr};
  torch::nn::Conv2d qkv_{nullptr}, out_{nullptr};
};
TORCH_MODULE(Attention);

class UNetImpl : public torch::nn::Module {
 public:
  explicit UNetImpl(UNetOptions options);
  // x_t: N x C x H x W; t: N step indices (int64, 0-based); labels: N in
  // [0, num_classes], num_classes being the null class. Returns eps-hat.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& labels);
  const UNetOptions& options() const { return options_; }
  int64_t null_class() const { return options_.num_classes; }

 private:
  UNetOptions options_;
  torch::nn::Linear time1_{nullptr}, time2_{nullptr};
  torch::nn::Embedding class_embedding_{nullptr};
  torch::nn::Conv2d input_{nullptr}, output_{nullptr};
  // Per level, its residual blocks and (if the level has attention) one
  // attention block after each; up_ is ordered from the coarsest level.
  std::vector<std::vector<ResBlock>> down_, up_;
  std::vector<std::vector<Attention>> down_attention_, up_attention_;
  std::vector<torch::nn::Conv2d> downsample_, upsample_;
  ResBlock middle1_{nullptr}, middle2_{nullptr};
  Attention attention_{nullptr};
  torch::nn::GroupNorm output_norm_{nullptr};
};
TORCH_MODULE(UNet);

// Sinusoidal embedding of step indices (Vaswani et al. 2017, as in DDPM): N x dim.
torch::Tensor timestep_embedding(const torch::Tensor& t, int64_t dim);

}  // namespace ddkit::generative
