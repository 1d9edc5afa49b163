#include "ddkit/util/error.h"

namespace ddkit {

Error::Error(std::string subject, std::string problem)
    : std::runtime_error(subject + ": " + problem),
      subject_(std::move(subject)),
      problem_(std::move(problem)) {}

}  // namespace ddkit
