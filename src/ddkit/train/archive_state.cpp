#include "ddkit/train/archive_state.h"

#include <sstream>
#include <type_traits>

#include <torch/nn/module.h>
#include <torch/optim/adam.h>

#include "ddkit/data/pt_archive.h"
#include "ddkit/data/tensor_io.h"
#include "ddkit/util/error.h"

namespace ddkit::train {
namespace {

using data::PtValue;
using Kind = PtValue::Kind;

const PtValue& member(const PtValue& object, const std::string& key, Kind kind, const std::string& subject,
                      const std::string& path) {
  const auto* value = object.find(key);
  if (value == nullptr) throw Error(subject, "has no '" + path + key + "'");
  if (value->kind != kind) {
    throw Error(subject, "has a " + PtValue::kind_name(value->kind) + " as '" + path + key + "', expected a " +
                             PtValue::kind_name(kind));
  }
  return *value;
}

void load_into(const PtValue& object, const std::string& name, at::Tensor& target, data::PtTensorReader& tensors,
               const std::string& subject, const std::string& path) {
  if (!target.defined()) return;
  const auto source = tensors.tensor(member(object, name, Kind::tensor, subject, path).tensor);
  if (source.sizes() != target.sizes() || source.scalar_type() != target.scalar_type()) {
    throw Error(subject, "'" + path + name + "' has the wrong shape or type for this model");
  }
  torch::NoGradGuard no_grad;
  target.copy_(source);
}

void load_module(const PtValue& object, torch::nn::Module& module, data::PtTensorReader& tensors,
                 const std::string& subject, const std::string& path) {
  for (auto& p : module.named_parameters(/*recurse=*/false)) load_into(object, p.key(), p.value(), tensors, subject, path);
  for (auto& b : module.named_buffers(/*recurse=*/false)) load_into(object, b.key(), b.value(), tensors, subject, path);
  for (const auto& child : module.named_children()) {
    if (!child.value()->is_serializable()) continue;
    load_module(member(object, child.key(), Kind::object, subject, path), *child.value(), tensors, subject,
                path + child.key() + ".");
  }
}

// libtorch writes counts as 0-d int64 tensors ("param_groups/size") and steps as ints.
int64_t count(const PtValue& object, const std::string& key, data::PtTensorReader& tensors, const std::string& subject,
              const std::string& path) {
  const auto* value = object.find(key);
  if (value != nullptr && value->kind == Kind::integer) return value->integer;
  const auto t = tensors.tensor(member(object, key, Kind::tensor, subject, path).tensor);
  if (t.numel() != 1 || !at::isIntegralType(t.scalar_type(), /*includeBool=*/false)) {
    throw Error(subject, "'" + path + key + "' is not a count");
  }
  const auto n = t.item<int64_t>();
  if (n < 0) throw Error(subject, "'" + path + key + "' is negative");
  return n;
}

template <class StateMap>
void put_state(StateMap& state, const at::Tensor& param, std::unique_ptr<torch::optim::OptimizerParamState> s) {
  // libtorch keys the state by the parameter's TensorImpl: its address as a string in
  // 1.x, the address itself in 2.x.
  using Key = typename StateMap::key_type;
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream key;
    key << param.unsafeGetTensorImpl();
    state[key.str()] = std::move(s);
  } else {
    state[param.unsafeGetTensorImpl()] = std::move(s);
  }
}

}  // namespace

void load_module_state(const PtValue& object, torch::nn::Module& module, data::PtTensorReader& tensors,
                       const std::string& subject) {
  if (object.kind != Kind::object) throw Error(subject, "holds a " + PtValue::kind_name(object.kind) + ", expected a module");
  load_module(object, module, tensors, subject, "");
}

void load_adam_state(const PtValue& object, torch::optim::Adam& optimizer, data::PtTensorReader& tensors,
                     const c10::Device& device, const std::string& subject) {
  if (object.kind != Kind::object) throw Error(subject, "holds no optimizer state");
  const auto& saved_state = member(object, "state", Kind::object, subject, "optimizer.");
  const auto& groups = member(object, "param_groups", Kind::object, subject, "optimizer.");
  const auto n_groups = count(groups, "param_groups/size", tensors, subject, "optimizer.param_groups.");
  if (n_groups != static_cast<int64_t>(optimizer.param_groups().size())) {
    throw Error(subject, "has optimizer state for a different number of parameter groups");
  }
  for (int64_t g = 0; g < n_groups; ++g) {
    const auto path = "optimizer.param_groups.param_groups/" + std::to_string(g) + ".";
    const auto& group = member(groups, "param_groups/" + std::to_string(g), Kind::object, subject,
                               "optimizer.param_groups.");
    const auto& params = optimizer.param_groups()[static_cast<size_t>(g)].params();
    if (count(group, "params/size", tensors, subject, path) != static_cast<int64_t>(params.size())) {
      throw Error(subject, "has optimizer state for a different number of parameters");
    }
    for (size_t i = 0; i < params.size(); ++i) {
      const auto& key = member(group, "params/" + std::to_string(i), Kind::string, subject, path).text;
      const auto* saved = saved_state.find(key);
      if (saved == nullptr) continue;  // a parameter without state yet, as libtorch's load
      const auto state_path = "optimizer.state." + key + ".";
      if (saved->kind != Kind::object) throw Error(subject, "has malformed optimizer state '" + key + "'");
      auto s = std::make_unique<torch::optim::AdamParamState>();
      s->step(count(*saved, "step", tensors, subject, state_path));
      const auto moment = [&](const char* name) {
        const auto t = tensors.tensor(member(*saved, name, Kind::tensor, subject, state_path).tensor);
        if (t.sizes() != params[i].sizes()) throw Error(subject, "'" + state_path + name + "' has the wrong shape");
        return t.to(device, params[i].scalar_type()).clone();
      };
      s->exp_avg(moment("exp_avg"));
      s->exp_avg_sq(moment("exp_avg_sq"));
      if (saved->find("max_exp_avg_sq") != nullptr) s->max_exp_avg_sq(moment("max_exp_avg_sq"));
      put_state(optimizer.state(), params[i], std::move(s));
    }
  }
}

}  // namespace ddkit::train
