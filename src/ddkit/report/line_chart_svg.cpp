#include "ddkit/report/line_chart_svg.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "ddkit/report/markup.h"

namespace ddkit::report {

std::string line_chart_svg(const std::vector<LineSeries>& series, const LineChartOptions& options) {
  const int left = 56, right = 12, top = 30, bottom = 36;
  const int plot_w = options.width - left - right, plot_h = options.height - top - bottom;
  double x_lo = std::numeric_limits<double>::infinity(), x_hi = -x_lo, y_lo = x_lo, y_hi = -x_lo;
  for (const auto& s : series) {
    for (const auto& [x, y] : s.points) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      x_lo = std::min(x_lo, x), x_hi = std::max(x_hi, x), y_lo = std::min(y_lo, y), y_hi = std::max(y_hi, y);
    }
  }
  if (!std::isfinite(x_lo)) x_lo = 0, x_hi = 1, y_lo = 0, y_hi = 1;
  if (x_hi <= x_lo) x_hi = x_lo + 1;
  if (y_hi <= y_lo) y_hi = y_lo + 1;
  y_lo = std::min(y_lo, 0.0);  // losses: show the distance to zero
  auto px = [&](double x) { return left + (x - x_lo) / (x_hi - x_lo) * plot_w; };
  auto py = [&](double y) { return top + plot_h - (y - y_lo) / (y_hi - y_lo) * plot_h; };

  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"10\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      options.width, options.height);
  svg += fmt::format("<text x=\"{}\" y=\"14\" font-weight=\"bold\">{}</text>\n", left, escape_xml(options.title));
  svg += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"black\"/>"
                     "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{3}\" stroke=\"black\"/>\n",
                     left, top + plot_h, left + plot_w, top);
  svg += fmt::format("<text x=\"{}\" y=\"{}\">{:g}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:g}</text>\n",
                     left, top + plot_h + 12, x_lo, left + plot_w, top + plot_h + 12, x_hi);
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.3g}</text><text x=\"{}\" y=\"{}\" "
                     "text-anchor=\"end\">{:.3g}</text>\n",
                     left - 4, top + 8, y_hi, left - 4, top + plot_h, y_lo);
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", left + plot_w / 2,
                     options.height - 6, escape_xml(options.x_label));
  svg += fmt::format("<text x=\"12\" y=\"{}\" transform=\"rotate(-90 12 {})\" text-anchor=\"middle\">{}</text>\n",
                     top + plot_h / 2, top + plot_h / 2, escape_xml(options.y_label));
  for (size_t s = 0; s < series.size(); ++s) {
    std::string path;
    for (const auto& [x, y] : series[s].points) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      path += fmt::format("{}{:.1f},{:.1f}", path.empty() ? "M" : " L", px(x), py(y));
    }
    const char* colour = series_colour(s);
    if (!path.empty()) svg += fmt::format("<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"/>\n", path, colour);
    const int legend_y = 6 + 11 * static_cast<int>(s);
    svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"3\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">{}</text>\n",
                       left + plot_w - 150, legend_y + 2, colour, left + plot_w - 136, legend_y + 6, escape_xml(series[s].name));
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace ddkit::report
