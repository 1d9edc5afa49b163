// Readers of the on-disk dataset formats. Each returns uint8 tensors
// N x C x H x W (images) and int64 N (labels), or throws ddkit::Error naming
// the file and the problem.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace ddkit::data {

struct RawSplit {
  at::Tensor images;  // uint8 N x C x H x W
  at::Tensor labels;  // int64 N
};

// IDX files (MNIST / Fashion-MNIST), gzip-compressed or not.
at::Tensor read_idx_images(const std::filesystem::path& file);  // uint8 N x 1 x H x W
at::Tensor read_idx_labels(const std::filesystem::path& file, int64_t num_classes);

// CIFAR-10 binary records (1 label byte + 3072 pixel bytes) from several files.
RawSplit read_cifar10_files(const std::vector<std::filesystem::path>& files);
// CIFAR-100 binary records (coarse byte, fine byte, 3072 pixel bytes); fine labels.
RawSplit read_cifar100_file(const std::filesystem::path& file);

// An ImageFolder split: <dir>/<class>/<image>.png|jpg; `class_names` fixes the
// label order; every image must have `channels` x `height` x `width` (when
// height is 0, the first image decides and the values are written back).
RawSplit read_image_folder_split(const std::filesystem::path& dir,
                                 const std::vector<std::string>& class_names, int64_t& channels,
                                 int64_t& height, int64_t& width);

}  // namespace ddkit::data
