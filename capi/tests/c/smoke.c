/* The C smoke test of fused-optim: built with the system cc against the
 * static and the dynamic library by .ci/run. It steps buffers through the C
 * ABI and checks the bits against values the Rust scalar reference computed
 * (expected.h, kept current by tests/ffi.rs), then checks that bad input is
 * refused with its status and leaves every buffer untouched, that a flag
 * byte other than 0 and 1 acts as 1, that thread counts above
 * FO_MAX_THREADS are refused, and that every step split across threads
 * gives the bits of the serial run. */
#include "fused_optim.h"
#include <pthread.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "expected.h"

static int passed = 0, failed = 0;

static void check(int ok, const char *what) {
    if (ok) {
        passed++;
    } else {
        failed++;
        printf("FAILED: %s\n", what);
    }
}

static void check_status(fo_status got, fo_status want, const char *what) {
    if (got != want) {
        printf("%s: got %d (%s), want %d\n", what, (int)got, fo_status_message(got), (int)want);
    }
    check(got == want, what);
}

/* The same inputs as tests/ffi.rs: exactly representable. */
static void inputs_f32(float *p, float *g) {
    for (int i = 0; i < SMOKE_N; i++) {
        p[i] = (float)((i % 7) - 3) * 0.5f;
        g[i] = (float)(((i * 5) % 11) - 5) * 0.125f;
    }
}

/* bf16 words of the f32 values times `scale`: the top 16 bits (exact for
 * the inputs' values times a power of two). */
static void to_bf16_n(uint16_t *out, const float *x, float scale, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float f = x[i] * scale;
        uint32_t bits;
        memcpy(&bits, &f, sizeof bits);
        out[i] = (uint16_t)(bits >> 16);
    }
}

static void to_bf16(uint16_t *out, const float *x, float scale) {
    to_bf16_n(out, x, scale, SMOKE_N);
}

static void inputs_f64(double *p, double *g) {
    for (int i = 0; i < SMOKE_N; i++) {
        p[i] = (double)((i % 7) - 3) * 0.5;
        g[i] = (double)(((i * 5) % 11) - 5) * 0.125;
    }
}

/* ---- Flag bytes: C may leave any byte in a uint8_t option (memset, a
 * ctypes c_uint8, an uninitialised member); every nonzero byte acts as 1. ---- */

#define FLAG_N 7
static const uint8_t flag_bytes[3] = {2, 0x80, 0xFF};

/* The outcome of one step from fixed inputs: its status and every buffer. */
typedef struct {
    fo_status status;
    float buf[6][FLAG_N];
    uint16_t half[2][FLAG_N];
    bool skipped;
} outcome;

static void flag_inputs(outcome *o) {
    memset(o, 0, sizeof *o);
    for (int k = 0; k < 6; k++) {
        for (int i = 0; i < FLAG_N; i++) {
            float x = (float)((i * 5 + k * 3) % 11 - 5) * 0.25f;
            o->buf[k][i] = k >= 2 ? fabsf(x) : x;
        }
    }
    to_bf16_n(o->half[0], o->buf[0], 1.0f, FLAG_N);
    to_bf16_n(o->half[1], o->buf[1], 1.0f, FLAG_N);
    o->half[1][2] = 0x7f80; /* +inf: the found_inf check skips the step */
}

static int same(const outcome *a, const outcome *b) {
    return a->status == b->status && a->skipped == b->skipped && memcmp(a->buf, b->buf, sizeof a->buf) == 0 &&
           memcmp(a->half, b->half, sizeof a->half) == 0;
}

/* Each step with every optional buffer given: an option that is off then
 * refuses the step, so the outcome shows the flag either way. */
static outcome adam_outcome(const void *config) {
    outcome o;
    flag_inputs(&o);
    float(*b)[FLAG_N] = o.buf;
    o.status = fo_adam_step_f32(b[0], b[1], b[2], b[3], b[4], FLAG_N, config, 2);
    return o;
}

static outcome adamax_outcome(const void *config) {
    outcome o;
    flag_inputs(&o);
    o.status = fo_adamax_step_f32(o.buf[0], o.buf[1], o.buf[2], o.buf[3], FLAG_N, config, 1);
    return o;
}

static outcome adagrad_outcome(const void *config) {
    outcome o;
    flag_inputs(&o);
    o.status = fo_adagrad_step_f32(o.buf[0], o.buf[1], o.buf[2], FLAG_N, config, 1);
    return o;
}

static outcome rmsprop_outcome(const void *config) {
    outcome o;
    flag_inputs(&o);
    o.status = fo_rmsprop_step_f32(o.buf[0], o.buf[1], o.buf[2], NULL, o.buf[3], FLAG_N, config, 1);
    return o;
}

static outcome adadelta_outcome(const void *config) {
    outcome o;
    flag_inputs(&o);
    o.status = fo_adadelta_step_f32(o.buf[0], o.buf[1], o.buf[2], o.buf[3], FLAG_N, config, 1);
    return o;
}

/* Momentum on (the buffer given), a later step (t = 2). */
static outcome sgd_outcome(const void *config) {
    outcome o;
    flag_inputs(&o);
    o.status = fo_sgd_step_f32(o.buf[0], o.buf[1], o.buf[2], FLAG_N, config, 2);
    return o;
}

static outcome lion_outcome(const void *config) {
    outcome o;
    flag_inputs(&o);
    o.status = fo_lion_step_f32(o.buf[0], o.buf[1], o.buf[2], FLAG_N, config, 1);
    return o;
}

/* f32 master weights and state, a bf16 gradient with an infinity in it. */
static outcome mixed_skip_outcome(const void *options) {
    outcome o;
    flag_inputs(&o);
    fo_adam_config c = fo_adamw_config_default();
    o.status = fo_adam_step_mixed(o.buf[0], FO_DTYPE_F32, o.half[1], FO_DTYPE_BF16, o.buf[2], o.buf[3], NULL, FO_DTYPE_F32,
                                  NULL, FO_DTYPE_F32, FLAG_N, 0, &c, options, 1, &o.skipped);
    return o;
}

/* bf16 parameters and gradient (finite), f32 state, steps of about an ulp. */
static outcome mixed_rounding_outcome(const void *options) {
    outcome o;
    flag_inputs(&o);
    to_bf16_n(o.half[1], o.buf[1], 1.0f, FLAG_N);
    fo_adam_config c = fo_adamw_config_default();
    c.lr = 0.01;
    o.status = fo_adam_step_mixed(o.half[0], FO_DTYPE_BF16, o.half[1], FO_DTYPE_BF16, o.buf[2], o.buf[3], NULL, FO_DTYPE_F32,
                                  NULL, FO_DTYPE_F32, FLAG_N, 0, &c, options, 1, &o.skipped);
    return o;
}

/* The flag at `flag` (a member of the config at `config`, `size` bytes):
 * 0 and 1 give different outcomes, and each byte of flag_bytes, written
 * with memset, gives 1's. */
static void flag_acts_as_one(const char *what, void *config, uint8_t *flag, outcome (*run)(const void *)) {
    memset(flag, 1, 1);
    outcome one = run(config);
    memset(flag, 0, 1);
    outcome zero = run(config);
    char text[128];
    snprintf(text, sizeof text, "%s: 0 and 1 give different outcomes", what);
    check(!same(&zero, &one), text);
    for (int i = 0; i < 3; i++) {
        memset(flag, flag_bytes[i], 1);
        outcome got = run(config);
        snprintf(text, sizeof text, "%s: flag byte 0x%02x acts as 1", what, flag_bytes[i]);
        check(same(&got, &one), text);
    }
    memset(flag, 1, 1);
}

static void flag_bytes_act_as_one(void) {
    fo_adam_config adam = fo_adam_config_default();
    adam.eps = 0.5;
    flag_acts_as_one("adam amsgrad", &adam, &adam.amsgrad, adam_outcome);
    flag_acts_as_one("adam maximize", &adam, &adam.maximize, adam_outcome);
    flag_acts_as_one("adam eps_hat", &adam, &adam.eps_hat, adam_outcome);
    fo_adamax_config adamax = fo_adamax_config_default();
    flag_acts_as_one("adamax maximize", &adamax, &adamax.maximize, adamax_outcome);
    fo_adagrad_config adagrad = fo_adagrad_config_default();
    flag_acts_as_one("adagrad maximize", &adagrad, &adagrad.maximize, adagrad_outcome);
    fo_rmsprop_config rmsprop = fo_rmsprop_config_default();
    flag_acts_as_one("rmsprop centered", &rmsprop, &rmsprop.centered, rmsprop_outcome);
    flag_acts_as_one("rmsprop maximize", &rmsprop, &rmsprop.maximize, rmsprop_outcome);
    fo_adadelta_config adadelta = fo_adadelta_config_default();
    flag_acts_as_one("adadelta maximize", &adadelta, &adadelta.maximize, adadelta_outcome);
    fo_sgd_config sgd = fo_sgd_config_default();
    sgd.momentum = 0.9;
    flag_acts_as_one("sgd nesterov", &sgd, &sgd.nesterov, sgd_outcome);
    flag_acts_as_one("sgd maximize", &sgd, &sgd.maximize, sgd_outcome);
    fo_lion_config lion = fo_lion_config_default();
    flag_acts_as_one("lion maximize", &lion, &lion.maximize, lion_outcome);
    fo_mixed_options mixed = fo_mixed_options_default();
    flag_acts_as_one("mixed skip_non_finite", &mixed, &mixed.skip_non_finite, mixed_skip_outcome);
    mixed.skip_non_finite = 0;
    flag_acts_as_one("mixed zero_grad", &mixed, &mixed.zero_grad, mixed_skip_outcome);
    mixed.zero_grad = 0;
    mixed.seed = 12345;
    flag_acts_as_one("mixed stochastic_rounding", &mixed, &mixed.stochastic_rounding, mixed_rounding_outcome);
}

