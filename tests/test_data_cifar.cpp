// Tests of the data layer (src/ddkit/data): CIFAR-10/100 binary readers and datasets.
// Every fixture is tiny and written at run time into a fresh temporary directory.
#include "data_fixtures.h"

namespace {

using namespace ddkit_test_data;

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

}  // namespace
