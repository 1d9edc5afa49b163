#include "ddkit/report/histogram_svg.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "ddkit/report/markup.h"

namespace ddkit::report {

std::vector<double> bin_fractions(const std::vector<double>& values, int bins, double lo, double hi) {
  std::vector<double> counts(static_cast<size_t>(bins), 0.0);
  for (double v : values) {
    if (std::isnan(v)) continue;
    int k = static_cast<int>(std::floor((v - lo) / (hi - lo) * bins));
    k = std::clamp(k, 0, bins - 1);
    counts[static_cast<size_t>(k)] += 1.0;
  }
  double total = 0;
  for (double c : counts) total += c;
  if (total > 0)
    for (double& c : counts) c /= total;
  return counts;
}

std::string histogram_svg(const std::vector<HistogramPanel>& panels, const HistogramOptions& options) {
  constexpr int kPanelW = 260, kPanelH = 170, kPad = 34, kLegend = 24;
  const int columns = std::max(1, std::min<int>(options.columns, static_cast<int>(panels.size())));
  const int rows = (static_cast<int>(panels.size()) + columns - 1) / columns;
  const int width = columns * kPanelW, height = rows * kPanelH + kLegend;
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" "
      "font-family=\"sans-serif\" font-size=\"10\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      width, height, width, height);
  // Legend from the first panel's series names.
  if (!panels.empty()) {
    int x = 8;
    for (size_t s = 0; s < panels[0].series.size(); ++s) {
      svg += fmt::format("<rect x=\"{}\" y=\"8\" width=\"10\" height=\"10\" fill=\"{}\" fill-opacity=\"0.5\"/>"
                         "<text x=\"{}\" y=\"17\">{}</text>\n",
                         x, series_colour(s), x + 14, escape_xml(panels[0].series[s].name));
      x += 20 + 7 * static_cast<int>(panels[0].series[s].name.size());
    }
  }
  for (size_t p = 0; p < panels.size(); ++p) {
    const int ox = static_cast<int>(p % static_cast<size_t>(columns)) * kPanelW;
    const int oy = kLegend + static_cast<int>(p / static_cast<size_t>(columns)) * kPanelH;
    const int plot_w = kPanelW - kPad - 10, plot_h = kPanelH - kPad - 18;
    const int x0 = ox + kPad, y0 = oy + 18 + plot_h;
    std::vector<std::vector<double>> fractions;
    double top = 0.0;
    for (const auto& series : panels[p].series) {
      fractions.push_back(bin_fractions(series.values, options.bins, options.lo, options.hi));
      top = std::max(top, *std::max_element(fractions.back().begin(), fractions.back().end()));
    }
    if (top <= 0) top = 1.0;
    svg += fmt::format("<text x=\"{}\" y=\"{}\" font-weight=\"bold\">{}</text>\n", ox + kPad, oy + 12,
                       escape_xml(panels[p].title));
    svg += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n", x0, y0, x0 + plot_w, y0);
    svg += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n", x0, y0, x0, y0 - plot_h);
    svg += fmt::format("<text x=\"{}\" y=\"{}\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n",
                       x0, y0 + 12, options.lo, x0 + plot_w, y0 + 12, options.hi);
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.2f}</text>\n", x0 - 3, y0 - plot_h + 8, top);
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", x0 + plot_w / 2, y0 + 12,
                       escape_xml(options.x_label));
    const double bar_w = static_cast<double>(plot_w) / options.bins;
    for (size_t s = 0; s < fractions.size(); ++s) {
      for (int k = 0; k < options.bins; ++k) {
        const double f = fractions[s][static_cast<size_t>(k)];
        if (f <= 0) continue;
        const double bh = f / top * plot_h;
        svg += fmt::format(
            "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\" fill-opacity=\"0.35\" "
            "stroke=\"{}\"><title>{} bin {}: {:.3f}</title></rect>\n",
            x0 + k * bar_w, y0 - bh, bar_w, bh, series_colour(s), series_colour(s),
            escape_xml(panels[p].series[s].name), k, f);
      }
    }
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace ddkit::report
