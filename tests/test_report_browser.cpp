// The report as a browser sees it (issue: "a browser test in CI"): a tiny
// pipeline run's report.html rendered by headless chromium — its DOM must hold
// the accuracy table's rows and its screenshot must not be blank. Skipped when
// no chromium is installed, unless DDKIT_REQUIRE_CHROMIUM is set (CI sets it).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <ATen/ATen.h>

#include "ddkit/data/image_io.h"
#include "ddkit/pipeline/pipeline.h"
#include "fixtures.h"
#include "pipeline_fixtures.h"

using namespace ddkit;
namespace fs = std::filesystem;

namespace {
std::string find_chromium() {
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
    for (const char* dir : {"/usr/bin", "/usr/local/bin", "/snap/bin"}) {
      const auto path = fs::path(dir) / name;
      if (fs::exists(path)) return path.string();
    }
  }
  return "";
}

std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}
}  // namespace

TEST(ReportInBrowser, ChromiumRendersTheAccuracyTableAndANonBlankPage) {
  const auto chromium = find_chromium();
  if (chromium.empty()) {
    if (std::getenv("DDKIT_REQUIRE_CHROMIUM")) FAIL() << "DDKIT_REQUIRE_CHROMIUM is set but no chromium was found";
    GTEST_SKIP() << "no chromium installed";
  }
  const auto data = ddkit_test::tiny_mnist_dataset("report_browser_mnist");
  const auto out = ddkit_test::fresh_dir("report_browser");
  auto options = ddkit_test::tiny_pipeline_options(out / "run", "random");
  options.eval_epochs = 2;
  pipeline::run_pipeline(data, options);
  const auto report = fs::absolute(out / "run" / "report.html");
  ASSERT_TRUE(fs::exists(report));

  const std::string flags = "--headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars "
                            "--user-data-dir=" + (out / "profile").string();
  const auto dom_file = out / "dom.html", shot = out / "shot.png";
  const std::string url = "file://" + report.string();
  ASSERT_EQ(std::system((chromium + " " + flags + " --dump-dom " + url + " > " + dom_file.string() + " 2>/dev/null").c_str()), 0);
  ASSERT_EQ(std::system((chromium + " " + flags + " --window-size=1200,1600 --screenshot=" + shot.string() + " " + url +
                         " > /dev/null 2>&1").c_str()), 0);

  // The DOM the browser built: the accuracy table with one row per set (dgs, plain).
  const auto dom = read_text(dom_file);
  EXPECT_NE(dom.find("id=\"accuracy-table\""), std::string::npos);
  size_t rows = 0;
  for (size_t at = dom.find("class=\"result\""); at != std::string::npos; at = dom.find("class=\"result\"", at + 1)) ++rows;
  EXPECT_EQ(rows, 2u);
  EXPECT_NE(dom.find("<svg"), std::string::npos);

  // The screenshot: the page's size, and far from one flat colour (text, grids, charts).
  const auto image = data::load_image(shot, 3).to(at::kFloat);
  EXPECT_EQ(image.size(2), 1200);
  const double dark_fraction = image.mean(0).lt(128).to(at::kFloat).mean().item<double>();
  EXPECT_GT(dark_fraction, 0.005);
  EXPECT_GT(image.std().item<double>(), 10.0);
}
