#include "ddkit/data/registry.h"

#include <algorithm>
#include <filesystem>

#include <ATen/ATen.h>

#include "ddkit/data/readers.h"
#include "ddkit/util/error.h"

namespace fs = std::filesystem;

namespace ddkit::data {
namespace {

const std::vector<std::string> kFashionClasses = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                  "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
const std::vector<std::string> kCifar10Classes = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                  "dog",      "frog",       "horse", "ship", "truck"};

std::vector<std::string> numbered_classes(int64_t n) {
  std::vector<std::string> names;
  for (int64_t i = 0; i < n; ++i) names.push_back(std::to_string(i));
  return names;
}

// "<dir>/<stem>" or "<dir>/<stem>.gz", whichever exists ("" if neither).
fs::path find_idx(const fs::path& dir, const std::string& stem) {
  std::error_code ec;
  for (const auto& candidate : {dir / (stem + ".gz"), dir / stem}) {
    if (fs::exists(candidate, ec)) return candidate;
  }
  return {};
}

bool has_idx_files(const fs::path& dir) {
  return !find_idx(dir, "train-images-idx3-ubyte").empty() && !find_idx(dir, "train-labels-idx1-ubyte").empty();
}

fs::path require_idx(const fs::path& dir, const std::string& stem) {
  auto path = find_idx(dir, stem);
  if (path.empty()) throw Error((dir / stem).string() + "[.gz]", "no such file");
  return path;
}

void require_directory(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) throw Error(dir.string(), "no such directory");
  if (!fs::is_directory(dir, ec)) throw Error(dir.string(), "is not a directory");
}

// The Fashion-MNIST folder: <data_dir>/fashion-mnist, or <data_dir> itself.
fs::path fashion_mnist_dir(const DataOptions& options) {
  const fs::path base(options.data_dir);
  if (has_idx_files(base / "fashion-mnist")) return base / "fashion-mnist";
  if (has_idx_files(base)) return base;
  return base / "fashion-mnist";
}

fs::path first_existing(const fs::path& base, const std::string& sub, const std::string& marker) {
  std::error_code ec;
  if (fs::exists(base / marker, ec)) return base;
  if (fs::exists(base / sub / marker, ec)) return base / sub;
  return base;
}

struct RawDataset {
  RawSplit train, test;
};

RawDataset read_idx_dataset(const fs::path& dir, bool load_test) {
  require_directory(dir);
  auto check_counts = [](const RawSplit& split, const fs::path& labels_file) {
    if (split.images.size(0) != split.labels.size(0)) {
      throw Error(labels_file.string(), "has " + std::to_string(split.labels.size(0)) + " labels for " +
                                            std::to_string(split.images.size(0)) + " images");
    }
  };
  RawDataset raw;
  const auto train_labels = require_idx(dir, "train-labels-idx1-ubyte");
  raw.train.images = read_idx_images(require_idx(dir, "train-images-idx3-ubyte"));
  raw.train.labels = read_idx_labels(train_labels, 10);
  check_counts(raw.train, train_labels);
  if (load_test) {
    const auto test_labels = require_idx(dir, "t10k-labels-idx1-ubyte");
    raw.test.images = read_idx_images(require_idx(dir, "t10k-images-idx3-ubyte"));
    raw.test.labels = read_idx_labels(test_labels, 10);
    check_counts(raw.test, test_labels);
  }
  return raw;
}

RawDataset read_cifar10_dataset(const fs::path& path, bool load_test) {
  require_directory(path);
  const fs::path dir = first_existing(path, "cifar-10-batches-bin", "data_batch_1.bin");
  RawDataset raw;
  std::vector<fs::path> train_files;
  for (int i = 1; i <= 5; ++i) train_files.push_back(dir / ("data_batch_" + std::to_string(i) + ".bin"));
  raw.train = read_cifar10_files(train_files);
  if (load_test) raw.test = read_cifar10_files({dir / "test_batch.bin"});
  return raw;
}

RawDataset read_cifar100_dataset(const fs::path& path, bool load_test) {
  require_directory(path);
  const fs::path dir = first_existing(path, "cifar-100-binary", "train.bin");
  RawDataset raw;
  raw.train = read_cifar100_file(dir / "train.bin");
  if (load_test) raw.test = read_cifar100_file(dir / "test.bin");
  return raw;
}

std::vector<std::string> folder_classes(const fs::path& train_dir) {
  require_directory(train_dir);
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(train_dir)) {
    if (entry.is_directory()) names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());  // ImageFolder's label order
  if (names.empty()) throw Error(train_dir.string(), "has no class sub-folders");
  return names;
}

Split to_split(const RawSplit& raw, const Normalization& norm) {
  if (!raw.images.defined()) return {};
  return {normalize(raw.images.to(at::kFloat).div_(255.0), norm), raw.labels};
}

