// The peer trainer of benchmarks/quadrotor.py: RLtools' L2F quadrotor environment and its TD3 loop
// (headers from the PyPI package `rltools`), configured as "Learning to Fly in Seconds" trains:
// Crazyflie model, 100 Hz RK4, 32-step action history, observation noise, a random force/torque per
// episode, asymmetric actor-critic (the critic sees the noise-free state, the disturbance and the
// rotor speeds), 64-64 tanh networks, critic every 10 and actor every 20 steps, warm-up 15k/30k,
// Adam 1e-3 with weight decay 1e-4, the squared reward with its multiplicative curriculum every
// 100k steps and the replay buffer's rewards recomputed after each change, one environment.
//
// Training stops once the deterministic actor hovers: >= --target of --eval-episodes episodes from
// the paper's initial states (position U(+-0.2 m), attitude up to 90 deg about a random axis,
// velocity U(+-1 m/s), body rates U(+-1 rad/s), 10 % start level at the origin; rotors at hover)
// never leave the 0.6 m box and stay within 0.1 m of the set point over the last 100 of 500 steps,
// the criterion robot_learning/tasks/quadrotor/evaluate.py applies to ours. Evaluations run every
// --eval-every steps in the same simulator; their time is excluded from the training clock, as ours.
//
// Three departures from what `rltools` 2.2.1 does by itself, all to match the paper (and its pinned rl_tools):
//  - its initial-attitude sampler ignores the configured maximum angle (angles are uniform in
//    [0, 1] rad); the overload below samples up to `max_angle`;
//  - its "Squared" reward uses norms and an arc-cosine attitude term; the paper's reward is the
//    squared one below (r = 2 - 0.5 (w_p |p|^2 + 5 (1 - q_w^2) + w_v |v|^2 + w_a |a - 0.334|^2), 0 on
//    termination);
//  - its TD3 loop core puts the exploration noise into the actor's sampling layer, which then also
//    perturbs the actor update and the target actions; loop_step() below acts with the noise and
//    trains a deterministic actor, as the paper's rl_tools (commit 3a612e2) does.
//
// Output: one JSON object on stdout (progress lines on stderr). Build: benchmarks/peers/l2f/build.sh.
#include <rl_tools/operations/cpu_mux.h>
#include <rl_tools/rl/environments/l2f/multirotor.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace rlt = rl_tools;
using TI_GLOBAL = typename rlt::devices::DEVICE_FACTORY<>::index_t;
using T_GLOBAL = float;

// ------------------------------------------------------------------ the paper's reward (declared before
// the L2F operations so that their qualified calls see this overload)
namespace rl_tools::rl::environments::l2f::parameters::reward_functions {
template <typename T>
struct PaperSquared {
    T scale;
    T constant;
    T position;
    T orientation;
    T linear_velocity;
    T action;
    T action_baseline;  // normalised action at hover, in [-1, 1]
};
template <typename DEVICE, typename SPEC, typename PARAMETERS, typename STATE, typename ACTION_SPEC, typename T, typename RNG>
typename SPEC::T reward(DEVICE& device, const Multirotor<SPEC>& env, const PARAMETERS& parameters, const PaperSquared<T>& w,
                        const STATE& state, const Matrix<ACTION_SPEC>& action, const STATE& next_state, RNG& rng) {
    using TI = typename DEVICE::index_t;
    for (TI i = 0; i < 3; i++) {
        if (!(std::abs(next_state.position[i]) <= parameters.mdp.termination.position_threshold)) {
            return 0;  // terminated (or not finite)
        }
    }
    T p = 0, v = 0, a = 0;
    for (TI i = 0; i < 3; i++) {
        p += state.position[i] * state.position[i];
        v += state.linear_velocity[i] * state.linear_velocity[i];
    }
    for (TI i = 0; i < 4; i++) {
        T d = get(action, 0, i) - w.action_baseline;
        a += d * d;
    }
    T q = 1 - state.orientation[0] * state.orientation[0];
    return w.constant - w.scale * (w.position * p + w.orientation * q + w.linear_velocity * v + w.action * a);
}
template <typename DEVICE, typename SPEC, typename PARAMETERS, typename STATE, typename ACTION_SPEC, typename T, typename RNG>
void log_reward(DEVICE&, const Multirotor<SPEC>&, const PARAMETERS&, const PaperSquared<T>&, const STATE&, const Matrix<ACTION_SPEC>&,
                const STATE&, RNG&, typename DEVICE::index_t = 1) {}
}  // namespace rl_tools::rl::environments::l2f::parameters::reward_functions

