//! The C ABI's boundary, small enough for Miri
//! (`cargo +nightly miri test -p fused-optim-capi --test ffi_boundary`): config flag bytes other
//! than 0 and 1, null, misaligned, overlapping and aliased pointers, absurd
//! lengths and thread counts. Each refusal returns its status and leaves every
//! buffer bit-identical; each accepted call gives the bits of the plain call.
//!
//! Every step here is a few elements on the calling thread
//! (`fo_set_threads(1)`, below the serial threshold anyway): no thread pool
//! is ever started, so Miri runs the whole file in well under a minute.

use fused_optim_capi::*;
use fused_optim_core::Float;
use fused_optim_core::mixed::bf16;
use std::mem::offset_of;
use std::ptr::{null, null_mut};
use std::sync::{Mutex, MutexGuard};

use fused_optim_testkit::c_steps::Api;

/// Elements per buffer.
const N: usize = 5;

/// The flag bytes other than 0 and 1 that C can leave in a config (`memset`,
/// a ctypes `c_uint8`, an uninitialised member): each must act as 1.
const FLAG_BYTES: [u8; 3] = [2, 0x80, 0xFF];

/// The thread setting is process-wide: each test holds this lock and runs on
/// the calling thread only.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    assert_eq!(fo_set_threads(1), fo_status::FO_OK);
    guard
}

/// `config` with the byte at `offset` set to `byte`, written through a raw
/// pointer as C code can.
fn with_byte<C: Copy>(config: C, offset: usize, byte: u8) -> C {
    assert!(offset < size_of::<C>());
    let mut c = config;
    // SAFETY: `offset` is inside `c` (checked above) and is the offset of a
    // flag field, a `u8`, for which every byte is a valid value.
    unsafe { (&raw mut c).cast::<u8>().add(offset).write(byte) };
    c
}

/// What a call came to: its status and the bits of every buffer after it.
type Outcome = (fo_status, Vec<Vec<u64>>);

/// The flag at `offset` of `base`: 0 and 1 give different outcomes (so the
/// case shows the flag), and every byte of [`FLAG_BYTES`] gives 1's.
fn flag_bytes_act_as_one<C: Copy>(what: &str, base: C, offset: usize, run: impl Fn(&C) -> Outcome) {
    let one = run(&with_byte(base, offset, 1));
    assert_ne!(run(&with_byte(base, offset, 0)), one, "{what}: this case does not show the flag");
    for byte in FLAG_BYTES {
        assert_eq!(
            run(&with_byte(base, offset, byte)),
            one,
            "{what}: flag byte {byte:#04x} does not act as 1"
        );
    }
}

/// Deterministic values in [-2, 2) (non-negative with `positive`), one
/// stream per `seed`.
fn values<T: Float>(seed: u64, n: usize, positive: bool) -> Vec<T> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let v = (x >> 11) as f64 / (1u64 << 53) as f64 * 4.0 - 2.0;
            T::from_f64(if positive { v.abs() } else { v })
        })
        .collect()
}

/// `k` buffers of `n` elements: parameters, gradient, then state (non-negative).
fn buffers<T: Float>(k: usize, n: usize) -> Vec<Vec<T>> {
    (0..k).map(|i| values(i as u64 + 1, n, i >= 2)).collect()
}

/// Every element's bits, every NaN as one: the contract compares NaN as NaN
/// (and Miri gives each NaN an arbitrary sign and payload).
fn bits<T: Float>(buffers: &[Vec<T>]) -> Vec<Vec<u64>> {
    let one = |x: &T| if x.is_nan() { u64::MAX } else { x.to_bits_u64() };
    buffers.iter().map(|b| b.iter().map(one).collect()).collect()
}

/// [`bits`] of bf16 elements.
fn bf16_bits(buffer: &[bf16]) -> Vec<u64> {
    buffer.iter().map(|x| if x.is_nan() { u64::MAX } else { x.to_bits().into() }).collect()
}

/// Pointers to each buffer.
fn ptrs<T>(buffers: &mut [Vec<T>]) -> Vec<*mut T> {
    buffers.iter_mut().map(|b| b.as_mut_ptr()).collect()
}

