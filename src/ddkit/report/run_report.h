// `ddkit report --run DIR`: one self-contained report.html (inline SVG and PNG,
// no scripts, no network) for what ddkit wrote to DIR:
//  - a pipeline run (results.json with "sets"): configuration, accuracy table,
//    image grids of the final set and of the pool (selected images framed),
//    difficulty histograms, DGS target vs drawn counts, loss curves, wall times;
//  - an eval output (results.json with "models"): its accuracies, and the
//    evaluated set's grid, scores and loss curve when the set is still at the
//    path `ddkit eval --set` was given;
//  - an image set (meta.json, from distill or sample): its grid,
//    scores, loss curve and settings.
// Anything else is an error naming DIR.
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
