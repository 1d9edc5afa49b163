// A labelled image dataset in memory: the training and test splits as float
// tensors in the dataset's normalized space (docs/algorithms.md §1).
#pragma once
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace ddkit::data {

struct Normalization {
  std::vector<double> mean;  // one per channel
  std::vector<double> std;
};

struct Split {
  at::Tensor images;  // float32 N x C x H x W, normalized
  at::Tensor labels;  // int64 N
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

struct Dataset {
  std::string name;  // "fashion-mnist", "mnist", "cifar10", "cifar100", "folder"
  std::string spec;  // as given on the command line, e.g. "mnist:/data/mnist"
  std::string path;  // where it was read from
  int64_t channels = 1, height = 28, width = 28;
  int64_t num_classes = 10;
  std::vector<std::string> class_names;
  Normalization normalization;
  Split train, test;
};

// x in [0,1] -> (x - mean) / std per channel; and back.
at::Tensor normalize(const at::Tensor& unit_images, const Normalization& norm);
at::Tensor denormalize(const at::Tensor& images, const Normalization& norm);

}  // namespace ddkit::data
