#include "ddkit/generative/unet.h"

#include <algorithm>
#include <cmath>

#include <torch/torch.h>

#include "ddkit/util/error.h"

namespace F = torch::nn::functional;

namespace ddkit::generative {
namespace {

// Largest divisor of `channels` not above `groups`.
int64_t group_count(int64_t channels, int64_t groups) {
  int64_t g = std::max<int64_t>(1, std::min(groups, channels));
  while (channels % g != 0) --g;
  return g;
}

torch::nn::GroupNorm group_norm(int64_t channels, int64_t groups) {
  return torch::nn::GroupNorm(torch::nn::GroupNormOptions(group_count(channels, groups), channels));
}

torch::nn::Conv2d conv3(int64_t in, int64_t out, int64_t stride = 1) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1));
}

}  // namespace

int64_t UNetOptions::blocks_at(size_t level) const {
  if (res_blocks.empty()) return 1;
  return res_blocks.size() == 1 ? res_blocks.front() : res_blocks.at(level);
}

UNetOptions UNetOptions::legacy() {
  UNetOptions o;
  o.res_blocks = {1};
  o.attention_levels = {};
  o.embedding_silu = false;
  o.upsample_to_level_width = false;
  return o;
}

nlohmann::json to_json(const UNetOptions& o) {
  return {{"image_channels", o.image_channels},
          {"num_classes", o.num_classes},
          {"channels", o.channels},
          {"channel_mult", o.channel_mult},
          {"groups", o.groups},
          {"attention_heads", o.attention_heads},
          {"res_blocks", o.res_blocks},
          {"attention_levels", o.attention_levels},
          {"embedding_silu", o.embedding_silu},
          {"upsample_to_level_width", o.upsample_to_level_width}};
}

UNetOptions unet_options_from_json(const nlohmann::json& j) {
  const auto legacy = UNetOptions::legacy();  // what a file without the newer fields was trained with
  UNetOptions o;
  o.image_channels = j.at("image_channels").get<int64_t>();
  o.num_classes = j.at("num_classes").get<int64_t>();
  o.channels = j.at("channels").get<int64_t>();
  o.channel_mult = j.at("channel_mult").get<std::vector<int64_t>>();
  o.groups = j.at("groups").get<int64_t>();
  o.attention_heads = j.at("attention_heads").get<int64_t>();
  o.res_blocks = j.value("res_blocks", legacy.res_blocks);
  o.attention_levels = j.value("attention_levels", legacy.attention_levels);
  o.embedding_silu = j.value("embedding_silu", legacy.embedding_silu);
  o.upsample_to_level_width = j.value("upsample_to_level_width", legacy.upsample_to_level_width);
  return o;
}

torch::Tensor timestep_embedding(const torch::Tensor& t, int64_t dim) {
  const int64_t half = dim / 2;
  auto freqs = torch::exp(-std::log(10000.0) *
                          torch::arange(half, torch::TensorOptions(torch::kFloat).device(t.device())) / half);
  auto args = t.to(torch::kFloat).unsqueeze(1) * freqs.unsqueeze(0);
  auto embedding = torch::cat({torch::cos(args), torch::sin(args)}, 1);
  if (dim % 2 == 1) embedding = F::pad(embedding, F::PadFuncOptions({0, 1}));
  return embedding;
}

ResBlockImpl::ResBlockImpl(int64_t in, int64_t out, int64_t embedding_dim, int64_t groups, bool embedding_silu)
    : norm1_(register_module("norm1", group_norm(in, groups))),
      norm2_(register_module("norm2", group_norm(out, groups))),
      conv1_(register_module("conv1", conv3(in, out))),
      conv2_(register_module("conv2", conv3(out, out))),
      embedding_(register_module("embedding", torch::nn::Linear(embedding_dim, out))),
      embedding_silu_(embedding_silu) {
  if (in != out) skip_ = register_module("skip", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 1)));
  // Start each block near the identity (common DDPM practice).
  torch::NoGradGuard no_grad;
  conv2_->weight.zero_();
  conv2_->bias.zero_();
}

torch::Tensor ResBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& embedding) {
  auto h = conv1_(torch::silu(norm1_(x)));
  h = h + embedding_(embedding_silu_ ? torch::silu(embedding) : embedding).unsqueeze(-1).unsqueeze(-1);
  h = conv2_(torch::silu(norm2_(h)));
  return h + (skip_ ? skip_(x) : x);
}

