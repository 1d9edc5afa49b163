// Tests for the data layer (src/ddkit/data): IDX/CIFAR/ImageFolder readers, the
// dataset registry and its normalization (docs/algorithms.md §1), image sets on disk and
// tensor files (docs/design.md "File formats"), and the errors they give (docs/design.md "Errors").
// Every fixture is tiny and written at run time into a fresh temporary directory.
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

namespace {

using namespace ddkit::data;

// ---------------------------------------------------------------- helpers

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

void write_bytes(const fs::path& file, const std::string& bytes) {
  fs::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << file;
}

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_gz(const fs::path& file, const std::string& bytes) {
  fs::create_directories(file.parent_path());
  gzFile f = gzopen(file.string().c_str(), "wb");
  ASSERT_NE(f, nullptr) << file;
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

void put_u32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

std::string idx_images(uint32_t n, uint32_t h, uint32_t w, const std::vector<uint8_t>& pixels) {
  std::string out;
  put_u32(out, 0x803);
  put_u32(out, n);
  put_u32(out, h);
  put_u32(out, w);
  out.append(pixels.begin(), pixels.end());
  return out;
}

std::string idx_labels(const std::vector<uint8_t>& labels) {
  std::string out;
  put_u32(out, 0x801);
  put_u32(out, static_cast<uint32_t>(labels.size()));
  out.append(labels.begin(), labels.end());
  return out;
}

// The hand-made 3-image 4x5 IDX fixture.
constexpr int kIdxN = 3, kIdxH = 4, kIdxW = 5;
std::vector<uint8_t> idx_fixture_pixels() {
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
void write_idx_dataset(const fs::path& dir) {
  write_gz(dir / "train-images-idx3-ubyte.gz", idx_images(kIdxN, kIdxH, kIdxW, idx_fixture_pixels()));
  write_gz(dir / "train-labels-idx1-ubyte.gz", idx_labels(kIdxLabels));
  std::vector<uint8_t> test_pixels(2 * kIdxH * kIdxW, 200);
  write_bytes(dir / "t10k-images-idx3-ubyte", idx_images(2, kIdxH, kIdxW, test_pixels));
  write_bytes(dir / "t10k-labels-idx1-ubyte", idx_labels({7, 1}));
}

// CIFAR record pixel values: record `rec`, channel c, row y, column x.
uint8_t cifar_pixel(int rec, int c, int y, int x) {
  return static_cast<uint8_t>((rec * 31 + c * 101 + y * 7 + x * 3) % 256);
}

// One record: label bytes, then 1024 R, 1024 G, 1024 B (row-major 32x32).
std::string cifar_record(const std::vector<uint8_t>& label_bytes, int rec) {
  std::string out(label_bytes.begin(), label_bytes.end());
  for (int c = 0; c < 3; ++c)
    for (int k = 0; k < 1024; ++k) out.push_back(static_cast<char>(cifar_pixel(rec, c, k / 32, k % 32)));
  return out;
}

std::string cifar10_file(const std::vector<uint8_t>& labels, int first_rec) {
  std::string out;
  for (size_t i = 0; i < labels.size(); ++i) out += cifar_record({labels[i]}, first_rec + static_cast<int>(i));
  return out;
}

// Checks images[i] against cifar_pixel(first_rec + i, ...) for all pixels.
void expect_cifar_pixels(const at::Tensor& images, int first_rec) {
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

std::vector<int64_t> to_vector(const at::Tensor& t) {
  auto c = t.to(at::kLong).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

// A uint8 C x H x W image filled by f(c, y, x).
at::Tensor make_image(int64_t c, int64_t h, int64_t w, const std::function<int(int64_t, int64_t, int64_t)>& f) {
  auto img = at::empty({c, h, w}, at::kByte);
  auto a = img.accessor<uint8_t, 3>();
  for (int64_t k = 0; k < c; ++k)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) a[k][y][x] = static_cast<uint8_t>(f(k, y, x));
  return img;
}

void write_png(const fs::path& file, const at::Tensor& image) { write_bytes(file, encode_png(image)); }

// Runs f and checks it throws ddkit::Error with this subject and a problem
// containing `problem_part`.
void check_error(const std::function<void()>& f, const std::string& subject, const std::string& problem_part) {
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
Dataset image_set_dataset() {
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

ImageSet image_set_fixture() {
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
at::Tensor expected_png_pixels(const at::Tensor& image, const Normalization& norm) {
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
at::Tensor clamped(const at::Tensor& images, const Normalization& norm) {
  return normalize(denormalize(images, norm).clamp(0.0, 1.0), norm);
}

// Largest |a - b| per channel divided by 1/255/std (<= 1 means within one 8-bit step).
double max_steps(const at::Tensor& a, const at::Tensor& b, const Normalization& norm) {
  double worst = 0;
  for (int64_t c = 0; c < a.size(1); ++c) {
    const double diff = (a.select(1, c) - b.select(1, c)).abs().max().item<double>();
    worst = std::max(worst, diff / (1.0 / 255.0 / norm.std[static_cast<size_t>(c)]));
  }
  return worst;
}

std::vector<json> read_jsonl(const fs::path& file) {
  std::vector<json> lines;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) lines.push_back(json::parse(line));
  return lines;
}

std::vector<std::string> entries_of(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// ---------------------------------------------------------------- 1. IDX

TEST(Idx, ReadsExactPixelsAndLabelsGzAndUncompressed) {
  TempDir tmp;
  const auto pixels = idx_fixture_pixels();
  write_gz(tmp / "img.gz", idx_images(kIdxN, kIdxH, kIdxW, pixels));
  write_gz(tmp / "lbl.gz", idx_labels(kIdxLabels));
  write_bytes(tmp / "img.raw", idx_images(kIdxN, kIdxH, kIdxW, pixels));
  write_bytes(tmp / "lbl.raw", idx_labels(kIdxLabels));
  for (const std::string suffix : {".gz", ".raw"}) {
    SCOPED_TRACE(suffix);
    const auto images = read_idx_images(tmp / ("img" + suffix));
    ASSERT_EQ(images.scalar_type(), at::kByte);
    ASSERT_EQ(images.sizes(), (std::vector<int64_t>{kIdxN, 1, kIdxH, kIdxW}));
    auto a = images.accessor<uint8_t, 4>();
    for (int n = 0; n < kIdxN; ++n)
      for (int y = 0; y < kIdxH; ++y)
        for (int x = 0; x < kIdxW; ++x)
          ASSERT_EQ(a[n][0][y][x], pixels[static_cast<size_t>((n * kIdxH + y) * kIdxW + x)])
              << "n=" << n << " y=" << y << " x=" << x;
    EXPECT_EQ(a[0][0][0][1], 255);
    EXPECT_EQ(a[1][0][3][4], 102);
    const auto labels = read_idx_labels(tmp / ("lbl" + suffix), 10);
    EXPECT_EQ(labels.scalar_type(), at::kLong);
    EXPECT_EQ(to_vector(labels), (std::vector<int64_t>{3, 0, 9}));
  }
}

TEST(Idx, MnistSpecNormalizesWithPublishedStatistics) {
  TempDir tmp;
  write_idx_dataset(tmp.path());
  const Dataset data = load_dataset("mnist:" + tmp.path().string());
  EXPECT_EQ(data.name, "mnist");
  EXPECT_EQ(data.spec, "mnist:" + tmp.path().string());
  EXPECT_EQ(data.path, tmp.path().string());
  EXPECT_EQ(data.channels, 1);
  EXPECT_EQ(data.height, kIdxH);
  EXPECT_EQ(data.width, kIdxW);
  EXPECT_EQ(data.num_classes, 10);
  ASSERT_EQ(data.class_names.size(), 10u);
  EXPECT_EQ(data.class_names[0], "0");
  EXPECT_EQ(data.class_names[9], "9");
  ASSERT_EQ(data.normalization.mean, std::vector<double>{0.1307});
  ASSERT_EQ(data.normalization.std, std::vector<double>{0.3081});

  ASSERT_EQ(data.train.images.scalar_type(), at::kFloat);
  ASSERT_EQ(data.train.images.sizes(), (std::vector<int64_t>{3, 1, kIdxH, kIdxW}));
  EXPECT_EQ(to_vector(data.train.labels), (std::vector<int64_t>{3, 0, 9}));
  auto a = data.train.images.accessor<float, 4>();
  // (p/255 - 0.1307) / 0.3081, computed by hand:
  EXPECT_NEAR(a[0][0][0][0], -0.4242129, 1e-5);  // p = 0
  EXPECT_NEAR(a[0][0][0][1], 2.8214865, 1e-5);   // p = 255
  EXPECT_NEAR(a[0][0][0][2], 0.2249270, 1e-5);   // p = 51  (0.2)
  EXPECT_NEAR(a[1][0][3][4], 0.8740669, 1e-5);   // p = 102 (0.4)
  // The test split (uncompressed files) is normalized the same way: p = 200.
  ASSERT_EQ(data.test.size(), 2);
  EXPECT_EQ(to_vector(data.test.labels), (std::vector<int64_t>{7, 1}));
  EXPECT_NEAR(data.test.images[1][0][2][3].item<float>(), (200.0 / 255.0 - 0.1307) / 0.3081, 1e-5);

  DataOptions no_test;
  no_test.load_test = false;
  const Dataset train_only = load_dataset("mnist:" + tmp.path().string(), no_test);
  EXPECT_EQ(train_only.train.size(), 3);
  EXPECT_EQ(train_only.test.size(), 0);
}

TEST(Idx, DefaultFashionMnistFindsDataDirOrItsSubfolder) {
  TempDir tmp;
  // <data_dir>/fashion-mnist/
  write_idx_dataset(tmp / "nested" / "fashion-mnist");
  DataOptions nested;
  nested.data_dir = (tmp / "nested").string();
  const Dataset a = load_dataset("fashion-mnist", nested);
  EXPECT_EQ(a.name, "fashion-mnist");
  EXPECT_EQ(fs::path(a.path), tmp / "nested" / "fashion-mnist");
  EXPECT_EQ(a.train.size(), 3);
  EXPECT_EQ(a.test.size(), 2);
  ASSERT_EQ(a.class_names.size(), 10u);
  EXPECT_EQ(a.class_names[0], "T-shirt/top");
  EXPECT_EQ(a.class_names[9], "Ankle boot");
  EXPECT_EQ(a.normalization.mean, std::vector<double>{0.2861});
  EXPECT_EQ(a.normalization.std, std::vector<double>{0.3530});
  EXPECT_NEAR(a.train.images[0][0][0][1].item<float>(), (1.0 - 0.2861) / 0.3530, 1e-5);  // p = 255

  // <data_dir> itself holds the four files.
  write_idx_dataset(tmp / "flat");
  DataOptions flat;
  flat.data_dir = (tmp / "flat").string();
  const Dataset b = load_dataset("fashion-mnist", flat);
  EXPECT_EQ(fs::path(b.path), tmp / "flat");
  EXPECT_EQ(b.train.size(), 3);
  EXPECT_TRUE(at::equal(a.train.images, b.train.images));

  // Neither: the error names <data_dir>/fashion-mnist and says how to get it.
  fs::create_directories(tmp / "empty");
  DataOptions empty;
  empty.data_dir = (tmp / "empty").string();
  EXPECT_DDKIT_ERROR((tmp / "empty" / "fashion-mnist").string(), "dataset-fashion-mnist",
                     load_dataset("fashion-mnist", empty));
}

// ---------------------------------------------------------------- 2. errors

TEST(DataErrors, TruncatedGzip) {
  TempDir tmp;
  std::vector<uint8_t> pixels(3 * 28 * 28);
  for (size_t k = 0; k < pixels.size(); ++k) pixels[k] = static_cast<uint8_t>((k * 7919 + k / 13) % 251);
  write_gz(tmp / "full.gz", idx_images(3, 28, 28, pixels));
  const std::string gz = read_text(tmp / "full.gz");
  ASSERT_GT(gz.size(), 100u);
  const fs::path cut = tmp / "train-images-idx3-ubyte.gz";
  write_bytes(cut, gz.substr(0, gz.size() / 2));
  EXPECT_DDKIT_ERROR(cut.string(), "truncated", read_idx_images(cut));
}

TEST(DataErrors, TruncatedUncompressedIdx) {
  TempDir tmp;
  const fs::path file = tmp / "train-images-idx3-ubyte";
  std::vector<uint8_t> pixels(50, 7);  // the header says 3 x 4 x 5 = 60
  write_bytes(file, idx_images(3, 4, 5, pixels));
  EXPECT_DDKIT_ERROR(file.string(), "truncated", read_idx_images(file));
  EXPECT_DDKIT_ERROR(file.string(), "50 of 60 bytes", read_idx_images(file));
  // A label file shorter than its count.
  const fs::path labels = tmp / "labels";
  std::string bytes = idx_labels({1, 2, 3, 4});
  write_bytes(labels, bytes.substr(0, bytes.size() - 2));
  EXPECT_DDKIT_ERROR(labels.string(), "truncated", read_idx_labels(labels, 10));
}

TEST(DataErrors, WrongIdxMagic) {
  TempDir tmp;
  const fs::path labels = tmp / "train-labels-idx1-ubyte";
  const fs::path images = tmp / "train-images-idx3-ubyte";
  write_bytes(labels, idx_labels({1, 2, 3}));
  write_bytes(images, idx_images(kIdxN, kIdxH, kIdxW, idx_fixture_pixels()));
  EXPECT_DDKIT_ERROR(labels.string(), "wrong IDX magic 0x00000801", read_idx_images(labels));
  EXPECT_DDKIT_ERROR(images.string(), "wrong IDX magic 0x00000803", read_idx_labels(images, 10));
  const fs::path garbage = tmp / "garbage";
  write_bytes(garbage, "GARBAGE, not an IDX file at all");
  EXPECT_DDKIT_ERROR(garbage.string(), "wrong IDX magic 0x47415242", read_idx_images(garbage));
  EXPECT_DDKIT_ERROR(garbage.string(), "wrong IDX magic", read_idx_labels(garbage, 10));
  // A file too short for a header is truncated, not a crash.
  const fs::path tiny = tmp / "tiny";
  write_bytes(tiny, std::string("\x00\x00", 2));
  EXPECT_DDKIT_ERROR(tiny.string(), "truncated", read_idx_images(tiny));
  // A missing file.
  EXPECT_DDKIT_ERROR((tmp / "absent.gz").string(), "no such file", read_idx_images(tmp / "absent.gz"));
}

TEST(DataErrors, IdxLabelOutOfRange) {
  TempDir tmp;
  const fs::path file = tmp / "labels.gz";
  write_gz(file, idx_labels({1, 10, 2}));
  EXPECT_DDKIT_ERROR(file.string(), "label 10 at index 1 is out of range (10 classes)", read_idx_labels(file, 10));
  // Through the registry too: the train label file is named.
  write_idx_dataset(tmp / "mnist");
  write_gz(tmp / "mnist" / "train-labels-idx1-ubyte.gz", idx_labels({1, 10, 2}));
  EXPECT_DDKIT_ERROR((tmp / "mnist" / "train-labels-idx1-ubyte.gz").string(), "out of range",
                     load_dataset("mnist:" + (tmp / "mnist").string()));
}

// An IDX label file with a zero count must be a ddkit::Error like any other
// malformed file.
// Regression: an empty label file must be a ddkit::Error, not a c10::Error from max().
TEST(DataErrors, IdxEmptyLabelFile) {
  TempDir tmp;
  const fs::path file = tmp / "labels";
  write_bytes(file, idx_labels({}));
  EXPECT_DDKIT_ERROR(file.string(), "", read_idx_labels(file, 10));
}

TEST(DataErrors, CifarLabelOutOfRangeAndBadSize) {
  TempDir tmp;
  const fs::path bad_label = tmp / "data_batch_1.bin";
  write_bytes(bad_label, cifar10_file({3, 10, 4}, 0));
  EXPECT_DDKIT_ERROR(bad_label.string(), "label 10 at record 1 is out of range (10 classes)",
                     read_cifar10_files({bad_label}));

  const fs::path bad_size = tmp / "test_batch.bin";
  const std::string two = cifar10_file({1, 2}, 0);
  write_bytes(bad_size, two.substr(0, two.size() - 5));
  EXPECT_DDKIT_ERROR(bad_size.string(), "not a whole number of 3073-byte CIFAR records",
                     read_cifar10_files({bad_size}));
  const fs::path empty = tmp / "empty.bin";
  write_bytes(empty, "");
  EXPECT_DDKIT_ERROR(empty.string(), "3073-byte", read_cifar10_files({empty}));
  // CIFAR-100 records are 3074 bytes; a CIFAR-10 file is not a whole number of them.
  EXPECT_DDKIT_ERROR(bad_label.string(), "3074-byte", read_cifar100_file(bad_label));
  // A missing batch file is named.
  EXPECT_DDKIT_ERROR((tmp / "absent.bin").string(), "no such file", read_cifar10_files({tmp / "absent.bin"}));
}

TEST(DataErrors, FolderImageOfDifferentSize) {
  TempDir tmp;
  auto grey = [](int64_t h, int64_t w) { return make_image(1, h, w, [](int64_t, int64_t y, int64_t x) { return 10 * y + x; }); };
  write_png(tmp / "train" / "cat" / "a.png", grey(6, 6));
  write_png(tmp / "train" / "dog" / "b.png", grey(6, 5));
  write_png(tmp / "test" / "cat" / "c.png", grey(6, 6));
  EXPECT_DDKIT_ERROR((tmp / "train" / "dog" / "b.png").string(), "expected 6x6",
                     load_dataset("folder:" + tmp.path().string()));
  // Same in the test split: the training split fixes the size.
  fs::remove(tmp / "train" / "dog" / "b.png");
  write_png(tmp / "test" / "dog" / "d.png", grey(7, 6));
  EXPECT_DDKIT_ERROR((tmp / "test" / "dog" / "d.png").string(), "image is 6x7, expected 6x6",
                     load_dataset("folder:" + tmp.path().string()));
  // A file with a PNG name that is not an image.
  fs::remove(tmp / "test" / "dog" / "d.png");
  write_bytes(tmp / "train" / "dog" / "e.png", "not a png");
  EXPECT_DDKIT_ERROR((tmp / "train" / "dog" / "e.png").string(), "not a readable PNG/JPEG",
                     load_dataset("folder:" + tmp.path().string()));
}

TEST(DataErrors, SpecErrors) {
  EXPECT_DDKIT_ERROR("/nonexistent/ddkit_test_mnist", "no such directory",
                     load_dataset("mnist:/nonexistent/ddkit_test_mnist"));
  EXPECT_DDKIT_ERROR("/nonexistent/ddkit_test_cifar", "no such directory",
                     load_dataset("cifar10:/nonexistent/ddkit_test_cifar"));
  EXPECT_DDKIT_ERROR("/nonexistent/ddkit_test_folder", "no such directory",
                     load_dataset("folder:/nonexistent/ddkit_test_folder"));
  EXPECT_DDKIT_ERROR("imagenet", "unknown dataset 'imagenet'", load_dataset("imagenet"));
  EXPECT_DDKIT_ERROR("imagenet:/data", "unknown dataset 'imagenet'", load_dataset("imagenet:/data"));
  EXPECT_DDKIT_ERROR("mnist", "needs a path", load_dataset("mnist"));
  EXPECT_DDKIT_ERROR("mnist:", "needs a path", load_dataset("mnist:"));
  EXPECT_DDKIT_ERROR("cifar100", "needs a path", load_dataset("cifar100"));
  EXPECT_DDKIT_ERROR("folder", "needs a path", load_dataset("folder"));
}

TEST(DataErrors, MissingIdxFileInDirectory) {
  TempDir tmp;
  write_idx_dataset(tmp.path());
  fs::remove(tmp / "t10k-labels-idx1-ubyte");
  EXPECT_DDKIT_ERROR((tmp / "t10k-labels-idx1-ubyte").string() + "[.gz]", "no such file",
                     load_dataset("mnist:" + tmp.path().string()));
  DataOptions no_test;
  no_test.load_test = false;
  EXPECT_NO_THROW(load_dataset("mnist:" + tmp.path().string(), no_test));
  // A path that is a file, not a directory.
  EXPECT_DDKIT_ERROR((tmp / "t10k-images-idx3-ubyte").string(), "is not a directory",
                     load_dataset("mnist:" + (tmp / "t10k-images-idx3-ubyte").string()));
}

TEST(DataErrors, ImageCountDiffersFromLabelCountUncompressed) {
  TempDir tmp;
  write_idx_dataset(tmp.path());
  fs::remove(tmp / "t10k-labels-idx1-ubyte");
  write_bytes(tmp / "t10k-labels-idx1-ubyte", idx_labels({1, 2, 3}));  // 3 labels, 2 images
  EXPECT_DDKIT_ERROR((tmp / "t10k-labels-idx1-ubyte").string(), "has 3 labels for 2 images",
                     load_dataset("mnist:" + tmp.path().string()));
}

// Regression: the count check must name the file actually read (the .gz one).
TEST(DataErrors, ImageCountDiffersFromLabelCountGz) {
  TempDir tmp;
  write_idx_dataset(tmp.path());
  write_gz(tmp / "train-labels-idx1-ubyte.gz", idx_labels({1, 2}));  // 2 labels, 3 images
  EXPECT_DDKIT_ERROR((tmp / "train-labels-idx1-ubyte.gz").string(), "has 2 labels for 3 images",
                     load_dataset("mnist:" + tmp.path().string()));
}

// ---------------------------------------------------------------- 3. CIFAR

TEST(Cifar, Cifar10FilesReadBackLabelsAndPlanarLayout) {
  TempDir tmp;
  write_bytes(tmp / "a.bin", cifar10_file({1, 9}, 0));
  write_bytes(tmp / "b.bin", cifar10_file({0, 5, 3}, 2));
  const RawSplit split = read_cifar10_files({tmp / "a.bin", tmp / "b.bin"});
  EXPECT_EQ(split.labels.scalar_type(), at::kLong);
  EXPECT_EQ(to_vector(split.labels), (std::vector<int64_t>{1, 9, 0, 5, 3}));
  ASSERT_EQ(split.images.size(0), 5);
  expect_cifar_pixels(split.images, 0);
  // Spot checks from the record bytes themselves: byte 1 + k is R at (k/32, k%32),
  // byte 1 + 1024 + k is G, byte 1 + 2048 + k is B.
  const std::string rec3 = cifar_record({5}, 3);
  const int k = 5 * 32 + 17;
  EXPECT_EQ(split.images[3][0][5][17].item<uint8_t>(), static_cast<uint8_t>(rec3[1 + k]));
  EXPECT_EQ(split.images[3][1][5][17].item<uint8_t>(), static_cast<uint8_t>(rec3[1 + 1024 + k]));
  EXPECT_EQ(split.images[3][2][5][17].item<uint8_t>(), static_cast<uint8_t>(rec3[1 + 2048 + k]));
}

TEST(Cifar, Cifar100UsesFineLabel) {
  TempDir tmp;
  const fs::path file = tmp / "train.bin";
  write_bytes(file, cifar_record({3, 42}, 0) + cifar_record({19, 99}, 1) + cifar_record({0, 7}, 2));
  const RawSplit split = read_cifar100_file(file);
  EXPECT_EQ(to_vector(split.labels), (std::vector<int64_t>{42, 99, 7}));
  expect_cifar_pixels(split.images, 0);
  // Fine label 100 is out of range even though the coarse label is fine.
  write_bytes(file, cifar_record({3, 100}, 0));
  EXPECT_DDKIT_ERROR(file.string(), "label 100 at record 0 is out of range (100 classes)", read_cifar100_file(file));
}

void write_cifar10_dir(const fs::path& dir) {
  int rec = 0;
  const std::vector<std::vector<uint8_t>> batches = {{0}, {1, 2}, {3}, {4, 5, 6}, {7}};
  for (size_t i = 0; i < batches.size(); ++i) {
    write_bytes(dir / ("data_batch_" + std::to_string(i + 1) + ".bin"), cifar10_file(batches[i], rec));
    rec += static_cast<int>(batches[i].size());
  }
  write_bytes(dir / "test_batch.bin", cifar10_file({8, 9}, 100));
}

TEST(Cifar, LoadDatasetFlatAndNested) {
  TempDir tmp;
  write_cifar10_dir(tmp / "flat");
  write_cifar10_dir(tmp / "nested" / "cifar-10-batches-bin");
  for (const fs::path dir : {tmp / "flat", tmp / "nested"}) {
    SCOPED_TRACE(dir.string());
    const Dataset data = load_dataset("cifar10:" + dir.string());
    EXPECT_EQ(data.name, "cifar10");
    EXPECT_EQ(data.channels, 3);
    EXPECT_EQ(data.height, 32);
    EXPECT_EQ(data.width, 32);
    EXPECT_EQ(data.num_classes, 10);
    ASSERT_EQ(data.class_names.size(), 10u);
    EXPECT_EQ(data.class_names[0], "airplane");
    EXPECT_EQ(data.class_names[3], "cat");
    EXPECT_EQ(data.normalization.mean, (std::vector<double>{0.4914, 0.4822, 0.4465}));
    EXPECT_EQ(data.normalization.std, (std::vector<double>{0.2023, 0.1994, 0.2010}));
    EXPECT_EQ(to_vector(data.train.labels), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
    EXPECT_EQ(to_vector(data.test.labels), (std::vector<int64_t>{8, 9}));
    ASSERT_EQ(data.train.images.sizes(), (std::vector<int64_t>{8, 3, 32, 32}));
    // Records in file order (batch 1..5), normalized per channel.
    const auto& mean = data.normalization.mean;
    const auto& std = data.normalization.std;
    for (int rec : {0, 3, 7})
      for (int c = 0; c < 3; ++c) {
        const int y = 9, x = 30;
        const double expected = (cifar_pixel(rec, c, y, x) / 255.0 - mean[c]) / std[c];
        EXPECT_NEAR(data.train.images[rec][c][y][x].item<float>(), expected, 1e-5) << rec << " " << c;
      }
    EXPECT_NEAR(data.test.images[1][2][0][0].item<float>(),
                (cifar_pixel(101, 2, 0, 0) / 255.0 - 0.4465) / 0.2010, 1e-5);
  }
  // A missing batch is named.
  fs::remove(tmp / "flat" / "data_batch_4.bin");
  EXPECT_DDKIT_ERROR((tmp / "flat" / "data_batch_4.bin").string(), "no such file",
                     load_dataset("cifar10:" + (tmp / "flat").string()));
}

TEST(Cifar, LoadCifar100Dataset) {
  TempDir tmp;
  const fs::path dir = tmp / "c100" / "cifar-100-binary";
  write_bytes(dir / "train.bin", cifar_record({1, 42}, 0) + cifar_record({2, 99}, 1));
  write_bytes(dir / "test.bin", cifar_record({1, 0}, 2));
  const Dataset data = load_dataset("cifar100:" + (tmp / "c100").string());
  EXPECT_EQ(data.num_classes, 100);
  EXPECT_EQ(to_vector(data.train.labels), (std::vector<int64_t>{42, 99}));
  EXPECT_EQ(to_vector(data.test.labels), (std::vector<int64_t>{0}));
  EXPECT_EQ(data.normalization.mean, (std::vector<double>{0.5071, 0.4866, 0.4409}));
  EXPECT_EQ(data.normalization.std, (std::vector<double>{0.2673, 0.2564, 0.2762}));
  EXPECT_NEAR(data.train.images[1][1][2][3].item<float>(), (cifar_pixel(1, 1, 2, 3) / 255.0 - 0.4866) / 0.2564,
              1e-5);
}

// ---------------------------------------------------------------- 4. folder

// Regression: grey images once aliased stb's freed buffer (a contiguous() view).
TEST(Folder, GreyDatasetShapesLabelsAndMeasuredNormalization) {
  TempDir tmp;
  auto uniform = [](int v) { return make_image(1, 6, 6, [v](int64_t, int64_t, int64_t) { return v; }); };
  // train: cat/a = 0, cat/b = 255, dog/c = left half 0, right half 102 (0.4).
  write_png(tmp / "train" / "dog" / "c.png",
            make_image(1, 6, 6, [](int64_t, int64_t, int64_t x) { return x < 3 ? 0 : 102; }));
  write_png(tmp / "train" / "cat" / "b.png", uniform(255));
  write_png(tmp / "train" / "cat" / "a.png", uniform(0));
  write_png(tmp / "test" / "dog" / "e.png", uniform(51));
  write_png(tmp / "test" / "cat" / "d.png", uniform(204));
  const Dataset data = load_dataset("folder:" + tmp.path().string());
  EXPECT_EQ(data.name, "folder");
  EXPECT_EQ(data.class_names, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(data.num_classes, 2);
  EXPECT_EQ(data.channels, 1);
  EXPECT_EQ(data.height, 6);
  EXPECT_EQ(data.width, 6);
  ASSERT_EQ(data.train.images.sizes(), (std::vector<int64_t>{3, 1, 6, 6}));
  EXPECT_EQ(to_vector(data.train.labels), (std::vector<int64_t>{0, 0, 1}));
  ASSERT_EQ(data.test.images.sizes(), (std::vector<int64_t>{2, 1, 6, 6}));
  EXPECT_EQ(to_vector(data.test.labels), (std::vector<int64_t>{0, 1}));

  // 108 training pixels: 36 x 0, 36 x 1, 18 x 0, 18 x 0.4 -> mean 43.2/108 = 0.4;
  // squared deviations 36*0.16 + 36*0.36 + 18*0.16 + 18*0 = 21.6.
  const double mean = 0.4, std = std::sqrt(21.6 / 107.0);
  ASSERT_EQ(data.normalization.mean.size(), 1u);
  ASSERT_EQ(data.normalization.std.size(), 1u);
  EXPECT_NEAR(data.normalization.mean[0], mean, 1e-9);
  EXPECT_NEAR(data.normalization.std[0], std, 1e-9);
  // Pixels: files sorted within a class (a before b), classes in label order.
  EXPECT_NEAR(data.train.images[0][0][3][3].item<float>(), (0.0 - mean) / std, 1e-5);
  EXPECT_NEAR(data.train.images[1][0][3][3].item<float>(), (1.0 - mean) / std, 1e-5);
  EXPECT_NEAR(data.train.images[2][0][5][2].item<float>(), (0.0 - mean) / std, 1e-5);
  EXPECT_NEAR(data.train.images[2][0][0][3].item<float>(), (0.4 - mean) / std, 1e-5);
  EXPECT_NEAR(data.test.images[0][0][1][1].item<float>(), (0.8 - mean) / std, 1e-5);
  EXPECT_NEAR(data.test.images[1][0][1][1].item<float>(), (0.2 - mean) / std, 1e-5);
  // The normalized training split has mean 0 and (unbiased) std 1.
  EXPECT_NEAR(data.train.images.mean().item<double>(), 0.0, 1e-5);
  EXPECT_NEAR(data.train.images.std().item<double>(), 1.0, 1e-5);
}

TEST(Folder, RgbDatasetShapesLabelsAndMeasuredNormalization) {
  TempDir tmp;
  auto rgb = [](int r, int g, int b) {
    return make_image(3, 6, 6, [=](int64_t c, int64_t, int64_t) { return c == 0 ? r : c == 1 ? g : b; });
  };
  write_png(tmp / "train" / "cat" / "a.png", rgb(255, 0, 51));    // (1, 0, 0.2)
  write_png(tmp / "train" / "dog" / "b.png", rgb(0, 255, 153));   // (0, 1, 0.6)
  write_png(tmp / "test" / "dog" / "c.png", rgb(102, 204, 0));    // (0.4, 0.8, 0)
  const Dataset data = load_dataset("folder:" + tmp.path().string());
  EXPECT_EQ(data.class_names, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(data.channels, 3);
  EXPECT_EQ(data.height, 6);
  EXPECT_EQ(data.width, 6);
  ASSERT_EQ(data.train.images.sizes(), (std::vector<int64_t>{2, 3, 6, 6}));
  EXPECT_EQ(to_vector(data.train.labels), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(to_vector(data.test.labels), (std::vector<int64_t>{1}));
  // Per channel over 72 pixels: R and G are half 0, half 1 -> mean 0.5, squared
  // deviations 72*0.25 = 18; B is half 0.2, half 0.6 -> mean 0.4, 72*0.04 = 2.88.
  const std::vector<double> mean = {0.5, 0.5, 0.4};
  const std::vector<double> std = {std::sqrt(18.0 / 71.0), std::sqrt(18.0 / 71.0), std::sqrt(2.88 / 71.0)};
  ASSERT_EQ(data.normalization.mean.size(), 3u);
  ASSERT_EQ(data.normalization.std.size(), 3u);
  for (size_t c = 0; c < 3; ++c) {
    EXPECT_NEAR(data.normalization.mean[c], mean[c], 1e-9) << c;
    EXPECT_NEAR(data.normalization.std[c], std[c], 1e-9) << c;
  }
  const std::vector<double> test_unit = {0.4, 0.8, 0.0}, cat_unit = {1.0, 0.0, 0.2};
  for (int64_t c = 0; c < 3; ++c) {
    EXPECT_NEAR(data.train.images[0][c][2][4].item<float>(), (cat_unit[c] - mean[c]) / std[c], 1e-5) << c;
    EXPECT_NEAR(data.test.images[0][c][5][0].item<float>(), (test_unit[c] - mean[c]) / std[c], 1e-5) << c;
  }
}

TEST(Folder, GreyPngsInRgbDatasetAreConverted) {
  TempDir tmp;
  write_png(tmp / "train" / "a" / "x.png", make_image(3, 4, 4, [](int64_t c, int64_t, int64_t) { return 50 * c; }));
  write_png(tmp / "train" / "b" / "y.png", make_image(1, 4, 4, [](int64_t, int64_t, int64_t) { return 77; }));
  write_png(tmp / "test" / "b" / "z.png", make_image(1, 4, 4, [](int64_t, int64_t, int64_t) { return 77; }));
  const Dataset data = load_dataset("folder:" + tmp.path().string());
  EXPECT_EQ(data.channels, 3);
  ASSERT_EQ(data.test.images.sizes(), (std::vector<int64_t>{1, 3, 4, 4}));
  const auto unit = denormalize(data.test.images, data.normalization);
  for (int64_t c = 0; c < 3; ++c) EXPECT_NEAR(unit[0][c][1][2].item<float>(), 77 / 255.0, 1e-5) << c;
}

// ---------------------------------------------------------------- 5. image sets

TEST(ImageSet, RoundTripImagesLabelsScoresPngsAndMeta) {
  TempDir tmp;
  at::manual_seed(7);
  const Dataset data = image_set_dataset();
  const ImageSet set = image_set_fixture();
  const fs::path dir = tmp / "set";
  write_image_set(dir, set, data);
  ASSERT_TRUE(fs::is_directory(dir));
  for (const char* file : {"images.pt", "labels.pt", "metadata.jsonl", "meta.json"})
    EXPECT_TRUE(fs::is_regular_file(dir / file)) << file;

  const ImageSet back = read_image_set(dir, data);
  ASSERT_EQ(back.images.scalar_type(), at::kFloat);
  ASSERT_EQ(back.images.sizes(), set.images.sizes());
  EXPECT_TRUE(at::equal(back.images, set.images)) << "images.pt must be exact";
  EXPECT_EQ(back.labels.scalar_type(), at::kLong);
  EXPECT_EQ(to_vector(back.labels), (std::vector<int64_t>{2, 0, 1, 0, 2}));
  ASSERT_TRUE(back.scores.defined());
  ASSERT_EQ(back.scores.numel(), 5);
  EXPECT_EQ(back.scores[0].item<double>(), 0.5);
  EXPECT_TRUE(std::isnan(back.scores[1].item<double>()));
  EXPECT_EQ(back.scores[2].item<double>(), 1.25);
  EXPECT_EQ(back.scores[3].item<double>(), -3.0);
  EXPECT_EQ(back.scores[4].item<double>(), 0.0);

  // metadata.jsonl: one line per image, in order, file names images/<label>/<index>.png.
  const auto lines = read_jsonl(dir / "metadata.jsonl");
  ASSERT_EQ(lines.size(), 5u);
  ASSERT_EQ(back.file_names.size(), 5u);
  const auto labels = to_vector(set.labels);
  const auto norm = data.normalization;
  for (size_t i = 0; i < lines.size(); ++i) {
    SCOPED_TRACE("image " + std::to_string(i));
    const json& line = lines[i];
    ASSERT_TRUE(line.contains("file_name"));
    const std::string name = line["file_name"].get<std::string>();
    EXPECT_EQ(name, back.file_names[i]);
    EXPECT_EQ(line["label"].get<int64_t>(), labels[i]);
    const std::string prefix = "images/" + std::to_string(labels[i]) + "/";
    ASSERT_EQ(name.rfind(prefix, 0), 0u) << name;
    const std::string stem = fs::path(name).stem().string();
    EXPECT_EQ(std::stoll(stem), static_cast<long long>(i)) << name;
    EXPECT_EQ(fs::path(name).extension(), ".png");
    if (i == 1) {
      EXPECT_FALSE(line.contains("score")) << "a NaN score must be absent: " << line.dump();
    } else {
      ASSERT_TRUE(line.contains("score")) << line.dump();
      EXPECT_EQ(line["score"].get<double>(), set.scores[static_cast<int64_t>(i)].item<double>());
    }
    ASSERT_TRUE(fs::is_regular_file(dir / name)) << name;
    const auto png = load_image(dir / name, 0);
    ASSERT_EQ(png.sizes(), (std::vector<int64_t>{3, 4, 5}));
    const auto expected = expected_png_pixels(set.images[static_cast<int64_t>(i)], norm);
    EXPECT_TRUE(at::equal(png, expected)) << "max diff "
                                          << (png.to(at::kInt) - expected.to(at::kInt)).abs().max().item<int>();
  }
  // The forced extremes clamp.
  EXPECT_EQ(load_image(dir / back.file_names[0], 0)[0][0][0].item<uint8_t>(), 255);
  EXPECT_EQ(load_image(dir / back.file_names[0], 0)[1][0][1].item<uint8_t>(), 0);

  // meta.json: the caller's meta plus dataset, normalization, num_images.
  const json meta = json::parse(read_text(dir / "meta.json"));
  EXPECT_EQ(meta["dataset"], data.spec);
  EXPECT_EQ(meta["normalization"]["mean"].get<std::vector<double>>(), norm.mean);
  EXPECT_EQ(meta["normalization"]["std"].get<std::vector<double>>(), norm.std);
  EXPECT_EQ(meta["num_images"].get<int64_t>(), 5);
  EXPECT_EQ(meta["method"], "unit-test");
  EXPECT_EQ(meta["ipc"], 2);
  EXPECT_EQ(back.meta, meta);

  // images.pt and labels.pt are plain tensor files.
  EXPECT_TRUE(at::equal(load_tensor(dir / "images.pt"), set.images));
  EXPECT_EQ(to_vector(load_tensor(dir / "labels.pt")), labels);
  // No temporary files or siblings left behind.
  EXPECT_EQ(entries_of(tmp.path()), std::vector<std::string>{"set"});
  for (const auto& e : fs::recursive_directory_iterator(dir))
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << e.path();
}

TEST(ImageSet, SetWithoutScoresReadsWithoutScores) {
  TempDir tmp;
  const Dataset data = image_set_dataset();
  ImageSet set = image_set_fixture();
  set.scores = at::Tensor();
  write_image_set(tmp / "set", set, data);
  for (const auto& line : read_jsonl(tmp / "set" / "metadata.jsonl")) EXPECT_FALSE(line.contains("score"));
  const ImageSet back = read_image_set(tmp / "set", data);
  EXPECT_FALSE(back.scores.defined());
  EXPECT_TRUE(at::equal(back.images, set.images));
}

TEST(ImageSet, PngOnlyTreesAreReadable) {
  TempDir tmp;
  at::manual_seed(11);
  const Dataset data = image_set_dataset();
  const ImageSet set = image_set_fixture();
  write_image_set(tmp / "set", set, data);
  const auto lines = read_jsonl(tmp / "set" / "metadata.jsonl");
  std::map<std::string, int64_t> index_of;  // file name -> image index
  for (size_t i = 0; i < lines.size(); ++i) index_of[lines[i]["file_name"].get<std::string>()] = static_cast<int64_t>(i);
  const auto expected = clamped(set.images, data.normalization);
  const auto labels = to_vector(set.labels);

  // Only images/ copied: no images.pt, no metadata, no scores.
  fs::create_directories(tmp / "pngs");
  fs::copy(tmp / "set" / "images", tmp / "pngs" / "images", fs::copy_options::recursive);
  const ImageSet pngs = read_image_set(tmp / "pngs", data);
  ASSERT_EQ(pngs.size(), 5);
  ASSERT_EQ(pngs.images.sizes(), set.images.sizes());
  EXPECT_FALSE(pngs.scores.defined());
  ASSERT_EQ(pngs.file_names.size(), 5u);
  std::vector<int64_t> order;
  for (size_t j = 0; j < pngs.file_names.size(); ++j) {
    ASSERT_TRUE(index_of.count(pngs.file_names[j])) << pngs.file_names[j];
    const int64_t i = index_of[pngs.file_names[j]];
    order.push_back(i);
    EXPECT_EQ(pngs.labels[static_cast<int64_t>(j)].item<int64_t>(), labels[static_cast<size_t>(i)]);
  }
  const auto reordered = expected.index_select(0, at::tensor(order, at::kLong));
  EXPECT_LE(max_steps(pngs.images, reordered, data.normalization), 1.0 + 1e-4);
  // Compared with the unclamped originals, only the clamped pixels differ by more.
  const auto originals = set.images.index_select(0, at::tensor(order, at::kLong));
  const auto close = ((pngs.images - originals).abs() <= 1.0 / 255.0 / 0.2 + 1e-4);
  EXPECT_GT(close.to(at::kFloat).mean().item<double>(), 0.5);

  // images/ plus metadata.jsonl: scores come back by file name.
  fs::copy(tmp / "set" / "metadata.jsonl", tmp / "pngs" / "metadata.jsonl");
  const ImageSet with_scores = read_image_set(tmp / "pngs", data);
  ASSERT_TRUE(with_scores.scores.defined());
  for (size_t j = 0; j < order.size(); ++j) {
    const double want = set.scores[order[j]].item<double>();
    const double got = with_scores.scores[static_cast<int64_t>(j)].item<double>();
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << j;
    } else {
      EXPECT_EQ(got, want) << j;
    }
  }

  // Class folders named by class name, at the top level.
  const std::vector<std::string> names = {"apple", "bear", "cloud"};
  for (const auto& [file, i] : index_of) {
    const fs::path src = tmp / "set" / file;
    const fs::path dst = tmp / "named" / names[static_cast<size_t>(labels[static_cast<size_t>(i)])] / src.filename();
    fs::create_directories(dst.parent_path());
    fs::copy_file(src, dst);
  }
  const ImageSet named = read_image_set(tmp / "named", data);
  ASSERT_EQ(named.size(), 5);
  EXPECT_EQ(to_vector(named.labels), (std::vector<int64_t>{0, 0, 1, 2, 2}));
  EXPECT_TRUE(at::allclose(named.images, pngs.images)) << "same PNGs, same order (by label, then file)";

  // A folder name that is neither a label nor a class name.
  fs::rename(tmp / "named" / "bear", tmp / "named" / "zebra");
  EXPECT_DDKIT_ERROR((tmp / "named" / "zebra").string(), "neither a label number nor a class",
                     read_image_set(tmp / "named", data));
  // A numbered folder out of range.
  fs::rename(tmp / "named" / "zebra", tmp / "named" / "3");
  EXPECT_DDKIT_ERROR((tmp / "named" / "3").string(), "label 3 is out of range (3 classes)",
                     read_image_set(tmp / "named", data));
}

// Regression: grey images once aliased stb's freed buffer (a contiguous() view).
TEST(ImageSet, GreyPngOnlyTreeIsReadable) {
  TempDir tmp;
  at::manual_seed(13);
  Dataset data = image_set_dataset();
  data.channels = 1;
  data.normalization = {{0.2861}, {0.3530}};
  ImageSet set;
  set.images = at::randn({4, 1, 4, 5});
  set.labels = at::tensor(std::vector<int64_t>{1, 0, 2, 1}, at::kLong);
  write_image_set(tmp / "set", set, data);
  const auto png = load_image(tmp / "set" / "images" / "0" / "00001.png", 0);
  ASSERT_EQ(png.sizes(), (std::vector<int64_t>{1, 4, 5}));
  EXPECT_TRUE(at::equal(png, expected_png_pixels(set.images[1], data.normalization)));
  fs::create_directories(tmp / "pngs");
  fs::copy(tmp / "set" / "images", tmp / "pngs" / "images", fs::copy_options::recursive);
  const ImageSet back = read_image_set(tmp / "pngs", data);
  ASSERT_EQ(back.size(), 4);
  EXPECT_EQ(to_vector(back.labels), (std::vector<int64_t>{0, 1, 1, 2}));
  const auto order = at::tensor(std::vector<int64_t>{1, 0, 3, 2}, at::kLong);
  EXPECT_LE(max_steps(back.images, clamped(set.images, data.normalization).index_select(0, order),
                      data.normalization),
            1.0 + 1e-4);
}

TEST(ImageSet, OverwriteReplacesAndLeavesNoTemporaries) {
  TempDir tmp;
  const Dataset data = image_set_dataset();
  const ImageSet first = image_set_fixture();
  const fs::path dir = tmp / "out";
  write_image_set(dir, first, data);
  ASSERT_TRUE(fs::exists(dir / "images" / "2" / "00004.png")) << "expected 5-digit indices; see metadata.jsonl:\n"
                                                              << read_text(dir / "metadata.jsonl");
  write_bytes(dir / "stray.txt", "left over from the old set");

  ImageSet second;
  second.images = at::zeros({2, 3, 4, 5}, at::kFloat);
  second.labels = at::tensor(std::vector<int64_t>{1, 1}, at::kLong);
  write_image_set(dir, second, data);
  const ImageSet back = read_image_set(dir, data);
  EXPECT_EQ(back.size(), 2);
  EXPECT_TRUE(at::equal(back.images, second.images));
  EXPECT_EQ(to_vector(back.labels), (std::vector<int64_t>{1, 1}));
  EXPECT_FALSE(back.scores.defined());
  EXPECT_FALSE(fs::exists(dir / "stray.txt")) << "the old directory must be replaced, not merged";
  EXPECT_FALSE(fs::exists(dir / "images" / "2")) << "old PNGs must be gone";
  EXPECT_EQ(json::parse(read_text(dir / "meta.json"))["num_images"], 2);
  EXPECT_EQ(entries_of(tmp.path()), std::vector<std::string>{"out"});

  // A trailing slash names the same directory.
  write_image_set(dir.string() + "/", first, data);
  EXPECT_EQ(read_image_set(dir, data).size(), 5);
  EXPECT_EQ(entries_of(tmp.path()), std::vector<std::string>{"out"});
}

TEST(ImageSet, FailedWriteLeavesNothing) {
  TempDir tmp;
  const Dataset data = image_set_dataset();
  ImageSet bad = image_set_fixture();
  bad.labels = at::tensor(std::vector<int64_t>{0, 1, 3, 0, 2}, at::kLong);
  EXPECT_DDKIT_ERROR((tmp / "out").string(), "label 3 is out of range (3 classes)",
                     write_image_set(tmp / "out", bad, data));
  EXPECT_FALSE(fs::exists(tmp / "out"));
  EXPECT_TRUE(entries_of(tmp.path()).empty());

  bad.labels = at::tensor(std::vector<int64_t>{0, 1, -1, 0, 2}, at::kLong);
  EXPECT_DDKIT_ERROR((tmp / "out").string(), "label -1 is out of range", write_image_set(tmp / "out", bad, data));
  EXPECT_TRUE(entries_of(tmp.path()).empty());

  ImageSet wrong_shape = image_set_fixture();
  wrong_shape.images = at::zeros({5, 3, 5, 4});
  EXPECT_DDKIT_ERROR((tmp / "out").string(), "expected N x 3 x 4 x 5", write_image_set(tmp / "out", wrong_shape, data));
  ImageSet wrong_count = image_set_fixture();
  wrong_count.labels = at::zeros({4}, at::kLong);
  EXPECT_DDKIT_ERROR((tmp / "out").string(), "has 4 labels for 5 images", write_image_set(tmp / "out", wrong_count, data));
  EXPECT_TRUE(entries_of(tmp.path()).empty());

  // A failure after the staging directory exists (here: a score vector shorter
  // than the set, found while writing metadata) also leaves nothing, and a
  // failing write over an existing set leaves the old set intact.
  const ImageSet good = image_set_fixture();
  write_image_set(tmp / "out", good, data);
  ImageSet short_scores = image_set_fixture();
  short_scores.scores = at::zeros({2}, at::kDouble);
  EXPECT_ANY_THROW(write_image_set(tmp / "out", short_scores, data));
  EXPECT_EQ(entries_of(tmp.path()), std::vector<std::string>{"out"});
  const ImageSet still = read_image_set(tmp / "out", data);
  EXPECT_TRUE(at::equal(still.images, good.images));
}

TEST(ImageSet, ReadErrorsNameTheFile) {
  TempDir tmp;
  const Dataset data = image_set_dataset();
  const ImageSet set = image_set_fixture();
  const fs::path dir = tmp / "set";

  // images of the wrong size for the dataset (images.pt).
  Dataset wider = data;
  wider.width = 6;
  ImageSet wide = image_set_fixture();
  wide.images = at::zeros({5, 3, 4, 6});
  write_image_set(dir, wide, wider);
  EXPECT_DDKIT_ERROR((dir / "images.pt").string(), "expected N x 3 x 4 x 5", read_image_set(dir, data));

  // images of the wrong size (PNG tree): the PNG is named.
  fs::remove(dir / "images.pt");
  fs::remove(dir / "labels.pt");
  ASSERT_TRUE(fs::exists(dir / "images" / "0" / "00001.png"));
  EXPECT_DDKIT_ERROR((dir / "images" / "0" / "00001.png").string(), "image is 6x4, expected 5x4",
                     read_image_set(dir, data));

  // A missing labels.pt.
  write_image_set(dir, set, data);
  fs::remove(dir / "labels.pt");
  EXPECT_DDKIT_ERROR((dir / "labels.pt").string(), "no such file", read_image_set(dir, data));

  // Garbage images.pt.
  write_image_set(dir, set, data);
  write_bytes(dir / "images.pt", "definitely not a zip archive");
  EXPECT_DDKIT_ERROR((dir / "images.pt").string(), "not a tensor file", read_image_set(dir, data));

  // Label count differs from the image count.
  write_image_set(dir, set, data);
  save_tensor(dir / "labels.pt", at::zeros({4}, at::kLong));
  try {
    read_image_set(dir, data);
    ADD_FAILURE() << "expected ddkit::Error";
  } catch (const ddkit::Error& e) {
    EXPECT_NE(e.problem().find("has 4 labels for 5 images"), std::string::npos) << e.what();
  }

  // A missing directory, and a file where a directory is expected.
  EXPECT_DDKIT_ERROR((tmp / "absent").string(), "no such directory", read_image_set(tmp / "absent", data));
  EXPECT_DDKIT_ERROR((dir / "meta.json").string(), "is not a directory", read_image_set(dir / "meta.json", data));
  // An empty directory.
  fs::create_directories(tmp / "empty");
  EXPECT_DDKIT_ERROR((tmp / "empty").string(), "no images.pt and no PNG/JPEG class folders",
                     read_image_set(tmp / "empty", data));
}

// Regression: label problems are reported against labels.pt, not images.pt.
TEST(ImageSet, LabelsOutOfRangeNameLabelsFile) {
  TempDir tmp;
  const Dataset data = image_set_dataset();
  const fs::path dir = tmp / "set";
  write_image_set(dir, image_set_fixture(), data);  // labels up to 2
  Dataset two = data;
  two.num_classes = 2;
  two.class_names = {"apple", "bear"};
  EXPECT_DDKIT_ERROR((dir / "labels.pt").string(), "label 2 is out of range (2 classes)", read_image_set(dir, two));
}

TEST(ImageSet, LabelsOutOfRangeInPngTree) {
  TempDir tmp;
  const Dataset data = image_set_dataset();
  const fs::path dir = tmp / "set";
  write_image_set(dir, image_set_fixture(), data);
  fs::remove(dir / "images.pt");
  fs::remove(dir / "labels.pt");
  Dataset two = data;
  two.num_classes = 2;
  two.class_names = {"apple", "bear"};
  EXPECT_DDKIT_ERROR((dir / "images" / "2").string(), "label 2 is out of range (2 classes)", read_image_set(dir, two));
}

TEST(ImageSet, InvalidMetadataLineNamesFileAndLine) {
  TempDir tmp;
  const Dataset data = image_set_dataset();
  const fs::path dir = tmp / "set";
  write_image_set(dir, image_set_fixture(), data);
  const auto lines = read_jsonl(dir / "metadata.jsonl");
  // line 1 valid, line 2 blank, line 3 broken.
  write_bytes(dir / "metadata.jsonl", lines[0].dump() + "\n\n{\"file_name\": \"images/0/00001.png\", \n" +
                                          lines[2].dump() + "\n");
  EXPECT_DDKIT_ERROR((dir / "metadata.jsonl").string(), "line 3 is not valid JSON", read_image_set(dir, data));
  write_bytes(dir / "metadata.jsonl", lines[0].dump() + "\n{\"label\": 0, \"score\": 1}\n");
  EXPECT_DDKIT_ERROR((dir / "metadata.jsonl").string(), "line 2 has no \"file_name\" string",
                     read_image_set(dir, data));
  write_bytes(dir / "meta.json", "{ nope");
  fs::remove(dir / "metadata.jsonl");
  EXPECT_DDKIT_ERROR((dir / "meta.json").string(), "is not valid JSON", read_image_set(dir, data));
}

// ---------------------------------------------------------------- 6. tensor_io

TEST(TensorIo, RoundTripFloatAndInt64) {
  TempDir tmp;
  at::manual_seed(3);
  const auto f = at::randn({2, 3, 4});
  save_tensor(tmp / "f.pt", f);
  const auto f_back = load_tensor(tmp / "f.pt");
  EXPECT_EQ(f_back.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(f_back, f));

  const auto i = at::arange(10, at::kLong) * (int64_t{1} << 40) - 7;
  save_tensor(tmp / "i.pt", i);
  const auto i_back = load_tensor(tmp / "i.pt");
  EXPECT_EQ(i_back.scalar_type(), at::kLong);
  EXPECT_TRUE(at::equal(i_back, i));

  // A non-contiguous view is saved as its values.
  const auto t = f.transpose(0, 2);
  save_tensor(tmp / "t.pt", t);
  EXPECT_TRUE(at::equal(load_tensor(tmp / "t.pt"), t));
  EXPECT_EQ(entries_of(tmp.path()), (std::vector<std::string>{"f.pt", "i.pt", "t.pt"}));
}

TEST(TensorIo, GarbageAndNonTensorFilesAreErrors) {
  TempDir tmp;
  write_bytes(tmp / "garbage.pt", "this is not a torch.save archive");
  EXPECT_DDKIT_ERROR((tmp / "garbage.pt").string(), "not a tensor file", load_tensor(tmp / "garbage.pt"));
  write_bytes(tmp / "empty.pt", "");
  EXPECT_DDKIT_ERROR((tmp / "empty.pt").string(), "not a tensor file", load_tensor(tmp / "empty.pt"));
  // A truncated tensor file.
  save_tensor(tmp / "full.pt", at::randn({64}));
  const std::string full = read_text(tmp / "full.pt");
  write_bytes(tmp / "cut.pt", full.substr(0, full.size() / 2));
  EXPECT_DDKIT_ERROR((tmp / "cut.pt").string(), "not a tensor file", load_tensor(tmp / "cut.pt"));
  // A valid pickle that holds something other than a tensor.
  const auto bytes = torch::pickle_save(c10::IValue(int64_t{42}));
  write_bytes(tmp / "int.pt", std::string(bytes.begin(), bytes.end()));
  EXPECT_DDKIT_ERROR((tmp / "int.pt").string(), "expected a tensor", load_tensor(tmp / "int.pt"));
  EXPECT_DDKIT_ERROR((tmp / "absent.pt").string(), "no such file", load_tensor(tmp / "absent.pt"));
}

std::string run_and_capture(const std::string& command, int& status) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) {
    status = -1;
    return out;
  }
  char buf[4096];
  size_t got;
  while ((got = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, got);
  status = ::pclose(pipe);
  return out;
}

TEST(TensorIo, PythonTorchInterop) {
  if (std::system("/usr/bin/python3 -c \"import torch\" > /dev/null 2>&1") != 0) {
    GTEST_SKIP() << "/usr/bin/python3 cannot import torch";
  }
  TempDir tmp;
  save_tensor(tmp / "from_cpp.pt", at::arange(12, at::kFloat).reshape({3, 4}) * 0.5);
  save_tensor(tmp / "labels_cpp.pt", at::tensor(std::vector<int64_t>{3, 1, 4, 1, 5}, at::kLong));
  const std::string script = tmp.path().string() + "/interop.py";
  write_bytes(script,
              "import sys, torch\n"
              "d = sys.argv[1]\n"
              "t = torch.load(d + '/from_cpp.pt')\n"
              "print(t.dtype, list(t.shape), float(t.sum()))\n"
              "l = torch.load(d + '/labels_cpp.pt')\n"
              "print(l.dtype, l.tolist())\n"
              "torch.save(torch.arange(6, dtype=torch.float64).reshape(2, 3) / 3, d + '/from_python.pt')\n"
              "base = torch.arange(24, dtype=torch.float32).reshape(4, 6) * 0.25\n"
              "torch.save(base[:, 1::2], d + '/strided.pt')\n"
              "torch.save(torch.tensor([7, -2, 2**40], dtype=torch.int64), d + '/ints.pt')\n");
  int status = 0;
  const std::string out = run_and_capture("/usr/bin/python3 " + script + " " + tmp.path().string() + " 2>&1", status);
  ASSERT_EQ(status, 0) << out;
  EXPECT_EQ(out, "torch.float32 [3, 4] 33.0\ntorch.int64 [3, 1, 4, 1, 5]\n");

  const auto from_python = load_tensor(tmp / "from_python.pt");
  EXPECT_EQ(from_python.scalar_type(), at::kDouble);
  EXPECT_TRUE(at::equal(from_python, at::arange(6, at::kDouble).reshape({2, 3}) / 3));
  const auto strided = load_tensor(tmp / "strided.pt");
  const auto base = at::arange(24, at::kFloat).reshape({4, 6}) * 0.25;
  EXPECT_TRUE(at::equal(strided, base.slice(1, 1, 6, 2)));
  const auto ints = load_tensor(tmp / "ints.pt");
  EXPECT_EQ(ints.scalar_type(), at::kLong);
  EXPECT_EQ(to_vector(ints), (std::vector<int64_t>{7, -2, int64_t{1} << 40}));
}

TEST(TensorIo, PythonReadsImageSet) {
  if (std::system("/usr/bin/python3 -c \"import torch\" > /dev/null 2>&1") != 0) {
    GTEST_SKIP() << "/usr/bin/python3 cannot import torch";
  }
  TempDir tmp;
  const Dataset data = image_set_dataset();
  ImageSet set = image_set_fixture();
  set.images = at::arange(5 * 60, at::kFloat).reshape({5, 3, 4, 5}) / 64;
  write_image_set(tmp / "set", set, data);
  int status = 0;
  const std::string out = run_and_capture(
      "/usr/bin/python3 -c \"import sys, torch; d = sys.argv[1]; i = torch.load(d + '/images.pt'); "
      "l = torch.load(d + '/labels.pt'); print(i.dtype, list(i.shape), float(i.sum()), l.dtype, l.tolist())\" " +
          (tmp / "set").string() + " 2>&1",
      status);
  ASSERT_EQ(status, 0) << out;
  // sum of 0..299 / 64 = 44850 / 64 = 700.78125 (exact in float32 sums of this size)
  EXPECT_EQ(out, "torch.float32 [5, 3, 4, 5] 700.78125 torch.int64 [2, 0, 1, 0, 2]\n");
}

// ---------------------------------------------------------------- 7-8. helpers

TEST(Normalization, NormalizeAndDenormalizeAreInverse) {
  at::manual_seed(5);
  const Normalization grey = {{0.2861}, {0.3530}};
  const Normalization rgb = {{0.4914, 0.4822, 0.4465}, {0.2023, 0.1994, 0.2010}};
  for (const auto& [norm, channels] : {std::pair{grey, 1}, std::pair{rgb, 3}}) {
    SCOPED_TRACE(channels);
    const auto x = at::rand({4, channels, 5, 6});
    const auto y = normalize(x, norm);
    EXPECT_EQ(y.scalar_type(), at::kFloat);
    EXPECT_LT((denormalize(y, norm) - x).abs().max().item<double>(), 1e-6);
    EXPECT_LT((normalize(denormalize(x, norm), norm) - x).abs().max().item<double>(), 1e-6);
    // Each channel uses its own statistics.
    for (int64_t c = 0; c < channels; ++c) {
      const double v = x[2][c][3][4].item<double>();
      EXPECT_NEAR(y[2][c][3][4].item<double>(), (v - norm.mean[c]) / norm.std[c], 1e-6) << c;
    }
  }
  // Double tensors stay double.
  const auto xd = at::rand({2, 3, 2, 2}, at::kDouble);
  EXPECT_EQ(normalize(xd, rgb).scalar_type(), at::kDouble);
  EXPECT_LT((denormalize(normalize(xd, rgb), rgb) - xd).abs().max().item<double>(), 1e-12);
}

TEST(IndicesByClass, GroupsIndicesInOrder) {
  const auto labels = at::tensor(std::vector<int64_t>{2, 0, 1, 0, 2, 2}, at::kLong);
  const auto groups = indices_by_class(labels, 4);
  ASSERT_EQ(groups.size(), 4u);
  EXPECT_EQ(groups[0], (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(groups[1], (std::vector<int64_t>{2}));
  EXPECT_EQ(groups[2], (std::vector<int64_t>{0, 4, 5}));
  EXPECT_TRUE(groups[3].empty());
  // int32 labels work the same.
  EXPECT_EQ(indices_by_class(labels.to(at::kInt), 3)[2], (std::vector<int64_t>{0, 4, 5}));
  EXPECT_TRUE(indices_by_class(at::zeros({0}, at::kLong), 2)[1].empty());
}

// Regression: grey images once aliased stb's freed buffer (a contiguous() view).
TEST(ImageIo, PngRoundTripAndChannels) {
  TempDir tmp;
  const auto grey = make_image(1, 3, 7, [](int64_t, int64_t y, int64_t x) { return 30 * y + x; });
  const auto rgb = make_image(3, 3, 7, [](int64_t c, int64_t y, int64_t x) { return 80 * c + 10 * y + x; });
  write_png(tmp / "g.png", grey);
  write_png(tmp / "c.PNG", rgb);
  EXPECT_TRUE(at::equal(load_image(tmp / "g.png"), grey));
  EXPECT_TRUE(at::equal(load_image(tmp / "c.PNG"), rgb));
  EXPECT_EQ(image_file_channels(tmp / "g.png"), 1);
  EXPECT_EQ(image_file_channels(tmp / "c.PNG"), 3);
  EXPECT_EQ(load_image(tmp / "g.png", 3).sizes(), (std::vector<int64_t>{3, 3, 7}));
  EXPECT_TRUE(at::equal(load_image(tmp / "g.png", 3)[2], grey[0]));
  EXPECT_EQ(load_image(tmp / "c.PNG", 1).sizes(), (std::vector<int64_t>{1, 3, 7}));
  EXPECT_TRUE(is_image_file("a/b.png"));
  EXPECT_TRUE(is_image_file("a/b.JPG"));
  EXPECT_TRUE(is_image_file("b.jpeg"));
  EXPECT_FALSE(is_image_file("b.pt"));
  EXPECT_FALSE(is_image_file("png"));
}

}  // namespace
