/* rlctl: the learned hover policy as a crazyflie-firmware out-of-tree controller
 * (Learning to Fly in Seconds runs its policy on board this way).
 *
 * The firmware calls controllerOutOfTree() every stabiliser tick (1 kHz). rlctl:
 *   - rlctl.mode 0: hands every tick to the stock PID controller;
 *   - rlctl.mode 1: the policy drives the motors while the ground's trigger is younger than
 *     200 ms, and the motors are off otherwise (the dead-man switch). The trigger is the position
 *     setpoint the ground streams (CRTP port 7, channel 0, type 7): the commander stamps each one
 *     with its arrival tick, so the trigger's age is now - setpoint->timestamp. The setpoint's
 *     position is the policy's target;
 *   - while triggered, the policy runs every 2nd tick (500 Hz); its action history advances at the
 *     training rate (rlctl_core.h); its command is a normalised per-motor force (controlModeForce),
 *     i.e. the 16-bit motor ratio / 65535, which the stabiliser's power distribution writes to the
 *     motors (battery-compensated only if the firmware is built with
 *     CONFIG_ENABLE_THRUST_BAT_COMPENSATED);
 *   - the boot self-test (run by controllerOutOfTreeInit) compares one stored observation's action
 *     with the one ONNX Runtime computed; the policy never flies unless it passed
 *     (rlctl.selftest: 0 not run, 1 passed, 2 failed), and controllerOutOfTreeTest() reports it, so
 *     a corrupted image fails the firmware's own self-test when rlctl is the boot controller.
 *
 * Built inside crazyflie-firmware (OOT) against the firmware's headers; with RLCTL_COMPAT defined
 * (`make host`, `make arm`) against rlctl_fw_compat.h instead.
 */
#include <stdbool.h>
#include <stdint.h>

#ifdef RLCTL_COMPAT
#include "rlctl_fw_compat.h"
#else
#include "FreeRTOS.h"
#include "task.h"
#include "controller.h"
#include "controller_pid.h"
#include "param.h"
#include "log.h"
#define DEBUG_MODULE "RLCTL"
#include "debug.h"
#endif

#include "rlctl_core.h"
#include "rlctl_controller.h"

#if (1000 % RLCTL_TRAINING_RATE_HZ) != 0 || RLCTL_TRAINING_RATE_HZ > 500
#error "the policy's control rate must divide the 1 kHz stabiliser rate and be at most 500 Hz"
#endif
#define RLCTL_WINDOW_TICKS (1000 / RLCTL_TRAINING_RATE_HZ) /* stabiliser ticks per history entry */

static rlctl_t rl;
static uint8_t mode = RLCTL_MODE_STOCK;           /* param rlctl.mode */
static uint8_t selftest = RLCTL_SELFTEST_NOT_RUN; /* param rlctl.selftest, read-only */
static uint8_t active;                            /* log rlctl.active: the policy drives the motors */
static uint32_t selftestErrorE6;                  /* log rlctl.selftestErr: |action - stored| x 1e6 */
static float target[3];

static float degToRad(float deg) {
  return deg * 0.017453292519943295f;
}

/* The ground's trigger: a position setpoint received less than RLCTL_TRIGGER_TIMEOUT_MS ago. */
static bool triggered(const setpoint_t *setpoint, uint32_t now) {
  if (setpoint->mode.x != modeAbs || setpoint->mode.y != modeAbs || setpoint->mode.z != modeAbs) return false;
  return (uint32_t)(now - setpoint->timestamp) < M2T(RLCTL_TRIGGER_TIMEOUT_MS);
}

static void motorsOff(control_t *control) {
  control->controlMode = controlModeForce;
  for (int i = 0; i < STABILIZER_NR_OF_MOTORS; ++i) control->normalizedForces[i] = 0.0f;
}

void controllerOutOfTreeInit(void) {
  controllerPidInit();
  rlctl_reset(&rl);
  active = 0;
  float diff = 0.0f;
  const bool passed = rlctl_self_test(&diff);
  selftest = passed ? RLCTL_SELFTEST_PASSED : RLCTL_SELFTEST_FAILED;
  selftestErrorE6 = (diff * 1e6f < 4e9f) ? (uint32_t)(diff * 1e6f) : UINT32_MAX;
  DEBUG_PRINT("rlctl self-test %s (max |diff| %lu e-6)\n", passed ? "passed" : "FAILED", (unsigned long)selftestErrorE6);
}

bool controllerOutOfTreeTest(void) {
  return selftest == RLCTL_SELFTEST_PASSED && controllerPidTest();
}

void controllerOutOfTree(control_t *control, const setpoint_t *setpoint, const sensorData_t *sensors, const state_t *state,
                         const stabilizerStep_t stabilizerStep) {
  if (mode != RLCTL_MODE_POLICY) {
    if (active) { /* handing back: start the PID from a clean state */
      controllerPidInit();
      active = 0;
    }
    controllerPid(control, setpoint, sensors, state, stabilizerStep);
    return;
  }
  const bool on = selftest == RLCTL_SELFTEST_PASSED && triggered(setpoint, xTaskGetTickCount());
  if (!on) {
    active = 0;
    motorsOff(control);
    return;
  }
  const bool engaging = !active;
  if (engaging) rlctl_reset(&rl);
  active = 1;
  target[0] = setpoint->position.x;
  target[1] = setpoint->position.y;
  target[2] = setpoint->position.z;

  if (engaging || stabilizerStep % RLCTL_POLICY_DIVIDER == 0) {
    if (stabilizerStep % RLCTL_WINDOW_TICKS == 0) rlctl_advance_history(&rl);
    const rlctl_inputs_t in = {
        .position = {state->position.x, state->position.y, state->position.z},
        .quaternion = {state->attitudeQuaternion.w, state->attitudeQuaternion.x, state->attitudeQuaternion.y,
                       state->attitudeQuaternion.z},
        .velocity = {state->velocity.x, state->velocity.y, state->velocity.z},
        .body_rate = {degToRad(sensors->gyro.x), degToRad(sensors->gyro.y), degToRad(sensors->gyro.z)},
        .target = {target[0], target[1], target[2]},
    };
    rlctl_step(&rl, &in); /* a non-finite input or action leaves motors-off ratios */
  }
  control->controlMode = controlModeForce;
  for (int i = 0; i < STABILIZER_NR_OF_MOTORS; ++i) control->normalizedForces[i] = rl.ratio[i] / 65535.0f;
}

#ifdef RLCTL_COMPAT
const rlctl_t *rlctlControllerState(void) {
  return &rl;
}
#endif

/* The ground side (cflib) sets rlctl.mode and reads rlctl.selftest by these names. */
PARAM_GROUP_START(rlctl)
PARAM_ADD(PARAM_UINT8, mode, &mode)
PARAM_ADD(PARAM_UINT8 | PARAM_RONLY, selftest, &selftest)
PARAM_GROUP_STOP(rlctl)

LOG_GROUP_START(rlctl)
LOG_ADD(LOG_UINT8, active, &active)
LOG_ADD(LOG_UINT16, m1, &rl.ratio[0])
LOG_ADD(LOG_UINT16, m2, &rl.ratio[1])
LOG_ADD(LOG_UINT16, m3, &rl.ratio[2])
LOG_ADD(LOG_UINT16, m4, &rl.ratio[3])
LOG_ADD(LOG_UINT32, steps, &rl.steps)
LOG_ADD(LOG_UINT32, nonfinite, &rl.nonfinite)
LOG_ADD(LOG_UINT32, selftestErr, &selftestErrorE6)
LOG_GROUP_STOP(rlctl)
