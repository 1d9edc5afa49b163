// Fixtures shared by the data layer's tests (tests/test_data*.cpp, one program):
// a per-test temporary directory, writers of tiny IDX and CIFAR files, image-set
// fixtures and the check of a ddkit::Error's subject and problem.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/serialize.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "ddkit/data/dataset.h"
#include "ddkit/data/image_io.h"
#include "ddkit/data/image_set.h"
#include "ddkit/data/readers.h"
#include "ddkit/data/registry.h"
#include "ddkit/data/tensor_io.h"
#include "ddkit/util/error.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ddkit_test_data {

using namespace ddkit::data;


// A fresh directory named after the running test, removed at the end.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() / ("ddkit_test_data_" + std::string(info->test_suite_name()) + "_" +
                                         info->name() + "_" + std::to_string(::getpid()));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

inline void write_bytes(const fs::path& file, const std::string& bytes) {
  fs::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << file;
}

inline std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_gz(const fs::path& file, const std::string& bytes) {
  fs::create_directories(file.parent_path());
  gzFile f = gzopen(file.string().c_str(), "wb");
  ASSERT_NE(f, nullptr) << file;
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

inline void put_u32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

inline std::string idx_images(uint32_t n, uint32_t h, uint32_t w, const std::vector<uint8_t>& pixels) {
  std::string out;
  put_u32(out, 0x803);
  put_u32(out, n);
  put_u32(out, h);
  put_u32(out, w);
  out.append(pixels.begin(), pixels.end());
  return out;
}

inline std::string idx_labels(const std::vector<uint8_t>& labels) {
  std::string out;
  put_u32(out, 0x801);
  put_u32(out, static_cast<uint32_t>(labels.size()));
  out.append(labels.begin(), labels.end());
  return out;
}

// The hand-made 3-image 4x5 IDX fixture.
constexpr int kIdxN = 3, kIdxH = 4, kIdxW = 5;
inline std::vector<uint8_t> idx_fixture_pixels() {
  std::vector<uint8_t> p(kIdxN * kIdxH * kIdxW);
  for (size_t k = 0; k < p.size(); ++k) p[k] = static_cast<uint8_t>((k * 37 + 11) % 256);
  p[0] = 0;    // image 0, (0,0)
  p[1] = 255;  // image 0, (0,1)
  p[2] = 51;   // image 0, (0,2)
  p[kIdxH * kIdxW + 3 * kIdxW + 4] = 102;  // image 1, (3,4)
  return p;
}
const std::vector<uint8_t> kIdxLabels = {3, 0, 9};

// Writes the four MNIST files into `dir` (train .gz, t10k uncompressed).
inline void write_idx_dataset(const fs::path& dir) {
  write_gz(dir / "train-images-idx3-ubyte.gz", idx_images(kIdxN, kIdxH, kIdxW, idx_fixture_pixels()));
  write_gz(dir / "train-labels-idx1-ubyte.gz", idx_labels(kIdxLabels));
  std::vector<uint8_t> test_pixels(2 * kIdxH * kIdxW, 200);
  write_bytes(dir / "t10k-images-idx3-ubyte", idx_images(2, kIdxH, kIdxW, test_pixels));
  write_bytes(dir / "t10k-labels-idx1-ubyte", idx_labels({7, 1}));
}

// CIFAR record pixel values: record `rec`, channel c, row y, column x.
inline uint8_t cifar_pixel(int rec, int c, int y, int x) {
  return static_cast<uint8_t>((rec * 31 + c * 101 + y * 7 + x * 3) % 256);
}

// One record: label bytes, then 1024 R, 1024 G, 1024 B (row-major 32x32).
inline std::string cifar_record(const std::vector<uint8_t>& label_bytes, int rec) {
  std::string out(label_bytes.begin(), label_bytes.end());
  for (int c = 0; c < 3; ++c)
    for (int k = 0; k < 1024; ++k) out.push_back(static_cast<char>(cifar_pixel(rec, c, k / 32, k % 32)));
  return out;
}

inline std::string cifar10_file(const std::vector<uint8_t>& labels, int first_rec) {
  std::string out;
  for (size_t i = 0; i < labels.size(); ++i) out += cifar_record({labels[i]}, first_rec + static_cast<int>(i));
  return out;
}

// Checks images[i] against cifar_pixel(first_rec + i, ...) for all pixels.
inline void expect_cifar_pixels(const at::Tensor& images, int first_rec) {
  ASSERT_EQ(images.scalar_type(), at::kByte);
  ASSERT_EQ(images.dim(), 4);
  ASSERT_EQ(images.size(1), 3);
  ASSERT_EQ(images.size(2), 32);
  ASSERT_EQ(images.size(3), 32);
  auto a = images.accessor<uint8_t, 4>();
  int64_t bad = 0;
  for (int64_t i = 0; i < images.size(0); ++i)
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x)
          if (a[i][c][y][x] != cifar_pixel(first_rec + static_cast<int>(i), c, y, x)) ++bad;
  EXPECT_EQ(bad, 0) << "pixels not in CIFAR's channel-planar layout";
}

