/* Entry points for tools/arm_report.py, which runs them in a Cortex-M4 emulator (unicorn) to count
 * the instructions of one policy step and to run the boot self-test on the ARM code. Not part of
 * the firmware. */
#include "rlctl_core.h"

static float out[RLCTL_ACTION_DIM];
static float diff;

/* One network evaluation of the stored observation; returns the action. */
float *rlctl_arm_policy_step(void) {
  rlctl_policy_evaluate(rlctl_selftest_observation, out);
  return out;
}

/* The boot self-test; 1 if passed. */
int rlctl_arm_self_test(void) {
  return rlctl_self_test(&diff) ? 1 : 0;
}
