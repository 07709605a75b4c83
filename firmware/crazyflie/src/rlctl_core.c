/* rlctl core: observation, action history, action -> motor ratio, self-test (see rlctl_core.h). */
#include "rlctl_core.h"

#include <math.h>
#include <string.h>

#if RLCTL_POLICY_INPUT_DIM != RLCTL_OBS_DIM
#error "the generated policy's input size is not 18 + 4 x RLCTL_HISTORY: regenerate the sources from a matching ONNX file"
#endif
#if RLCTL_POLICY_OUTPUT_DIM != RLCTL_ACTION_DIM
#error "the generated policy does not output 4 motor commands"
#endif

static float clipf(float v, float lo, float hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

void rlctl_reset(rlctl_t *c) {
  for (int i = 0; i < RLCTL_HISTORY; ++i) {
    for (int j = 0; j < RLCTL_ACTION_DIM; ++j) c->history[i][j] = RLCTL_HOVER_ACTION;
  }
  for (int j = 0; j < RLCTL_ACTION_DIM; ++j) {
    c->window_sum[j] = 0.0f;
    c->action[j] = -1.0f;
    c->ratio[j] = 0;
  }
  c->window_count = 0;
  c->steps = 0;
  c->nonfinite = 0;
  memset(c->observation, 0, sizeof(c->observation));
}

void rlctl_advance_history(rlctl_t *c) {
  if (c->window_count == 0) return;
  memmove(&c->history[0][0], &c->history[1][0], sizeof(float) * (RLCTL_HISTORY - 1) * RLCTL_ACTION_DIM);
  for (int j = 0; j < RLCTL_ACTION_DIM; ++j) {
    c->history[RLCTL_HISTORY - 1][j] = c->window_sum[j] / (float)c->window_count;
    c->window_sum[j] = 0.0f;
  }
  c->window_count = 0;
}

void rlctl_observe(rlctl_t *c, const rlctl_inputs_t *in) {
  float *o = c->observation;
  for (int i = 0; i < 3; ++i) {
    o[i] = clipf(in->position[i] - in->target[i], -RLCTL_MAX_POSITION_ERROR, RLCTL_MAX_POSITION_ERROR);
  }
  /* body -> world rotation matrix, row-major, from (w, x, y, z): the runtime's quat_to_rotmat */
  const float w = in->quaternion[0], x = in->quaternion[1], y = in->quaternion[2], z = in->quaternion[3];
  float *r = o + 3;
  r[0] = 1.0f - 2.0f * (y * y + z * z);
  r[1] = 2.0f * (x * y - w * z);
  r[2] = 2.0f * (x * z + w * y);
  r[3] = 2.0f * (x * y + w * z);
  r[4] = 1.0f - 2.0f * (x * x + z * z);
  r[5] = 2.0f * (y * z - w * x);
  r[6] = 2.0f * (x * z - w * y);
  r[7] = 2.0f * (y * z + w * x);
  r[8] = 1.0f - 2.0f * (x * x + y * y);
  for (int i = 0; i < 3; ++i) {
    o[12 + i] = clipf(in->velocity[i], -RLCTL_MAX_VELOCITY, RLCTL_MAX_VELOCITY);
    o[15 + i] = in->body_rate[i];
  }
  memcpy(o + RLCTL_STATE_DIM, &c->history[0][0], sizeof(float) * RLCTL_HISTORY * RLCTL_ACTION_DIM);
}

float rlctl_action_to_rpm(float a) {
  a = clipf(a, -1.0f, 1.0f);
  return RLCTL_RPM_MIN + (a + 1.0f) * 0.5f * (RLCTL_RPM_MAX - RLCTL_RPM_MIN);
}

uint16_t rlctl_rpm_to_ratio(float rpm) {
  float r = clipf(rpm / RLCTL_RPM_MAX, 0.0f, 1.0f) * 65535.0f + 0.5f;
  return r >= 65535.0f ? (uint16_t)65535u : (uint16_t)r;
}

static bool all_finite(const float *v, int n) {
  for (int i = 0; i < n; ++i) {
    if (!isfinite(v[i])) return false;
  }
  return true;
}

bool rlctl_step(rlctl_t *c, const rlctl_inputs_t *in) {
  rlctl_observe(c, in);
  float out[RLCTL_ACTION_DIM];
  bool ok = all_finite(c->observation, RLCTL_STATE_DIM);
  if (ok) {
    rlctl_policy_evaluate(c->observation, out);
    ok = all_finite(out, RLCTL_ACTION_DIM);
  }
  if (!ok) {
    for (int j = 0; j < RLCTL_ACTION_DIM; ++j) {
      c->action[j] = -1.0f;
      c->ratio[j] = 0;
    }
    c->nonfinite++;
    return false;
  }
  for (int j = 0; j < RLCTL_ACTION_DIM; ++j) {
    const float a = clipf(out[j], -1.0f, 1.0f);
    c->action[j] = a;
    c->ratio[j] = rlctl_rpm_to_ratio(rlctl_action_to_rpm(a));
    c->window_sum[j] += a;
  }
  c->window_count++;
  c->steps++;
  return true;
}

bool rlctl_self_test(float *max_abs_diff) {
  float out[RLCTL_ACTION_DIM];
  rlctl_policy_evaluate(rlctl_selftest_observation, out);
  float worst = 0.0f;
  bool finite = true;
  for (int j = 0; j < RLCTL_ACTION_DIM; ++j) {
    if (!isfinite(out[j])) finite = false;
    const float d = fabsf(out[j] - rlctl_selftest_action[j]);
    if (d > worst) worst = d;
  }
  if (!finite) worst = INFINITY;
  if (max_abs_diff) *max_abs_diff = worst;
  return finite && worst <= RLCTL_SELFTEST_TOLERANCE;
}
