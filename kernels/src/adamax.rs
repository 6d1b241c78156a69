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
use crate::lanes::{Block, Enter, Lanes, Variant, for_each_block, load_n, store_n};

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

crate::buffers::kernel_buffers! {
    /// The buffers of one AdaMax step, all of one length.
    pub struct AdaMaxBuffers for "AdaMax" {
        /// First moment m, updated in place.
        exp_avg: rw,
        /// Exponentially weighted infinity norm u, updated in place.
        exp_inf: rw,
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

/// One AdaMax call with its options fixed (see [`Variant`]).
struct AdaMaxVariant<'a, T, const L2: bool, const MAXIMIZE: bool>(
    AdaMaxBuffers<'a, T>,
    &'a AdaMaxCoefficients<T>,
);

impl<I: Lanes<T>, T: Float, const L2: bool, const MAXIMIZE: bool> Variant<I>
    for AdaMaxVariant<'_, T, L2, MAXIMIZE>
{
    type Output = ();

    #[inline(always)]
    unsafe fn run(self) {
        let AdaMaxVariant(b, c) = self;
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
}

/// # Safety
/// Lengths are equal (checked by the caller); the tier `I` is available.
#[inline(always)]
unsafe fn run_variant<I: Lanes<T> + Enter, T: Float, const L2: bool, const MAXIMIZE: bool>(
    b: AdaMaxBuffers<'_, T>,
    c: &AdaMaxCoefficients<T>,
) {
    // SAFETY: forwarded from the caller.
    unsafe { I::enter(AdaMaxVariant::<T, L2, MAXIMIZE>(b, c)) }
}

crate::lanes::run_with_l2_and_maximize!(AdaMaxBuffers, AdaMaxCoefficients);

crate::buffers::entry_points! {
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
    "AdaMax", adamax, adamax_on, adamax, AdaMaxBuffers, AdaMaxCoefficients
}
