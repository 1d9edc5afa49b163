// A pipeline small enough for a test: IPC 2 from a 3 x IPC pool, narrow
// ConvNets, 1-epoch observer, 2 evaluation runs of 3 epochs.
#pragma once
#include <filesystem>
#include <string>

#include "ddkit/pipeline/pipeline.h"

namespace ddkit_test {

inline ddkit::pipeline::PipelineOptions tiny_pipeline_options(const std::filesystem::path& out,
                                                              const std::string& method) {
  ddkit::pipeline::PipelineOptions options;
  options.distill.method = ddkit::distill::parse_method(method);
  options.distill.ipc = 2;
  options.distill.pool_factor = 3;
  options.distill.matching.iterations = 2;
  options.distill.matching.dm.model = "convnet-w32";
  options.distill.matching.dm.batch_real = 8;
  options.observer.model = "convnet-w32";
  options.observer.epochs = 1;
  options.eval.models = {"convnet-w32"};
  options.eval.runs = 2;
  options.eval_epochs = 3;
  options.quiet = true;
  options.out = out;
  return options;
}

}  // namespace ddkit_test
