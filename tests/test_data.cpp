// Tests of the data layer (src/ddkit/data): normalization, indices by class and PNG I/O; the data layer's tests are tests/test_data*.cpp, one program.
// Every fixture is tiny and written at run time into a fresh temporary directory.
#include "data_fixtures.h"

namespace {

using namespace ddkit_test_data;

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
