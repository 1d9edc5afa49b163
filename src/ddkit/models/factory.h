// Build any model of ddkit by name (docs/algorithms.md §2): convnet, convnet-d1..d4,
// convnet-w32/64/256, convnet-bn/ln/nn (norm variants), convnet-maxpool,
// mlp, lenet, alexnet, vgg11, resnet18.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "ddkit/models/classifier.h"

namespace ddkit::models {

// Throws ddkit::Error("--model", ...) for an unknown name, or for a shape or class count past
// the bounds every model shares (factory.cpp: at most 4 channels, C x H x W <= 2^18,
// H x W x classes <= 2^22).
std::shared_ptr<ClassifierImpl> make_model(const std::string& name, const ImageShape& shape,
                                           int64_t num_classes);
std::vector<std::string> known_models();
int64_t count_parameters(const torch::nn::Module& module);

}  // namespace ddkit::models
