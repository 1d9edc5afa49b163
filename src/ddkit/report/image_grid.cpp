#include "ddkit/report/image_grid.h"

#include <ATen/ATen.h>

#include "ddkit/util/error.h"

namespace ddkit::report {

at::Tensor image_grid(const at::Tensor& images, const at::Tensor& labels, int64_t num_classes,
                      const std::vector<bool>& marked, const ImageGridOptions& options) {
  if (images.dim() != 4 || (images.size(1) != 1 && images.size(1) != 3)) {
    throw Error("image grid", "needs N x C x H x W images with 1 or 3 channels");
  }
  const int64_t h = images.size(2) * options.scale, w = images.size(3) * options.scale;
  const int64_t frame = 2;  // the mark is drawn in the gap around an image
  const int64_t cell_h = h + 2 * (options.gap + frame), cell_w = w + 2 * (options.gap + frame);
  auto grid = at::full({3, num_classes * cell_h, options.max_per_class * cell_w}, 255, at::kByte);
  auto rgb = images.detach().to(at::kCPU, at::kFloat).clamp(0, 1).mul(255).round().to(at::kByte);
  if (rgb.size(1) == 1) rgb = rgb.expand({-1, 3, -1, -1});
  if (options.scale > 1) rgb = rgb.repeat_interleave(options.scale, 2).repeat_interleave(options.scale, 3);
  const auto label_values = labels.to(at::kCPU, at::kLong).contiguous();
  const auto* label = label_values.data_ptr<int64_t>();
  std::vector<int64_t> column(static_cast<size_t>(num_classes), 0);
  const auto mark_colour = at::tensor({255, 140, 0}, at::kByte).view({3, 1, 1});
  for (int64_t i = 0; i < rgb.size(0); ++i) {
    const int64_t c = label[i];
    if (c < 0 || c >= num_classes || column[static_cast<size_t>(c)] >= options.max_per_class) continue;
    const int64_t top = c * cell_h + options.gap, left = column[static_cast<size_t>(c)]++ * cell_w + options.gap;
    if (static_cast<size_t>(i) < marked.size() && marked[static_cast<size_t>(i)]) {
      grid.narrow(1, top, h + 2 * frame).narrow(2, left, w + 2 * frame).copy_(mark_colour.expand({3, h + 2 * frame, w + 2 * frame}));
    }
    grid.narrow(1, top + frame, h).narrow(2, left + frame, w).copy_(rgb[i]);
  }
  return grid;
}

}  // namespace ddkit::report
