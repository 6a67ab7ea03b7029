#pragma once

// Small vector helpers.

#include <utility>
#include <vector>

namespace channelops::core {

// A vector holding `value`, moved in. `std::vector<T>{std::move(x)}` copies:
// an initializer_list's elements are const, so the vector copy-constructs
// from them (for a decider's one event, a deep copy of every nested message:
// ~2,000 instructions of each RegisterDeal on the store's writer).
template <class T, class U>
std::vector<T> VectorOf(U&& value) {
  std::vector<T> v;
  v.reserve(1);
  v.emplace_back(std::forward<U>(value));
  return v;
}

}  // namespace channelops::core
