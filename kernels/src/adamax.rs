//! AdaMax (Kingma & Ba, Algorithm 2): Adam with the infinity norm.
//!
//! # Formula (per element, PyTorch semantics)
//!
//! With `t` the step number and `bc1 = 1 − β1^t`:
//!
//! ```text
//! g = maximize ? −g : g
//! g = g + wd·p                       (L2 weight decay)
//! m = β1·m + (1 − β1)·g
//! u = max(β2·u, |g| + ε)
//! p = p − (lr/bc1)·m/u
//! ```
//!
//! With ε = 0 this is the paper's Algorithm 2 (PyTorch's default ε is 1e-8,
//! which keeps `u > 0` where the gradient has always been zero; with ε = 0 and
//! `u = g = 0` the step is `0/0 = NaN`, exactly as the formula says).
//!
//! # Op order (the bits)
//!
//! `clr = lr/bc1` is computed once per call in `f64` and rounded to the
//! element type ([`AdaMaxCoefficients`]). Per element, in this order:
//!
//! ```text
//! g = −g                             (if maximize)
//! g = g + (wd·p)                     (if L2)
//! m = (β1·m) + ((1−β1)·g)
//! u = max(β2·u, |g| + ε)             (the NaN rule of `max_nan`: NaN from either side)
//! p = p − clr·(m/u)
//! ```
//!
//! One `÷` and no `√` per element.
//!
//! # Tail handling
//!
//! As for Adam: unrolled full vectors, single vectors, one partial vector,
//! all through the same lane operations.
//!
//! # NaN rule
//!
//! `max` returns a NaN from either operand, so a NaN gradient is not dropped
//! by the maximum (it would be with x86's bare `maxps`, or Rust's `f32::max`);
//! it reaches `u`, `m` and `p` as in PyTorch, whose `amax` propagates NaN.

use crate::Float;
use crate::lanes::{Block, Lanes, for_each_block, load_n, store_n};

/// The per-step scalars of AdaMax, already rounded to the element type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdaMaxCoefficients<T> {
    /// β1.
    pub beta1: T,
    /// 1 − β1.
    pub one_minus_beta1: T,
    /// β2.
    pub beta2: T,
    /// ε.
    pub eps: T,
    /// `clr = lr/(1 − β1^t)`.
    pub step_size: T,
    /// L2 weight decay coefficient (`None`: no decay).
    pub weight_decay: Option<T>,
    /// Ascend instead of descend (`g = −g`).
    pub maximize: bool,
}

/// The buffers of one AdaMax step, all of one length.
#[derive(Debug)]
pub struct AdaMaxBuffers<'a, T> {
    /// Parameters θ, updated in place.
    pub param: &'a mut [T],
    /// Gradient g, read only.
    pub grad: &'a [T],
    /// First moment m, updated in place.
    pub exp_avg: &'a mut [T],
    /// Exponentially weighted infinity norm u, updated in place.
    pub exp_inf: &'a mut [T],
}

impl<'a, T> AdaMaxBuffers<'a, T> {
    /// Number of elements (the parameter's length).
    pub fn len(&self) -> usize {
        self.param.len()
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.param.is_empty()
    }

    /// The first buffer whose length differs from the parameter's, with that length.
    pub fn length_mismatch(&self) -> Option<(&'static str, usize)> {
        let n = self.param.len();
        [("grad", self.grad.len()), ("exp_avg", self.exp_avg.len()), ("exp_inf", self.exp_inf.len())]
            .into_iter()
            .find(|&(_, len)| len != n)
    }

    /// Splits every buffer at `mid` (which must be `<= len`).
    ///
    /// # Panics
    /// If `mid > len` (as `slice::split_at`).
    pub fn split_at(self, mid: usize) -> (Self, Self) {
        let (p0, p1) = self.param.split_at_mut(mid);
        let (g0, g1) = self.grad.split_at(mid);
        let (m0, m1) = self.exp_avg.split_at_mut(mid);
        let (u0, u1) = self.exp_inf.split_at_mut(mid);
        (
            AdaMaxBuffers { param: p0, grad: g0, exp_avg: m0, exp_inf: u0 },
            AdaMaxBuffers { param: p1, grad: g1, exp_avg: m1, exp_inf: u1 },
        )
    }

    /// A shorter-lived view of the same buffers.
    pub fn reborrow(&mut self) -> AdaMaxBuffers<'_, T> {
        AdaMaxBuffers { param: self.param, grad: self.grad, exp_avg: self.exp_avg, exp_inf: self.exp_inf }
    }

    pub(crate) fn assert_lengths(&self) {
        if let Some((name, len)) = self.length_mismatch() {
            panic!("AdaMax: `{name}` has {len} elements, `param` has {}", self.len());
        }
    }
}

struct AdaMaxBody<I: Lanes<T>, T: Float, const L2: bool, const MAXIMIZE: bool> {
    param: *mut T,
    grad: *const T,
    exp_avg: *mut T,
    exp_inf: *mut T,
    beta1: I::V,
    one_minus_beta1: I::V,
    beta2: I::V,
    eps: I::V,
    step_size: I::V,
    weight_decay: I::V,
}

