// Difficulty histograms as standalone SVG (no scripts, no network), one panel
// per class plus an overall panel; several series (e.g. original, pool,
// selected) are drawn as outlined bar series normalised to fractions.
#pragma once
#include <string>
#include <vector>

namespace ddkit::report {

struct HistogramSeries {
  std::string name;
  std::vector<double> values;  // raw values; binned into `bins` equal bins on [lo, hi]
};

struct HistogramPanel {
  std::string title;
  std::vector<HistogramSeries> series;
};

struct HistogramOptions {
  int bins = 20;
  double lo = 0.0, hi = 1.0;
  std::string x_label = "difficulty";
  int columns = 4;
};

// Fractions per bin (sums to 1 for non-empty input; values outside [lo, hi] are clamped).
std::vector<double> bin_fractions(const std::vector<double>& values, int bins, double lo, double hi);

std::string histogram_svg(const std::vector<HistogramPanel>& panels, const HistogramOptions& options = {});

}  // namespace ddkit::report
