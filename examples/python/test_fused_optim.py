"""100 steps through the C ABI against a straightforward numpy implementation.

Run: python3 examples/python/test_fused_optim.py   (after `cargo build --release -p fused-optim-c`)

For Adam (PyTorch's form, the paper's eps-hat form, beta1 decay), AdamW,
AMSGrad, AdaMax, AdaGrad (lr_decay, weight decay, an initial accumulator
value), RMSprop (plain, momentum, centered, both) and AdaDelta, in float32
and float64, each case steps the same buffers with the same gradients 100
times through fused_optim and through numpy (the formulas of the semantics
table in DESIGN.md, evaluated in the array's dtype), then compares parameters
and state with

    |fused - numpy| <= atol + rtol * |numpy|,  rtol = 1e-4 (f32) / 1e-12 (f64),
                                               atol = 1e-6 (f32) / 1e-14 (f64).

The two sides round differently (the library's one-division Adam form
against numpy's two divisions, RMSprop's lr*(g/d) against numpy's (lr*g)/d,
beta1*lambda**(t-1) by binary powers against Python's pow), so values agree
to a few ulps per step, accumulated. Measured on the development machine
(AVX-512 tier) after 100 steps, the largest relative difference
|fused - numpy| / max(|numpy|, atol/rtol) of any buffer of any case (the
script prints each case's) was:

    float32: 3.4e-6 (RMSprop centered, parameters; plain RMSprop 3.2e-6,
             Adam 4.7e-7, AdaGrad 4.8e-7, the moments and sums to the bit)
    float64: 5.0e-14 (Adam with beta1_decay, exp_avg; Adam's parameters
             9.9e-15, RMSprop 8.4e-15, AdaGrad 1.3e-15)

with RMSprop with momentum and AdaDelta bit-identical. The tolerance
leaves 30x (float32) and 20x (float64) room over that and stays far below
any real bug: a wrong coefficient or option (momentum 0.89 for 0.9, no
lr_decay, no beta1_decay, the standard eps form for eps-hat) gives relative
differences from 3e-2 to 1e2.
"""

import sys

import numpy as np

import fused_optim

TOL = {np.float32: (1e-4, 1e-6), np.float64: (1e-12, 1e-14)}
STEPS, N = 100, 1000


def numpy_adam(p, g, state, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False,
               amsgrad=False, eps_hat=False, beta1_decay=1.0, max_exp_avg_sq=None):
    m, v, vmax = state
    dt = p.dtype.type
    b1, b2 = betas
    if weight_decay != 0 and decoupled:
        p *= dt(1 - lr * weight_decay)
    elif weight_decay != 0:
        g = g + dt(weight_decay) * p
    b1_t = b1 * beta1_decay ** (t - 1)
    m[:] = dt(b1_t) * m + dt(1 - b1_t) * g
    v[:] = dt(b2) * v + dt(1 - b2) * g * g
    bc1, bc2 = 1 - b1**t, 1 - b2**t
    if amsgrad:
        np.maximum(vmax, v, out=vmax)
    v_hat = vmax if amsgrad else v
    if eps_hat:
        p -= dt(lr * np.sqrt(bc2) / bc1) * m / (np.sqrt(v_hat) + dt(eps))
    else:
        p -= dt(lr / bc1) * m / (np.sqrt(v_hat) / dt(np.sqrt(bc2)) + dt(eps))


