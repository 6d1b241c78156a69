//! Adam, AdamW and AMSGrad: one fused pass over parameter, gradient and moments.
//!
//! # Formula (per element, PyTorch semantics)
//!
//! With `t` the step number (first step: 1), `bc1 = 1 − β1^t`, `bc2 = 1 − β2^t`:
//!
//! ```text
//! g = maximize ? −g : g
//! g = g + wd·p                       (L2 weight decay, Adam)
//! p = p·(1 − lr·wd)                  (decoupled weight decay, AdamW)
//! m = β1·m + (1 − β1)·g
//! v = β2·v + (1 − β2)·g²
//! vmax = max(vmax, v)                (AMSGrad; v̂ = vmax, else v̂ = v)
//! p = p − (lr/bc1)·m / (√v̂/√bc2 + ε)
//! ```
//!
//! # Op order (the bits)
//!
//! The last line is evaluated in the ε̂ form of the paper's §2, which is the
//! same number with one division per element instead of two:
//! `(lr/bc1)·m/(√v̂/√bc2 + ε) = s·m/(√v̂ + ε̂)` with `s = lr·√bc2/bc1` and
//! `ε̂ = ε·√bc2`. Both scalars are computed once per call in `f64` and rounded
//! to the element type ([`AdamCoefficients`]); per element the kernel does,
//! in this order and nothing else:
//!
//! ```text
//! g  = −g                            (if maximize)
//! g  = g + (wd·p)                    (if L2)
//! p  = p·decay                       (if decoupled; decay = 1 − lr·wd)
//! m  = (β1·m) + ((1−β1)·g)
//! v  = (β2·v) + (((1−β2)·g)·g)       ((1−β2)·g first: g² alone overflows sooner)
//! vm = max(vm, v)                    (if AMSGrad; the NaN rule of `max_nan`)
//! p  = p − s·(m / (√v̂ + ε̂))
//! ```
//!
//! That is one `√`, one `÷`, and six to nine `+ − ×` per element.
//! The ε̂ form is also what TensorFlow's Adam computes with a constant ε̂.
//!
//! # Tail handling
//!
//! The main loop runs `UNROLL` full vectors at a time, then single vectors,
//! then one partial vector (masked on AVX-512, through a stack buffer on the
//! other tiers) for the last `n mod N` elements. Every element goes through
//! the same lane operations, so the tail gives the same bits as the body.
//!
//! # NaN rule
//!
//! NaN and inf propagate: a NaN gradient makes NaN moments and a NaN
//! parameter, as in PyTorch. AMSGrad's `max` keeps a NaN from either side.
//! Skipping a step on overflow is the caller's job (a `found_inf` check), not
//! the kernel's.

use crate::Float;
use crate::lanes::{Block, Enter, Lanes, Variant, for_each_block, load_n, store_n};

/// How weight decay enters the step, with its per-step coefficient.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Decay<T> {
    /// No weight decay.
    None,
    /// L2 penalty added to the gradient: `g += coefficient·p` (Adam, AdaMax).
    L2(T),
    /// Decoupled decay (AdamW): `p *= factor`, with `factor = 1 − lr·wd`.
    Decoupled(T),
}

/// The per-step scalars of Adam, already rounded to the element type.
///
/// Built once per call (in the root crate, from `f64` hyperparameters and the
/// integer step); the kernel only reads them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamCoefficients<T> {
    /// β1.
    pub beta1: T,
    /// 1 − β1.
    pub one_minus_beta1: T,
    /// β2.
    pub beta2: T,
    /// 1 − β2.
    pub one_minus_beta2: T,
    /// `s = lr·√bc2/bc1` (standard form), or `lr·√bc2/bc1` with a user ε̂.
    pub step_size: T,
    /// `ε̂ = ε·√bc2` (standard form), or the user's ε̂.
    pub eps_hat: T,
    /// Weight decay and its coefficient.
    pub decay: Decay<T>,
    /// Ascend instead of descend (`g = −g`).
    pub maximize: bool,
}

crate::buffers::kernel_buffers! {
    /// The buffers of one Adam step, all of one length.
    ///
    /// `max_exp_avg_sq` is `Some` exactly when AMSGrad is on.
    pub struct AdamBuffers for "Adam" {
        /// First moment m, updated in place.
        exp_avg: rw,
        /// Second moment v, updated in place.
        exp_avg_sq: rw,
        /// AMSGrad's running maximum of v, updated in place.
        max_exp_avg_sq: opt,
    }
}

pub(crate) const WD_NONE: u8 = 0;
pub(crate) const WD_L2: u8 = 1;
pub(crate) const WD_DECOUPLED: u8 = 2;