/// Every flag of every f32/f64 config, through the one-tensor steps.
fn config_flags<T: Api>() {
    let name = T::NAME;
    // Adam: the AMSGrad buffer is always given, so AMSGrad off is a refusal.
    let adam = |c: &fo_adam_config| {
        let mut b = buffers::<T>(5, N);
        let [p, g, m, v, x] = ptrs(&mut b)[..] else { unreachable!() };
        // SAFETY: five live buffers of N elements; `c` is a valid config.
        (unsafe { T::ADAM(p, g, m, v, x, N, c, 2) }, bits(&b))
    };
    let base = fo_adam_config { eps: 0.5, ..fo_adam_config_default() };
    let offset = offset_of!(fo_adam_config, amsgrad);
    flag_bytes_act_as_one(&format!("adam {name} amsgrad"), base, offset, adam);
    let base = with_byte(base, offset, 1);
    flag_bytes_act_as_one(&format!("adam {name} maximize"), base, offset_of!(fo_adam_config, maximize), adam);
    flag_bytes_act_as_one(&format!("adam {name} eps_hat"), base, offset_of!(fo_adam_config, eps_hat), adam);

    let adamax = |c: &fo_adamax_config| {
        let mut b = buffers::<T>(4, N);
        let [p, g, m, u] = ptrs(&mut b)[..] else { unreachable!() };
        // SAFETY: four live buffers of N elements; `c` is a valid config.
        (unsafe { T::ADAMAX(p, g, m, u, N, c, 1) }, bits(&b))
    };
    let offset = offset_of!(fo_adamax_config, maximize);
    flag_bytes_act_as_one(&format!("adamax {name} maximize"), fo_adamax_config_default(), offset, adamax);

    let adagrad = |c: &fo_adagrad_config| {
        let mut b = buffers::<T>(3, N);
        let [p, g, s] = ptrs(&mut b)[..] else { unreachable!() };
        // SAFETY: three live buffers of N elements; `c` is a valid config.
        (unsafe { T::ADAGRAD(p, g, s, N, c, 1) }, bits(&b))
    };
    let offset = offset_of!(fo_adagrad_config, maximize);
    flag_bytes_act_as_one(&format!("adagrad {name} maximize"), fo_adagrad_config_default(), offset, adagrad);

    // RMSprop: the centering buffer is always given, so centered off is a refusal.
    let rmsprop = |c: &fo_rmsprop_config| {
        let mut b = buffers::<T>(4, N);
        let [p, g, v, a] = ptrs(&mut b)[..] else { unreachable!() };
        // SAFETY: four live buffers of N elements; `c` is a valid config.
        (unsafe { T::RMSPROP(p, g, v, null_mut(), a, N, c, 1) }, bits(&b))
    };
    let base = fo_rmsprop_config_default();
    let offset = offset_of!(fo_rmsprop_config, centered);
    flag_bytes_act_as_one(&format!("rmsprop {name} centered"), base, offset, rmsprop);
    let base = with_byte(base, offset, 1);
    let offset = offset_of!(fo_rmsprop_config, maximize);
    flag_bytes_act_as_one(&format!("rmsprop {name} maximize"), base, offset, rmsprop);

    let adadelta = |c: &fo_adadelta_config| {
        let mut b = buffers::<T>(4, N);
        let [p, g, s, x] = ptrs(&mut b)[..] else { unreachable!() };
        // SAFETY: four live buffers of N elements; `c` is a valid config.
        (unsafe { T::ADADELTA(p, g, s, x, N, c, 1) }, bits(&b))
    };
    let offset = offset_of!(fo_adadelta_config, maximize);
    flag_bytes_act_as_one(
        &format!("adadelta {name} maximize"),
        fo_adadelta_config_default(),
        offset,
        adadelta,
    );
}

/// A config flag byte of 2, 0x80 or 0xFF is read as true, exactly as 1.
#[test]
fn config_flag_bytes_act_as_one() {
    let _serial = serial();
    config_flags::<f32>();
    config_flags::<f64>();
}

