/* Stand-in for the crazyflie-firmware headers, for building rlctl without the firmware tree
 * (`make host` and `make arm`). It declares only what rlctl_controller.c uses, with the field names
 * and types of the firmware's (bitcraze/crazyflie-firmware: src/modules/interface/stabilizer_types.h,
 * controller.h, param.h, log.h, src/hal/interface/imu_types.h, FreeRTOS's task.h); it is not a copy of
 * them and omits every member rlctl does not touch. Inside the firmware (the OOT build) the real
 * headers are used and this file is not included.
 *
 * The parameter and log macros here build plain tables (host_param_group_<name>,
 * host_log_group_<name>) so that the host build can look parameters up by the names the ground uses.
 */
#ifndef RLCTL_FW_COMPAT_H
#define RLCTL_FW_COMPAT_H

#include <stdbool.h>
#include <stdint.h>

/* --- stabilizer_types.h / imu_types.h ---------------------------------------------------------- */
typedef uint32_t stabilizerStep_t; /* stabiliser loop count, 1 kHz */

typedef union {
  struct {
    float x;
    float y;
    float z;
  };
  float axis[3];
} Axis3f;

struct vec3_s {
  uint32_t timestamp;
  float x;
  float y;
  float z;
};
typedef struct vec3_s point_t;
typedef struct vec3_s velocity_t;

typedef struct {
  union {
    struct {
      float q0;
      float q1;
      float q2;
      float q3;
    };
    struct {
      float x;
      float y;
      float z;
      float w;
    };
  };
} quaternion_t;

typedef struct {
  Axis3f acc;  /* g */
  Axis3f gyro; /* deg/s */
} sensorData_t;

typedef struct {
  quaternion_t attitudeQuaternion;
  point_t position;    /* m, world */
  velocity_t velocity; /* m/s, world */
} state_t;

#define STABILIZER_NR_OF_MOTORS 4

typedef enum {
  controlModeLegacy = 0,
  controlModeForceTorque = 1,
  controlModeForce = 2,
} control_mode_t;

typedef struct {
  union {
    struct {
      int16_t roll;
      int16_t pitch;
      int16_t yaw;
      float thrust;
    };
    float normalizedForces[STABILIZER_NR_OF_MOTORS]; /* 0.0 ... 1.0, controlModeForce */
  };
  control_mode_t controlMode;
} control_t;

typedef enum { modeDisable = 0, modeAbs, modeVelocity } stab_mode_t;

typedef struct {
  stab_mode_t x;
  stab_mode_t y;
  stab_mode_t z;
  stab_mode_t roll;
  stab_mode_t pitch;
  stab_mode_t yaw;
  stab_mode_t quat;
} setpoint_mode_t;

typedef struct {
  uint32_t timestamp; /* FreeRTOS ticks (ms) when the commander received it */
  point_t position;   /* m */
  setpoint_mode_t mode;
} setpoint_t;

/* --- FreeRTOS: the tick is 1 ms on the Crazyflie ---------------------------------------------- */
uint32_t xTaskGetTickCount(void);
#define M2T(X) ((uint32_t)(X))

/* --- controller_pid.h: the stock controller rlctl hands over to in mode 0 --------------------- */
void controllerPidInit(void);
bool controllerPidTest(void);
void controllerPid(control_t *control, const setpoint_t *setpoint, const sensorData_t *sensors, const state_t *state,
                   const stabilizerStep_t stabilizerStep);

/* --- debug.h ------------------------------------------------------------------------------------ */
#define DEBUG_PRINT(...) ((void)0)

/* --- param.h / log.h: type codes as the firmware's; the macros build host tables -------------- */
#define PARAM_UINT8 0x08
#define PARAM_UINT16 0x09
#define PARAM_UINT32 0x0A
#define PARAM_FLOAT 0x06
#define PARAM_RONLY (1 << 6)
#define LOG_UINT8 1
#define LOG_UINT16 2
#define LOG_UINT32 3
#define LOG_FLOAT 7

typedef struct {
  const char *name; /* NULL ends the table */
  int type;
  void *address;
} host_table_entry_t;

#define PARAM_GROUP_START(NAME) const host_table_entry_t host_param_group_##NAME[] = {
#define PARAM_ADD(TYPE, NAME, ADDRESS) {#NAME, (TYPE), (void *)(ADDRESS)},
#define PARAM_GROUP_STOP(NAME) {0, 0, 0}};
#define LOG_GROUP_START(NAME) const host_table_entry_t host_log_group_##NAME[] = {
#define LOG_ADD(TYPE, NAME, ADDRESS) {#NAME, (TYPE), (void *)(ADDRESS)},
#define LOG_GROUP_STOP(NAME) {0, 0, 0}};

#endif
