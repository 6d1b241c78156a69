/* The C smoke test of fused-optim: built with the system cc against the
 * static and the dynamic library by .ci/run. It steps buffers through the C
 * ABI and checks the bits against values the Rust scalar reference computed
 * (expected.h, kept current by tests/ffi.rs), then checks that bad input is
 * refused with its status and leaves every buffer untouched. */
#include "fused_optim.h"

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
static void to_bf16(uint16_t *out, const float *x, float scale) {
    for (int i = 0; i < SMOKE_N; i++) {
        float f = x[i] * scale;
        uint32_t bits;
        memcpy(&bits, &f, sizeof bits);
        out[i] = (uint16_t)(bits >> 16);
    }
}

static void inputs_f64(double *p, double *g) {
    for (int i = 0; i < SMOKE_N; i++) {
        p[i] = (double)((i % 7) - 3) * 0.5;
        g[i] = (double)(((i * 5) % 11) - 5) * 0.125;
    }
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
    adamw.amsgrad = true;
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
    rmsprop.centered = true;
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

    /* Adam's new options reach the library: the eps_hat form and beta1_decay
     * change the step; a bad beta1_decay is refused. */
    fo_adam_config adam_hat = fo_adam_config_default();
    check(!adam_hat.eps_hat && adam_hat.beta1_decay == 1.0 && fo_adamax_config_default().beta1_decay == 1.0,
          "adam and adamax option defaults");
    adam_hat.eps_hat = true;
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
    mixed.zero_grad = true;
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

    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
