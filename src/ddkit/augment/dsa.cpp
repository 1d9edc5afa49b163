// DSA: differentiable Siamese augmentation (docs/algorithms.md §4; Zhao & Bilen 2021).
// Each op follows the reference DiffAugment (VICO-UoE/DatasetCondensation
// utils.py): same formulas, same draw order, same seed advancing per draw.
#include "ddkit/augment/dsa.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <vector>

#include "ddkit/util/error.h"

namespace ddkit::augment {
namespace {

enum class Family { color, crop, cutout, flip, scale, rotate };

std::vector<std::string> split_on_underscore(const std::string& text) {
  std::vector<std::string> parts;
  if (text.empty()) return parts;
  std::string::size_type start = 0;
  while (true) {
    const auto end = text.find('_', start);
    parts.push_back(text.substr(start, end - start));
    if (end == std::string::npos) return parts;
    start = end + 1;
  }
}

Family parse_family(const std::string& name) {
  if (name == "color") return Family::color;
  if (name == "crop") return Family::crop;
  if (name == "cutout") return Family::cutout;
  if (name == "flip") return Family::flip;
  if (name == "scale") return Family::scale;
  if (name == "rotate") return Family::rotate;
  throw Error("--dsa-strategy", "unknown augmentation family '" + name + "'");
}

// Every name is checked up front, so a typo fails even when S mode would not
// have picked that family on this call.
std::vector<Family> parse_strategy(const std::string& strategy) {
  std::vector<Family> families;
  for (const auto& name : split_on_underscore(strategy)) families.push_back(parse_family(name));
  return families;
}

// The source of every random draw of one dsa_augment call. Draws are made on
// the CPU (float32 / int64, as the reference's parameters) and moved to x's
// device by the ops, so results do not depend on the device and the code stays
// device-agnostic. The global torch RNG is never touched.
class Draws {
 public:
  Draws(int64_t batch_size, std::optional<int64_t> siamese_seed, at::Generator generator)
      : batch_size_(batch_size), next_seed_(siamese_seed), generator_(std::move(generator)) {
    if (!next_seed_) {
      TORCH_CHECK(generator_.defined(), "dsa_augment: a generator is needed without a Siamese seed");
      TORCH_CHECK(generator_.device().is_cpu(), "dsa_augment: the generator must be a CPU generator");
    }
  }

  // One value per sample, uniform in [0, 1): shape [N].
  at::Tensor uniform() {
    return for_each_sample(at::rand({draw_count()}, next_generator()));
  }

  // One value per sample, uniform integer in [low, high): shape [N].
  at::Tensor integers(int64_t low, int64_t high) {
    return for_each_sample(at::randint(low, high, {draw_count()}, next_generator()));
  }

  // One index in [0, count) for the whole call (S mode's family choice).
  int64_t choice(int64_t count) {
    return at::randint(0, count, {1}, next_generator()).item<int64_t>();
  }

 private:
  bool siamese() const { return next_seed_.has_value(); }

  // Siamese: every sample uses the first sample's parameters, so one draw is
  // enough (and equals the first of the reference's N draws).
  int64_t draw_count() const { return siamese() ? 1 : batch_size_; }

  at::Tensor for_each_sample(const at::Tensor& draw) const {
    return draw.expand({batch_size_});
  }

  // The reference re-seeds before every draw with latestseed, then
  // latestseed += 1: draw k of a Siamese call comes from seed + k.
  at::Generator next_generator() {
    if (!siamese()) return generator_;
    const auto seed = static_cast<uint64_t>((*next_seed_)++);
    return at::make_generator<at::CPUGeneratorImpl>(seed);
  }

