// Precompiled header: the torch headers nearly every translation unit needs.
// Parsing them costs ~10 s per file on 2 cores; precompiled once, ~2 s.
#pragma once
#include <torch/nn.h>
#include <torch/optim/sgd.h>
#include <torch/types.h>
#include <torch/utils.h>
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <fmt/format.h>