def numpy_adamax(p, g, state, t, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    m, u = state
    dt = p.dtype.type
    b1, b2 = betas
    if weight_decay != 0:
        g = g + dt(weight_decay) * p
    m[:] = dt(b1) * m + dt(1 - b1) * g
    np.maximum(dt(b2) * u, np.abs(g) + dt(eps), out=u)
    p -= dt(lr / (1 - b1**t)) * m / u


def numpy_adagrad(p, g, state, t, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                  eps=1e-10):
    (s,) = state
    dt = p.dtype.type
    if weight_decay != 0:
        g = g + dt(weight_decay) * p
    clr = lr / (1 + (t - 1) * lr_decay)
    s += g * g
    p -= dt(clr) * g / (np.sqrt(s) + dt(eps))


def numpy_rmsprop(p, g, state, t, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                  centered=False):
    v, b, a = state
    dt = p.dtype.type
    if weight_decay != 0:
        g = g + dt(weight_decay) * p
    v[:] = dt(alpha) * v + dt(1 - alpha) * g * g
    if centered:
        a[:] = dt(alpha) * a + dt(1 - alpha) * g
        d = np.sqrt(v - a * a) + dt(eps)
    else:
        d = np.sqrt(v) + dt(eps)
    if momentum > 0:
        b[:] = dt(momentum) * b + g / d
        p -= dt(lr) * b
    else:
        p -= dt(lr) * g / d


def numpy_adadelta(p, g, state, t, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
    s, x = state
    dt = p.dtype.type
    if weight_decay != 0:
        g = g + dt(weight_decay) * p
    s[:] = dt(rho) * s + dt(1 - rho) * g * g
    delta = np.sqrt(x + dt(eps)) / np.sqrt(s + dt(eps)) * g
    x[:] = dt(rho) * x + dt(1 - rho) * delta * delta
    p -= dt(lr) * delta


def fused_adam(p, g, state, t, **options):
    m, v, vmax = state
    fused_optim.adam_step(p, g, m, v, t, max_exp_avg_sq=vmax if options.get("amsgrad") else None, **options)


def fused_adamax(p, g, state, t, **options):
    fused_optim.adamax_step(p, g, *state, t, **options)


def fused_adagrad(p, g, state, t, **options):
    fused_optim.adagrad_step(p, g, *state, t, **options)


def fused_rmsprop(p, g, state, t, **options):
    v, b, a = state
    fused_optim.rmsprop_step(p, g, v, t, momentum_buffer=b if options.get("momentum", 0) > 0 else None,
                             grad_avg=a if options.get("centered") else None, **options)


def fused_adadelta(p, g, state, t, **options):
    fused_optim.adadelta_step(p, g, *state, t, **options)


# name, fused step, numpy step, number of state buffers, their start value, options
CASES = [
    ("Adam", fused_adam, numpy_adam, 3, 0.0, {}),
    ("Adam+L2", fused_adam, numpy_adam, 3, 0.0, {"weight_decay": 0.01}),
    ("AdamW", fused_adam, numpy_adam, 3, 0.0, {"weight_decay": 0.01, "decoupled": True}),
    ("AMSGrad", fused_adam, numpy_adam, 3, 0.0, {"amsgrad": True}),
    ("Adam eps_hat", fused_adam, numpy_adam, 3, 0.0, {"eps_hat": True, "eps": 1e-3}),
    ("Adam beta1_decay", fused_adam, numpy_adam, 3, 0.0, {"beta1_decay": 0.99}),
    ("AdamW eps_hat beta1_decay", fused_adam, numpy_adam, 3, 0.0,
     {"weight_decay": 0.01, "decoupled": True, "eps_hat": True, "beta1_decay": 0.9}),
    ("AdaMax", fused_adamax, numpy_adamax, 2, 0.0, {"weight_decay": 0.01}),
    ("AdaGrad", fused_adagrad, numpy_adagrad, 1, 0.0, {}),
    ("AdaGrad lr_decay, weight decay, initial value", fused_adagrad, numpy_adagrad, 1, 0.1,
     {"lr_decay": 0.01, "weight_decay": 0.01, "initial_accumulator_value": 0.1}),
    ("RMSprop", fused_rmsprop, numpy_rmsprop, 3, 0.0, {}),
    ("RMSprop momentum", fused_rmsprop, numpy_rmsprop, 3, 0.0, {"momentum": 0.9, "weight_decay": 0.01}),
    ("RMSprop centered", fused_rmsprop, numpy_rmsprop, 3, 0.0, {"centered": True}),
    ("RMSprop momentum centered", fused_rmsprop, numpy_rmsprop, 3, 0.0, {"momentum": 0.5, "centered": True}),
    ("AdaDelta", fused_adadelta, numpy_adadelta, 2, 0.0, {}),
    ("AdaDelta lr, rho, weight decay", fused_adadelta, numpy_adadelta, 2, 0.0,
     {"lr": 0.5, "rho": 0.95, "weight_decay": 0.01}),
]


def relative_difference(a, b, dtype):
    """max |a - b| / max(|b|, atol/rtol): the figure the tolerance bounds by rtol."""
    rtol, atol = TOL[dtype]
    a, b = a.astype(np.float64), b.astype(np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), atol / rtol)))


def close(a, b, dtype):
    rtol, atol = TOL[dtype]
    return bool(np.all(np.abs(a - b) <= atol + rtol * np.abs(b)))


def run(dtype, name, fused, reference, states, start, options):
    rng = np.random.default_rng(7)
    p0 = rng.standard_normal(N).astype(dtype)
    ours = [p0.copy()] + [np.full(N, start, dtype) for _ in range(states)]
    theirs = [p0.copy()] + [np.full(N, start, dtype) for _ in range(states)]
    for t in range(1, STEPS + 1):
        g = rng.standard_normal(N).astype(dtype)
        fused(ours[0], g, ours[1:], t, **options)
        reference(theirs[0], g, theirs[1:], t, **options)
    moved = not np.array_equal(ours[0], p0)
    ok = moved and all(close(a, b, dtype) for a, b in zip(ours, theirs))
    worst = max(relative_difference(a, b, dtype) for a, b in zip(ours, theirs))
    return ok, f"{name} {np.dtype(dtype).name}: max relative difference {worst:.2g}", worst


def expect_refusal(call, text):
    try:
        call()
    except fused_optim.FusedOptimError as e:
        return text in str(e)
    return False


