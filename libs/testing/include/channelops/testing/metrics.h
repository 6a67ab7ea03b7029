#pragma once

// Reading a metric back from a prometheus::Registry in tests.

#include <map>
#include <string>

#include "prometheus/registry.h"

namespace channelops::testing {

// The sum of the values (counter or gauge) of the series of `name` that carry
// every label in `labels`; 0 if there are none.
inline double MetricValue(const prometheus::Registry& registry, const std::string& name,
                          const std::map<std::string, std::string>& labels = {}) {
  double sum = 0;
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const auto& m : family.metric) {
      bool match = true;
      for (const auto& [k, v] : labels) {
        bool found = false;
        for (const auto& l : m.label) found |= (l.name == k && l.value == v);
        match &= found;
      }
      if (match) sum += m.counter.value + m.gauge.value;
    }
  }
  return sum;
}

}  // namespace channelops::testing