/* ---- The threaded path: every step split across threads (serial
 * threshold 0) gives the bits of the serial run of the same inputs. ---- */

#define TENSORS 8
#define BUFS 5   /* param, grad, up to three states */
#define SLOT 320 /* elements per buffer slot: the longest tensor and its offset */
/* A long tensor then a short one, odd lengths, a tiny one after a big one:
 * the cuts move down to 64-byte boundaries and push elements onward. */
static const size_t lens[TENSORS] = {118, 2, 1, 37, 301, 3, 64, 5};

/* Every buffer k of tensor i at its own offset from a cache line. */
#define LIST(T, NAME)                                                                   \
    static T NAME##_arena[BUFS][TENSORS][SLOT];                                         \
    static T *NAME[BUFS][TENSORS];                                                      \
    static void NAME##_fill(void) {                                                     \
        memset(NAME##_arena, 0, sizeof NAME##_arena);                                   \
        for (int k = 0; k < BUFS; k++) {                                                \
            for (int i = 0; i < TENSORS; i++) {                                         \
                NAME[k][i] = NAME##_arena[k][i] + (i * 5 + k * 3) % 16;                 \
                for (size_t j = 0; j < lens[i]; j++) {                                  \
                    double x = (double)((j * 7 + (size_t)i * 3 + (size_t)k) % 17) * 0.125 - 1.0; \
                    NAME[k][i][j] = (T)(k >= 2 ? fabs(x) : x);                          \
                }                                                                       \
            }                                                                           \
        }                                                                               \
    }
LIST(float, lf)
LIST(double, ld)
static uint16_t lh_arena[TENSORS][SLOT]; /* bf16 gradients of the mixed steps */

static void lh_fill(void) {
    lf_fill();
    for (int i = 0; i < TENSORS; i++) to_bf16_n(lh_arena[i], lf[1][i], 1.0f, lens[i]);
}

#define CG(T, x) ((const T *const *)(x))
static fo_adam_config t_adam;
static fo_adamax_config t_adamax;
static fo_adagrad_config t_adagrad;
static fo_rmsprop_config t_rmsprop;
static fo_adadelta_config t_adadelta;
static fo_sgd_config t_sgd;
static fo_lion_config t_lion;
static fo_mixed_options t_mixed;

/* Each: the list through the many-tensor step, then tensor 4 (301
 * elements) through the one-tensor step. */
#define THEN_ONE(many, one)         \
    fo_status many_status = (many); \
    return many_status != FO_OK ? many_status : (one)
static fo_status adam_f32(uint64_t t) {
    THEN_ONE(fo_adam_step_many_f32(lf[0], CG(float, lf[1]), lf[2], lf[3], lf[4], lens, TENSORS, &t_adam, t),
                    fo_adam_step_f32(lf[0][4], lf[1][4], lf[2][4], lf[3][4], lf[4][4], lens[4], &t_adam, t));
}
static fo_status adam_f64(uint64_t t) {
    THEN_ONE(fo_adam_step_many_f64(ld[0], CG(double, ld[1]), ld[2], ld[3], ld[4], lens, TENSORS, &t_adam, t),
                    fo_adam_step_f64(ld[0][4], ld[1][4], ld[2][4], ld[3][4], ld[4][4], lens[4], &t_adam, t));
}
static fo_status adamax_f32(uint64_t t) {
    THEN_ONE(fo_adamax_step_many_f32(lf[0], CG(float, lf[1]), lf[2], lf[3], lens, TENSORS, &t_adamax, t),
                    fo_adamax_step_f32(lf[0][4], lf[1][4], lf[2][4], lf[3][4], lens[4], &t_adamax, t));
}
static fo_status adamax_f64(uint64_t t) {
    THEN_ONE(fo_adamax_step_many_f64(ld[0], CG(double, ld[1]), ld[2], ld[3], lens, TENSORS, &t_adamax, t),
                    fo_adamax_step_f64(ld[0][4], ld[1][4], ld[2][4], ld[3][4], lens[4], &t_adamax, t));
}
static fo_status adagrad_f32(uint64_t t) {
    THEN_ONE(fo_adagrad_step_many_f32(lf[0], CG(float, lf[1]), lf[2], lens, TENSORS, &t_adagrad, t),
                    fo_adagrad_step_f32(lf[0][4], lf[1][4], lf[2][4], lens[4], &t_adagrad, t));
}
static fo_status adagrad_f64(uint64_t t) {
    THEN_ONE(fo_adagrad_step_many_f64(ld[0], CG(double, ld[1]), ld[2], lens, TENSORS, &t_adagrad, t),
                    fo_adagrad_step_f64(ld[0][4], ld[1][4], ld[2][4], lens[4], &t_adagrad, t));
}
static fo_status rmsprop_f32(uint64_t t) {
    THEN_ONE(fo_rmsprop_step_many_f32(lf[0], CG(float, lf[1]), lf[2], lf[3], lf[4], lens, TENSORS, &t_rmsprop, t),
                    fo_rmsprop_step_f32(lf[0][4], lf[1][4], lf[2][4], lf[3][4], lf[4][4], lens[4], &t_rmsprop, t));
}
static fo_status rmsprop_f64(uint64_t t) {
    THEN_ONE(fo_rmsprop_step_many_f64(ld[0], CG(double, ld[1]), ld[2], ld[3], ld[4], lens, TENSORS, &t_rmsprop, t),
                    fo_rmsprop_step_f64(ld[0][4], ld[1][4], ld[2][4], ld[3][4], ld[4][4], lens[4], &t_rmsprop, t));
}
static fo_status adadelta_f32(uint64_t t) {
    THEN_ONE(fo_adadelta_step_many_f32(lf[0], CG(float, lf[1]), lf[2], lf[3], lens, TENSORS, &t_adadelta, t),
                    fo_adadelta_step_f32(lf[0][4], lf[1][4], lf[2][4], lf[3][4], lens[4], &t_adadelta, t));
}
static fo_status adadelta_f64(uint64_t t) {
    THEN_ONE(fo_adadelta_step_many_f64(ld[0], CG(double, ld[1]), ld[2], ld[3], lens, TENSORS, &t_adadelta, t),
                    fo_adadelta_step_f64(ld[0][4], ld[1][4], ld[2][4], ld[3][4], lens[4], &t_adadelta, t));
}
static fo_status sgd_f32(uint64_t t) {
    THEN_ONE(fo_sgd_step_many_f32(lf[0], CG(float, lf[1]), lf[2], lens, TENSORS, &t_sgd, t),
                    fo_sgd_step_f32(lf[0][4], lf[1][4], lf[2][4], lens[4], &t_sgd, t));
}
static fo_status sgd_f64(uint64_t t) {
    THEN_ONE(fo_sgd_step_many_f64(ld[0], CG(double, ld[1]), ld[2], lens, TENSORS, &t_sgd, t),
                    fo_sgd_step_f64(ld[0][4], ld[1][4], ld[2][4], lens[4], &t_sgd, t));
}
static fo_status lion_f32(uint64_t t) {
    THEN_ONE(fo_lion_step_many_f32(lf[0], CG(float, lf[1]), lf[2], lens, TENSORS, &t_lion, t),
                    fo_lion_step_f32(lf[0][4], lf[1][4], lf[2][4], lens[4], &t_lion, t));
}
static fo_status lion_f64(uint64_t t) {
    THEN_ONE(fo_lion_step_many_f64(ld[0], CG(double, ld[1]), ld[2], lens, TENSORS, &t_lion, t),
                    fo_lion_step_f64(ld[0][4], ld[1][4], ld[2][4], lens[4], &t_lion, t));
}
/* f32 master weights and state, bf16 gradients, a bf16 copy (in the
 * fourth f32 slot's storage, as uint16_t words). */
