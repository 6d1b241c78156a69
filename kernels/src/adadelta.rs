//! AdaDelta (Zeiler, 2012): steps whose units match the parameter's, from
//! running averages of squared gradients and of squared updates.
//!
//! # Formula (per element, PyTorch semantics)
//!
//! ```text
//! g = maximize ? −g : g
//! g = g + wd·p                       (L2 weight decay)
//! s = ρ·s + (1 − ρ)·g²
//! δ = √(x + ε)/√(s + ε)·g
//! x = ρ·x + (1 − ρ)·δ²
//! p = p − lr·δ
//! ```
//!
//! No per-step scalar depends on the step number: AdaDelta has no bias
//! correction.
//!
//! # Op order (the bits)
//!
//! PyTorch's order (`std = (s + ε).sqrt()`, `delta = (x + ε).sqrt() / std * g`):
//!
//! ```text
//! g = −g                             (if maximize)
//! g = g + (wd·p)                     (if L2)
//! s = (ρ·s) + (((1−ρ)·g)·g)
//! δ = (√(x + ε) / √(s + ε))·g
//! x = (ρ·x) + (((1−ρ)·δ)·δ)
//! p = p − lr·δ
//! ```
//!
//! Two `√` and one `÷` per element. `√((x + ε)/(s + ε))` would save a root
//! but rounds differently from the formula every framework writes, and the
//! step is memory-bound at the sizes that matter; the two roots stay.
//!
//! # Tail handling
//!
//! As for Adam: unrolled full vectors, single vectors, one partial vector,
//! all through the same lane operations.
//!
//! # NaN rule
//!
//! There is no `max`: NaN and inf propagate through `+ × ÷ √` as IEEE says.

use crate::Float;
use crate::lanes::{Block, Enter, Lanes, Variant, for_each_block, load_n, store_n};

/// The scalars of an AdaDelta step, already rounded to the element type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdaDeltaCoefficients<T> {
    /// ρ.
    pub rho: T,
    /// 1 − ρ.
    pub one_minus_rho: T,
    /// ε.
    pub eps: T,
    /// The learning rate lr (PyTorch's default 1.0 leaves δ as it is).
    pub lr: T,
    /// L2 weight decay coefficient (`None`: no decay).
    pub weight_decay: Option<T>,
    /// Ascend instead of descend (`g = −g`).
    pub maximize: bool,
}

crate::buffers::kernel_buffers! {
    /// The buffers of one AdaDelta step, all of one length.
    pub struct AdaDeltaBuffers for "AdaDelta" {
        /// Running average of squared gradients s (`square_avg` in PyTorch), updated in place.
        square_avg: rw,
        /// Running average of squared updates x (`acc_delta`), updated in place.
        acc_delta: rw,
    }
}

struct AdaDeltaBody<I: Lanes<T>, T: Float, const L2: bool, const MAXIMIZE: bool> {
    param: *mut T,
    grad: *const T,
    square_avg: *mut T,
    acc_delta: *mut T,
    rho: I::V,
    one_minus_rho: I::V,
    eps: I::V,
    lr: I::V,
    weight_decay: I::V,
}

impl<I: Lanes<T>, T: Float, const L2: bool, const MAXIMIZE: bool> Block for AdaDeltaBody<I, T, L2, MAXIMIZE> {
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
            let s = load_n::<I, T>(self.square_avg.add(o), n);
            let s = I::add(I::mul(self.rho, s), I::mul(I::mul(self.one_minus_rho, g), g));
            store_n::<I, T>(self.square_avg.add(o), n, s);
            let x = load_n::<I, T>(self.acc_delta.add(o), n);
            let std = I::sqrt(I::add(s, self.eps));
            let delta = I::mul(I::div(I::sqrt(I::add(x, self.eps)), std), g);
            let x = I::add(I::mul(self.rho, x), I::mul(I::mul(self.one_minus_rho, delta), delta));
            store_n::<I, T>(self.acc_delta.add(o), n, x);
            let p = I::sub(p, I::mul(self.lr, delta));
            store_n::<I, T>(self.param.add(o), n, p);
        }
    }
}

/// One AdaDelta call with its options fixed (see [`Variant`]).
struct AdaDeltaVariant<'a, T, const L2: bool, const MAXIMIZE: bool>(
    AdaDeltaBuffers<'a, T>,
    &'a AdaDeltaCoefficients<T>,
);

impl<I: Lanes<T>, T: Float, const L2: bool, const MAXIMIZE: bool> Variant<I>
    for AdaDeltaVariant<'_, T, L2, MAXIMIZE>
{
    type Output = ();

    #[inline(always)]
    unsafe fn run(self) {
        let AdaDeltaVariant(b, c) = self;
        // SAFETY: the tier is available (caller); pointers come from slices of
        // length `n` and `for_each_block` stays inside `0..n`.
        unsafe {
            let body = AdaDeltaBody::<I, T, L2, MAXIMIZE> {
                param: b.param.as_mut_ptr(),
                grad: b.grad.as_ptr(),
                square_avg: b.square_avg.as_mut_ptr(),
                acc_delta: b.acc_delta.as_mut_ptr(),
                rho: I::splat(c.rho),
                one_minus_rho: I::splat(c.one_minus_rho),
                eps: I::splat(c.eps),
                lr: I::splat(c.lr),
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
    b: AdaDeltaBuffers<'_, T>,
    c: &AdaDeltaCoefficients<T>,
) {
    // SAFETY: forwarded from the caller.
    unsafe { I::enter(AdaDeltaVariant::<T, L2, MAXIMIZE>(b, c)) }
}

crate::lanes::run_with_l2_and_maximize!(AdaDeltaBuffers, AdaDeltaCoefficients);

crate::buffers::entry_points! {
    /// # Example
    /// ```
    /// use fused_optim_kernels::{adadelta, AdaDeltaBuffers, AdaDeltaCoefficients};
    /// let c = AdaDeltaCoefficients {
    ///     rho: 0.9f64, one_minus_rho: 0.1, eps: 1e-6, lr: 1.0, weight_decay: None, maximize: false,
    /// };
    /// let (mut p, g) = (vec![1.0f64; 3], vec![1.0f64; 3]);
    /// let (mut s, mut x) = (vec![0.0f64; 3], vec![0.0f64; 3]);
    /// adadelta(AdaDeltaBuffers { param: &mut p, grad: &g, square_avg: &mut s, acc_delta: &mut x }, &c);
    /// // δ = √(0 + ε)/√(0.1 + ε)·1 ≈ 3.16e-3
    /// assert!((p[0] - (1.0 - (1e-6f64 / (0.1 + 1e-6)).sqrt())).abs() < 1e-12);
    /// ```
    "AdaDelta", adadelta, adadelta_on, adadelta, AdaDeltaBuffers, AdaDeltaCoefficients
}
