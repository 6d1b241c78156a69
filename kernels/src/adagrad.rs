//! AdaGrad (Duchi, Hazan & Singer, 2011): per-coordinate steps scaled by the
//! root of the summed squared gradients.
//!
//! # Formula (per element, PyTorch semantics)
//!
//! With `t` the step number (first step: 1) and `s` starting at
//! `initial_accumulator_value`:
//!
//! ```text
//! g   = maximize ? −g : g
//! g   = g + wd·p                     (L2 weight decay)
//! clr = lr/(1 + (t − 1)·lr_decay)
//! s   = s + g²
//! p   = p − clr·g/(√s + ε)
//! ```
//!
//! # Op order (the bits)
//!
//! `clr` is computed once per call in `f64` and rounded to the element type
//! ([`AdaGradCoefficients`]). Per element, in this order:
//!
//! ```text
//! g = −g                             (if maximize)
//! g = g + (wd·p)                     (if L2)
//! s = s + (g·g)
//! p = p − clr·(g / (√s + ε))
//! ```
//!
//! One `√` and one `÷` per element, as PyTorch's `addcdiv` (`p + (−clr)·(g/d)`).
//!
//! # Tail handling
//!
//! As for Adam: unrolled full vectors, single vectors, one partial vector,
//! all through the same lane operations.
//!
//! # NaN rule
//!
//! There is no `max`: NaN and inf propagate through `+ × ÷ √` as IEEE says.
//! With ε = 0, a zero sum and a zero gradient give `0/0 = NaN`, as the formula
//! and PyTorch do.

use crate::Float;
use crate::lanes::{Block, Enter, Lanes, Variant, for_each_block, load_n, store_n};

/// The per-step scalars of AdaGrad, already rounded to the element type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdaGradCoefficients<T> {
    /// `clr = lr/(1 + (t − 1)·lr_decay)`.
    pub step_size: T,
    /// ε.
    pub eps: T,
    /// L2 weight decay coefficient (`None`: no decay).
    pub weight_decay: Option<T>,
    /// Ascend instead of descend (`g = −g`).
    pub maximize: bool,
}

crate::buffers::kernel_buffers! {
    /// The buffers of one AdaGrad step, all of one length.
    pub struct AdaGradBuffers for "AdaGrad" {
        /// Sum of squared gradients s (`sum` in PyTorch), updated in place.
        sum: rw,
    }
}

struct AdaGradBody<I: Lanes<T>, T: Float, const L2: bool, const MAXIMIZE: bool> {
    param: *mut T,
    grad: *const T,
    sum: *mut T,
    step_size: I::V,
    eps: I::V,
    weight_decay: I::V,
}

impl<I: Lanes<T>, T: Float, const L2: bool, const MAXIMIZE: bool> Block for AdaGradBody<I, T, L2, MAXIMIZE> {
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
            let s = I::add(load_n::<I, T>(self.sum.add(o), n), I::mul(g, g));
            store_n::<I, T>(self.sum.add(o), n, s);
            let d = I::add(I::sqrt(s), self.eps);
            let p = I::sub(p, I::mul(self.step_size, I::div(g, d)));
            store_n::<I, T>(self.param.add(o), n, p);
        }
    }
}

/// One AdaGrad call with its options fixed (see [`Variant`]).
struct AdaGradVariant<'a, T, const L2: bool, const MAXIMIZE: bool>(
    AdaGradBuffers<'a, T>,
    &'a AdaGradCoefficients<T>,
);

impl<I: Lanes<T>, T: Float, const L2: bool, const MAXIMIZE: bool> Variant<I>
    for AdaGradVariant<'_, T, L2, MAXIMIZE>
{
    type Output = ();

    #[inline(always)]
    unsafe fn run(self) {
        let AdaGradVariant(b, c) = self;
        // SAFETY: the tier is available (caller); pointers come from slices of
        // length `n` and `for_each_block` stays inside `0..n`.
        unsafe {
            let body = AdaGradBody::<I, T, L2, MAXIMIZE> {
                param: b.param.as_mut_ptr(),
                grad: b.grad.as_ptr(),
                sum: b.sum.as_mut_ptr(),
                step_size: I::splat(c.step_size),
                eps: I::splat(c.eps),
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
    b: AdaGradBuffers<'_, T>,
    c: &AdaGradCoefficients<T>,
) {
    // SAFETY: forwarded from the caller.
    unsafe { I::enter(AdaGradVariant::<T, L2, MAXIMIZE>(b, c)) }
}

crate::lanes::run_with_l2_and_maximize!(AdaGradBuffers, AdaGradCoefficients);

crate::buffers::entry_points! {
    /// # Example
    /// ```
    /// use fused_optim_kernels::{adagrad, AdaGradBuffers, AdaGradCoefficients};
    /// let c = AdaGradCoefficients { step_size: 1e-2f32, eps: 1e-10, weight_decay: None, maximize: false };
    /// let (mut p, g, mut s) = (vec![1.0f32; 3], vec![2.0f32; 3], vec![0.0f32; 3]);
    /// adagrad(AdaGradBuffers { param: &mut p, grad: &g, sum: &mut s }, &c);
    /// assert_eq!(s[0], 4.0);
    /// assert!((p[0] - 0.99).abs() < 1e-6); // the first step moves by lr·sign(g)
    /// ```
    "AdaGrad", adagrad, adagrad_on, adagrad, AdaGradBuffers, AdaGradCoefficients
}