inline std::vector<int64_t> to_vector(const at::Tensor& t) {
  auto c = t.to(at::kLong).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

// A uint8 C x H x W image filled by f(c, y, x).
inline at::Tensor make_image(int64_t c, int64_t h, int64_t w, const std::function<int(int64_t, int64_t, int64_t)>& f) {
  auto img = at::empty({c, h, w}, at::kByte);
  auto a = img.accessor<uint8_t, 3>();
  for (int64_t k = 0; k < c; ++k)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) a[k][y][x] = static_cast<uint8_t>(f(k, y, x));
  return img;
}

inline void write_png(const fs::path& file, const at::Tensor& image) { write_bytes(file, encode_png(image)); }

// Runs f and checks it throws ddkit::Error with this subject and a problem
// containing `problem_part`.
inline void check_error(const std::function<void()>& f, const std::string& subject, const std::string& problem_part) {
  try {
    f();
  } catch (const ddkit::Error& e) {
    EXPECT_EQ(e.subject(), subject) << "problem: " << e.problem();
    EXPECT_NE(e.problem().find(problem_part), std::string::npos)
        << "problem '" << e.problem() << "' does not contain '" << problem_part << "'";
    return;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected ddkit::Error, got another exception: " << e.what();
    return;
  }
  ADD_FAILURE() << "expected ddkit::Error, nothing was thrown";
}

#define EXPECT_DDKIT_ERROR(subject, problem_part, ...) \
  do {                                                 \
    SCOPED_TRACE(#__VA_ARGS__);                        \
    check_error([&] { __VA_ARGS__; }, subject, problem_part); \
  } while (0)

// A hand-made dataset description for image-set tests: 3 x 4 x 5 (not square,
// so H/W mix-ups show), 3 classes, per-channel normalization.
inline Dataset image_set_dataset() {
  Dataset d;
  d.name = "folder";
  d.spec = "folder:/tmp/ddkit-test-spec";
  d.path = "/tmp/ddkit-test-spec";
  d.channels = 3;
  d.height = 4;
  d.width = 5;
  d.num_classes = 3;
  d.class_names = {"apple", "bear", "cloud"};
  d.normalization = {{0.4, 0.5, 0.6}, {0.2, 0.25, 0.3}};
  return d;
}

inline ImageSet image_set_fixture() {
  ImageSet set;
  set.images = at::randn({5, 3, 4, 5}, at::TensorOptions().dtype(at::kFloat)) * 1.5;
  set.images[0][0][0][0] = 100.0f;   // far above 1 after de-normalizing: clamps to 255
  set.images[0][1][0][1] = -100.0f;  // far below 0: clamps to 0
  set.labels = at::tensor(std::vector<int64_t>{2, 0, 1, 0, 2}, at::kLong);
  set.scores = at::tensor(std::vector<double>{0.5, std::nan(""), 1.25, -3.0, 0.0}, at::kDouble);
  set.meta = {{"method", "unit-test"}, {"ipc", 2}};
  return set;
}

// round(clamp(denormalized, 0, 1) * 255), computed per pixel in float the way
// the spec states it.
inline at::Tensor expected_png_pixels(const at::Tensor& image, const Normalization& norm) {
  auto img = image.contiguous();
  auto out = at::empty(img.sizes(), at::kByte);
  auto a = img.accessor<float, 3>();
  auto o = out.accessor<uint8_t, 3>();
  for (int64_t c = 0; c < img.size(0); ++c)
    for (int64_t y = 0; y < img.size(1); ++y)
      for (int64_t x = 0; x < img.size(2); ++x) {
        float v = a[c][y][x] * static_cast<float>(norm.std[c]);
        v = v + static_cast<float>(norm.mean[c]);
        v = std::min(1.0f, std::max(0.0f, v));
        o[c][y][x] = static_cast<uint8_t>(std::nearbyint(v * 255.0f));
      }
  return out;
}

// The images a PNG round trip should give: clamp to the 8-bit range, normalized.
inline at::Tensor clamped(const at::Tensor& images, const Normalization& norm) {
  return normalize(denormalize(images, norm).clamp(0.0, 1.0), norm);
}

// Largest |a - b| per channel divided by 1/255/std (<= 1 means within one 8-bit step).
inline double max_steps(const at::Tensor& a, const at::Tensor& b, const Normalization& norm) {
  double worst = 0;
  for (int64_t c = 0; c < a.size(1); ++c) {
    const double diff = (a.select(1, c) - b.select(1, c)).abs().max().item<double>();
    worst = std::max(worst, diff / (1.0 / 255.0 / norm.std[static_cast<size_t>(c)]));
  }
  return worst;
}

inline std::vector<json> read_jsonl(const fs::path& file) {
  std::vector<json> lines;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) lines.push_back(json::parse(line));
  return lines;
}

inline std::vector<std::string> entries_of(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace ddkit_test_data