// ------------------------------------------------------------------ initial attitude up to max_angle
namespace rl_tools::rl::environments::l2f {
template <typename DEVICE, typename SPEC, typename PARAMETERS, typename RNG>
static void _sample_initial_state(DEVICE& device, Multirotor<SPEC>& env, PARAMETERS& parameters,
                                  StateBase<StateSpecification<T_GLOBAL, TI_GLOBAL>>& state, RNG& rng, bool = false) {
    using T = T_GLOBAL;
    using TI = TI_GLOBAL;
    auto& init = parameters.mdp.init;
    auto U = [&](T lo, T hi) { return random::uniform_real_distribution(device.random, lo, hi, rng); };
    bool guidance = U(0, 1) < init.guidance;
    for (TI i = 0; i < 3; i++) {
        state.position[i] = guidance ? 0 : U(-init.max_position, init.max_position);
    }
    state.orientation[0] = 1;
    state.orientation[1] = state.orientation[2] = state.orientation[3] = 0;
    if (!guidance && init.max_angle > 0) {
        T axis[3], n = 0;
        do {  // a uniformly random axis (normalised Gaussian)
            n = 0;
            for (TI i = 0; i < 3; i++) {
                axis[i] = random::normal_distribution::sample(device.random, (T)0, (T)1, rng);
                n += axis[i] * axis[i];
            }
        } while (n < 1e-12);
        n = std::sqrt(n);
        T angle = U(0, init.max_angle);
        T s = std::sin(angle / 2);
        state.orientation[0] = std::cos(angle / 2);
        for (TI i = 0; i < 3; i++) state.orientation[1 + i] = axis[i] / n * s;
    }
    for (TI i = 0; i < 3; i++) {
        state.linear_velocity[i] = guidance ? 0 : U(-init.max_linear_velocity, init.max_linear_velocity);
        state.angular_velocity[i] = guidance ? 0 : U(-init.max_angular_velocity, init.max_angular_velocity);
    }
}
}  // namespace rl_tools::rl::environments::l2f

#include <rl_tools/nn/optimizers/adam/instance/operations_generic.h>
#include <rl_tools/nn/operations_cpu_mux.h>
#include <rl_tools/nn/layers/td3_sampling/operations_generic.h>
#include <rl_tools/nn_models/mlp/operations_generic.h>
#include <rl_tools/nn_models/random_uniform/operations_generic.h>
#include <rl_tools/nn_models/sequential/operations_generic.h>
#include <rl_tools/nn/optimizers/adam/operations_generic.h>
#include <rl_tools/rl/environments/l2f/operations_cpu.h>
#include <rl_tools/rl/algorithms/td3/loop/core/config.h>
#include <rl_tools/rl/algorithms/td3/loop/core/operations_generic.h>