AttentionImpl::AttentionImpl(int64_t channels, int64_t heads, int64_t groups)
    : heads_(group_count(channels, heads)),
      norm_(register_module("norm", group_norm(channels, groups))),
      qkv_(register_module("qkv", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, 3 * channels, 1)))),
      out_(register_module("out", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, channels, 1)))) {
  torch::NoGradGuard no_grad;
  out_->weight.zero_();
  out_->bias.zero_();
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3), d = c / heads_;
  auto qkv = qkv_(norm_(x)).reshape({n, 3, heads_, d, h * w});
  auto q = qkv.select(1, 0), k = qkv.select(1, 1), v = qkv.select(1, 2);  // n x heads x d x hw
  auto weights = torch::softmax(torch::matmul(q.transpose(-1, -2), k) / std::sqrt(static_cast<double>(d)), -1);
  auto y = torch::matmul(v, weights.transpose(-1, -2));  // n x heads x d x hw
  return x + out_(y.reshape({n, c, h, w}));
}

void check_unet_options(const UNetOptions& o) {
  const size_t levels = o.channel_mult.size();
  if (levels == 0 || levels > kMaxUNetLevels || o.channels < 1 || o.channels > kMaxUNetWidth) {
    throw Error("--channels", "the UNet needs a positive width and 1.." + std::to_string(kMaxUNetLevels) +
                                  " levels (--channel-mult)");
  }
  for (auto mult : o.channel_mult) {
    if (mult < 1 || mult > kMaxUNetWidth || o.channels * mult > kMaxUNetWidth) {
      throw Error("--channel-mult", "every level's width (--channels x multiplier) must be 1.." +
                                        std::to_string(kMaxUNetWidth));
    }
  }
  if (o.res_blocks.size() > 1 && o.res_blocks.size() != levels) {
    throw Error("--res-blocks", std::to_string(o.res_blocks.size()) + " counts for " + std::to_string(levels) +
                                    " levels (--channel-mult): give one count, or one per level");
  }
  for (size_t i = 0; i < levels; ++i) {
    if (o.blocks_at(i) < 1 || o.blocks_at(i) > kMaxUNetBlocks) {
      throw Error("--res-blocks", "every level needs 1.." + std::to_string(kMaxUNetBlocks) + " residual blocks");
    }
  }
  for (auto level : o.attention_levels) {
    if (level < 0 || level >= static_cast<int64_t>(levels)) {
      throw Error("--attention-levels", "levels are 0.." + std::to_string(levels - 1));
    }
  }
  if (o.image_channels < 1 || o.image_channels > kMaxUNetImageChannels || o.num_classes < 1 ||
      o.num_classes > kMaxUNetClasses) {
    throw Error("--channels", "the UNet takes 1.." + std::to_string(kMaxUNetImageChannels) + " image channels and 1.." +
                                  std::to_string(kMaxUNetClasses) + " classes");
  }
  if (o.groups < 1 || o.attention_heads < 1 || o.attention_heads > kMaxAttentionHeads) {
    throw Error("--attention-heads", "the UNet needs at least one GroupNorm group and 1.." +
                                         std::to_string(kMaxAttentionHeads) + " attention heads");
  }
}

void check_unet_image(const UNetOptions& o, int64_t height, int64_t width) {
  if (height < 1 || width < 1 || height > kMaxUNetPixels || width > kMaxUNetPixels ||
      height * width > kMaxUNetPixels) {
    throw Error("--data", "the UNet takes images of at most " + std::to_string(kMaxUNetPixels) + " pixels, not " +
                              std::to_string(height) + "x" + std::to_string(width));
  }
  // Self-attention holds a pixels x pixels matrix per head: bounded where it runs, the
  // coarsest level always and the --attention-levels.
  auto pixels_at = [&](int64_t level) {
    int64_t h = height, w = width;
    for (int64_t i = 0; i < level; ++i) h = (h + 1) / 2, w = (w + 1) / 2;  // stride-2, padding-1 convs
    return h * w;
  };
  std::vector<int64_t> sites = o.attention_levels;
  sites.push_back(static_cast<int64_t>(o.channel_mult.size()) - 1);
  for (auto level : sites) {
    if (pixels_at(level) > kMaxAttentionPixels) {
      throw Error("--attention-levels", "self-attention at level " + std::to_string(level) + " of " +
                                            std::to_string(height) + "x" + std::to_string(width) +
                                            " images would hold " + std::to_string(pixels_at(level)) +
                                            " pixels (at most " + std::to_string(kMaxAttentionPixels) +
                                            "): add levels or drop attention there");
    }
  }
}

