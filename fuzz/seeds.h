// Seed builders too long to sit beside their target (fuzz/fuzz_target.h:
// a target's `seeds`). Each lays out guest images with ImageWriter.
#pragma once

#include <vector>

#include "fuzz/fuzz_target.h"

namespace ktest::fuzz {

// fuzz/seeds_bpf_maps.cpp: one image per family of map types.
std::vector<Seed> bpf_maps_seeds();

}  // namespace ktest::fuzz