namespace l2f_peer {
namespace rlt = rl_tools;
using namespace rl_tools::rl::environments::l2f;
using DEVICE = rlt::devices::DEVICE_FACTORY<>;
using RNG = typename DEVICE::SPEC::RANDOM::ENGINE<>;
using T = T_GLOBAL;
using TI = TI_GLOBAL;
using TYPE_POLICY = rlt::numeric_types::Policy<T>;

constexpr T MAX_RPM = 21702;
constexpr T HOVER_ACTION = 0.334;  // normalised hover command, [-1, 1] (14,476 RPM)

using REWARD = parameters::reward_functions::PaperSquared<T>;
constexpr REWARD initial_reward = {0.5, 2.0, 5.0, 5.0, 0.01, 0.01, HOVER_ACTION};

using PARAMETERS_SPEC = ParametersBaseSpecification<T, TI, 4, REWARD>;
using PARAMETERS_TYPE = ParametersDisturbances<ParametersSpecification<T, TI, ParametersBase<PARAMETERS_SPEC>>>;

// Crazyflie as the paper models it: thrust 3.16e-10 rpm^2 per rotor, yaw torque 0.005964552 x thrust,
// first-order motors (0.15 s), RPM in [0, 21702], mass 0.027 kg, diagonal inertia.
constexpr typename PARAMETERS_TYPE::Dynamics dynamics = {
    {{0.028, -0.028, 0}, {-0.028, -0.028, 0}, {-0.028, 0.028, 0}, {0.028, 0.028, 0}},
    {{0, 0, 1}, {0, 0, 1}, {0, 0, 1}, {0, 0, 1}},
    {{0, 0, -1}, {0, 0, +1}, {0, 0, -1}, {0, 0, +1}},
    {{0, 0, 3.16e-10}, {0, 0, 3.16e-10}, {0, 0, 3.16e-10}, {0, 0, 3.16e-10}},
    {0.005964552, 0.005964552, 0.005964552, 0.005964552},
    {0.15, 0.15, 0.15, 0.15},
    {0.15, 0.15, 0.15, 0.15},
    0.027,
    {0, 0, -9.81},
    {{3.85e-6, 0, 0}, {0, 3.85e-6, 0}, {0, 0, 5.9675e-6}},
    {{1 / 3.85e-6, 0, 0}, {0, 1 / 3.85e-6, 0}, {0, 0, 1 / 5.9675e-6}},
    (HOVER_ACTION + 1) / 2,
    {0, MAX_RPM},
};
// guidance, position, attitude (rad), velocity, body rate, relative rpm, min, max (normalised: 0 = mid range, the paper's)
constexpr typename PARAMETERS_TYPE::MDP::Initialization init_train = {0.1, 0.2, 1.5707963267948966, 1, 1, true, 0, 0};
constexpr typename PARAMETERS_TYPE::MDP::Initialization init_eval = {0.1, 0.2, 1.5707963267948966, 1, 1, true, HOVER_ACTION, HOVER_ACTION};
constexpr typename PARAMETERS_TYPE::MDP::ObservationNoise observation_noise = {0.001, 0.001, 0.002, 0.002, 0};
constexpr typename PARAMETERS_TYPE::MDP::ActionNoise action_noise = {0};
constexpr typename PARAMETERS_TYPE::MDP::Termination termination = {true, 0.6, 1000, 1000, 1e9, 1e9};
constexpr typename PARAMETERS_TYPE::MDP mdp = {init_train, initial_reward, observation_noise, action_noise, termination};
constexpr typename PARAMETERS_TYPE::Disturbances disturbances = {
    typename PARAMETERS_TYPE::Disturbances::UnivariateGaussian{0, (T)(0.027 * 9.81 / 20)},     // 0.0132 N
    typename PARAMETERS_TYPE::Disturbances::UnivariateGaussian{0, (T)(0.027 * 9.81 / 10000)},  // 2.65e-5 N m
};
constexpr PARAMETERS_TYPE nominal_parameters = {{dynamics, {0.01}, mdp}, disturbances};

struct ENVIRONMENT_STATIC_PARAMETERS {
    static constexpr TI N_SUBSTEPS = 1;
    static constexpr TI ACTION_HISTORY_LENGTH = 32;
    static constexpr TI EPISODE_STEP_LIMIT = 500;
    static constexpr bool CLOSED_FORM = false;
    using STATE_BASE = StateBase<StateSpecification<T, TI>>;
    using STATE_TYPE = StateRotorsHistory<StateRotorsHistorySpecification<T, TI, ACTION_HISTORY_LENGTH, CLOSED_FORM,
                                                                          StateRandomForce<StateSpecification<T, TI, STATE_BASE>>>>;
    using OBSERVATION_TYPE = observation::Position<observation::PositionSpecification<T, TI,
        observation::OrientationRotationMatrix<observation::OrientationRotationMatrixSpecification<T, TI,
        observation::LinearVelocity<observation::LinearVelocitySpecification<T, TI,
        observation::AngularVelocity<observation::AngularVelocitySpecification<T, TI,
        observation::ActionHistory<observation::ActionHistorySpecification<T, TI, ACTION_HISTORY_LENGTH>>>>>>>>>>;
    using OBSERVATION_TYPE_PRIVILEGED = observation::Position<observation::PositionSpecificationPrivileged<T, TI,
        observation::OrientationRotationMatrix<observation::OrientationRotationMatrixSpecificationPrivileged<T, TI,
        observation::LinearVelocity<observation::LinearVelocitySpecificationPrivileged<T, TI,
        observation::AngularVelocity<observation::AngularVelocitySpecificationPrivileged<T, TI,
        observation::RandomForce<observation::RandomForceSpecification<T, TI,
        observation::RotorSpeeds<observation::RotorSpeedsSpecification<T, TI>>>>>>>>>>>>;
    static constexpr bool PRIVILEGED_OBSERVATION_NOISE = false;
    using PARAMETERS = PARAMETERS_TYPE;
    static constexpr auto PARAMETER_VALUES = nominal_parameters;
    static constexpr T STATE_LIMIT_POSITION = 100000;
    static constexpr T STATE_LIMIT_VELOCITY = 100000;
    static constexpr T STATE_LIMIT_ANGULAR_VELOCITY = 100000;
};
using ENVIRONMENT = rlt::rl::environments::Multirotor<Specification<T, TI, ENVIRONMENT_STATIC_PARAMETERS>>;
static_assert(ENVIRONMENT::Observation::DIM == 146);
static_assert(ENVIRONMENT::ObservationPrivileged::DIM == 28);

constexpr TI REPLAY_BUFFER_CAPACITY = 300000;  // the paper's (= its 300k-step run)
constexpr TI STEP_LIMIT_MAX = 100000000;

struct LOOP_CORE_PARAMETERS : rlt::rl::algorithms::td3::loop::core::DefaultParameters<TYPE_POLICY, TI, ENVIRONMENT> {
    struct TD3_PARAMETERS : rlt::rl::algorithms::td3::DefaultParameters<TYPE_POLICY, TI> {
        static constexpr TI ACTOR_BATCH_SIZE = 256;
        static constexpr TI CRITIC_BATCH_SIZE = 256;
        static constexpr TI TRAINING_INTERVAL = 10;
        static constexpr TI CRITIC_TRAINING_INTERVAL = 1 * TRAINING_INTERVAL;
        static constexpr TI ACTOR_TRAINING_INTERVAL = 2 * TRAINING_INTERVAL;
        static constexpr TI CRITIC_TARGET_UPDATE_INTERVAL = 1 * TRAINING_INTERVAL;
        static constexpr TI ACTOR_TARGET_UPDATE_INTERVAL = 2 * TRAINING_INTERVAL;
        static constexpr T TARGET_NEXT_ACTION_NOISE_CLIP = 0.5;
        static constexpr T TARGET_NEXT_ACTION_NOISE_STD = 0.2;
        static constexpr T GAMMA = 0.99;
        static constexpr bool IGNORE_TERMINATION = false;
    };
    static constexpr TI N_ENVIRONMENTS = 1;
    static constexpr TI N_WARMUP_STEPS = 0;  // the actor (with exploration noise) acts from the first step
    static constexpr TI N_WARMUP_STEPS_CRITIC = 15000;
    static constexpr TI N_WARMUP_STEPS_ACTOR = 30000;
    static constexpr TI STEP_LIMIT = STEP_LIMIT_MAX;
    static constexpr TI REPLAY_BUFFER_CAP = REPLAY_BUFFER_CAPACITY;
    static constexpr TI EPISODE_STEP_LIMIT = 500;
    static constexpr TI ACTOR_NUM_LAYERS = 3;  // 64-64
    static constexpr TI ACTOR_HIDDEN_DIM = 64;
    static constexpr auto ACTOR_ACTIVATION_FUNCTION = rlt::nn::activation_functions::ActivationFunction::FAST_TANH;
    static constexpr TI CRITIC_NUM_LAYERS = 3;
    static constexpr TI CRITIC_HIDDEN_DIM = 64;
    static constexpr auto CRITIC_ACTIVATION_FUNCTION = rlt::nn::activation_functions::ActivationFunction::FAST_TANH;
    static constexpr bool COLLECT_EPISODE_STATS = false;
    static constexpr T EXPLORATION_NOISE = 0.1;
    static constexpr bool SHARED_BATCH = false;
    struct OPTIMIZER_PARAMETERS : rlt::nn::optimizers::adam::DEFAULT_PARAMETERS_TENSORFLOW<TYPE_POLICY> {
        static constexpr T ALPHA = 1e-3;
        static constexpr bool ENABLE_WEIGHT_DECAY = true;
        static constexpr T WEIGHT_DECAY = 1e-4;
        static constexpr T WEIGHT_DECAY_INPUT = 1e-4;
        static constexpr T WEIGHT_DECAY_OUTPUT = 1e-4;
    };
};
using LOOP_CONFIG = rlt::rl::algorithms::td3::loop::core::Config<TYPE_POLICY, TI, RNG, ENVIRONMENT, LOOP_CORE_PARAMETERS>;
using LOOP_STATE = typename LOOP_CONFIG::template State<LOOP_CONFIG>;

struct Options {
    TI seed = 0;
    TI max_steps = 3000000;
    double max_seconds = 1e9;  // training clock (evaluations excluded)
    TI eval_every = 10000;
    TI first_eval = 30000;
    TI eval_episodes = 256;
    double target = 0.95;
    double radius = 0.1;
    TI window = 100;
    TI eval_seed = 12345;
    std::string export_path;
    TI sample_init = 0;  // > 0: only sample this many training initial states and report their ranges
    TI sim_steps = 0;    // > 0: only time this many simulator steps of --sim-batch vehicles (one thread)
    TI sim_batch = 1024;
    bool reward_probe = false;  // only print the reward of a few fixed transitions
};

struct EvalResult {
    double success_rate, termination_rate, hover_error_m;
};

// Deterministic actor, all episodes at once, from the evaluation initial states (rotors at hover).
template <typename ACTOR>
EvalResult evaluate_hover(DEVICE& device, ENVIRONMENT& env_template, ACTOR& actor, const Options& o) {
    constexpr TI N = 256;
    using EVAL_ACTOR = typename ACTOR::template CHANGE_BATCH_SIZE<TI, N>;
    static_assert(ENVIRONMENT::EPISODE_STEP_LIMIT == 500);
    TI n = o.eval_episodes;
    if (n > N) n = N;
    RNG rng;
    rlt::malloc(device, rng);
    rlt::init(device, rng, o.eval_seed);
    ENVIRONMENT env = env_template;
    typename ENVIRONMENT::Parameters params;
    rlt::initial_parameters(device, env, params);
    params.mdp.init = init_eval;
    std::vector<typename ENVIRONMENT::State> states(N), next(N);
    std::vector<char> alive(N, 1);
    std::vector<double> err_max(N, 0.0), err_sum(N, 0.0);
    for (TI i = 0; i < N; i++) rlt::sample_initial_state(device, env, params, states[i], rng);
    rlt::Matrix<rlt::matrix::Specification<T, TI, N, ENVIRONMENT::Observation::DIM>> obs;
    rlt::Matrix<rlt::matrix::Specification<T, TI, N, ENVIRONMENT::ACTION_DIM>> act;
    typename EVAL_ACTOR::template Buffer<> buffers;
    rlt::malloc(device, obs);
    rlt::malloc(device, act);
    rlt::malloc(device, buffers);
    const TI steps = ENVIRONMENT::EPISODE_STEP_LIMIT;
    const TI window = o.window < steps ? o.window : steps;
    for (TI t = 0; t < steps; t++) {
        for (TI i = 0; i < N; i++) {
            auto row = rlt::row(device, obs, i);
            rlt::observe(device, env, params, states[i], typename ENVIRONMENT::Observation{}, row, rng);
        }
        auto in = rlt::to_tensor(device, obs);
        auto out = rlt::to_tensor(device, act);
        rlt::evaluate(device, actor, in, out, buffers, rng, rlt::Mode<rlt::mode::Evaluation<>>{});
        for (TI i = 0; i < n; i++) {
            if (!alive[i]) continue;
            auto a = rlt::row(device, act, i);
            rlt::step(device, env, params, states[i], a, next[i], rng);
            if (rlt::terminated(device, env, params, next[i], rng)) {
                alive[i] = 0;
                continue;
            }
            states[i] = next[i];
            if (t >= steps - window) {
                const auto& p = states[i].position;
                double e = std::sqrt((double)p[0] * p[0] + (double)p[1] * p[1] + (double)p[2] * p[2]);
                err_sum[i] += e;
                if (e > err_max[i]) err_max[i] = e;
            }
        }
    }
    TI ok = 0, dead = 0, n_alive = 0;
    double err = 0;
    for (TI i = 0; i < n; i++) {
        if (!alive[i]) {
            dead++;
            continue;
        }
        n_alive++;
        err += err_sum[i] / window;
        if (err_max[i] < o.radius) ok++;
    }
    rlt::free(device, obs);
    rlt::free(device, act);
    rlt::free(device, buffers);
    rlt::free(device, rng);
    return {(double)ok / n, (double)dead / n, n_alive ? err / n_alive : NAN};
}

// The paper's curriculum: w_a x1.4 (cap 1), w_p x1.2 (cap 40), w_v x1.4 (cap 1); rewards in the replay buffer recomputed.
void curriculum(DEVICE& device, LOOP_STATE& ts) {
    auto bump = [](REWARD& r) {
        r.action = std::min<T>(r.action * 1.4f, 1.0f);
        r.position = std::min<T>(r.position * 1.2f, 40.0f);
        r.linear_velocity = std::min<T>(r.linear_velocity * 1.4f, 1.0f);
    };
    auto& runner = ts.off_policy_runner;
    for (TI e = 0; e < LOOP_CORE_PARAMETERS::N_ENVIRONMENTS; e++) {
        bump(rlt::get(runner.envs, 0, e).parameters.mdp.reward);
        bump(rlt::get(runner.env_parameters, 0, e).mdp.reward);
        auto& env = rlt::get(runner.envs, 0, e);
        auto& params = rlt::get(runner.env_parameters, 0, e);
        auto& rb = rlt::get(runner.replay_buffers, 0, e);
        TI filled = rb.full ? REPLAY_BUFFER_CAPACITY : rb.position;
        for (TI i = 0; i < filled; i++) {
            auto action = rlt::row(device, rb.actions, i);
            T r = rlt::reward(device, env, params, rlt::get(rb.states, i, 0), action, rlt::get(rb.next_states, i, 0), ts.rng);
            rlt::set(rb.rewards, i, 0, r);
        }
    }
}

// The paper's exploration-noise decay (x0.9 every 100k steps from 500k on, also the target-policy noise).
void noise_decay(T& exploration_std, LOOP_STATE& ts) {
    exploration_std *= 0.9f;
    ts.actor_critic.target_next_action_noise_std *= 0.9f;
    ts.actor_critic.target_next_action_noise_clip *= 0.9f;
}

// One environment step and the updates due at it: rltools' TD3 loop-core step, except that the actor's
// sampling layer adds exploration noise only while acting. (In rltools 2.x the same layer also adds it in
// the actor update and to the target actions; the paper's rl_tools, commit 3a612e2 that learning-to-fly
// pins, trains a deterministic actor and smooths targets with the clipped target noise alone.)
void loop_step(DEVICE& device, LOOP_STATE& ts, T exploration_std) {
    using P = LOOP_CORE_PARAMETERS;
    using TD3P = P::TD3_PARAMETERS;
    auto& actor_std = ts.actor_critic.actor.next_module.content.std;
    actor_std = exploration_std;
    rlt::step<1>(device, ts.off_policy_runner, rlt::get_actor(ts), ts.actor_buffers_eval, ts.rng);
    actor_std = 0;
    ts.actor_critic.actor_target.next_module.content.std = 0;
    TI step = ts.step;
    if (step >= P::N_WARMUP_STEPS_CRITIC && step % TD3P::CRITIC_TRAINING_INTERVAL == 0) {
        for (TI critic_i = 0; critic_i < 2; critic_i++) {
            rlt::gather_batch(device, ts.off_policy_runner, ts.critic_batch, ts.rng);
            auto noise = rlt::matrix_view(device, ts.critic_training_buffers.target_next_action_noise);
            rlt::target_action_noise(device, ts.actor_critic, noise, ts.rng);
            rlt::train_critic(device, ts.actor_critic, ts.actor_critic.critics[critic_i], ts.critic_batch, ts.actor_critic.critic_optimizers[critic_i],
                              ts.actor_buffers[critic_i], ts.actor_target_buffers[critic_i], ts.critic_buffers[critic_i], ts.critic_target_buffers[critic_i],
                              ts.critic_training_buffers, ts.rng);
        }
    }
    if (step >= P::N_WARMUP_STEPS_CRITIC && step % TD3P::CRITIC_TARGET_UPDATE_INTERVAL == 0) rlt::update_critic_targets(device, ts.actor_critic);
    if (step >= P::N_WARMUP_STEPS_ACTOR && step % TD3P::ACTOR_TRAINING_INTERVAL == 0) {
        rlt::gather_batch(device, ts.off_policy_runner, ts.actor_batch, ts.rng);
        rlt::train_actor(device, ts.actor_critic, ts.actor_batch, ts.actor_critic.actor_optimizer, ts.actor_buffers[0], ts.critic_buffers[0],
                         ts.actor_training_buffers, ts.rng);
    }
    if (step >= P::N_WARMUP_STEPS_ACTOR && step % TD3P::ACTOR_TARGET_UPDATE_INTERVAL == 0) rlt::update_actor_target(device, ts.actor_critic);
    ts.step++;
}

template <typename LAYER>
void write_layer(DEVICE& device, FILE* f, const LAYER& layer, const char* activation, bool last) {
    std::fprintf(f, "{\"in\": %d, \"out\": %d, \"activation\": \"%s\", \"weights\": [", (int)LAYER::INPUT_DIM, (int)LAYER::OUTPUT_DIM, activation);
    for (TI o = 0; o < LAYER::OUTPUT_DIM; o++) {
        std::fprintf(f, "%s[", o ? "," : "");
        for (TI i = 0; i < LAYER::INPUT_DIM; i++) std::fprintf(f, "%s%.9g", i ? "," : "", (double)rlt::get(device, layer.weights.parameters, o, i));
        std::fprintf(f, "]");
    }
    std::fprintf(f, "], \"biases\": [");
    for (TI o = 0; o < LAYER::OUTPUT_DIM; o++) std::fprintf(f, "%s%.9g", o ? "," : "", (double)rlt::get(device, layer.biases.parameters, o));
    std::fprintf(f, "]}%s", last ? "" : ",");
}

// The deterministic actor as JSON: observation layout, then the layers (weights out x in).
bool export_actor(DEVICE& device, LOOP_STATE& ts, const std::string& path) {
    FILE* f = std::fopen(path.c_str(), "w");
    if (!f) return false;
    auto& mlp = ts.actor_critic.actor.content;
    std::fprintf(f, "{\"observation\": [\"position 3\", \"rotation_matrix 9 row-major\", \"linear_velocity 3\", "
                    "\"angular_velocity 3\", \"action_history 32x4 newest first\"], \"action\": \"normalised rpm [-1, 1] -> [0, %g]\", \"layers\": [",
                 (double)MAX_RPM);
    write_layer(device, f, mlp.input_layer, "tanh", false);
    for (TI l = 0; l < LOOP_CORE_PARAMETERS::ACTOR_NUM_LAYERS - 2; l++) write_layer(device, f, mlp.hidden_layers[l], "tanh", false);
    write_layer(device, f, mlp.output_layer, "tanh", true);
    std::fprintf(f, "]}\n");
    std::fclose(f);
    return true;
}

const char* backend() {
#if defined(RL_TOOLS_BACKEND_ENABLE_OPENBLAS) && !defined(RL_TOOLS_BACKEND_DISABLE_BLAS)
    return "openblas";
#elif defined(RL_TOOLS_BACKEND_ENABLE_MKL) && !defined(RL_TOOLS_BACKEND_DISABLE_BLAS)
    return "mkl";
#else
    return "generic";
#endif
}

// The ranges of the sampled initial states (checks that the attitude sampler reaches max_angle).
int sample_init(const Options& o) {
    DEVICE device;
    RNG rng;
    rlt::malloc(device, rng);
    rlt::init(device, rng, o.seed);
    ENVIRONMENT env;
    rlt::init(device, env);
    typename ENVIRONMENT::Parameters params;
    rlt::sample_initial_parameters(device, env, params, rng);
    double max_angle = 0, max_pos = 0, max_vel = 0, max_rate = 0, level = 0;
    for (TI k = 0; k < o.sample_init; k++) {
        typename ENVIRONMENT::State s;
        rlt::sample_initial_state(device, env, params, s, rng);
        double w = std::min(1.0, std::abs((double)s.orientation[0]));
        max_angle = std::max(max_angle, 2 * std::acos(w) * 180 / M_PI);
        for (TI i = 0; i < 3; i++) {
            max_pos = std::max(max_pos, (double)std::abs(s.position[i]));
            max_vel = std::max(max_vel, (double)std::abs(s.linear_velocity[i]));
            max_rate = std::max(max_rate, (double)std::abs(s.angular_velocity[i]));
        }
        level += (s.orientation[0] == 1 && s.position[0] == 0) ? 1 : 0;
    }
    std::printf("{\"samples\": %ld, \"max_angle_deg\": %.3f, \"max_position_m\": %.4f, \"max_linear_velocity\": %.4f, "
                "\"max_angular_velocity\": %.4f, \"level_fraction\": %.4f}\n",
                (long)o.sample_init, max_angle, max_pos, max_vel, max_rate, level / o.sample_init);
    rlt::free(device, rng);
    return 0;
}

// Simulator throughput: the paper's configuration stepped at the hover command, one thread, no policy.
int sim_throughput(const Options& o) {
    DEVICE device;
    RNG rng;
    rlt::malloc(device, rng);
    rlt::init(device, rng, o.seed);
    ENVIRONMENT env;
    rlt::init(device, env);
    typename ENVIRONMENT::Parameters params;
    rlt::initial_parameters(device, env, params);
    std::vector<typename ENVIRONMENT::State> states(o.sim_batch), next(o.sim_batch);
    for (auto& s : states) rlt::sample_initial_state(device, env, params, s, rng);
    rlt::Matrix<rlt::matrix::Specification<T, TI, 1, ENVIRONMENT::ACTION_DIM>> action;
    rlt::malloc(device, action);
    rlt::set_all(device, action, HOVER_ACTION);
    auto t0 = std::chrono::steady_clock::now();
    double checksum = 0;
    for (TI k = 0; k < o.sim_steps; k++) {
        for (TI i = 0; i < o.sim_batch; i++) {
            rlt::step(device, env, params, states[i], action, next[i], rng);
        }
        std::swap(states, next);
    }
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (auto& s : states) checksum += s.position[2];
    std::printf("{\"simulator\": \"rltools-l2f (paper configuration, C++ direct, one thread)\", \"batch\": %ld, \"steps\": %ld, "
                "\"seconds\": %.4f, \"steps_per_second\": %.1f, \"checksum\": %.6g}\n",
                (long)o.sim_batch, (long)o.sim_steps, dt, o.sim_batch * (double)o.sim_steps / std::max(dt, 1e-12), checksum);
    rlt::free(device, action);
    rlt::free(device, rng);
    return 0;
}

// The reward of one step from fixed states (level, at rest, rotors at hover, hover command): checks the paper's reward.
int reward_probe(const Options& o) {
    DEVICE device;
    RNG rng;
    rlt::malloc(device, rng);
    rlt::init(device, rng, o.seed);
    ENVIRONMENT env;
    rlt::init(device, env);
    typename ENVIRONMENT::Parameters params;
    rlt::initial_parameters(device, env, params);
    params.mdp.init = init_eval;
    params.disturbances.random_force.std = 0;
    params.disturbances.random_torque.std = 0;
    rlt::Matrix<rlt::matrix::Specification<T, TI, 1, ENVIRONMENT::ACTION_DIM>> action;
    rlt::malloc(device, action);
    std::printf("[");
    const T cases[4][4] = {{0, 0, 0, HOVER_ACTION}, {0.3f, 0, 0, HOVER_ACTION}, {0, 0, 0, 1}, {0.7f, 0, 0, HOVER_ACTION}};
    for (int c = 0; c < 4; c++) {
        typename ENVIRONMENT::State s, n;
        params.mdp.init.guidance = 1;  // level, at rest at the origin, rotors at hover
        rlt::sample_initial_state(device, env, params, s, rng);
        s.position[0] = cases[c][0];
        rlt::set_all(device, action, cases[c][3]);
        rlt::step(device, env, params, s, action, n, rng);
        T r = rlt::reward(device, env, params, s, action, n, rng);
        std::printf("%s{\"x\": %g, \"action\": %g, \"reward\": %.6f, \"terminated\": %s}", c ? ", " : "", (double)cases[c][0],
                    (double)cases[c][3], (double)r, rlt::terminated(device, env, params, n, rng) ? "true" : "false");
    }
    std::printf("]\n");
    rlt::free(device, action);
    rlt::free(device, rng);
    return 0;
}

int run(const Options& o) {
    using clock = std::chrono::steady_clock;
    if (o.reward_probe) return reward_probe(o);
    if (o.sample_init > 0) return sample_init(o);
    if (o.sim_steps > 0) return sim_throughput(o);
    DEVICE device;
    LOOP_STATE ts;
    rlt::malloc(device, ts);
    rlt::init(device, ts, o.seed);
    // init() leaves the runner's environments with the nominal parameters; nothing else to set
    double train_seconds = 0, eval_seconds = 0;
    double seconds_to_success = -1;
    long steps_to_success = -1;
    std::string evals;
    EvalResult last{0, 0, NAN};
    auto t0 = clock::now();
    TI step = 0;
    bool done = false;
    T exploration_std = LOOP_CORE_PARAMETERS::EXPLORATION_NOISE;
    while (!done) {
        if (step > 0 && step % 100000 == 0) {
            curriculum(device, ts);
            if (step >= 500000) noise_decay(exploration_std, ts);
        }
        loop_step(device, ts, exploration_std);
        step++;
        bool eval_now = o.eval_every > 0 && step >= o.first_eval && step % o.eval_every == 0;
        bool last_step = step >= o.max_steps;
        if (eval_now || last_step) {
            auto t1 = clock::now();
            train_seconds += std::chrono::duration<double>(t1 - t0).count();
            if (o.eval_every > 0) {
                last = evaluate_hover(device, get(ts.off_policy_runner.envs, 0, 0), ts.actor_critic.actor, o);
                char buf[256];
                std::snprintf(buf, sizeof buf, "%s{\"step\": %ld, \"train_seconds\": %.3f, \"success_rate\": %.4f, \"termination_rate\": %.4f, \"hover_error_m\": %.5f}",
                              evals.empty() ? "" : ", ", (long)step, train_seconds, last.success_rate, last.termination_rate,
                              std::isnan(last.hover_error_m) ? -1.0 : last.hover_error_m);
                evals += buf;
                std::fprintf(stderr, "l2f peer seed %ld step %ld train %.1f s success %.3f terminated %.3f hover error %.3f m\n", (long)o.seed, (long)step,
                             train_seconds, last.success_rate, last.termination_rate, last.hover_error_m);
                if (last.success_rate >= o.target && seconds_to_success < 0) {
                    seconds_to_success = train_seconds;
                    steps_to_success = (long)step;
                    done = true;
                }
            }
            auto t2 = clock::now();
            eval_seconds += std::chrono::duration<double>(t2 - t1).count();
            t0 = clock::now();
            if (last_step || train_seconds >= o.max_seconds) done = true;
        }
    }
    bool exported = !o.export_path.empty() && export_actor(device, ts, o.export_path);
    std::printf("{\"trainer\": \"rltools-l2f-td3\", \"backend\": \"%s\", \"seed\": %ld, \"env_steps\": %ld, \"train_seconds\": %.3f, "
                "\"eval_seconds\": %.3f, \"env_steps_per_second\": %.1f, \"target_success_rate\": %.3f, \"seconds_to_success\": ",
                backend(), (long)o.seed, (long)step, train_seconds, eval_seconds, step / std::max(train_seconds, 1e-9), o.target);
    if (seconds_to_success >= 0) std::printf("%.3f, \"env_steps_to_success\": %ld", seconds_to_success, steps_to_success);
    else std::printf("null, \"env_steps_to_success\": null");
    std::printf(", \"final_success_rate\": %.4f, \"exported\": %s, \"evaluations\": [%s], "
                "\"config\": {\"replay_buffer\": %ld, \"batch\": 256, \"critic_every\": 10, \"actor_every\": 20, \"warmup_critic\": 15000, "
                "\"warmup_actor\": 30000, \"hidden\": [64, 64], \"activation\": \"fast_tanh\", \"lr\": 0.001, \"weight_decay\": 0.0001, "
                "\"eval_every\": %ld, \"eval_episodes\": %ld, \"success_radius_m\": %.3f, \"success_window_steps\": %ld}}\n",
                last.success_rate, exported ? "true" : "false", evals.c_str(), (long)REPLAY_BUFFER_CAPACITY, (long)o.eval_every,
                (long)o.eval_episodes, o.radius, (long)o.window);
    rlt::free(device, ts);
    return 0;
}
}  // namespace l2f_peer

