// Tests of the data layer (src/ddkit/data): image-folder datasets (grey, RGB, mixed) and their measured normalization.
// Every fixture is tiny and written at run time into a fresh temporary directory.
#include "data_fixtures.h"

namespace {

using namespace ddkit_test_data;

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

}  // namespace
