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
    check_status(fo_adam_step_f32(p, g, m, v, NULL, SMOKE_N, &adamw, 4), FO_ERROR_AMSGRAD_BUFFER, "amsgrad without its buffer");
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

    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
