// Real training images picked by DGS (docs/algorithms.md §10) from each class's
// whole training split, scored by an observer: the initialisation of a matching
// method under --init dgs (docs/methods/dgs.md "DGS-guided initialisation"), so
// that DGS shapes a set that is then distilled jointly instead of mixing
// images of separately optimised sets.
#pragma once
#include <cstdint>
#include <string>

#include "ddkit/data/dataset.h"
#include "ddkit/data/image_set.h"
#include "ddkit/train/observer.h"

namespace ddkit::distill {

struct DgsSelectionOptions {
  int64_t per_class = 10;           // images per class
  std::string target = "original";  // any DGS target (sampling::parse_target)
  // metadata.jsonl of `ddkit score --split train` (prob scores); empty: the
  // training split is scored here with `observer`.
  std::string scores_file;
  train::ObserverOptions observer;  // trained here unless observer.model_file is given
  uint64_t seed = 0;                // DGS's draws (the observer has its own seed)
};

// The training split's prob scores in training order (float64, N): from
// `scores_file`, whose entries must be "train/<i>" for every i exactly once,
// else from the observer.
at::Tensor training_split_scores(const data::Dataset& data, const DgsSelectionOptions& options);

// per_class images of every class, class by class, in DGS's draw order; the
// set's scores are their prob scores, meta holds the target and sampling.json's
// per-class record ("sampling").
data::ImageSet select_dgs(const data::Dataset& data, const DgsSelectionOptions& options);

}  // namespace ddkit::distill