// docs/algorithms.md §1 [ddkit]: ImageFolder data is normalized with its training split's statistics.
Normalization measured_normalization(const at::Tensor& uint8_images) {
  auto unit = uint8_images.to(at::kDouble).div_(255.0);
  auto mean = unit.mean({0, 2, 3});
  auto std = unit.std({0, 2, 3}).clamp_min(1e-6);
  Normalization norm;
  for (int64_t c = 0; c < mean.size(0); ++c) {
    norm.mean.push_back(mean[c].item<double>());
    norm.std.push_back(std[c].item<double>());
  }
  return norm;
}

std::pair<std::string, std::string> split_spec(const std::string& spec) {
  const auto colon = spec.find(':');
  if (colon == std::string::npos) return {spec, ""};
  return {spec.substr(0, colon), spec.substr(colon + 1)};
}

}  // namespace

Normalization published_normalization(const std::string& name) {
  if (name == "fashion-mnist") return {{0.2861}, {0.3530}};
  if (name == "mnist") return {{0.1307}, {0.3081}};
  if (name == "cifar10") return {{0.4914, 0.4822, 0.4465}, {0.2023, 0.1994, 0.2010}};
  if (name == "cifar100") return {{0.5071, 0.4866, 0.4409}, {0.2673, 0.2564, 0.2762}};
  return {};
}

Dataset load_dataset(const std::string& spec, const DataOptions& options) {
  const auto [name, path] = split_spec(spec);
  Dataset data;
  data.name = name;
  data.spec = spec;
  RawDataset raw;
  const bool needs_path = name == "mnist" || name == "cifar10" || name == "cifar100" || name == "folder";
  if (needs_path && path.empty()) throw Error(spec, "needs a path: use " + name + ":PATH");
  if (name == "fashion-mnist") {
    const fs::path dir = path.empty() ? fashion_mnist_dir(options) : fs::path(path);
    if (!fs::exists(dir)) {
      throw Error(dir.string(), "no such directory (install the Debian package dataset-fashion-mnist, or give --data-dir)");
    }
    raw = read_idx_dataset(dir, options.load_test);
    data.path = dir.string();
    data.class_names = kFashionClasses;
  } else if (name == "mnist") {
    raw = read_idx_dataset(path, options.load_test);
    data.path = path;
    data.class_names = numbered_classes(10);
  } else if (name == "cifar10") {
    raw = read_cifar10_dataset(path, options.load_test);
    data.path = path;
    data.class_names = kCifar10Classes;
  } else if (name == "cifar100") {
    raw = read_cifar100_dataset(path, options.load_test);
    data.path = path;
    data.class_names = numbered_classes(100);
  } else if (name == "folder") {
    require_directory(path);
    data.class_names = folder_classes(fs::path(path) / "train");
    int64_t c = 0, h = 0, w = 0;
    raw.train = read_image_folder_split(fs::path(path) / "train", data.class_names, c, h, w);
    if (options.load_test) raw.test = read_image_folder_split(fs::path(path) / "test", data.class_names, c, h, w);
    data.path = path;
  } else {
    throw Error(spec, "unknown dataset '" + name +
                          "' (known: fashion-mnist, mnist:PATH, cifar10:PATH, cifar100:PATH, folder:PATH)");
  }
  data.num_classes = static_cast<int64_t>(data.class_names.size());
  data.channels = raw.train.images.size(1);
  data.height = raw.train.images.size(2);
  data.width = raw.train.images.size(3);
  data.normalization = name == "folder" ? measured_normalization(raw.train.images) : published_normalization(name);
  data.train = to_split(raw.train, data.normalization);
  data.test = to_split(raw.test, data.normalization);
  return data;
}

std::vector<DatasetStatus> list_datasets(const DataOptions& options) {
  std::vector<DatasetStatus> out;
  const fs::path fashion = fashion_mnist_dir(options);
  const bool found = has_idx_files(fashion);
  out.push_back({"fashion-mnist", "fashion-mnist (default)",
                 found ? fashion.string() : fashion.string() + " missing (apt-get install dataset-fashion-mnist)",
                 found});
  out.push_back({"mnist", "mnist:PATH", "IDX files (gz or not) in PATH", false});
  out.push_back({"cifar10", "cifar10:PATH", "CIFAR-10 binary version (data_batch_*.bin) in PATH", false});
  out.push_back({"cifar100", "cifar100:PATH", "CIFAR-100 binary version (train.bin, test.bin) in PATH", false});
  out.push_back({"folder", "folder:PATH", "PATH/train/<class>/*.png|jpg and PATH/test/<class>/", false});
  return out;
}

}  // namespace ddkit::data
