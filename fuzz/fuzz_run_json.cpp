// The JSON files of a run directory, read by `ddkit report --run` (report::run_report_html),
// which draws from every field it finds: results.json (a pipeline run or an eval output),
// the final set's meta.json and sampling.json, the pool's and the plain set's meta.json.
// The image sets themselves are valid (written once); only their JSON files are fuzzed.
//
// Input: a selector byte, then the five files' texts separated by NUL bytes, in the order
// of kFiles. An empty part leaves that file out. An even selector reports the run folder
// (pipeline or eval output, by results.json), an odd one the final set alone (image set).
// "@RUN@" in a text becomes the run folder's absolute path (an eval output's "set" names
// the evaluated set by path, and the scratch folder's name differs from process to process).
#include <ATen/ATen.h>

#include <array>
#include <string>
#include <string_view>

#include "ddkit/data/image_set.h"
#include "ddkit/report/run_report.h"
#include "fuzz_input.h"

namespace {

namespace fs = std::filesystem;

constexpr std::array<const char*, 5> kFiles = {"results.json", "dgs/meta.json", "dgs/sampling.json",
                                               "pool/meta.json", "plain/meta.json"};

fs::path run_dir() { return ddkit_fuzz::scratch_dir() / "run"; }

// Two classes of 1x4x4 images; the run's sets are written once, in the scratch folder.
const ddkit::data::Dataset& setup() {
  static const ddkit::data::Dataset data = [] {
    ddkit::data::Dataset d;
    d.name = d.spec = "fuzz";
    d.channels = 1;
    d.height = d.width = 4;
    d.num_classes = 2;
    d.class_names = {"a", "b"};
    d.normalization = {{0.5}, {0.5}};
    for (const char* name : {"dgs", "pool", "plain"}) {
      ddkit::data::ImageSet set;
      set.images = at::linspace(-1.0, 1.0, 32).view({2, 1, 4, 4});
      set.labels = at::arange(2, at::kLong);
      set.scores = at::tensor({0.1, 0.7}, at::kDouble);
      ddkit::data::write_image_set(run_dir() / name, set, d);
    }
    return d;
  }();
  return data;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const auto& data = setup();
  if (size == 0) return 0;
  const bool lone_set = (bytes[0] & 1) != 0;
  std::string_view rest(reinterpret_cast<const char*>(bytes) + 1, size - 1);
  for (const char* name : kFiles) {
    const size_t end = std::min(rest.find('\0'), rest.size());
    std::string part(rest.substr(0, end));
    rest.remove_prefix(std::min(end + 1, rest.size()));
    for (size_t at = part.find("@RUN@"); at != std::string::npos; at = part.find("@RUN@", at))
      part.replace(at, 5, run_dir().string());
    std::error_code ignored;
    if (part.empty()) {
      fs::remove(run_dir() / name, ignored);
    } else {
      ddkit_fuzz::write_input("run/" + std::string(name), reinterpret_cast<const uint8_t*>(part.data()), part.size());
    }
  }
  std::string html;
  const fs::path target = lone_set ? run_dir() / "dgs" : run_dir();
  if (ddkit_fuzz::read_or_refuse([&] { html = ddkit::report::run_report_html(target, data); })) {
    ddkit_fuzz::check(html.rfind("<!doctype html>", 0) == 0 && html.find("</html>") != std::string::npos);
  }
  return 0;
}