static fo_status mixed_many(uint64_t t) {
    fo_mixed_tensor list[TENSORS];
    for (int i = 0; i < TENSORS; i++) {
        list[i] = (fo_mixed_tensor){
            .param = lf[0][i], .grad = lh_arena[i], .exp_avg = lf[2][i], .exp_avg_sq = lf[3][i], .max_exp_avg_sq = NULL,
            .param_copy = lf[4][i], .len = lens[i], .position = 0,
            .param_dtype = FO_DTYPE_F32, .grad_dtype = FO_DTYPE_BF16, .state_dtype = FO_DTYPE_F32, .copy_dtype = FO_DTYPE_BF16,
        };
    }
    bool skipped = true;
    fo_status s = fo_adam_step_mixed_many(list, TENSORS, &t_adam, &t_mixed, t, &skipped);
    if (s == FO_OK && skipped) return FO_ERROR_INTERNAL; /* every gradient is finite */
    fo_mixed_tensor *x = &list[4];
    THEN_ONE(s, fo_adam_step_mixed(x->param, x->param_dtype, x->grad, x->grad_dtype, x->exp_avg, x->exp_avg_sq, NULL,
                                          x->state_dtype, x->param_copy, x->copy_dtype, x->len, 7, &t_adam, &t_mixed, t, NULL));
}

static unsigned char serial_copy[sizeof ld_arena];

/* A C host's parallel-for (fo_set_parallel_for): worker 0 on the calling
 * thread, the others on pthreads of their own, all joined before it returns. */
typedef struct {
    fo_job job;
    void *job_ctx;
    size_t worker;
} host_worker;

static void *host_thread(void *arg) {
    host_worker *w = arg;
    w->job(w->job_ctx, w->worker);
    return NULL;
}

static void pthread_host(void *host_ctx, size_t workers, fo_job job, void *job_ctx) {
    (void)host_ctx;
    pthread_t ids[16];
    host_worker ws[16];
    size_t started = 0;
    for (size_t w = 1; w < workers && w < 16; w++) {
        ws[w] = (host_worker){job, job_ctx, w};
        if (pthread_create(&ids[w], NULL, host_thread, &ws[w]) == 0) started = w;
        else break; /* a worker not run is run by the library on the caller */
    }
    job(job_ctx, 0);
    for (size_t w = 1; w <= started; w++) pthread_join(ids[w], NULL);
}

/* Two steps of `run` from `fill`'s inputs serially, then on 2, 3 and 7
 * threads of the library's own and on a C host's pthreads (3 workers):
 * every byte of `arena` the same. */
static void threaded_equals_serial(const char *what, fo_status (*run)(uint64_t), void (*fill)(void), const void *arena,
                                   size_t bytes) {
    static const size_t threads[5] = {1, 2, 3, 7, 3};
    char text[128];
    for (int k = 0; k < 5; k++) {
        if (k < 4) check_status(fo_set_threads(threads[k]), FO_OK, "set threads");
        else check_status(fo_set_parallel_for(pthread_host, NULL, threads[k]), FO_OK, "set a C host's parallel-for");
        fill();
        for (uint64_t t = 1; t <= 2; t++) {
            snprintf(text, sizeof text, "%s on %zu threads, step %llu", what, threads[k], (unsigned long long)t);
            check_status(run(t), FO_OK, text);
        }
        if (k == 0) {
            memcpy(serial_copy, arena, bytes);
        } else {
            snprintf(text, sizeof text, "%s on %zu threads: the serial bits", what, threads[k]);
            check(fo_threads() == threads[k] && memcmp(serial_copy, arena, bytes) == 0, text);
        }
    }
}

static void threaded_steps(void) {
    size_t threshold = fo_serial_threshold();
    fo_set_serial_threshold(0);
    check(fo_serial_threshold() == 0, "serial threshold 0");
    t_adam = fo_adamw_config_default();
    t_adam.amsgrad = 1;
    t_adam.maximize = 1;
    t_adamax = fo_adamax_config_default();
    t_adamax.weight_decay = 0.1;
    t_adamax.beta1_decay = 0.5;
    t_adagrad = fo_adagrad_config_default();
    t_adagrad.lr_decay = 0.1;
    t_adagrad.weight_decay = 0.01;
    t_rmsprop = fo_rmsprop_config_default();
    t_rmsprop.momentum = 0.9;
    t_rmsprop.centered = 1;
    t_adadelta = fo_adadelta_config_default();
    t_adadelta.weight_decay = 0.1;
    t_lion = fo_lion_config_default();
    t_lion.lr = 0.01;
    t_lion.weight_decay = 0.1;
    threaded_equals_serial("adam f32", adam_f32, lf_fill, lf_arena, sizeof lf_arena);
    threaded_equals_serial("adam f64", adam_f64, ld_fill, ld_arena, sizeof ld_arena);
    threaded_equals_serial("adamax f32", adamax_f32, lf_fill, lf_arena, sizeof lf_arena);
    threaded_equals_serial("adamax f64", adamax_f64, ld_fill, ld_arena, sizeof ld_arena);
    threaded_equals_serial("adagrad f32", adagrad_f32, lf_fill, lf_arena, sizeof lf_arena);
    threaded_equals_serial("adagrad f64", adagrad_f64, ld_fill, ld_arena, sizeof ld_arena);
    threaded_equals_serial("rmsprop f32", rmsprop_f32, lf_fill, lf_arena, sizeof lf_arena);
    threaded_equals_serial("rmsprop f64", rmsprop_f64, ld_fill, ld_arena, sizeof ld_arena);
    threaded_equals_serial("adadelta f32", adadelta_f32, lf_fill, lf_arena, sizeof lf_arena);
    threaded_equals_serial("adadelta f64", adadelta_f64, ld_fill, ld_arena, sizeof ld_arena);
    t_sgd = fo_sgd_config_default();
    t_sgd.momentum = 0.9;
    t_sgd.dampening = 0.25;
    t_sgd.weight_decay = 0.01;
    threaded_equals_serial("sgd f32", sgd_f32, lf_fill, lf_arena, sizeof lf_arena);
    threaded_equals_serial("sgd f64", sgd_f64, ld_fill, ld_arena, sizeof ld_arena);
    threaded_equals_serial("lion f32", lion_f32, lf_fill, lf_arena, sizeof lf_arena);
    threaded_equals_serial("lion f64", lion_f64, ld_fill, ld_arena, sizeof ld_arena);
    t_adam = fo_adamw_config_default();
    t_mixed = fo_mixed_options_default();
    t_mixed.loss_scale = 4.0;
    threaded_equals_serial("mixed f32/bf16", mixed_many, lh_fill, lf_arena, sizeof lf_arena);
    fo_set_serial_threshold(threshold);
    check_status(fo_set_threads(1), FO_OK, "serial");
}

/* ---- Thread counts: above FO_MAX_THREADS refused, the setting kept. ---- */
static void thread_limits(void) {
    check_status(fo_set_threads(3), FO_OK, "three threads");
    check_status(fo_set_threads(FO_MAX_THREADS + 1), FO_ERROR_THREADS, "FO_MAX_THREADS + 1 threads");
    check_status(fo_set_threads((size_t)-1), FO_ERROR_THREADS, "(size_t)-1 threads");
    check(fo_threads() == 3, "a refused thread count keeps the setting");
    check(strstr(fo_status_message(FO_ERROR_THREADS), "FO_MAX_THREADS") != NULL, "threads status message");
    check_status(fo_set_threads(1), FO_OK, "serial");
    check(fo_threads() == 1, "fo_threads");
}

/* Clipping by global norm: the norm of {3, 4} and {12} is 13 exactly; an
 * armed clip is taken by the next step, which reports it; the step after is
 * not clipped. */
static void clipping(void) {
    const float a[2] = {3.0f, 4.0f}, b[1] = {12.0f};
    const float *grads[2] = {a, b};
    const size_t lens[2] = {2, 1};
    double norm = 0.0;
    check_status(fo_grad_norm_f32(grads, lens, 2, &norm), FO_OK, "fo_grad_norm_f32");
    check(norm == 13.0, "the norm of {3, 4, 12} is 13");
    fo_clip_config clip = {1.0, 0};
    check_status(fo_clip_next_step(&clip), FO_OK, "arm a clip");
    float p[2] = {1.0f, 1.0f}, sum[2] = {0.0f, 0.0f};
    fo_adagrad_config adagrad = fo_adagrad_config_default();
    check_status(fo_adagrad_step_f32(p, a, sum, 2, &adagrad, 1), FO_OK, "a clipped AdaGrad step");
    fo_clip_report report = fo_last_clip_report();
    check(report.clipped == 1 && report.skipped == 0 && report.norm == 5.0, "the clipped step's report");
    check(report.coefficient == 1.0 / (5.0 + 1e-6), "its coefficient");
    check(sum[0] == (float)(3.0f * (float)report.coefficient) * (float)(3.0f * (float)report.coefficient),
          "the step saw the clipped gradient");
    check_status(fo_adagrad_step_f32(p, a, sum, 2, &adagrad, 2), FO_OK, "the next step");
    check(fo_last_clip_report().clipped == 0, "is not clipped");
    clip.max_norm = -1.0;
    check_status(fo_clip_next_step(&clip), FO_ERROR_HYPERPARAMETER, "a negative max_norm");
}