impl<I: Lanes<T>, T: Float, const L2: bool, const MAXIMIZE: bool> Block for AdaMaxBody<I, T, L2, MAXIMIZE> {
    #[inline(always)]
    unsafe fn run(&self, o: usize, n: usize) {
        // SAFETY: `o + n` is within every buffer; the tier is available.
        unsafe {
            let mut g = load_n::<I, T>(self.grad.add(o), n);
            if MAXIMIZE {
                g = I::neg(g);
            }
            let p = load_n::<I, T>(self.param.add(o), n);
            if L2 {
                g = I::add(g, I::mul(self.weight_decay, p));
            }
            let m = load_n::<I, T>(self.exp_avg.add(o), n);
            let m = I::add(I::mul(self.beta1, m), I::mul(self.one_minus_beta1, g));
            store_n::<I, T>(self.exp_avg.add(o), n, m);
            let u = load_n::<I, T>(self.exp_inf.add(o), n);
            let u = I::max(I::mul(self.beta2, u), I::add(I::abs(g), self.eps));
            store_n::<I, T>(self.exp_inf.add(o), n, u);
            let p = I::sub(p, I::mul(self.step_size, I::div(m, u)));
            store_n::<I, T>(self.param.add(o), n, p);
        }
    }
}

#[inline(always)]
unsafe fn run_variant<I: Lanes<T>, T: Float, const L2: bool, const MAXIMIZE: bool>(
    b: AdaMaxBuffers<'_, T>,
    c: &AdaMaxCoefficients<T>,
) {
    // SAFETY: the tier is available (caller); pointers come from slices of
    // length `n` and `for_each_block` stays inside `0..n`.
    unsafe {
        let body = AdaMaxBody::<I, T, L2, MAXIMIZE> {
            param: b.param.as_mut_ptr(),
            grad: b.grad.as_ptr(),
            exp_avg: b.exp_avg.as_mut_ptr(),
            exp_inf: b.exp_inf.as_mut_ptr(),
            beta1: I::splat(c.beta1),
            one_minus_beta1: I::splat(c.one_minus_beta1),
            beta2: I::splat(c.beta2),
            eps: I::splat(c.eps),
            step_size: I::splat(c.step_size),
            weight_decay: I::splat(c.weight_decay.unwrap_or(T::ZERO)),
        };
        for_each_block::<I, T, _>(b.param.len(), &body);
    }
}

/// Picks the monomorphised body for the options, then runs it.
///
/// # Safety
/// Lengths are equal (checked by the caller); the tier `I` is available.
#[inline(always)]
pub(crate) unsafe fn run<I: Lanes<T>, T: Float>(b: AdaMaxBuffers<'_, T>, c: &AdaMaxCoefficients<T>) {
    // SAFETY: forwarded from the caller.
    unsafe {
        match (c.weight_decay.is_some(), c.maximize) {
            (false, false) => run_variant::<I, T, false, false>(b, c),
            (false, true) => run_variant::<I, T, false, true>(b, c),
            (true, false) => run_variant::<I, T, true, false>(b, c),
            (true, true) => run_variant::<I, T, true, true>(b, c),
        }
    }
}

/// One AdaMax step on the dispatched tier (the best this CPU has).
///
/// # Panics
/// If the buffers' lengths differ (checked before anything is written).
///
/// # Example
/// ```
/// use fused_optim_kernels::{adamax, AdaMaxBuffers, AdaMaxCoefficients};
/// let c = AdaMaxCoefficients {
///     beta1: 0.9f64, one_minus_beta1: 0.1, beta2: 0.999, eps: 1e-8,
///     step_size: 2e-3 / 0.1, weight_decay: None, maximize: false,
/// };
/// let (mut p, g) = (vec![1.0f64; 3], vec![-4.0f64; 3]);
/// let (mut m, mut u) = (vec![0.0f64; 3], vec![0.0f64; 3]);
/// adamax(AdaMaxBuffers { param: &mut p, grad: &g, exp_avg: &mut m, exp_inf: &mut u }, &c);
/// assert!((p[0] - (1.0 + 2e-3)).abs() < 1e-9); // the first step moves by about lr·sign(−g)
/// ```
pub fn adamax<T: Float>(buffers: AdaMaxBuffers<'_, T>, coefficients: &AdaMaxCoefficients<T>) {
    buffers.assert_lengths();
    // SAFETY: the dispatched table belongs to an available tier; lengths are equal.
    unsafe { (crate::dispatch::dispatched::<T>().adamax)(buffers, coefficients) }
}

/// One AdaMax step on a forced tier, or an error (and nothing written) if the CPU lacks it.
///
/// # Panics
/// If the buffers' lengths differ (checked before anything is written).
pub fn adamax_on<T: Float>(
    tier: crate::Tier,
    buffers: AdaMaxBuffers<'_, T>,
    coefficients: &AdaMaxCoefficients<T>,
) -> Result<(), crate::TierUnavailable> {
    buffers.assert_lengths();
    let kernels = crate::dispatch::forced::<T>(tier)?;
    // SAFETY: `forced` only returns the table of an available tier; lengths are equal.
    unsafe { (kernels.adamax)(buffers, coefficients) };
    Ok(())
}