/// The mixed-precision options' flags: the found_inf check, zero-grad and
/// stochastic rounding, each byte acting as 1 (`skipped` included).
#[test]
fn mixed_option_flag_bytes_act_as_one() {
    let _serial = serial();
    let c = fo_adamw_config_default();
    // f32 master weights, a bf16 gradient with an infinity in it (the
    // found_inf check skips the step), f32 state.
    let skip = |o: &fo_mixed_options| {
        let mut words = buffers::<f32>(4, N);
        let mut grad: Vec<bf16> = values::<f32>(9, N, false).into_iter().map(bf16::from_f32).collect();
        grad[1] = bf16::INFINITY;
        let [p, m, v, _] = ptrs(&mut words)[..] else { unreachable!() };
        let mut skipped = false;
        let g = grad.as_mut_ptr().cast();
        let (f32_, bf16_) = (FO_DTYPE_F32, FO_DTYPE_BF16);
        let (nm, p, m, v) = (null_mut(), p.cast(), m.cast(), v.cast());
        // SAFETY: live buffers of N elements of their types; valid config and options.
        let s = unsafe {
            fo_adam_step_mixed(p, f32_, g, bf16_, m, v, nm, f32_, nm, f32_, N, 0, &c, o, 1, &mut skipped)
        };
        let mut out = bits(&words);
        out.push(bf16_bits(&grad));
        out.push(vec![skipped.into()]);
        (s, out)
    };
    let base = fo_mixed_options_default();
    let offset = offset_of!(fo_mixed_options, skip_non_finite);
    flag_bytes_act_as_one("mixed skip_non_finite", base, offset, skip);
    let no_check = with_byte(base, offset, 0);
    flag_bytes_act_as_one("mixed zero_grad", no_check, offset_of!(fo_mixed_options, zero_grad), skip);

    // bf16 parameters and gradient, f32 state, steps of about an ulp:
    // stochastic rounding changes the stored parameters.
    let c = fo_adam_config { lr: 0.01, ..c };
    let rounding = |o: &fo_mixed_options| {
        const N: usize = 16; // enough elements that some round differently
        let mut state = buffers::<f32>(4, N);
        let mut half: Vec<Vec<bf16>> = (0..2)
            .map(|k| values::<f32>(k + 1, N, false).into_iter().map(bf16::from_f32).collect())
            .collect();
        let [_, _, m, v] = ptrs(&mut state)[..] else { unreachable!() };
        let [p, g] = ptrs(&mut half)[..] else { unreachable!() };
        let (f32_, bf16_, nm) = (FO_DTYPE_F32, FO_DTYPE_BF16, null_mut());
        let (p, g, m, v) = (p.cast(), g.cast(), m.cast(), v.cast());
        // SAFETY: live buffers of N elements of their types; valid config and options.
        let s = unsafe {
            fo_adam_step_mixed(p, bf16_, g, bf16_, m, v, nm, f32_, nm, f32_, N, 0, &c, o, 1, nm.cast())
        };
        let mut out = bits(&state);
        out.extend(half.iter().map(|h| bf16_bits(h)));
        (s, out)
    };
    let base = fo_mixed_options { seed: 12345, ..fo_mixed_options_default() };
    let offset = offset_of!(fo_mixed_options, stochastic_rounding);
    flag_bytes_act_as_one("mixed stochastic_rounding", base, offset, rounding);
}