def refusals():
    p, g, m, v, b, a = (np.ones(8, np.float32) for _ in range(6))
    before = [x.copy() for x in (p, g, m, v, b, a)]
    checks = [
        expect_refusal(lambda: fused_optim.adam_step(p, g, m, v, 1, lr=float("nan")), "hyperparameter"),
        expect_refusal(lambda: fused_optim.adam_step(p, g, m, v, 1, beta1_decay=0.0), "hyperparameter"),
        expect_refusal(lambda: fused_optim.adam_step(p, g, m, v, 1, amsgrad=True), "optional state buffer"),
        expect_refusal(lambda: fused_optim.rmsprop_step(p, g, v, 1, momentum=0.9), "optional state buffer"),
        expect_refusal(lambda: fused_optim.rmsprop_step(p, g, v, 1, grad_avg=a), "optional state buffer"),
        expect_refusal(lambda: fused_optim.rmsprop_step(p, g, v, 1, momentum=0.9, momentum_buffer=v),
                       "overlap"),
        expect_refusal(lambda: fused_optim.adagrad_step(p, g, m, 1, lr_decay=-1.0), "hyperparameter"),
        expect_refusal(lambda: fused_optim.adadelta_step(p, g, m, v, 1, rho=1.0), "hyperparameter"),
    ]
    try:
        fused_optim.adam_step(p, g.astype(np.float64), m, v, 1)
        checks.append(False)
    except TypeError:
        checks.append(True)
    checks.append(all(np.array_equal(x, y) for x, y in zip((p, g, m, v, b, a), before)))
    return all(checks), "refusals raise and write nothing", 0.0


def expect_error(call, error, text):
    """True if `call` raises `error` (exactly that class) with `text` in its message."""
    try:
        call()
    except Exception as e:  # noqa: BLE001 - the class is checked below
        return type(e) is error and text in str(e)
    return False


def argument_checks():
    """Integers that ctypes would wrap silently are refused before the call (the step, the thread
    count), the library's thread limit is its refusal, and a truthy option is on; nothing written."""
    p, g, m, v = (np.linspace(-1, 1, 8).astype(np.float32) for _ in range(4))
    v = np.abs(v)
    before = [x.copy() for x in (p, g, m, v)]
    adam = fused_optim.adam_step
    checks = [
        expect_error(lambda: adam(p, g, m, v, -1), ValueError, "step"),
        expect_error(lambda: adam(p, g, m, v, 0), ValueError, "step"),
        expect_error(lambda: adam(p, g, m, v, 2**64), ValueError, "step"),
        expect_error(lambda: adam(p, g, m, v, 2**64 + 1), ValueError, "step"),
        expect_error(lambda: adam(p, g, m, v, 1.0), TypeError, "step"),
        expect_error(lambda: adam(p, g, m, v, True), TypeError, "step"),
        expect_error(lambda: adam(p, g, m, v, "1"), TypeError, "step"),
        expect_error(lambda: fused_optim.adagrad_step(p, g, m, -1), ValueError, "step"),
        expect_error(lambda: fused_optim.rmsprop_step(p, g, v, 2**64 + 1), ValueError, "step"),
        expect_error(lambda: fused_optim.set_threads(-1), ValueError, "threads"),
        expect_error(lambda: fused_optim.set_threads(2**64 + 3), ValueError, "threads"),
        expect_error(lambda: fused_optim.set_threads(2.0), TypeError, "threads"),
        expect_error(lambda: fused_optim.set_threads(False), TypeError, "threads"),
        expect_error(lambda: fused_optim.set_threads(1025), fused_optim.FusedOptimError, "FO_MAX_THREADS"),
    ]
    checks.append(all(np.array_equal(x, y) for x, y in zip((p, g, m, v), before)))
    # The largest step and a numpy integer are steps; a truthy option is the option.
    results = []
    for step, maximize in [(2**64 - 1, True), (np.uint64(2**64 - 1), 2), (np.int64(3), True), (3, "yes")]:
        q, mq, vq = p.copy(), m.copy(), v.copy()
        adam(q, g, mq, vq, step, maximize=maximize)
        results.append(np.concatenate([q, mq, vq]))
    checks.append(np.array_equal(results[0], results[1]) and np.array_equal(results[2], results[3]))
    return all(checks), "integer arguments checked, truthy options on, nothing written", 0.0


def main():
    print(f"fused-optim {fused_optim.version()} on {fused_optim.tier()}")
    print(f"tolerance: |fused - numpy| <= atol + rtol*|numpy|, (rtol, atol) = "
          f"{TOL[np.float32]} for float32, {TOL[np.float64]} for float64")
    results = []
    for dtype in (np.float32, np.float64):
        for case in CASES:
            results.append(run(dtype, *case))
    fused_optim.set_threads(1)
    results.append(refusals())
    results.append(argument_checks())
    fused_optim.set_threads(0)
    for ok, name, _ in results:
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
    for dtype in (np.float32, np.float64):
        label = np.dtype(dtype).name
        worst = max((r for r in results if f" {label}:" in r[1]), key=lambda r: r[2])
        print(f"largest in {label}: {worst[1]}")
    failed = sum(not ok for ok, _, _ in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
