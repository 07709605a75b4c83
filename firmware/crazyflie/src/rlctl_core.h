/* rlctl core: the policy's side of the on-board controller, free of firmware types.
 *
 * What it does, in the policy's own units (metres, m/s, rad/s, normalised RPM):
 *   - builds the observation exactly as robot_learning/runtime/quadrotor.py does on the ground
 *     (position error clipped per axis, rotation matrix from the quaternion, clipped world-frame
 *     velocity, body rates, the action history oldest first);
 *   - keeps the action history at the training rate (100 Hz) while the policy runs faster (500 Hz):
 *     every policy step of a 10 ms window sees the history of the completed windows, and the mean of
 *     the commands sent during a window becomes its entry when the next window starts, so each step
 *     sees what the policy saw at the same moment in training;
 *   - maps an action in [-1, 1] to RPM and to the 16-bit motor ratio (rpm / rpm_max * 65535);
 *   - the boot self-test: one stored observation through the network, compared with the action
 *     ONNX Runtime computed for it when the sources were generated.
 *
 * The constants of the policy (history length, hover action, limits) come from the generated
 * rlctl_policy_meta.h (and the stored pair in rlctl_policy_meta.c), written from the ONNX file's metadata by
 * robot_learning.export.crazyflie_firmware, so they cannot disagree with the network.
 */
#ifndef RLCTL_CORE_H
#define RLCTL_CORE_H

#include <stdbool.h>
#include <stdint.h>

#include "rlctl_policy.h"
#include "rlctl_policy_meta.h"

#define RLCTL_ACTION_DIM 4
#define RLCTL_STATE_DIM 18 /* position error 3, rotation matrix 9, velocity 3, body rates 3 */
#define RLCTL_OBS_DIM (RLCTL_STATE_DIM + RLCTL_HISTORY * RLCTL_ACTION_DIM)

/* The estimator's view of the vehicle, in the project's conventions: world z up, body FLU,
 * quaternion (w, x, y, z) body -> world, velocity in the world frame, body rates in rad/s. */
typedef struct {
  float position[3];
  float quaternion[4];
  float velocity[3];
  float body_rate[3];
  float target[3];
} rlctl_inputs_t;

typedef struct {
  float history[RLCTL_HISTORY][RLCTL_ACTION_DIM]; /* completed 10 ms windows, oldest first */
  float window_sum[RLCTL_ACTION_DIM];             /* commands sent in the current window */
  uint32_t window_count;
  float observation[RLCTL_OBS_DIM];
  float action[RLCTL_ACTION_DIM];  /* last command, clipped to [-1, 1] */
  uint16_t ratio[RLCTL_ACTION_DIM]; /* last command as motor ratios */
  uint32_t steps;                   /* policy evaluations since the last reset */
  uint32_t nonfinite;               /* evaluations refused for a non-finite input or output */
} rlctl_t;

/* History to the hover action, window empty. Called whenever the policy takes over the motors. */
void rlctl_reset(rlctl_t *c);

/* Close the current window: its mean command becomes the newest history entry (nothing if the
 * window is empty). Called at each training-rate boundary, before that tick's policy step. */
void rlctl_advance_history(rlctl_t *c);

/* Fill c->observation from the inputs and the history (no state change besides the buffer). */
void rlctl_observe(rlctl_t *c, const rlctl_inputs_t *in);

/* One policy step: observe, evaluate, clip, convert to ratios, add the command to the window.
 * Returns false (and leaves motors-off ratios of 0 in c->ratio) if an input or the action is not
 * finite; the history is not touched then. */
bool rlctl_step(rlctl_t *c, const rlctl_inputs_t *in);

/* a in [-1, 1] (clipped) -> rpm = rpm_max (a + 1) / 2 -> ratio = rpm / rpm_max * 65535, rounded. */
float rlctl_action_to_rpm(float a);
uint16_t rlctl_rpm_to_ratio(float rpm);

/* Evaluate the stored observation; *max_abs_diff receives the largest difference to the stored
 * action. True if it is within RLCTL_SELFTEST_TOLERANCE. */
bool rlctl_self_test(float *max_abs_diff);

#endif
