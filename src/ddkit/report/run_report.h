// `ddkit report --run DIR`: one self-contained report.html (inline SVG and PNG,
// no scripts, no network) for a pipeline run directory: configuration, accuracy
// table, image grids of the final set and of the pool (selected images framed),
// difficulty histograms, DGS target vs drawn counts, loss curves, wall times.
#pragma once
#include <filesystem>
#include <string>

#include "ddkit/data/dataset.h"

namespace ddkit::report {

// The HTML of the report for `run_dir` (parts whose files are missing are
// left out with a note). `data` de-normalizes the images.
std::string run_report_html(const std::filesystem::path& run_dir, const data::Dataset& data);

// Writes run_dir/report.html atomically; returns its path.
std::filesystem::path write_run_report(const std::filesystem::path& run_dir, const data::Dataset& data);

}  // namespace ddkit::report
