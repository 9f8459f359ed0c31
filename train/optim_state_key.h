// The key torch::optim's state map uses for a parameter: a string of the TensorImpl address in
// LibTorch 1.x and 2.0-2.3, the address itself in later versions.
#pragma once

#include <string>
#include <type_traits>

#include <torch/torch.h>

namespace grec::train {

template <typename Map>
typename Map::key_type optim_state_key(const torch::Tensor& p) {
  using Key = typename Map::key_type;
  if constexpr (std::is_same_v<Key, std::string>) {
    return c10::guts::to_string(p.unsafeGetTensorImpl());
  } else {
    return static_cast<Key>(p.unsafeGetTensorImpl());
  }
}

}  // namespace grec::train