/// Null, misaligned, overlapping and oversized pointers and absurd lengths
/// at one entry point of each form, each refused with its status; nothing written.
fn pointer_refusals<T: Api>() {
    use fo_status::*;
    let c = fo_adam_config_default();
    let mut arena = values::<T>(7, 5 * N + 1, true);
    let mut p = values::<T>(8, N, false);
    let g = values::<T>(9, N, false);
    let before = bits(&[arena.clone(), p.clone(), g.clone()]);
    let (a, p, g) = (arena.as_mut_ptr(), p.as_mut_ptr(), g.as_ptr());
    // SAFETY: offsets inside the arena: m, v, and a spare block of N + 1.
    let (m, v, spare) = unsafe { (a, a.add(N), a.add(2 * N)) };
    // SAFETY: one byte into the spare block: in bounds, misaligned for T.
    let misaligned = unsafe { spare.cast::<u8>().add(1).cast::<T>() };
    let huge = isize::MAX as usize / size_of::<T>();
    let mut config_bytes = [0u64; size_of::<fo_adam_config>() / 8 + 1];
    // SAFETY: one byte into a buffer one u64 longer than a config: in
    // bounds, misaligned; written unaligned.
    let bad_config = unsafe {
        let at = config_bytes.as_mut_ptr().cast::<u8>().add(1).cast::<fo_adam_config>();
        at.write_unaligned(c);
        at.cast_const()
    };
    // SAFETY (every call): live buffers of N elements, or null, misaligned,
    // overlapping or oversized pointers, which the step refuses before it
    // reads or writes any buffer.
    let one = |p, g, m, v, n, c| unsafe { T::ADAM(p, g, m, v, null_mut(), n, c, 1) };
    let cases = [
        ("null param", one(null_mut(), g, m, v, N, &c), FO_ERROR_NULL_POINTER),
        ("null grad", one(p, null(), m, v, N, &c), FO_ERROR_NULL_POINTER),
        ("null state", one(p, g, m, null_mut(), N, &c), FO_ERROR_NULL_POINTER),
        ("null config", one(p, g, m, v, N, null()), FO_ERROR_NULL_POINTER),
        ("misaligned state", one(p, g, m, misaligned, N, &c), FO_ERROR_ALIGNMENT),
        ("misaligned config", one(p, g, m, v, N, bad_config), FO_ERROR_ALIGNMENT),
        ("param = state", one(m, g, m, v, N, &c), FO_ERROR_OVERLAP),
        ("grad = param", one(p, p, m, v, N, &c), FO_ERROR_OVERLAP),
        // SAFETY: the last element of m: inside the arena.
        ("v overlaps m by one", one(p, g, m, unsafe { m.add(N - 1) }, N, &c), FO_ERROR_OVERLAP),
        ("n = usize::MAX", one(p, g, m, v, usize::MAX, &c), FO_ERROR_LENGTH),
        ("n above isize::MAX bytes", one(p, g, m, v, huge + 1, &c), FO_ERROR_LENGTH),
        // Every buffer of isize::MAX bytes overlaps the others: refused before any is built.
        ("n of isize::MAX bytes", one(p, g, m, v, huge, &c), FO_ERROR_OVERLAP),
    ];
    for (what, got, want) in cases {
        assert_eq!(got, want, "{} {what}", T::NAME);
    }
    let after = [arena.clone(), unsafe_copy(p, N), unsafe_copy(g.cast_mut(), N)];
    assert_eq!(bits(&after), before, "{}: a refused step wrote", T::NAME);

    // The many-tensor form: tensor 1's buffers in the spare block; null,
    // misaligned and oversized arrays, and buffers aliased across tensors.
    let lens = [N, N];
    // SAFETY: inside the spare block of 3N + 1 elements.
    let (p1, m1, v1) = unsafe { (spare, spare.add(N), spare.add(2 * N)) };
    let (ps, gs, ms, vs) = ([p, p1], [g, g], [m, m1], [v, v1]);
    let three = [p, p1, p];
    // SAFETY: one byte into a three-pointer array: in bounds, misaligned.
    let misaligned_array = unsafe { three.as_ptr().cast::<u8>().add(1) }.cast::<*mut T>();
    // SAFETY: one element into v: inside the arena.
    let v_shifted = [v, unsafe { v.add(1) }];
    let p_is_m = [p, m];
    // SAFETY (every call): arrays of two pointers into live buffers of N
    // elements, or null, misaligned, oversized or overlapping ones, which
    // the step refuses before it reads any buffer.
    let many = |ps: *const *mut T, vs: *const *mut T, lens: *const usize, count| unsafe {
        T::ADAM_MANY(ps, gs.as_ptr(), ms.as_ptr(), vs, null(), lens, count, &c, 1)
    };
    let (ps, vs, l) = (ps.as_ptr(), vs.as_ptr(), lens.as_ptr());
    let cases = [
        ("null params array", many(null(), vs, l, 2), FO_ERROR_NULL_POINTER),
        ("null lens", many(ps, vs, null(), 2), FO_ERROR_NULL_POINTER),
        ("misaligned params array", many(misaligned_array, vs, l, 2), FO_ERROR_ALIGNMENT),
        ("count above the address space", many(ps, vs, l, usize::MAX), FO_ERROR_LENGTH),
        ("tensor 1's v overlaps tensor 0's", many(ps, v_shifted.as_ptr(), l, 2), FO_ERROR_OVERLAP),
        ("tensor 1's param is tensor 0's m", many(p_is_m.as_ptr(), vs, l, 2), FO_ERROR_OVERLAP),
    ];
    for (what, got, want) in cases {
        assert_eq!(got, want, "{} many: {what}", T::NAME);
    }
    let after = [arena, unsafe_copy(p, N), unsafe_copy(g.cast_mut(), N)];
    assert_eq!(bits(&after), before, "{}: a refused step wrote", T::NAME);
}

/// A copy of `n` elements at `ptr`.
fn unsafe_copy<T: Copy>(ptr: *mut T, n: usize) -> Vec<T> {
    // SAFETY: every caller passes a live buffer of at least `n` elements.
    unsafe { std::slice::from_raw_parts(ptr, n) }.to_vec()
}

#[test]
fn bad_pointers_and_lengths_are_refused() {
    let _serial = serial();
    pointer_refusals::<f32>();
    pointer_refusals::<f64>();
}