UNetImpl::UNetImpl(UNetOptions o) : options_(std::move(o)) {
  check_unet_options(options_);
  const size_t levels = options_.channel_mult.size();
  auto has_attention = [&](size_t level) {
    const auto& a = options_.attention_levels;
    return std::find(a.begin(), a.end(), static_cast<int64_t>(level)) != a.end();
  };
  const int64_t ch = options_.channels, emb = 4 * ch, groups = options_.groups;
  const bool silu = options_.embedding_silu;
  // Block b of level i is "down<i>" (b = 0) or "down<i>_<b>": the first
  // block keeps the name generator files of one block per level use.
  auto block_name = [](const std::string& side, size_t level, int64_t b) {
    return side + std::to_string(level) + (b == 0 ? std::string() : "_" + std::to_string(b));
  };
  time1_ = register_module("time1", torch::nn::Linear(ch, emb));
  time2_ = register_module("time2", torch::nn::Linear(emb, emb));
  class_embedding_ = register_module("class_embedding", torch::nn::Embedding(options_.num_classes + 1, emb));
  input_ = register_module("input", conv3(options_.image_channels, ch));
  std::vector<int64_t> widths;  // width of each level's skip
  int64_t width = ch;
  for (size_t i = 0; i < levels; ++i) {
    const int64_t out = ch * options_.channel_mult[i];
    if (i > 0) downsample_.push_back(register_module("down" + std::to_string(i) + "_sample", conv3(width, width, 2)));
    down_.emplace_back();
    down_attention_.emplace_back();
    for (int64_t b = 0; b < options_.blocks_at(i); ++b) {
      down_[i].push_back(register_module(block_name("down", i, b), ResBlock(width, out, emb, groups, silu)));
      width = out;
      if (has_attention(i)) {
        down_attention_[i].push_back(register_module(block_name("down", i, b) + "_attention",
                                                     Attention(width, options_.attention_heads, groups)));
      }
    }
    widths.push_back(width);
  }
  middle1_ = register_module("middle1", ResBlock(width, width, emb, groups, silu));
  attention_ = register_module("attention", Attention(width, options_.attention_heads, groups));
  middle2_ = register_module("middle2", ResBlock(width, width, emb, groups, silu));
  for (size_t j = 0; j < levels; ++j) {
    const size_t i = levels - 1 - j;
    const int64_t out = ch * options_.channel_mult[i];
    up_.emplace_back();
    up_attention_.emplace_back();
    for (int64_t b = 0; b < options_.blocks_at(i); ++b) {
      const int64_t in = b == 0 ? width + widths[i] : width;  // the first block reads the level's skip
      up_[j].push_back(register_module(block_name("up", i, b), ResBlock(in, out, emb, groups, silu)));
      width = out;
      if (has_attention(i)) {
        up_attention_[j].push_back(register_module(block_name("up", i, b) + "_attention",
                                                   Attention(width, options_.attention_heads, groups)));
      }
    }
    if (i > 0) {
      const int64_t next = options_.upsample_to_level_width ? ch * options_.channel_mult[i - 1] : width;
      upsample_.push_back(register_module("up" + std::to_string(i) + "_sample", conv3(width, next)));
      width = next;
    }
  }
  output_norm_ = register_module("output_norm", group_norm(width, groups));
  output_ = register_module("output", conv3(width, options_.image_channels));
  torch::NoGradGuard no_grad;
  output_->weight.zero_();
  output_->bias.zero_();
}

torch::Tensor UNetImpl::forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& labels) {
  auto emb = time2_(torch::silu(time1_(timestep_embedding(t, options_.channels))));
  emb = emb + class_embedding_(labels);
  // The blocks of one level, each followed by its attention block if any.
  auto run_level = [&](std::vector<ResBlock>& blocks, std::vector<Attention>& attention, torch::Tensor h) {
    for (size_t b = 0; b < blocks.size(); ++b) {
      h = blocks[b](h, emb);
      if (!attention.empty()) h = attention[b](h);
    }
    return h;
  };
  auto h = input_(x);
  std::vector<torch::Tensor> skips;
  for (size_t i = 0; i < down_.size(); ++i) {
    if (i > 0) h = downsample_[i - 1](h);
    h = run_level(down_[i], down_attention_[i], h);
    skips.push_back(h);
  }
  h = middle2_(attention_(middle1_(h, emb)), emb);
  for (size_t j = 0; j < up_.size(); ++j) {
    const auto& skip = skips[skips.size() - 1 - j];
    h = run_level(up_[j], up_attention_[j], torch::cat({h, skip}, 1));
    if (j + 1 < up_.size()) {
      const auto& next = skips[skips.size() - 2 - j];
      h = F::interpolate(h, F::InterpolateFuncOptions()
                                .size(std::vector<int64_t>{next.size(2), next.size(3)})
                                .mode(torch::kNearest));
      h = upsample_[j](h);
    }
  }
  return output_(torch::silu(output_norm_(h)));
}

}  // namespace ddkit::generative
