/* rlctl's firmware-facing constants and entry points (see rlctl_controller.c). Include after the
 * firmware's headers (or rlctl_fw_compat.h), which define control_t, setpoint_t, ... */
#ifndef RLCTL_CONTROLLER_H
#define RLCTL_CONTROLLER_H

#include "rlctl_core.h"

/* rlctl.mode */
#define RLCTL_MODE_STOCK 0  /* the stock PID controller flies */
#define RLCTL_MODE_POLICY 1 /* the policy drives the motors while triggered; motors off otherwise */

/* rlctl.selftest (read-only) */
#define RLCTL_SELFTEST_NOT_RUN 0
#define RLCTL_SELFTEST_PASSED 1
#define RLCTL_SELFTEST_FAILED 2

#define RLCTL_TRIGGER_TIMEOUT_MS 200 /* dead-man switch: the trigger's maximum age */
#define RLCTL_POLICY_DIVIDER 2       /* the policy runs every 2nd 1 kHz stabiliser tick: 500 Hz */

/* The firmware's out-of-tree controller interface (controller.h declares the same with
 * CONFIG_CONTROLLER_OOT). */
void controllerOutOfTreeInit(void);
bool controllerOutOfTreeTest(void);
void controllerOutOfTree(control_t *control, const setpoint_t *setpoint, const sensorData_t *sensors, const state_t *state,
                         const stabilizerStep_t stabilizerStep);

#ifdef RLCTL_COMPAT
const rlctl_t *rlctlControllerState(void); /* host builds: the controller's state, for tests */
#endif

#endif
