#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "ddkit/report/image_grid.h"
#include "ddkit/report/line_chart_svg.h"
#include "ddkit/report/markup.h"

using namespace ddkit;

TEST(Markup, Base64OfTheRfcVectors) {
  EXPECT_EQ(report::base64(""), "");
  EXPECT_EQ(report::base64("f"), "Zg==");
  EXPECT_EQ(report::base64("fo"), "Zm8=");
  EXPECT_EQ(report::base64("foo"), "Zm9v");
  EXPECT_EQ(report::base64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(report::base64(std::string("\xff\x00\x10", 3)), "/wAQ");
}

TEST(Markup, EscapesMarkup) { EXPECT_EQ(report::escape_xml("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;"); }

TEST(ImageGrid, OneRowPerClassAndMarkedImagesFramed) {
  // Two 2x2 grey images of class 1, one of class 0; the second class-1 image marked.
  const auto images = at::stack({at::full({1, 2, 2}, 1.0), at::full({1, 2, 2}, 0.5), at::zeros({1, 2, 2})});
  const auto labels = at::tensor({1, 1, 0}, at::kLong);
  report::ImageGridOptions options;
  options.max_per_class = 2;
  options.scale = 1;
  options.gap = 1;
  const auto grid = report::image_grid(images, labels, 2, {false, true, false}, options);
  // cell = 2 + 2 * (gap 1 + frame 2) = 8 pixels; 2 rows x 2 columns.
  ASSERT_EQ(grid.sizes(), (at::IntArrayRef{3, 16, 16}));
  EXPECT_EQ(grid[0][8 + 3][3].item<int>(), 255);     // class 1, first image (white)
  EXPECT_EQ(grid[0][8 + 3][8 + 3].item<int>(), 128);  // class 1, second image (grey)
  EXPECT_EQ(grid[2][8 + 1][8 + 1].item<int>(), 0);    // its orange frame: blue channel 0
  EXPECT_EQ(grid[1][8 + 1][8 + 1].item<int>(), 140);
  EXPECT_EQ(grid[0][1][1].item<int>(), 255);          // class 0's image is unframed: background
  EXPECT_EQ(grid[0][3][3].item<int>(), 0);            // and black itself
}

TEST(LineChart, DrawsEachSeriesAsAPath) {
  report::LineChartOptions options;
  options.title = "loss <dm>";
  const auto svg = report::line_chart_svg({{"a", {{0, 1}, {10, 0.5}}}, {"b", {{0, 2}, {10, 1}}}}, options);
  size_t paths = 0;
  for (size_t at = svg.find("<path"); at != std::string::npos; at = svg.find("<path", at + 1)) ++paths;
  EXPECT_EQ(paths, 2u);
  EXPECT_NE(svg.find("loss &lt;dm&gt;"), std::string::npos);
  EXPECT_EQ(svg.rfind("</svg>"), svg.size() - 7);
}
