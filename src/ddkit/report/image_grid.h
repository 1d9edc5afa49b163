// Image grids for reports: one row per class, framed images marked (e.g. the
// pool images DGS selected).
#pragma once
#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

namespace ddkit::report {

struct ImageGridOptions {
  int64_t max_per_class = 10;  // columns
  int64_t gap = 2;             // pixels between images
  int64_t scale = 2;           // nearest-neighbour upscaling (small images stay readable)
};

// images: float N x C x H x W in [0, 1] (C = 1 or 3); labels int64 N.
// Returns uint8 3 x H' x W' (RGB): row c holds the first max_per_class images of
// class c; an image whose `marked` entry is true gets an orange frame.
at::Tensor image_grid(const at::Tensor& images, const at::Tensor& labels, int64_t num_classes,
                      const std::vector<bool>& marked = {}, const ImageGridOptions& options = {});

}  // namespace ddkit::report