/// Adam's per-step scalars as vectors, and its per-vector arithmetic in the
/// op order of the module's essay. The plain body and the mixed-precision
/// body ([`crate::adam_mixed`]) share it; they differ only in their loads
/// and stores.
pub(crate) struct AdamLanes<I: Lanes<T>, T: Float> {
    beta1: I::V,
    one_minus_beta1: I::V,
    beta2: I::V,
    one_minus_beta2: I::V,
    step_size: I::V,
    eps_hat: I::V,
    decay: I::V,
}

impl<I: Lanes<T>, T: Float> AdamLanes<I, T> {
    /// # Safety
    /// The tier `I` is available.
    #[inline(always)]
    pub(crate) unsafe fn new(c: &AdamCoefficients<T>) -> Self {
        let decay = match c.decay {
            Decay::None => T::ZERO,
            Decay::L2(x) | Decay::Decoupled(x) => x,
        };
        // SAFETY: the caller guarantees the tier.
        unsafe {
            AdamLanes {
                beta1: I::splat(c.beta1),
                one_minus_beta1: I::splat(c.one_minus_beta1),
                beta2: I::splat(c.beta2),
                one_minus_beta2: I::splat(c.one_minus_beta2),
                step_size: I::splat(c.step_size),
                eps_hat: I::splat(c.eps_hat),
                decay: I::splat(decay),
            }
        }
    }

    /// Weight decay `WD`: `g + (wd·p)` (L2) or `p·decay` (decoupled).
    ///
    /// # Safety
    /// The tier `I` is available.
    #[inline(always)]
    pub(crate) unsafe fn decay<const WD: u8>(&self, g: I::V, p: I::V) -> (I::V, I::V) {
        // SAFETY: the caller guarantees the tier.
        unsafe {
            match WD {
                WD_L2 => (I::add(g, I::mul(self.decay, p)), p),
                WD_DECOUPLED => (g, I::mul(p, self.decay)),
                _ => (g, p),
            }
        }
    }

    /// `m = (β1·m) + ((1−β1)·g)`.
    ///
    /// # Safety
    /// The tier `I` is available.
    #[inline(always)]
    pub(crate) unsafe fn first_moment(&self, m: I::V, g: I::V) -> I::V {
        // SAFETY: the caller guarantees the tier.
        unsafe { I::add(I::mul(self.beta1, m), I::mul(self.one_minus_beta1, g)) }
    }

    /// `v = (β2·v) + (((1−β2)·g)·g)`.
    ///
    /// # Safety
    /// The tier `I` is available.
    #[inline(always)]
    pub(crate) unsafe fn second_moment(&self, v: I::V, g: I::V) -> I::V {
        // SAFETY: the caller guarantees the tier.
        unsafe { I::add(I::mul(self.beta2, v), I::mul(I::mul(self.one_minus_beta2, g), g)) }
    }

    /// `p − s·(m / (√v̂ + ε̂))`.
    ///
    /// # Safety
    /// The tier `I` is available.
    #[inline(always)]
    pub(crate) unsafe fn update(&self, p: I::V, m: I::V, v_hat: I::V) -> I::V {
        // SAFETY: the caller guarantees the tier.
        unsafe { I::sub(p, I::mul(self.step_size, I::div(m, I::add(I::sqrt(v_hat), self.eps_hat)))) }
    }
}

/// The per-vector update, monomorphised over the options so the loop holds no branches.
struct AdamBody<I: Lanes<T>, T: Float, const WD: u8, const MAXIMIZE: bool, const AMSGRAD: bool> {
    param: *mut T,
    grad: *const T,
    exp_avg: *mut T,
    exp_avg_sq: *mut T,
    max_exp_avg_sq: *mut T,
    adam: AdamLanes<I, T>,
}

impl<I: Lanes<T>, T: Float, const WD: u8, const MAXIMIZE: bool, const AMSGRAD: bool> Block
    for AdamBody<I, T, WD, MAXIMIZE, AMSGRAD>
{
    #[inline(always)]
    unsafe fn run(&self, o: usize, n: usize) {
        // SAFETY: `o + n` is within every buffer (the caller's contract, from
        // `for_each_block` over the common length); the tier is available.
        unsafe {
            let mut g = load_n::<I, T>(self.grad.add(o), n);
            if MAXIMIZE {
                g = I::neg(g);
            }
            let (g, p) = self.adam.decay::<WD>(g, load_n::<I, T>(self.param.add(o), n));
            let m = self.adam.first_moment(load_n::<I, T>(self.exp_avg.add(o), n), g);
            store_n::<I, T>(self.exp_avg.add(o), n, m);
            let v = self.adam.second_moment(load_n::<I, T>(self.exp_avg_sq.add(o), n), g);
            store_n::<I, T>(self.exp_avg_sq.add(o), n, v);
            let v_hat = if AMSGRAD {
                let vm = I::max(load_n::<I, T>(self.max_exp_avg_sq.add(o), n), v);
                store_n::<I, T>(self.max_exp_avg_sq.add(o), n, vm);
                vm
            } else {
                v
            };
            store_n::<I, T>(self.param.add(o), n, self.adam.update(p, m, v_hat));
        }
    }
}

