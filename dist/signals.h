// StopSignal: SIGTERM/SIGINT (SLURM preemption, Ctrl-C) set a flag that the trainer polls at step
// boundaries; all ranks agree on it with an allreduce MAX so they stop at the same step.
#pragma once

#include <csignal>

namespace grec::dist {

class Communicator;

class StopSignal {
 public:
  // Installs the handlers; the destructor restores the previous ones. One instance at a time.
  StopSignal();
  ~StopSignal();
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;

  // A signal reached this process.
  bool local() const;
  // Collective: true on every rank when any rank got a signal.
  bool agreed(Communicator& comm) const;
  // Number of the last signal received (0 when none).
  int signal_number() const;
  // Clears the flag (tests, or after a handled stop).
  void reset();

 private:
  struct sigaction old_term_ {};
  struct sigaction old_int_ {};
};

}  // namespace grec::dist
