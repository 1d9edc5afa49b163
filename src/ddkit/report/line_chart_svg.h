// Line charts as standalone SVG (no scripts), e.g. distillation loss curves.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace ddkit::report {

struct LineSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y), x increasing
};

struct LineChartOptions {
  std::string title;
  std::string x_label = "iteration";
  std::string y_label = "loss";
  int width = 520, height = 260;
};

std::string line_chart_svg(const std::vector<LineSeries>& series, const LineChartOptions& options = {});

}  // namespace ddkit::report