/// One Adam call with its options fixed (see [`Variant`]).
struct AdamVariant<'a, T, const WD: u8, const MAXIMIZE: bool, const AMSGRAD: bool>(
    AdamBuffers<'a, T>,
    &'a AdamCoefficients<T>,
);

impl<I: Lanes<T>, T: Float, const WD: u8, const MAXIMIZE: bool, const AMSGRAD: bool> Variant<I>
    for AdamVariant<'_, T, WD, MAXIMIZE, AMSGRAD>
{
    type Output = ();

    #[inline(always)]
    unsafe fn run(self) {
        let AdamVariant(b, c) = self;
        // SAFETY: the tier is available (caller); pointers come from slices of
        // length `n` and `for_each_block` stays inside `0..n`.
        unsafe {
            let body = AdamBody::<I, T, WD, MAXIMIZE, AMSGRAD> {
                param: b.param.as_mut_ptr(),
                grad: b.grad.as_ptr(),
                exp_avg: b.exp_avg.as_mut_ptr(),
                exp_avg_sq: b.exp_avg_sq.as_mut_ptr(),
                max_exp_avg_sq: b.max_exp_avg_sq.map_or(core::ptr::null_mut(), |x| x.as_mut_ptr()),
                adam: AdamLanes::new(c),
            };
            for_each_block::<I, T, _>(b.param.len(), &body);
        }
    }
}

/// Picks the variant for the options, then runs it on the tier `I`.
///
/// # Safety
/// Lengths are equal (checked by the caller); the tier `I` is available.
pub(crate) unsafe fn run<I: Lanes<T> + Enter, T: Float>(b: AdamBuffers<'_, T>, c: &AdamCoefficients<T>) {
    // SAFETY: forwarded from the caller.
    unsafe {
        match c.decay {
            Decay::None => run_wd::<I, T, WD_NONE>(b, c),
            Decay::L2(_) => run_wd::<I, T, WD_L2>(b, c),
            Decay::Decoupled(_) => run_wd::<I, T, WD_DECOUPLED>(b, c),
        }
    }
}

/// # Safety
/// As [`run`].
#[inline(always)]
unsafe fn run_wd<I: Lanes<T> + Enter, T: Float, const WD: u8>(
    b: AdamBuffers<'_, T>,
    c: &AdamCoefficients<T>,
) {
    // SAFETY: forwarded from the caller.
    unsafe {
        match (c.maximize, b.max_exp_avg_sq.is_some()) {
            (false, false) => I::enter(AdamVariant::<T, WD, false, false>(b, c)),
            (false, true) => I::enter(AdamVariant::<T, WD, false, true>(b, c)),
            (true, false) => I::enter(AdamVariant::<T, WD, true, false>(b, c)),
            (true, true) => I::enter(AdamVariant::<T, WD, true, true>(b, c)),
        }
    }
}

crate::buffers::entry_points! {
    /// # Example
    /// ```
    /// use fused_optim_kernels::{adam, AdamBuffers, AdamCoefficients, Decay};
    /// let c = AdamCoefficients {
    ///     beta1: 0.9f32, one_minus_beta1: 0.1, beta2: 0.999, one_minus_beta2: 0.001,
    ///     step_size: 1e-3 * 0.001f32.sqrt() / 0.1, eps_hat: 1e-8 * 0.001f32.sqrt(),
    ///     decay: Decay::None, maximize: false,
    /// };
    /// let (mut p, g) = (vec![1.0f32; 5], vec![0.5f32; 5]);
    /// let (mut m, mut v) = (vec![0.0f32; 5], vec![0.0f32; 5]);
    /// adam(AdamBuffers { param: &mut p, grad: &g, exp_avg: &mut m, exp_avg_sq: &mut v, max_exp_avg_sq: None }, &c);
    /// assert!((p[0] - (1.0 - 1e-3)).abs() < 1e-6); // the first step moves by about lr·sign(g)
    /// ```
    "Adam", adam, adam_on, adam, AdamBuffers, AdamCoefficients
}