/// Zero lengths and counts read no pointer, whatever it is; a gradient
/// shared by two tensors (read only) is accepted and gives each tensor the
/// bits of its own step.
fn accepted_edges<T: Api>() {
    use fo_status::FO_OK;
    let c = fo_adam_config_default();
    let dangling = std::ptr::NonNull::<T>::dangling().as_ptr();
    // SAFETY: one byte into a dangling pointer: never read with n = 0.
    let misaligned = dangling.cast::<u8>().wrapping_add(1).cast::<T>();
    // SAFETY: n = 0 and count = 0: no buffer and no array is read.
    let empty = unsafe {
        [
            T::ADAM(null_mut(), null(), null_mut(), null_mut(), null_mut(), 0, &c, 1),
            T::ADAM(misaligned, misaligned, misaligned, misaligned, null_mut(), 0, &c, 1),
            T::ADAM_MANY(null(), null(), null(), null(), null(), null(), 0, &c, 1),
        ]
    };
    assert_eq!(empty, [FO_OK; 3], "{}", T::NAME);

    // Two tensors sharing one gradient, one of them empty with misaligned pointers.
    let mut b = buffers::<T>(7, N); // p0, g, m0, v0, p1, m1, v1
    let mut alone = b.clone();
    let [p0, g, m0, v0, p1, m1, v1] = ptrs(&mut b)[..] else { unreachable!() };
    let lens = [N, 0, N];
    let (ps, ms, vs) = ([p0, misaligned, p1], [m0, misaligned, m1], [v0, misaligned, v1]);
    let gs = [g.cast_const(), misaligned, g];
    // SAFETY: arrays of three pointers to live buffers of their lengths (the empty tensor's are not read).
    let s = unsafe {
        T::ADAM_MANY(ps.as_ptr(), gs.as_ptr(), ms.as_ptr(), vs.as_ptr(), null(), lens.as_ptr(), 3, &c, 1)
    };
    assert_eq!(s, FO_OK);
    let [ap0, ag, am0, av0, ap1, am1, av1] = ptrs(&mut alone)[..] else { unreachable!() };
    // SAFETY: live buffers of N elements.
    let each = unsafe {
        [T::ADAM(ap0, ag, am0, av0, null_mut(), N, &c, 1), T::ADAM(ap1, ag, am1, av1, null_mut(), N, &c, 1)]
    };
    assert_eq!(each, [FO_OK; 2]);
    assert_eq!(bits(&b), bits(&alone), "{}: a shared gradient", T::NAME);
}

#[test]
fn empty_steps_and_shared_gradients_are_accepted() {
    let _serial = serial();
    accepted_edges::<f32>();
    accepted_edges::<f64>();
}

/// `fo_set_threads` refuses counts above `FO_MAX_THREADS` with
/// `FO_ERROR_THREADS`, starting no thread and keeping the setting before it.
#[test]
fn absurd_thread_counts_are_refused() {
    let _serial = serial();
    for setting in [1, 0] {
        assert_eq!(fo_set_threads(setting), fo_status::FO_OK);
        for n in [FO_MAX_THREADS + 1, 100_000, usize::MAX] {
            assert_eq!(fo_set_threads(n), fo_status::FO_ERROR_THREADS, "{n} threads");
            assert_eq!(fo_threads(), setting, "a refused fo_set_threads({n}) changed the setting");
        }
    }
    assert_eq!(fo_set_threads(1), fo_status::FO_OK);
    // SAFETY: a static NUL-terminated string.
    let text = unsafe { std::ffi::CStr::from_ptr(fo_status_message(fo_status::FO_ERROR_THREADS as i32)) };
    assert!(text.to_str().unwrap().contains("FO_MAX_THREADS"), "{text:?}");
}

/// The flags are `uint8_t` where they were C `bool`s: one byte each, so every
/// config keeps the size and field offsets it had (a caller built against the
/// old header passes the same bytes).
#[test]
fn config_layouts_are_unchanged() {
    use std::mem::{align_of, size_of};
    macro_rules! layout {
        ($t:ty, $size:expr, [$($field:ident @ $at:expr),*]) => {
            assert_eq!((size_of::<$t>(), align_of::<$t>()), ($size, 8), stringify!($t));
            $(assert_eq!(offset_of!($t, $field), $at, concat!(stringify!($t), ".", stringify!($field)));)*
        };
    }
    layout!(
        fo_adam_config,
        56,
        [weight_decay_mode @ 40, amsgrad @ 44, maximize @ 45, eps_hat @ 46, beta1_decay @ 48]
    );
    layout!(fo_adamax_config, 56, [maximize @ 40, beta1_decay @ 48]);
    layout!(fo_adagrad_config, 48, [maximize @ 40]);
    layout!(fo_rmsprop_config, 48, [centered @ 40, maximize @ 41]);
    layout!(fo_adadelta_config, 40, [maximize @ 32]);
    layout!(fo_mixed_options, 24, [skip_non_finite @ 8, zero_grad @ 9, stochastic_rounding @ 10, seed @ 16]);
}