  int64_t batch_size_;
  std::optional<int64_t> next_seed_;
  at::Generator generator_;
};

// A per-sample factor [N] as an [N,1,1,1] tensor in x's dtype and device.
at::Tensor per_sample(const at::Tensor& values, const at::Tensor& x) {
  return values.reshape({-1, 1, 1, 1}).to(x.device(), x.scalar_type());
}

// A per-sample integer offset [N] as an [N,1,1] index tensor on x's device.
at::Tensor per_sample_offset(const at::Tensor& offsets, const at::Tensor& x) {
  return offsets.reshape({-1, 1, 1}).to(x.device());
}

at::Tensor index_range(int64_t count, const at::Tensor& x) {
  return at::arange(count, at::TensorOptions().dtype(at::kLong).device(x.device()));
}

// Resample x through per-sample 2x3 affine maps (bilinear, zero padding,
// align_corners=true, as the reference's F.affine_grid + F.grid_sample).
at::Tensor warp_affine(const at::Tensor& x, const at::Tensor& theta) {
  const auto grid = at::affine_grid_generator(theta.to(x.device(), x.scalar_type()), x.sizes(),
                                              /*align_corners=*/true);
  constexpr int64_t kBilinear = 0;
  constexpr int64_t kZerosPadding = 0;
  return at::grid_sampler(x, grid, kBilinear, kZerosPadding, /*align_corners=*/true);
}

// Rows [a b c; d e f] from six [N] tensors, as an [N,2,3] batch of maps.
at::Tensor affine_maps(std::initializer_list<at::Tensor> entries) {
  return at::stack(entries, 1).view({-1, 2, 3});
}

at::Tensor random_scale(const at::Tensor& x, const DsaOptions& options, Draws& draws) {
  const double ratio = options.scale_ratio;
  const auto sx = draws.uniform() * (ratio - 1.0 / ratio) + 1.0 / ratio;
  const auto sy = draws.uniform() * (ratio - 1.0 / ratio) + 1.0 / ratio;
  const auto zero = at::zeros_like(sx);
  return warp_affine(x, affine_maps({sx, zero, zero, zero, sy, zero}));
}

at::Tensor random_rotate(const at::Tensor& x, const DsaOptions& options, Draws& draws) {
  const auto angle = (draws.uniform() - 0.5) * 2 * options.rotate_degrees / 180 * M_PI;
  const auto cos = angle.cos();
  const auto sin = angle.sin();
  const auto zero = at::zeros_like(angle);
  // The reference's map [[cos, -sin, 0], [sin, cos, 0]] (utils.py rand_rotate).
  return warp_affine(x, affine_maps({cos, -sin, zero, sin, cos, zero}));
}

at::Tensor random_flip(const at::Tensor& x, const DsaOptions& options, Draws& draws) {
  const auto flipped = per_sample(draws.uniform(), x) < options.flip_probability;
  return at::where(flipped, x.flip({3}), x);
}

at::Tensor random_brightness(const at::Tensor& x, const DsaOptions& options, Draws& draws) {
  return x + (per_sample(draws.uniform(), x) - 0.5) * options.brightness;
}

at::Tensor random_saturation(const at::Tensor& x, const DsaOptions& options, Draws& draws) {
  const auto gray = x.mean({1}, /*keepdim=*/true);
  return (x - gray) * (per_sample(draws.uniform(), x) * options.saturation) + gray;
}

at::Tensor random_contrast(const at::Tensor& x, const DsaOptions& options, Draws& draws) {
  const auto mean = x.mean({1, 2, 3}, /*keepdim=*/true);
  return (x - mean) * (per_sample(draws.uniform(), x) + options.contrast) + mean;
}

// "color" is brightness, saturation, contrast in that order (docs/algorithms.md §4).
at::Tensor random_color(const at::Tensor& x, const DsaOptions& options, Draws& draws) {
  auto y = random_brightness(x, options, draws);
  y = random_saturation(y, options, draws);
  return random_contrast(y, options, draws);
}

// The reference's "crop": translate by up to int(size * ratio + 0.5) pixels per
// axis with zero fill. Output pixel (i, j) reads padded pixel
// (clamp(i + dy + 1, 0, H + 1), clamp(j + dx + 1, 0, W + 1)); any read beyond
// the image lands on the one-pixel zero border. A gather, so the gradient
// flows back to x.
at::Tensor random_crop(const at::Tensor& x, const DsaOptions& options, Draws& draws) {
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  const auto max_shift_rows = static_cast<int64_t>(h * options.crop_ratio + 0.5);
  const auto max_shift_cols = static_cast<int64_t>(w * options.crop_ratio + 0.5);
  const auto shift_rows = per_sample_offset(draws.integers(-max_shift_rows, max_shift_rows + 1), x);
  const auto shift_cols = per_sample_offset(draws.integers(-max_shift_cols, max_shift_cols + 1), x);
  const auto samples = index_range(n, x).view({n, 1, 1});
  const auto rows = (index_range(h, x).view({1, h, 1}) + shift_rows + 1).clamp(0, h + 1);
  const auto cols = (index_range(w, x).view({1, 1, w}) + shift_cols + 1).clamp(0, w + 1);
  const auto padded_nhwc = at::constant_pad_nd(x, {1, 1, 1, 1}, 0).permute({0, 2, 3, 1});
  const auto gathered = padded_nhwc.index({samples, rows, cols});  // N x H x W x C, contiguous
  // Back to NCHW with NCHW strides: permuted strides make the next convolution
  // pick its channels-last kernels and the fused norm block copy (for one
  // channel the permuted tensor even passes is_contiguous(), so a view is needed).
  if (x.size(1) == 1) return gathered.view({n, 1, h, w});
  return gathered.permute({0, 3, 1, 2}).contiguous();
}

// Zero a square of side int(size * ratio + 0.5) centred on a random pixel
// (clipped at the image border), as the reference's "cutout".
at::Tensor random_cutout(const at::Tensor& x, const DsaOptions& options, Draws& draws) {
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  const auto side_rows = static_cast<int64_t>(h * options.cutout_ratio + 0.5);
  const auto side_cols = static_cast<int64_t>(w * options.cutout_ratio + 0.5);
  const auto centre_rows = per_sample_offset(draws.integers(0, h + (1 - side_rows % 2)), x);
  const auto centre_cols = per_sample_offset(draws.integers(0, w + (1 - side_cols % 2)), x);
  const auto samples = index_range(n, x).view({n, 1, 1});
  const auto rows =
      (index_range(side_rows, x).view({1, side_rows, 1}) + centre_rows - side_rows / 2).clamp(0, h - 1);
  const auto cols =
      (index_range(side_cols, x).view({1, 1, side_cols}) + centre_cols - side_cols / 2).clamp(0, w - 1);
  auto mask = at::ones({n, h, w}, x.options());
  mask.index_put_({samples, rows, cols}, 0);  // the mask, not x: x stays differentiable
  return x * mask.unsqueeze(1);
}

at::Tensor apply_family(Family family, const at::Tensor& x, const DsaOptions& options, Draws& draws) {
  switch (family) {
    case Family::color: return random_color(x, options, draws);
    case Family::crop: return random_crop(x, options, draws);
    case Family::cutout: return random_cutout(x, options, draws);
    case Family::flip: return random_flip(x, options, draws);
    case Family::scale: return random_scale(x, options, draws);
    case Family::rotate: return random_rotate(x, options, draws);
  }
  TORCH_INTERNAL_ASSERT(false, "unhandled augmentation family");
}

}  // namespace

std::string strategy_without_flip(const std::string& strategy) {
  std::string kept;
  for (const auto& name : split_on_underscore(strategy)) {
    if (name == "flip") continue;
    if (!kept.empty()) kept += '_';
    kept += name;
  }
  return kept;
}

at::Tensor dsa_augment(const at::Tensor& x, const DsaOptions& options,
                       std::optional<int64_t> siamese_seed, at::Generator generator) {
  const auto families = parse_strategy(options.strategy);
  if (families.empty()) return x;
  TORCH_CHECK(x.dim() == 4, "dsa_augment: expected an N x C x H x W batch, got ", x.sizes());
  Draws draws(x.size(0), siamese_seed, std::move(generator));
  if (options.single_mode) {
    // S mode: one family per call, drawn before the family's own draws.
    const auto chosen = families[draws.choice(static_cast<int64_t>(families.size()))];
    return apply_family(chosen, x, options, draws).contiguous();
  }
  at::Tensor y = x;
  for (const auto family : families) y = apply_family(family, y, options, draws);
  return y.contiguous();
}

}  // namespace ddkit::augment
