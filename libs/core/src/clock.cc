#include "channelops/core/clock.h"

namespace channelops::core {

SystemClock& SystemClock::Instance() {
  static SystemClock* clock = new SystemClock();
  return *clock;
}

}  // namespace channelops::core
