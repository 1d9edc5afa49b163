#include "ddkit/generative/unet.h"

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

nlohmann::json to_json(const UNetOptions& o) {
  return {{"image_channels", o.image_channels}, {"num_classes", o.num_classes}, {"channels", o.channels},
          {"channel_mult", o.channel_mult},     {"groups", o.groups},           {"attention_heads", o.attention_heads}};
}

UNetOptions unet_options_from_json(const nlohmann::json& j) {
  UNetOptions o;
  o.image_channels = j.at("image_channels").get<int64_t>();
  o.num_classes = j.at("num_classes").get<int64_t>();
  o.channels = j.at("channels").get<int64_t>();
  o.channel_mult = j.at("channel_mult").get<std::vector<int64_t>>();
  o.groups = j.at("groups").get<int64_t>();
  o.attention_heads = j.at("attention_heads").get<int64_t>();
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

ResBlockImpl::ResBlockImpl(int64_t in, int64_t out, int64_t embedding_dim, int64_t groups)
    : norm1_(register_module("norm1", group_norm(in, groups))),
      norm2_(register_module("norm2", group_norm(out, groups))),
      conv1_(register_module("conv1", conv3(in, out))),
      conv2_(register_module("conv2", conv3(out, out))),
      embedding_(register_module("embedding", torch::nn::Linear(embedding_dim, out))) {
  if (in != out) skip_ = register_module("skip", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 1)));
  // Start each block near the identity (common DDPM practice).
  torch::NoGradGuard no_grad;
  conv2_->weight.zero_();
  conv2_->bias.zero_();
}

torch::Tensor ResBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& embedding) {
  auto h = conv1_(torch::silu(norm1_(x)));
  h = h + embedding_(embedding).unsqueeze(-1).unsqueeze(-1);
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

UNetImpl::UNetImpl(UNetOptions o) : options_(std::move(o)) {
  if (options_.channel_mult.empty() || options_.channels < 1) {
    throw Error("--channels", "the UNet needs a positive width and at least one level");
  }
  const int64_t ch = options_.channels, emb = 4 * ch, groups = options_.groups;
  time1_ = register_module("time1", torch::nn::Linear(ch, emb));
  time2_ = register_module("time2", torch::nn::Linear(emb, emb));
  class_embedding_ = register_module("class_embedding", torch::nn::Embedding(options_.num_classes + 1, emb));
  input_ = register_module("input", conv3(options_.image_channels, ch));
  std::vector<int64_t> widths;  // width of each level's skip
  int64_t width = ch;
  const auto levels = options_.channel_mult.size();
  for (size_t i = 0; i < levels; ++i) {
    const int64_t out = ch * options_.channel_mult[i];
    if (i > 0) downsample_.push_back(register_module("down" + std::to_string(i) + "_sample", conv3(width, width, 2)));
    down_.push_back(register_module("down" + std::to_string(i), ResBlock(width, out, emb, groups)));
    width = out;
    widths.push_back(width);
  }
  middle1_ = register_module("middle1", ResBlock(width, width, emb, groups));
  attention_ = register_module("attention", Attention(width, options_.attention_heads, groups));
  middle2_ = register_module("middle2", ResBlock(width, width, emb, groups));
  for (size_t j = 0; j < levels; ++j) {
    const size_t i = levels - 1 - j;
    const int64_t out = ch * options_.channel_mult[i];
    up_.push_back(register_module("up" + std::to_string(i), ResBlock(width + widths[i], out, emb, groups)));
    width = out;
    if (i > 0) upsample_.push_back(register_module("up" + std::to_string(i) + "_sample", conv3(width, width)));
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
  auto h = input_(x);
  std::vector<torch::Tensor> skips;
  for (size_t i = 0; i < down_.size(); ++i) {
    if (i > 0) h = downsample_[i - 1](h);
    h = down_[i](h, emb);
    skips.push_back(h);
  }
  h = middle2_(attention_(middle1_(h, emb)), emb);
  for (size_t j = 0; j < up_.size(); ++j) {
    const auto& skip = skips[skips.size() - 1 - j];
    h = up_[j](torch::cat({h, skip}, 1), emb);
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
