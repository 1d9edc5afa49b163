// Text helpers shared by the SVG and HTML writers.
#pragma once
#include <cstddef>
#include <string>

namespace ddkit::report {

// <, >, &, " as entities (text and attribute values).
std::string escape_xml(const std::string& text);
// The colour of data series `index` in every chart (a 6-colour cycle).
const char* series_colour(size_t index);
// RFC 4648 base64, for data: URIs of inline images.
std::string base64(const std::string& bytes);

}  // namespace ddkit::report
