// Tiny datasets written at test time: separable 10-class 28x28 images in the
// MNIST IDX format (class c = a bright 6x6 square at a class-specific place).
#pragma once
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "ddkit/data/image_set.h"
#include "ddkit/data/registry.h"

namespace ddkit_test {

inline std::filesystem::path fresh_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("ddkit_test_" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

inline void put_u32(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

inline void write_gz(const std::filesystem::path& file, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(file.string().c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

// Writes train-*/t10k-* .gz IDX files with `per_class` images of each of 10 classes.
inline void write_tiny_mnist(const std::filesystem::path& dir, int per_class_train = 20, int per_class_test = 10,
                             uint32_t seed = 1) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> noise(0, 60), jitter(0, 2);
  auto make = [&](const std::string& prefix, int per_class) {
    std::vector<uint8_t> images, labels;
    put_u32(images, 0x803);
    put_u32(images, static_cast<uint32_t>(per_class * 10));
    put_u32(images, 28);
    put_u32(images, 28);
    put_u32(labels, 0x801);
    put_u32(labels, static_cast<uint32_t>(per_class * 10));
    for (int i = 0; i < per_class * 10; ++i) {
      const int c = i % 10;
      const int top = 2 + (c / 5) * 12 + jitter(rng), left = 2 + (c % 5) * 5 + jitter(rng) / 2;
      for (int y = 0; y < 28; ++y)
        for (int x = 0; x < 28; ++x) {
          const bool on = y >= top && y < top + 6 && x >= left && x < left + 4;
          images.push_back(static_cast<uint8_t>(on ? 255 - noise(rng) : noise(rng)));
        }
      labels.push_back(static_cast<uint8_t>(c));
    }
    write_gz(dir / (prefix + "-images-idx3-ubyte.gz"), images);
    write_gz(dir / (prefix + "-labels-idx1-ubyte.gz"), labels);
  };
  std::filesystem::create_directories(dir);
  make("train", per_class_train);
  make("t10k", per_class_test);
}

// The tiny data set loaded through the mnist:PATH reader, written once per
// process (ctest runs the tests of one program as parallel processes).
inline ddkit::data::Dataset tiny_mnist_dataset(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("ddkit_test_" + name + "_" + std::to_string(::getpid()));
  if (!std::filesystem::exists(dir / "t10k-labels-idx1-ubyte.gz")) write_tiny_mnist(dir);
  return ddkit::data::load_dataset("mnist:" + dir.string());
}

// The first `per_class` training images of every class, as an image set.
inline ddkit::data::ImageSet first_per_class(const ddkit::data::Dataset& data, int64_t per_class) {
  std::vector<int64_t> chosen;
  for (const auto& members : ddkit::data::indices_by_class(data.train.labels, data.num_classes))
    for (int64_t i = 0; i < per_class; ++i) chosen.push_back(members[static_cast<size_t>(i)]);
  const auto index = at::tensor(chosen, at::kLong);
  ddkit::data::ImageSet set;
  set.images = data.train.images.index_select(0, index);
  set.labels = data.train.labels.index_select(0, index);
  return set;
}

}  // namespace ddkit_test