int main(void) {
    printf("fused-optim %s, tier %s\n", fo_version(), fo_tier());

    /* Adam, f32, PyTorch defaults: three steps. */
    float p[SMOKE_N], g[SMOKE_N], m[SMOKE_N] = {0}, v[SMOKE_N] = {0};
    inputs_f32(p, g);
    fo_adam_config adam = fo_adam_config_default();
    for (uint64_t t = 1; t <= 3; t++) {
        check_status(fo_adam_step_f32(p, g, m, v, NULL, SMOKE_N, &adam, t), FO_OK, "adam f32 step");
    }
    check(memcmp(p, EXPECTED_ADAM_F32, sizeof p) == 0, "adam f32 bits equal the Rust reference");

    /* The same Adam steps on two tensors in one multi-tensor call: both end
     * with the single-tensor bits. */
    float p1[SMOKE_N], p2[SMOKE_N], m1[SMOKE_N] = {0}, m2[SMOKE_N] = {0}, v1[SMOKE_N] = {0}, v2[SMOKE_N] = {0};
    inputs_f32(p1, g);
    inputs_f32(p2, g);
    float *params[2] = {p1, p2}, *ms[2] = {m1, m2}, *vs[2] = {v1, v2};
    const float *grads[2] = {g, g};
    size_t lens[2] = {SMOKE_N, SMOKE_N};
    for (uint64_t t = 1; t <= 3; t++) {
        check_status(fo_adam_step_many_f32(params, grads, ms, vs, NULL, lens, 2, &adam, t), FO_OK, "adam many f32 step");
    }
    check(memcmp(p1, EXPECTED_ADAM_F32, sizeof p1) == 0 && memcmp(p2, EXPECTED_ADAM_F32, sizeof p2) == 0,
          "multi-tensor adam f32 bits equal the Rust reference");
    vs[1] = v1; /* tensor 1 would write tensor 0's v: refused */
    check_status(fo_adam_step_many_f32(params, grads, ms, vs, NULL, lens, 2, &adam, 4), FO_ERROR_OVERLAP,
                 "overlap across tensors");

    /* AdamW + AMSGrad, f64, on three threads. */
    check_status(fo_set_threads(3), FO_OK, "three threads");
    double pd[SMOKE_N], gd[SMOKE_N], md[SMOKE_N] = {0}, vd[SMOKE_N] = {0}, xd[SMOKE_N] = {0};
    inputs_f64(pd, gd);
    fo_adam_config adamw = fo_adamw_config_default();
    adamw.amsgrad = 1;
    for (uint64_t t = 1; t <= 3; t++) {
        check_status(fo_adam_step_f64(pd, gd, md, vd, xd, SMOKE_N, &adamw, t), FO_OK, "adamw+amsgrad f64 step");
    }
    check(memcmp(pd, EXPECTED_AMSGRAD_ADAMW_F64, sizeof pd) == 0, "adamw+amsgrad f64 bits equal the Rust reference");

    /* AdaMax, f32, serially. */
    check_status(fo_set_threads(1), FO_OK, "serial");
    float u[SMOKE_N] = {0};
    inputs_f32(p, g);
    memset(m, 0, sizeof m);
    fo_adamax_config adamax = fo_adamax_config_default();
    for (uint64_t t = 1; t <= 3; t++) {
        check_status(fo_adamax_step_f32(p, g, m, u, SMOKE_N, &adamax, t), FO_OK, "adamax f32 step");
    }
    check(memcmp(p, EXPECTED_ADAMAX_F32, sizeof p) == 0, "adamax f32 bits equal the Rust reference");

    /* Bad input: each refused with its status, nothing written. */
    float before_p[SMOKE_N], before_m[SMOKE_N], before_v[SMOKE_N];
    memcpy(before_p, p, sizeof p);
    memcpy(before_m, m, sizeof m);
    memcpy(before_v, v, sizeof v);
    fo_adam_config bad = adam;
    bad.lr = NAN;
    check_status(fo_adam_step_f32(NULL, g, m, v, NULL, SMOKE_N, &adam, 4), FO_ERROR_NULL_POINTER, "null param");
    check_status(fo_adam_step_f32(p, g, m, v, NULL, SMOKE_N, NULL, 4), FO_ERROR_NULL_POINTER, "null config");
    check_status(fo_adam_step_f32(p, g, m, m, NULL, SMOKE_N, &adam, 4), FO_ERROR_OVERLAP, "m and v overlap");
    check_status(fo_adam_step_f32(p, g, p + 1, v, NULL, SMOKE_N - 1, &adam, 4), FO_ERROR_OVERLAP, "p and m overlap");
    check_status(fo_adam_step_f32(p, g, m, v, NULL, SMOKE_N, &bad, 4), FO_ERROR_HYPERPARAMETER, "NaN lr");
    bad = adam;
    bad.beta2 = 1.0;
    check_status(fo_adam_step_f32(p, g, m, v, NULL, SMOKE_N, &bad, 4), FO_ERROR_HYPERPARAMETER, "beta2 = 1");
    check_status(fo_adam_step_f32(p, g, m, v, NULL, SMOKE_N, &adam, 0), FO_ERROR_STEP, "step 0");
    check_status(fo_adam_step_f32(p, g, m, v, NULL, SMOKE_N, &adamw, 4), FO_ERROR_STATE_BUFFER, "amsgrad without its buffer");
    check_status(fo_adam_step_f32(p, g, m, v, NULL, SIZE_MAX / 2, &adam, 4), FO_ERROR_LENGTH, "absurd length");
    check(memcmp(p, before_p, sizeof p) == 0 && memcmp(m, before_m, sizeof m) == 0 && memcmp(v, before_v, sizeof v) == 0,
          "refused steps wrote nothing");
    check_status(fo_adamax_step_f64(NULL, NULL, NULL, NULL, 0, &adamax, 1), FO_OK, "zero length is a step of nothing");

    /* Every other entry point: null, overlap and a bad hyperparameter, nothing written. */
    fo_adamax_config bad_adamax = adamax;
    bad_adamax.beta1 = -0.5;
    fo_adam_config bad_adam = adam;
    bad_adam.eps = -1.0;
    double before_pd[SMOKE_N], before_md[SMOKE_N];
    memcpy(before_pd, pd, sizeof pd);
    memcpy(before_md, md, sizeof md);
    memcpy(before_p, p, sizeof p);
    memcpy(before_m, m, sizeof m);
    check_status(fo_adamax_step_f32(NULL, g, m, u, SMOKE_N, &adamax, 4), FO_ERROR_NULL_POINTER, "adamax f32 null");
    check_status(fo_adamax_step_f32(p, g, m, m, SMOKE_N, &adamax, 4), FO_ERROR_OVERLAP, "adamax f32 overlap");
    check_status(fo_adamax_step_f32(p, g, m, u, SMOKE_N, &bad_adamax, 4), FO_ERROR_HYPERPARAMETER, "adamax f32 beta1");
    check_status(fo_adam_step_f64(pd, NULL, md, vd, NULL, SMOKE_N, &adam, 4), FO_ERROR_NULL_POINTER, "adam f64 null");
    check_status(fo_adam_step_f64(pd, gd, md, pd, NULL, SMOKE_N, &adam, 4), FO_ERROR_OVERLAP, "adam f64 overlap");
    check_status(fo_adam_step_f64(pd, gd, md, vd, NULL, SMOKE_N, &bad_adam, 4), FO_ERROR_HYPERPARAMETER, "adam f64 eps");
    check_status(fo_adamax_step_f64(pd, gd, NULL, vd, SMOKE_N, &adamax, 4), FO_ERROR_NULL_POINTER, "adamax f64 null");
    check_status(fo_adamax_step_f64(pd, gd, md, md, SMOKE_N, &adamax, 4), FO_ERROR_OVERLAP, "adamax f64 overlap");
    check_status(fo_adamax_step_f64(pd, gd, md, vd, SMOKE_N, &bad_adamax, 4), FO_ERROR_HYPERPARAMETER, "adamax f64 beta1");
    double *pds[1] = {pd}, *mds[1] = {md}, *vds[1] = {vd}, *xds[1] = {xd};
    const double *gds[1] = {gd};
    size_t one[1] = {SMOKE_N};
    check_status(fo_adam_step_many_f64(NULL, gds, mds, vds, xds, one, 1, &adamw, 4), FO_ERROR_NULL_POINTER, "adam many f64 null");
    check_status(fo_adam_step_many_f64(pds, gds, mds, mds, xds, one, 1, &adamw, 4), FO_ERROR_OVERLAP, "adam many f64 overlap");
    check_status(fo_adam_step_many_f64(pds, gds, mds, vds, xds, one, 1, &bad_adam, 4), FO_ERROR_HYPERPARAMETER, "adam many f64 eps");
    float *ps[1] = {p}, *mfs[1] = {m}, *us[1] = {u};
    const float *gs[1] = {g};
    check_status(fo_adamax_step_many_f32(ps, gs, mfs, NULL, one, 1, &adamax, 4), FO_ERROR_NULL_POINTER, "adamax many f32 null");
    check_status(fo_adamax_step_many_f32(ps, gs, mfs, mfs, one, 1, &adamax, 4), FO_ERROR_OVERLAP, "adamax many f32 overlap");
    check_status(fo_adamax_step_many_f32(ps, gs, mfs, us, one, 1, &bad_adamax, 4), FO_ERROR_HYPERPARAMETER, "adamax many f32 beta1");
    double *pds_null[1] = {NULL};
    check_status(fo_adamax_step_many_f64(pds_null, gds, mds, vds, one, 1, &adamax, 4), FO_ERROR_NULL_POINTER, "adamax many f64 null");
    check_status(fo_adamax_step_many_f64(pds, gds, mds, mds, one, 1, &adamax, 4), FO_ERROR_OVERLAP, "adamax many f64 overlap");
    float *ps_overlap[1] = {m};
    check_status(fo_adam_step_many_f32(ps_overlap, gs, mfs, vs, NULL, one, 1, &adam, 4), FO_ERROR_OVERLAP, "adam many f32 overlap");
    check_status(fo_adam_step_many_f32(ps, gs, mfs, vs, NULL, one, 1, &bad_adam, 4), FO_ERROR_HYPERPARAMETER, "adam many f32 eps");
    check(memcmp(pd, before_pd, sizeof pd) == 0 && memcmp(md, before_md, sizeof md) == 0 && memcmp(p, before_p, sizeof p) == 0 &&
              memcmp(m, before_m, sizeof m) == 0,
          "no refused call wrote");
    check(strcmp(fo_status_message(FO_ERROR_OVERLAP), "two buffers overlap") == 0, "status message");

    /* AdaGrad, f32, with lr_decay, weight decay and an initial accumulator
     * value (the caller fills the sum with it): three steps on the global pool. */
    check_status(fo_set_threads(0), FO_OK, "global pool");
    fo_adagrad_config adagrad = fo_adagrad_config_default();
    check(adagrad.lr == 1e-2 && adagrad.eps == 1e-10 && adagrad.lr_decay == 0.0, "adagrad defaults");
    adagrad.lr_decay = 0.1;
    adagrad.weight_decay = 0.01;
    adagrad.initial_accumulator_value = 0.25;
    float sum[SMOKE_N];
    inputs_f32(p, g);
    for (int i = 0; i < SMOKE_N; i++) sum[i] = (float)adagrad.initial_accumulator_value;
    for (uint64_t t = 1; t <= 3; t++) {
        check_status(fo_adagrad_step_f32(p, g, sum, SMOKE_N, &adagrad, t), FO_OK, "adagrad f32 step");
    }
    check(memcmp(p, EXPECTED_ADAGRAD_F32, sizeof p) == 0, "adagrad f32 bits equal the Rust reference");

    /* RMSprop, f64, momentum and centered: three steps on three threads, as
     * one tensor and as a multi-tensor list of one. */
    check_status(fo_set_threads(3), FO_OK, "three threads");
    fo_rmsprop_config rmsprop = fo_rmsprop_config_default();
    check(rmsprop.lr == 1e-2 && rmsprop.alpha == 0.99 && rmsprop.momentum == 0.0 && !rmsprop.centered, "rmsprop defaults");
    rmsprop.momentum = 0.9;
    rmsprop.centered = 1;
    double rv[SMOKE_N] = {0}, rb[SMOKE_N] = {0}, ra[SMOKE_N] = {0};
    inputs_f64(pd, gd);
    for (uint64_t t = 1; t <= 3; t++) {
        check_status(fo_rmsprop_step_f64(pd, gd, rv, rb, ra, SMOKE_N, &rmsprop, t), FO_OK, "rmsprop f64 step");
    }
    check(memcmp(pd, EXPECTED_RMSPROP_MOMENTUM_CENTERED_F64, sizeof pd) == 0, "rmsprop f64 bits equal the Rust reference");
    memset(rv, 0, sizeof rv);
    memset(rb, 0, sizeof rb);
    memset(ra, 0, sizeof ra);
    inputs_f64(pd, gd);
    double *rvs[1] = {rv}, *rbs[1] = {rb}, *ras[1] = {ra};
    for (uint64_t t = 1; t <= 3; t++) {
        check_status(fo_rmsprop_step_many_f64(pds, gds, rvs, rbs, ras, one, 1, &rmsprop, t), FO_OK, "rmsprop many f64 step");
    }
    check(memcmp(pd, EXPECTED_RMSPROP_MOMENTUM_CENTERED_F64, sizeof pd) == 0,
          "multi-tensor rmsprop f64 bits equal the Rust reference");

    /* AdaDelta, f32, PyTorch defaults: three steps, serially. */
    check_status(fo_set_threads(1), FO_OK, "serial");
    fo_adadelta_config adadelta = fo_adadelta_config_default();
    check(adadelta.lr == 1.0 && adadelta.rho == 0.9 && adadelta.eps == 1e-6, "adadelta defaults");
    float ds[SMOKE_N] = {0}, dx[SMOKE_N] = {0};
    inputs_f32(p, g);
    for (uint64_t t = 1; t <= 3; t++) {
        check_status(fo_adadelta_step_f32(p, g, ds, dx, SMOKE_N, &adadelta, t), FO_OK, "adadelta f32 step");
    }
    check(memcmp(p, EXPECTED_ADADELTA_F32, sizeof p) == 0, "adadelta f32 bits equal the Rust reference");

    /* SGD, f32, Nesterov momentum with weight decay: three steps on two
     * threads, as one tensor and as a multi-tensor list of one. The momentum
     * buffer starts as NaN: step 1 overwrites it unread. */
    check_status(fo_set_threads(2), FO_OK, "two threads");
    fo_sgd_config sgd = fo_sgd_config_default();
    check(sgd.lr == 1e-3 && sgd.momentum == 0.0 && sgd.dampening == 0.0 && sgd.weight_decay == 0.0 && !sgd.nesterov &&
              !sgd.maximize,
          "sgd defaults");
    sgd.lr = 0.1;
    sgd.momentum = 0.9;
    sgd.nesterov = 1;
    sgd.weight_decay = 0.01;
    float sb[SMOKE_N];
    for (int i = 0; i < SMOKE_N; i++) sb[i] = NAN;
    inputs_f32(p, g);
    for (uint64_t t = 1; t <= 3; t++) {
        check_status(fo_sgd_step_f32(p, g, sb, SMOKE_N, &sgd, t), FO_OK, "sgd f32 step");
    }
    check(memcmp(p, EXPECTED_SGD_NESTEROV_F32, sizeof p) == 0, "sgd f32 bits equal the Rust reference");
    for (int i = 0; i < SMOKE_N; i++) sb[i] = NAN;
    inputs_f32(p, g);
    float *sgd_ps[1] = {p}, *sgd_bs[1] = {sb};
    const float *sgd_gs[1] = {g};
    size_t sgd_n[1] = {SMOKE_N};
    for (uint64_t t = 1; t <= 3; t++) {
        check_status(fo_sgd_step_many_f32(sgd_ps, sgd_gs, sgd_bs, sgd_n, 1, &sgd, t), FO_OK, "sgd many f32 step");
    }
    check(memcmp(p, EXPECTED_SGD_NESTEROV_F32, sizeof p) == 0, "multi-tensor sgd f32 bits equal the Rust reference");
    float sgd_before[SMOKE_N], sb_before[SMOKE_N];
    memcpy(sgd_before, p, sizeof p);
    memcpy(sb_before, sb, sizeof sb);
    check_status(fo_sgd_step_f32(p, g, NULL, SMOKE_N, &sgd, 4), FO_ERROR_STATE_BUFFER, "sgd momentum without its buffer");
    fo_sgd_config plain_sgd = fo_sgd_config_default();
    check_status(fo_sgd_step_f32(p, g, sb, SMOKE_N, &plain_sgd, 4), FO_ERROR_STATE_BUFFER, "sgd buffer without momentum");
    sgd.dampening = 0.5;
    check_status(fo_sgd_step_f32(p, g, sb, SMOKE_N, &sgd, 4), FO_ERROR_HYPERPARAMETER, "sgd nesterov with dampening");
    plain_sgd.nesterov = 1;
    check_status(fo_sgd_step_f32(p, g, NULL, SMOKE_N, &plain_sgd, 4), FO_ERROR_HYPERPARAMETER, "sgd nesterov without momentum");
    check_status(fo_sgd_step_f32(p, g, p, SMOKE_N, &sgd, 4), FO_ERROR_HYPERPARAMETER, "sgd: hyperparameters first");
    sgd.dampening = 0.0;
    check_status(fo_sgd_step_f32(p, g, p, SMOKE_N, &sgd, 4), FO_ERROR_OVERLAP, "sgd f32 overlap");
    check(memcmp(p, sgd_before, sizeof p) == 0 && memcmp(sb, sb_before, sizeof sb) == 0, "no refused sgd call wrote");
    check_status(fo_set_threads(1), FO_OK, "serial");

    /* Lion, f64, lr 0.01 and decoupled weight decay 0.1: three steps on two
     * threads, as one tensor and as a multi-tensor list of one. */
    check_status(fo_set_threads(2), FO_OK, "two threads");
    fo_lion_config lion = fo_lion_config_default();
    check(lion.lr == 1e-4 && lion.beta1 == 0.9 && lion.beta2 == 0.99 && lion.weight_decay == 0.0 && !lion.maximize,
          "lion defaults");
    lion.lr = 0.01;
    lion.weight_decay = 0.1;
    double lm[SMOKE_N] = {0};
    inputs_f64(pd, gd);
    for (uint64_t t = 1; t <= 3; t++) {
        check_status(fo_lion_step_f64(pd, gd, lm, SMOKE_N, &lion, t), FO_OK, "lion f64 step");
    }
    check(memcmp(pd, EXPECTED_LION_F64, sizeof pd) == 0, "lion f64 bits equal the Rust reference");
    memset(lm, 0, sizeof lm);
    inputs_f64(pd, gd);
    double *lms[1] = {lm};
    for (uint64_t t = 1; t <= 3; t++) {
        check_status(fo_lion_step_many_f64(pds, gds, lms, one, 1, &lion, t), FO_OK, "lion many f64 step");
    }
    check(memcmp(pd, EXPECTED_LION_F64, sizeof pd) == 0, "multi-tensor lion f64 bits equal the Rust reference");
    check_status(fo_set_threads(1), FO_OK, "serial");

    /* Adam's new options reach the library: the eps_hat form and beta1_decay
     * change the step; a bad beta1_decay is refused. */
    fo_adam_config adam_hat = fo_adam_config_default();
    check(!adam_hat.eps_hat && adam_hat.beta1_decay == 1.0 && fo_adamax_config_default().beta1_decay == 1.0,
          "adam and adamax option defaults");
    adam_hat.eps_hat = 1;
    adam_hat.eps = 0.5;
    adam_hat.beta1_decay = 0.5;
    inputs_f32(p, g);
    memset(m, 0, sizeof m);
    memset(v, 0, sizeof v);
    for (uint64_t t = 1; t <= 3; t++) {
        check_status(fo_adam_step_f32(p, g, m, v, NULL, SMOKE_N, &adam_hat, t), FO_OK, "adam eps_hat f32 step");
    }
    check(memcmp(p, EXPECTED_ADAM_F32, sizeof p) != 0, "eps_hat and beta1_decay change the step");
    adam_hat.beta1_decay = 0.0;
    check_status(fo_adam_step_f32(p, g, m, v, NULL, SMOKE_N, &adam_hat, 4), FO_ERROR_HYPERPARAMETER, "adam beta1_decay 0");

    /* Every new entry point: null, overlap, a bad hyperparameter and (RMSprop)
     * an optional buffer against its option, each refused, nothing written. */
    float fs[SMOKE_N], fv[SMOKE_N], fb[SMOKE_N], fa[SMOKE_N], fx[SMOKE_N];
    double dsum[SMOKE_N], dv[SMOKE_N], db[SMOKE_N], da[SMOKE_N], dxx[SMOKE_N];
    for (int i = 0; i < SMOKE_N; i++) {
        fs[i] = fv[i] = fb[i] = fa[i] = fx[i] = 0.25f * (float)(i % 5);
        dsum[i] = dv[i] = db[i] = da[i] = dxx[i] = 0.25 * (double)(i % 3);
    }
    inputs_f32(p, g);
    inputs_f64(pd, gd);
    float before_g[SMOKE_N];
    double before_gd[SMOKE_N];
    memcpy(before_g, g, sizeof g);
    memcpy(before_gd, gd, sizeof gd);
    float *fbufs[6] = {p, fs, fv, fb, fa, fx};
    double *dbufs[6] = {pd, dsum, dv, db, da, dxx};
    float fbefore[6][SMOKE_N];
    double dbefore[6][SMOKE_N];
    for (int k = 0; k < 6; k++) {
        memcpy(fbefore[k], fbufs[k], sizeof fbefore[k]);
        memcpy(dbefore[k], dbufs[k], sizeof dbefore[k]);
    }
    fo_adagrad_config bad_adagrad = adagrad;
    bad_adagrad.lr_decay = -1.0;
    fo_rmsprop_config bad_rmsprop = rmsprop;
    bad_rmsprop.alpha = 1.0;
    fo_rmsprop_config plain_rmsprop = fo_rmsprop_config_default();
    fo_adadelta_config bad_adadelta = adadelta;
    bad_adadelta.rho = NAN;
    fo_lion_config bad_lion = lion;
    bad_lion.beta2 = 1.0;

    check_status(fo_adagrad_step_f32(NULL, g, fs, SMOKE_N, &adagrad, 4), FO_ERROR_NULL_POINTER, "adagrad f32 null");
    check_status(fo_adagrad_step_f32(p, g, p, SMOKE_N, &adagrad, 4), FO_ERROR_OVERLAP, "adagrad f32 overlap");
    check_status(fo_adagrad_step_f32(p, g, fs, SMOKE_N, &bad_adagrad, 4), FO_ERROR_HYPERPARAMETER, "adagrad f32 lr_decay");
    check_status(fo_adagrad_step_f32(p, g, fs, SMOKE_N, &adagrad, 0), FO_ERROR_STEP, "adagrad f32 step 0");
    check_status(fo_adagrad_step_f64(pd, gd, NULL, SMOKE_N, &adagrad, 4), FO_ERROR_NULL_POINTER, "adagrad f64 null");
    check_status(fo_adagrad_step_f64(pd, gd, pd + 1, SMOKE_N - 1, &adagrad, 4), FO_ERROR_OVERLAP, "adagrad f64 overlap");
    check_status(fo_adagrad_step_f64(pd, gd, dsum, SMOKE_N, NULL, 4), FO_ERROR_NULL_POINTER, "adagrad f64 null config");
    check_status(fo_adagrad_step_f64(pd, gd, dsum, SMOKE_N, &bad_adagrad, 4), FO_ERROR_HYPERPARAMETER, "adagrad f64 lr_decay");

    check_status(fo_rmsprop_step_f32(p, NULL, fv, fb, fa, SMOKE_N, &rmsprop, 4), FO_ERROR_NULL_POINTER, "rmsprop f32 null");
    check_status(fo_rmsprop_step_f32(p, g, fv, fb, fb, SMOKE_N, &rmsprop, 4), FO_ERROR_OVERLAP, "rmsprop f32 overlap");
    check_status(fo_rmsprop_step_f32(p, g, fv, fb, fa, SMOKE_N, &bad_rmsprop, 4), FO_ERROR_HYPERPARAMETER, "rmsprop f32 alpha");
    check_status(fo_rmsprop_step_f32(p, g, fv, NULL, fa, SMOKE_N, &rmsprop, 4), FO_ERROR_STATE_BUFFER, "rmsprop f32 momentum without its buffer");
    check_status(fo_rmsprop_step_f32(p, g, fv, NULL, fa, SMOKE_N, &plain_rmsprop, 4), FO_ERROR_STATE_BUFFER, "rmsprop f32 grad_avg without centered");
    check_status(fo_rmsprop_step_f64(NULL, gd, dv, db, da, SMOKE_N, &rmsprop, 4), FO_ERROR_NULL_POINTER, "rmsprop f64 null");
    check_status(fo_rmsprop_step_f64(pd, gd, dv, dv, da, SMOKE_N, &rmsprop, 4), FO_ERROR_OVERLAP, "rmsprop f64 overlap");
    check_status(fo_rmsprop_step_f64(pd, gd, dv, db, da, SMOKE_N, &bad_rmsprop, 4), FO_ERROR_HYPERPARAMETER, "rmsprop f64 alpha");
    check_status(fo_rmsprop_step_f64(pd, gd, dv, db, NULL, SMOKE_N, &rmsprop, 4), FO_ERROR_STATE_BUFFER, "rmsprop f64 centered without grad_avg");
    check_status(fo_rmsprop_step_f64(pd, gd, dv, db, NULL, SMOKE_N, &plain_rmsprop, 4), FO_ERROR_STATE_BUFFER, "rmsprop f64 momentum buffer without momentum");

    check_status(fo_adadelta_step_f32(p, g, NULL, fx, SMOKE_N, &adadelta, 4), FO_ERROR_NULL_POINTER, "adadelta f32 null");
    check_status(fo_adadelta_step_f32(p, g, fv, fv, SMOKE_N, &adadelta, 4), FO_ERROR_OVERLAP, "adadelta f32 overlap");
    check_status(fo_adadelta_step_f32(p, g, fv, fx, SMOKE_N, &bad_adadelta, 4), FO_ERROR_HYPERPARAMETER, "adadelta f32 rho");
    check_status(fo_adadelta_step_f64(pd, gd, dv, NULL, SMOKE_N, &adadelta, 4), FO_ERROR_NULL_POINTER, "adadelta f64 null");
    check_status(fo_adadelta_step_f64(pd, gd, pd, dxx, SMOKE_N, &adadelta, 4), FO_ERROR_OVERLAP, "adadelta f64 overlap");
    check_status(fo_adadelta_step_f64(pd, gd, dv, dxx, SMOKE_N, &bad_adadelta, 4), FO_ERROR_HYPERPARAMETER, "adadelta f64 rho");

    check_status(fo_lion_step_f32(p, g, NULL, SMOKE_N, &lion, 4), FO_ERROR_NULL_POINTER, "lion f32 null");
    check_status(fo_lion_step_f32(p, g, p, SMOKE_N, &lion, 4), FO_ERROR_OVERLAP, "lion f32 overlap");
    check_status(fo_lion_step_f32(p, g, fv, SMOKE_N, &bad_lion, 4), FO_ERROR_HYPERPARAMETER, "lion f32 beta2");
    check_status(fo_lion_step_f32(p, g, fv, SMOKE_N, &lion, 0), FO_ERROR_STEP, "lion f32 step 0");
    check_status(fo_lion_step_f64(pd, gd, dv, SMOKE_N, NULL, 4), FO_ERROR_NULL_POINTER, "lion f64 null config");
    check_status(fo_lion_step_f64(pd, gd, pd + 1, SMOKE_N - 1, &lion, 4), FO_ERROR_OVERLAP, "lion f64 overlap");
    check_status(fo_lion_step_f64(pd, gd, dv, SMOKE_N, &bad_lion, 4), FO_ERROR_HYPERPARAMETER, "lion f64 beta2");

    /* The multi-tensor forms, over lists of one. */
    float *fps[1] = {p}, *fss[1] = {fs}, *fvs[1] = {fv}, *fbs[1] = {fb}, *fas[1] = {fa}, *fxs[1] = {fx};
    float *fps_null[1] = {NULL};
    double *dps[1] = {pd}, *dss[1] = {dsum}, *dvs[1] = {dv}, *dbs[1] = {db}, *das[1] = {da}, *dxs[1] = {dxx};
    check_status(fo_adagrad_step_many_f32(fps_null, gs, fss, one, 1, &adagrad, 4), FO_ERROR_NULL_POINTER, "adagrad many f32 null");
    check_status(fo_adagrad_step_many_f32(fps, gs, fps, one, 1, &adagrad, 4), FO_ERROR_OVERLAP, "adagrad many f32 overlap");
    check_status(fo_adagrad_step_many_f32(fps, gs, fss, one, 1, &bad_adagrad, 4), FO_ERROR_HYPERPARAMETER, "adagrad many f32 lr_decay");
    check_status(fo_adagrad_step_many_f64(dps, gds, NULL, one, 1, &adagrad, 4), FO_ERROR_NULL_POINTER, "adagrad many f64 null");
    check_status(fo_adagrad_step_many_f64(dps, gds, dps, one, 1, &adagrad, 4), FO_ERROR_OVERLAP, "adagrad many f64 overlap");
    check_status(fo_adagrad_step_many_f64(dps, gds, dss, one, 1, &bad_adagrad, 4), FO_ERROR_HYPERPARAMETER, "adagrad many f64 lr_decay");

    check_status(fo_rmsprop_step_many_f32(fps, gs, fvs, fbs, NULL, one, 1, &rmsprop, 4), FO_ERROR_STATE_BUFFER, "rmsprop many f32 centered without grad_avgs");
    check_status(fo_rmsprop_step_many_f32(fps, gs, fvs, fbs, fas, one, 1, &plain_rmsprop, 4), FO_ERROR_STATE_BUFFER, "rmsprop many f32 arrays without the options");
    check_status(fo_rmsprop_step_many_f32(fps, gs, fvs, fbs, fbs, one, 1, &rmsprop, 4), FO_ERROR_OVERLAP, "rmsprop many f32 overlap");
    check_status(fo_rmsprop_step_many_f32(fps, gs, fvs, fbs, fas, one, 1, &bad_rmsprop, 4), FO_ERROR_HYPERPARAMETER, "rmsprop many f32 alpha");
    check_status(fo_rmsprop_step_many_f32(fps_null, gs, fvs, fbs, fas, one, 1, &rmsprop, 4), FO_ERROR_NULL_POINTER, "rmsprop many f32 null");
    check_status(fo_rmsprop_step_many_f64(dps, gds, dvs, NULL, das, one, 1, &rmsprop, 4), FO_ERROR_STATE_BUFFER, "rmsprop many f64 momentum without momentum_buffers");
    check_status(fo_rmsprop_step_many_f64(dps, gds, dvs, NULL, NULL, one, 1, &bad_rmsprop, 4), FO_ERROR_HYPERPARAMETER, "rmsprop many f64 alpha first");
    check_status(fo_rmsprop_step_many_f64(dps, gds, dvs, dbs, dvs, one, 1, &rmsprop, 4), FO_ERROR_OVERLAP, "rmsprop many f64 overlap");
    check_status(fo_rmsprop_step_many_f64(NULL, gds, dvs, dbs, das, one, 1, &rmsprop, 4), FO_ERROR_NULL_POINTER, "rmsprop many f64 null");

    check_status(fo_adadelta_step_many_f32(fps, gs, fvs, NULL, one, 1, &adadelta, 4), FO_ERROR_NULL_POINTER, "adadelta many f32 null");
    check_status(fo_adadelta_step_many_f32(fps, gs, fxs, fxs, one, 1, &adadelta, 4), FO_ERROR_OVERLAP, "adadelta many f32 overlap");
    check_status(fo_adadelta_step_many_f32(fps, gs, fvs, fxs, one, 1, &bad_adadelta, 4), FO_ERROR_HYPERPARAMETER, "adadelta many f32 rho");
    check_status(fo_adadelta_step_many_f64(dps, gds, dvs, dxs, NULL, 1, &adadelta, 4), FO_ERROR_NULL_POINTER, "adadelta many f64 null lens");
    check_status(fo_adadelta_step_many_f64(dps, gds, dvs, dps, one, 1, &adadelta, 4), FO_ERROR_OVERLAP, "adadelta many f64 overlap");
    check_status(fo_adadelta_step_many_f64(dps, gds, dvs, dxs, one, 1, &bad_adadelta, 4), FO_ERROR_HYPERPARAMETER, "adadelta many f64 rho");

    check_status(fo_lion_step_many_f32(fps_null, gs, fvs, one, 1, &lion, 4), FO_ERROR_NULL_POINTER, "lion many f32 null");
    check_status(fo_lion_step_many_f32(fps, gs, fps, one, 1, &lion, 4), FO_ERROR_OVERLAP, "lion many f32 overlap");
    check_status(fo_lion_step_many_f32(fps, gs, fvs, one, 1, &bad_lion, 4), FO_ERROR_HYPERPARAMETER, "lion many f32 beta2");
    check_status(fo_lion_step_many_f64(dps, gds, NULL, one, 1, &lion, 4), FO_ERROR_NULL_POINTER, "lion many f64 null");
    check_status(fo_lion_step_many_f64(dps, gds, dvs, NULL, 1, &lion, 4), FO_ERROR_NULL_POINTER, "lion many f64 null lens");
    check_status(fo_lion_step_many_f64(dps, gds, dvs, one, 1, &bad_lion, 4), FO_ERROR_HYPERPARAMETER, "lion many f64 beta2");

    int untouched = memcmp(g, before_g, sizeof g) == 0 && memcmp(gd, before_gd, sizeof gd) == 0;
    for (int k = 0; k < 6; k++) {
        untouched = untouched && memcmp(fbefore[k], fbufs[k], sizeof fbefore[k]) == 0 &&
                    memcmp(dbefore[k], dbufs[k], sizeof dbefore[k]) == 0;
    }
    check(untouched, "no refused call of a new entry point wrote");
    check(strstr(fo_status_message(FO_ERROR_STATE_BUFFER), "momentum_buffer") != NULL, "state buffer status message");

    /* Mixed precision: f32 master weights, bf16 gradients carrying a loss
     * scale of 1024 (consumed by zero-grad, refilled before each step), f32
     * state, a bf16 copy of the new parameters; AdamW defaults; two threads. */
    check_status(fo_set_threads(2), FO_OK, "two threads");
    fo_mixed_options mixed = fo_mixed_options_default();
    check(mixed.loss_scale == 1.0 && mixed.skip_non_finite && !mixed.zero_grad && !mixed.stochastic_rounding,
          "mixed options defaults");
    mixed.loss_scale = 1024.0;
    mixed.zero_grad = 1;
    fo_adam_config adamw_mixed = fo_adamw_config_default();
    float mp[SMOKE_N], mm[SMOKE_N], mv[SMOKE_N];
    uint16_t mg[SMOKE_N], mcopy[SMOKE_N], zeros[SMOKE_N] = {0};
    bool skipped = true;
    inputs_f32(mp, g);
    memset(mm, 0, sizeof mm);
    memset(mv, 0, sizeof mv);
    memset(mcopy, 0, sizeof mcopy);
    for (uint64_t t = 1; t <= 3; t++) {
        to_bf16(mg, g, 1024.0f);
        check_status(fo_adam_step_mixed(mp, FO_DTYPE_F32, mg, FO_DTYPE_BF16, mm, mv, NULL, FO_DTYPE_F32, mcopy, FO_DTYPE_BF16,
                                        SMOKE_N, 0, &adamw_mixed, &mixed, t, &skipped),
                     FO_OK, "mixed step");
        check(!skipped && memcmp(mg, zeros, sizeof mg) == 0, "mixed step applied, gradient zeroed");
    }
    check(memcmp(mp, EXPECTED_MIXED_PARAM_F32, sizeof mp) == 0, "mixed f32 master bits equal the Rust reference");
    check(memcmp(mcopy, EXPECTED_MIXED_COPY_BF16, sizeof mcopy) == 0, "mixed bf16 copy bits equal the Rust reference");

    /* The same steps through the multi-tensor form, a list of one
     * fo_mixed_tensor: the struct as C lays it out. */
    inputs_f32(mp, g);
    memset(mm, 0, sizeof mm);
    memset(mv, 0, sizeof mv);
    memset(mcopy, 0, sizeof mcopy);
    fo_mixed_tensor tensor = {
        .param = mp, .grad = mg, .exp_avg = mm, .exp_avg_sq = mv, .max_exp_avg_sq = NULL, .param_copy = mcopy,
        .len = SMOKE_N, .position = 0,
        .param_dtype = FO_DTYPE_F32, .grad_dtype = FO_DTYPE_BF16, .state_dtype = FO_DTYPE_F32, .copy_dtype = FO_DTYPE_BF16,
    };
    for (uint64_t t = 1; t <= 3; t++) {
        to_bf16(mg, g, 1024.0f);
        check_status(fo_adam_step_mixed_many(&tensor, 1, &adamw_mixed, &mixed, t, NULL), FO_OK, "mixed many step");
    }
    check(memcmp(mp, EXPECTED_MIXED_PARAM_F32, sizeof mp) == 0 && memcmp(mcopy, EXPECTED_MIXED_COPY_BF16, sizeof mcopy) == 0,
          "multi-tensor mixed bits equal the Rust reference");

    /* Lean state (issue 18): f32 master weights and f32 gradients with bf16
     * exp_avg/exp_avg_sq (AdamW, stochastic rounding of the state from seed 7)
     * and a bf16 Lion exp_avg (round to nearest even); two threads. */
    {
        fo_mixed_options lean = fo_mixed_options_default();
        lean.stochastic_rounding = 1;
        lean.seed = 7;
        float lp[SMOKE_N], lg[SMOKE_N];
        uint16_t lm[SMOKE_N] = {0}, lv[SMOKE_N] = {0};
        inputs_f32(lp, lg);
        for (uint64_t t = 1; t <= 3; t++) {
            check_status(fo_adam_step_mixed(lp, FO_DTYPE_F32, lg, FO_DTYPE_F32, lm, lv, NULL, FO_DTYPE_BF16, NULL,
                                            FO_DTYPE_F32, SMOKE_N, 0, &adamw_mixed, &lean, t, NULL),
                         FO_OK, "lean-state AdamW step");
        }
        check(memcmp(lp, EXPECTED_LEAN_ADAMW_PARAM_F32, sizeof lp) == 0 &&
                  memcmp(lm, EXPECTED_LEAN_ADAMW_EXP_AVG_BF16, sizeof lm) == 0,
              "lean-state AdamW: f32 param and bf16 exp_avg bits equal the Rust reference");
        fo_lion_config lion_lean = fo_lion_config_default();
        lion_lean.lr = 0.01;
        lion_lean.weight_decay = 0.1;
        fo_mixed_options nearest = fo_mixed_options_default();
        inputs_f32(lp, lg);
        memset(lm, 0, sizeof lm);
        for (uint64_t t = 1; t <= 3; t++) {
            check_status(fo_lion_step_mixed(lp, FO_DTYPE_F32, lg, FO_DTYPE_F32, lm, FO_DTYPE_BF16, NULL, FO_DTYPE_F32,
                                            SMOKE_N, 0, &lion_lean, &nearest, t, NULL),
                         FO_OK, "lean-state Lion step");
        }
        check(memcmp(lp, EXPECTED_LEAN_LION_PARAM_F32, sizeof lp) == 0 &&
                  memcmp(lm, EXPECTED_LEAN_LION_EXP_AVG_BF16, sizeof lm) == 0,
              "lean-state Lion: f32 param and bf16 exp_avg bits equal the Rust reference");
    }

    /* found_inf: an infinite gradient skips the step: FO_OK, `skipped` set,
     * and nothing written, not even the zeroed gradient. */
    to_bf16(mg, g, 1024.0f);
    mg[5] = 0x7f80; /* +inf */
    float before_mp[SMOKE_N], before_mm[SMOKE_N], before_mv[SMOKE_N];
    uint16_t before_mg[SMOKE_N], before_mcopy[SMOKE_N];
    memcpy(before_mp, mp, sizeof mp);
    memcpy(before_mm, mm, sizeof mm);
    memcpy(before_mv, mv, sizeof mv);
    memcpy(before_mg, mg, sizeof mg);
    memcpy(before_mcopy, mcopy, sizeof mcopy);
    skipped = false;
    check_status(fo_adam_step_mixed(mp, FO_DTYPE_F32, mg, FO_DTYPE_BF16, mm, mv, NULL, FO_DTYPE_F32, mcopy, FO_DTYPE_BF16,
                                    SMOKE_N, 0, &adamw_mixed, &mixed, 4, &skipped),
                 FO_OK, "mixed step with an inf gradient");
    check(skipped, "the inf gradient skipped the step");

    /* Refusals: an unknown type, a combination without a kernel, a
     * misaligned bf16 pointer, the gradient inside the parameters, a bad
     * loss scale. None writes, `skipped` included. */
    uint16_t spare[SMOKE_N + 1];
    uint16_t *misaligned = (uint16_t *)((char *)spare + 1);
    fo_mixed_options bad_mixed = mixed;
    bad_mixed.loss_scale = 0.0;
    check_status(fo_adam_step_mixed(mp, 7, mg, FO_DTYPE_BF16, mm, mv, NULL, FO_DTYPE_F32, mcopy, FO_DTYPE_BF16, SMOKE_N, 0,
                                    &adamw_mixed, &mixed, 4, &skipped),
                 FO_ERROR_DTYPE, "unknown param dtype");
    check_status(fo_adam_step_mixed(mp, FO_DTYPE_F32, mg, 0, mm, mv, NULL, FO_DTYPE_F32, mcopy, FO_DTYPE_BF16, SMOKE_N, 0,
                                    &adamw_mixed, &mixed, 4, &skipped),
                 FO_ERROR_DTYPE, "grad dtype 0");
    check_status(fo_adam_step_mixed(mp, FO_DTYPE_F32, mg, FO_DTYPE_BF16, mm, mv, NULL, FO_DTYPE_F16, mcopy, FO_DTYPE_BF16,
                                    SMOKE_N, 0, &adamw_mixed, &mixed, 4, &skipped),
                 FO_ERROR_DTYPE, "no kernel for f16 state");
    check_status(fo_adam_step_mixed(mp, FO_DTYPE_F32, misaligned, FO_DTYPE_BF16, mm, mv, NULL, FO_DTYPE_F32, mcopy,
                                    FO_DTYPE_BF16, SMOKE_N, 0, &adamw_mixed, &mixed, 4, &skipped),
                 FO_ERROR_ALIGNMENT, "misaligned bf16 gradient");
    check_status(fo_adam_step_mixed(mp, FO_DTYPE_F32, mp, FO_DTYPE_BF16, mm, mv, NULL, FO_DTYPE_F32, mcopy, FO_DTYPE_BF16,
                                    SMOKE_N, 0, &adamw_mixed, &mixed, 4, &skipped),
                 FO_ERROR_OVERLAP, "gradient inside the parameters");
    check_status(fo_adam_step_mixed(mp, FO_DTYPE_F32, mg, FO_DTYPE_BF16, mm, mv, NULL, FO_DTYPE_F32, mcopy, FO_DTYPE_BF16,
                                    SMOKE_N, 0, &adamw_mixed, &bad_mixed, 4, &skipped),
                 FO_ERROR_HYPERPARAMETER, "loss scale 0");
    tensor.grad_dtype = 7;
    check_status(fo_adam_step_mixed_many(&tensor, 1, &adamw_mixed, &mixed, 4, &skipped), FO_ERROR_DTYPE, "many: unknown grad dtype");
    check(skipped && memcmp(mp, before_mp, sizeof mp) == 0 && memcmp(mm, before_mm, sizeof mm) == 0 &&
              memcmp(mv, before_mv, sizeof mv) == 0 && memcmp(mg, before_mg, sizeof mg) == 0 &&
              memcmp(mcopy, before_mcopy, sizeof mcopy) == 0,
          "a skipped or refused mixed step wrote nothing");
    check(strstr(fo_status_message(FO_ERROR_DTYPE), "element type") != NULL, "dtype status message");

    flag_bytes_act_as_one();
    thread_limits();
    threaded_steps();
    clipping();

    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
