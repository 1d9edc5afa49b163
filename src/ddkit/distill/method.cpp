#include "ddkit/distill/method.h"

#include <array>
#include <utility>

#include "ddkit/util/error.h"

namespace ddkit::distill {
namespace {

constexpr std::array<std::pair<Method, const char*>, 7> kNames = {{{Method::random, "random"},
                                                                  {Method::herding, "herding"},
                                                                  {Method::dc, "dc"},
                                                                  {Method::dsa, "dsa"},
                                                                  {Method::dm, "dm"},
                                                                  {Method::mtt, "mtt"},
                                                                  {Method::diffusion, "diffusion"}}};

}  // namespace

Method parse_method(const std::string& name) {
  for (const auto& [method, text] : kNames) {
    if (name == text) return method;
  }
  throw Error("--method", "must be random, herding, dc, dsa, dm, mtt or diffusion, not '" + name + "'");
}

std::string method_name(Method method) {
  for (const auto& [m, text] : kNames) {
    if (m == method) return text;
  }
  throw Error("--method", "unknown method value " + std::to_string(static_cast<int>(method)));
}

bool is_matching(Method method) {
  return method == Method::dc || method == Method::dsa || method == Method::dm || method == Method::mtt;
}

}  // namespace ddkit::distill
