// Tests of the data layer (src/ddkit/data): IDX readers (gz and uncompressed) and the Fashion-MNIST/MNIST specs (docs/algorithms.md §1).
// Every fixture is tiny and written at run time into a fresh temporary directory.
#include "data_fixtures.h"

namespace {

using namespace ddkit_test_data;

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

}  // namespace