static void usage() {
    std::fprintf(stderr,
                 "usage: l2f_td3 [--seed N] [--max-steps N] [--max-seconds S] [--eval-every N] [--first-eval N] "
                 "[--eval-episodes N<=256] [--target F] [--export PATH] [--sample-init N] [--sim-steps N --sim-batch B]\n");
}

int main(int argc, char** argv) {
    l2f_peer::Options o;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--help" || a == "-h") {
            usage();
            return 0;
        }
        if (a == "--reward-probe") {
            o.reward_probe = true;
            continue;
        }
        if (i + 1 >= argc) {
            std::fprintf(stderr, "l2f_td3: %s needs a value\n", a.c_str());
            return 2;
        }
        const char* v = argv[++i];
        char* end = nullptr;
        if (a == "--export") {
            o.export_path = v;
            continue;
        }
        double x = std::strtod(v, &end);
        if (end == v || *end != '\0' || x < 0) {
            std::fprintf(stderr, "l2f_td3: %s expects a non-negative number, got %s\n", a.c_str(), v);
            return 2;
        }
        if (a == "--seed") o.seed = (TI_GLOBAL)x;
        else if (a == "--max-steps") o.max_steps = (TI_GLOBAL)x;
        else if (a == "--max-seconds") o.max_seconds = x;
        else if (a == "--eval-every") o.eval_every = (TI_GLOBAL)x;
        else if (a == "--first-eval") o.first_eval = (TI_GLOBAL)x;
        else if (a == "--eval-episodes") o.eval_episodes = (TI_GLOBAL)x;
        else if (a == "--target") o.target = x;
        else if (a == "--sample-init") o.sample_init = (TI_GLOBAL)x;
        else if (a == "--sim-steps") o.sim_steps = (TI_GLOBAL)x;
        else if (a == "--sim-batch") o.sim_batch = (TI_GLOBAL)x;
        else {
            std::fprintf(stderr, "l2f_td3: unknown option %s\n", a.c_str());
            usage();
            return 2;
        }
    }
    if (o.eval_episodes < 1 || o.eval_episodes > 256) {
        std::fprintf(stderr, "l2f_td3: --eval-episodes must be in [1, 256], got %ld\n", (long)o.eval_episodes);
        return 2;
    }
    return l2f_peer::run(o);
}
