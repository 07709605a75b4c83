/* Host side of `make host`: what the firmware would provide around rlctl (the FreeRTOS tick, the
 * stock PID controller, the parameter table) and flat entry points for ctypes, so that tests and the
 * software-in-the-loop harness drive the real controllerOutOfTree() with plain float arrays.
 *
 * The PID here is a stand-in that only counts its calls and commands zero thrust: on the host, mode 0
 * is checked for handing over, not for flying.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "rlctl_fw_compat.h"
#include "rlctl_controller.h"

extern const host_table_entry_t host_param_group_rlctl[];
extern const host_table_entry_t host_log_group_rlctl[];

static uint32_t hostTick;
static uint32_t pidCalls;
static uint32_t pidInits;

uint32_t xTaskGetTickCount(void) {
  return hostTick;
}

void controllerPidInit(void) {
  pidInits++;
}

bool controllerPidTest(void) {
  return true;
}

void controllerPid(control_t *control, const setpoint_t *setpoint, const sensorData_t *sensors, const state_t *state,
                   const stabilizerStep_t stabilizerStep) {
  (void)setpoint;
  (void)sensors;
  (void)state;
  (void)stabilizerStep;
  pidCalls++;
  memset(control, 0, sizeof(*control));
  control->controlMode = controlModeLegacy;
}

/* --- ctypes API ---------------------------------------------------------------------------------- */

void rlctl_host_set_tick(uint32_t tick) {
  hostTick = tick;
}

uint32_t rlctl_host_pid_calls(void) {
  return pidCalls;
}

uint32_t rlctl_host_pid_inits(void) {
  return pidInits;
}

/* One stabiliser tick. position, quaternion (w, x, y, z), velocity: world frame; gyro_deg: body rates
 * in deg/s (the firmware's unit); setpoint_position with setpoint_stamp (ticks) and whether it is a
 * position setpoint (modeAbs on x, y, z). Writes the four normalised forces (controlModeForce) and
 * returns the control mode the controller chose. */
int rlctl_host_tick(const float position[3], const float quaternion[4], const float velocity[3], const float gyro_deg[3],
                    const float setpoint_position[3], uint32_t setpoint_stamp, int position_setpoint, uint32_t step,
                    float forces[4]) {
  state_t state;
  sensorData_t sensors;
  setpoint_t setpoint;
  control_t control;
  memset(&state, 0, sizeof(state));
  memset(&sensors, 0, sizeof(sensors));
  memset(&setpoint, 0, sizeof(setpoint));
  memset(&control, 0, sizeof(control));
  state.position.x = position[0];
  state.position.y = position[1];
  state.position.z = position[2];
  state.attitudeQuaternion.w = quaternion[0];
  state.attitudeQuaternion.x = quaternion[1];
  state.attitudeQuaternion.y = quaternion[2];
  state.attitudeQuaternion.z = quaternion[3];
  state.velocity.x = velocity[0];
  state.velocity.y = velocity[1];
  state.velocity.z = velocity[2];
  sensors.gyro.x = gyro_deg[0];
  sensors.gyro.y = gyro_deg[1];
  sensors.gyro.z = gyro_deg[2];
  setpoint.timestamp = setpoint_stamp;
  setpoint.position.x = setpoint_position[0];
  setpoint.position.y = setpoint_position[1];
  setpoint.position.z = setpoint_position[2];
  const stab_mode_t m = position_setpoint ? modeAbs : modeDisable;
  setpoint.mode.x = setpoint.mode.y = setpoint.mode.z = m;
  setpoint.mode.yaw = m;
  controllerOutOfTree(&control, &setpoint, &sensors, &state, step);
  if (control.controlMode == controlModeForce) {
    for (int i = 0; i < 4; ++i) forces[i] = control.normalizedForces[i];
  } else {
    for (int i = 0; i < 4; ++i) forces[i] = NAN;
  }
  return (int)control.controlMode;
}

void rlctl_host_evaluate(const float *observation, float *action) {
  rlctl_policy_evaluate(observation, action);
}

int rlctl_host_observation_size(void) {
  return RLCTL_OBS_DIM;
}

/* The controller's last observation and the number of policy steps since it engaged. */
uint32_t rlctl_host_last_observation(float *out) {
  const rlctl_t *c = rlctlControllerState();
  memcpy(out, c->observation, sizeof(c->observation));
  return c->steps;
}

static const host_table_entry_t *find(const host_table_entry_t *table, const char *group, const char *full) {
  const size_t n = strlen(group);
  if (strncmp(full, group, n) != 0 || full[n] != '.') return 0;
  for (const host_table_entry_t *e = table; e->name; ++e) {
    if (strcmp(e->name, full + n + 1) == 0) return e;
  }
  return 0;
}

static double readValue(const host_table_entry_t *e, int type) {
  switch (type & 0x0F) {
    case PARAM_UINT8: return *(const uint8_t *)e->address;
    case PARAM_UINT16: return *(const uint16_t *)e->address;
    case PARAM_UINT32: return *(const uint32_t *)e->address;
    case PARAM_FLOAT: return *(const float *)e->address;
    default: return NAN;
  }
}

static int logToParamType(int t) {
  return t == LOG_UINT8 ? PARAM_UINT8 : t == LOG_UINT16 ? PARAM_UINT16 : t == LOG_UINT32 ? PARAM_UINT32 : PARAM_FLOAT;
}

/* "rlctl.mode" -> 0 and *value; -1 if there is no such parameter. */
int rlctl_host_param_get(const char *name, double *value) {
  const host_table_entry_t *e = find(host_param_group_rlctl, "rlctl", name);
  if (!e) return -1;
  *value = readValue(e, e->type);
  return 0;
}

/* 0 set; -1 no such parameter; -2 read-only (as the firmware refuses a write to a PARAM_RONLY). */
int rlctl_host_param_set(const char *name, double value) {
  const host_table_entry_t *e = find(host_param_group_rlctl, "rlctl", name);
  if (!e) return -1;
  if (e->type & PARAM_RONLY) return -2;
  switch (e->type & 0x0F) {
    case PARAM_UINT8: *(uint8_t *)e->address = (uint8_t)value; break;
    case PARAM_UINT16: *(uint16_t *)e->address = (uint16_t)value; break;
    case PARAM_UINT32: *(uint32_t *)e->address = (uint32_t)value; break;
    case PARAM_FLOAT: *(float *)e->address = (float)value; break;
    default: return -1;
  }
  return 0;
}

int rlctl_host_log_get(const char *name, double *value) {
  const host_table_entry_t *e = find(host_log_group_rlctl, "rlctl", name);
  if (!e) return -1;
  *value = readValue(e, logToParamType(e->type));
  return 0;
}
