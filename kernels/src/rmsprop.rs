//! RMSprop (Tieleman & Hinton, 2012), with Graves' centered variant and
//! heavy-ball momentum.
//!
//! # Formula (per element, PyTorch semantics)
//!
//! ```text
//! g = maximize ? −g : g
//! g = g + wd·p                       (L2 weight decay)
//! v = α·v + (1 − α)·g²
//! a = α·a + (1 − α)·g                (centered)
//! d = √(v − a²) + ε                  (centered; else d = √v + ε)
//! b = μ·b + g/d,  p = p − lr·b       (momentum μ > 0)
//! p = p − lr·g/d                     (no momentum)
//! ```
//!
//! No per-step scalar depends on the step number: RMSprop has no bias
//! correction.
//!
//! # Op order (the bits)
//!
//! ```text
//! g = −g                             (if maximize)
//! g = g + (wd·p)                     (if L2)
//! v = (α·v) + (((1−α)·g)·g)
//! a = (α·a) + ((1−α)·g)              (if centered)
//! d = √(v − (a·a)) + ε               (if centered; else √v + ε)
//! b = (μ·b) + (g/d)                  (if momentum)
//! p = p − lr·b                       (if momentum; else p − lr·(g/d))
//! ```
//!
//! One `√` and one `÷` per element. Which options run is fixed by the buffers
//! given: `momentum_buffer` present means the momentum form (with the
//! coefficient `momentum`), `grad_avg` present means centered.
//!
//! # Tail handling
//!
//! As for Adam: unrolled full vectors, single vectors, one partial vector,
//! all through the same lane operations.
//!
//! # NaN rule
//!
//! There is no `max`: NaN and inf propagate through `+ × ÷ √` as IEEE says.
//! Centered, `v − a²` can round below zero where the gradient has been
//! constant (`v ≈ a²`); its root is then NaN, exactly as in PyTorch. A
//! positive ε does not prevent that: it is added after the root.

use crate::Float;
use crate::lanes::{Block, Enter, Lanes, Variant, for_each_block, load_n, store_n};

/// The scalars of an RMSprop step, already rounded to the element type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RmsPropCoefficients<T> {
    /// α, the smoothing constant.
    pub alpha: T,
    /// 1 − α.
    pub one_minus_alpha: T,
    /// ε.
    pub eps: T,
    /// The learning rate.
    pub lr: T,
    /// μ, the momentum coefficient (read only when `momentum_buffer` is given).
    pub momentum: T,
    /// L2 weight decay coefficient (`None`: no decay).
    pub weight_decay: Option<T>,
    /// Ascend instead of descend (`g = −g`).
    pub maximize: bool,
}

crate::buffers::kernel_buffers! {
    /// The buffers of one RMSprop step, all of one length.
    pub struct RmsPropBuffers for "RMSprop" {
        /// Running average of squared gradients v (`square_avg` in PyTorch), updated in place.
        square_avg: rw,
        /// Momentum buffer b, updated in place; given exactly when momentum is on.
        momentum_buffer: opt,
        /// Running average of gradients a, updated in place; given exactly when centered.
        grad_avg: opt,
    }
}

struct RmsPropBody<
    I: Lanes<T>,
    T: Float,
    const L2: bool,
    const MAXIMIZE: bool,
    const CENTERED: bool,
    const MOMENTUM: bool,
> {
    param: *mut T,
    grad: *const T,
    square_avg: *mut T,
    momentum_buffer: *mut T,
    grad_avg: *mut T,
    alpha: I::V,
    one_minus_alpha: I::V,
    eps: I::V,
    lr: I::V,
    momentum: I::V,
    weight_decay: I::V,
}

impl<I: Lanes<T>, T: Float, const L2: bool, const MAXIMIZE: bool, const CENTERED: bool, const MOMENTUM: bool>
    Block for RmsPropBody<I, T, L2, MAXIMIZE, CENTERED, MOMENTUM>
{
    #[inline(always)]
    unsafe fn run(&self, o: usize, n: usize) {
        // SAFETY: `o + n` is within every buffer (the optional ones are
        // non-null exactly when their const flag is on); the tier is available.
        unsafe {
            let mut g = load_n::<I, T>(self.grad.add(o), n);
            if MAXIMIZE {
                g = I::neg(g);
            }
            let p = load_n::<I, T>(self.param.add(o), n);
            if L2 {
                g = I::add(g, I::mul(self.weight_decay, p));
            }
            let v = load_n::<I, T>(self.square_avg.add(o), n);
            let v = I::add(I::mul(self.alpha, v), I::mul(I::mul(self.one_minus_alpha, g), g));
            store_n::<I, T>(self.square_avg.add(o), n, v);
            let variance = if CENTERED {
                let a = load_n::<I, T>(self.grad_avg.add(o), n);
                let a = I::add(I::mul(self.alpha, a), I::mul(self.one_minus_alpha, g));
                store_n::<I, T>(self.grad_avg.add(o), n, a);
                I::sub(v, I::mul(a, a))
            } else {
                v
            };
            let d = I::add(I::sqrt(variance), self.eps);
            let step = if MOMENTUM {
                let b = load_n::<I, T>(self.momentum_buffer.add(o), n);
                let b = I::add(I::mul(self.momentum, b), I::div(g, d));
                store_n::<I, T>(self.momentum_buffer.add(o), n, b);
                b
            } else {
                I::div(g, d)
            };
            store_n::<I, T>(self.param.add(o), n, I::sub(p, I::mul(self.lr, step)));
        }
    }
}

/// # Safety
/// Lengths are equal (checked by the caller); the tier `I` is available.
#[inline(always)]
unsafe fn run_variant<I: Lanes<T> + Enter, T: Float, const L2: bool, const MAXIMIZE: bool>(
    b: RmsPropBuffers<'_, T>,
    c: &RmsPropCoefficients<T>,
) {
    // SAFETY: forwarded from the caller.
    unsafe {
        match (b.grad_avg.is_some(), b.momentum_buffer.is_some()) {
            (false, false) => I::enter(RmsPropVariant::<T, L2, MAXIMIZE, false, false>(b, c)),
            (false, true) => I::enter(RmsPropVariant::<T, L2, MAXIMIZE, false, true>(b, c)),
            (true, false) => I::enter(RmsPropVariant::<T, L2, MAXIMIZE, true, false>(b, c)),
            (true, true) => I::enter(RmsPropVariant::<T, L2, MAXIMIZE, true, true>(b, c)),
        }
    }
}

/// One RMSprop call with its options fixed (see [`Variant`]).
struct RmsPropVariant<'a, T, const L2: bool, const MAXIMIZE: bool, const CENTERED: bool, const MOMENTUM: bool>(
    RmsPropBuffers<'a, T>,
    &'a RmsPropCoefficients<T>,
);

impl<I: Lanes<T>, T: Float, const L2: bool, const MAXIMIZE: bool, const CENTERED: bool, const MOMENTUM: bool>
    Variant<I> for RmsPropVariant<'_, T, L2, MAXIMIZE, CENTERED, MOMENTUM>
{
    type Output = ();

    #[inline(always)]
    unsafe fn run(self) {
        let RmsPropVariant(b, c) = self;
        let optional = |s: Option<&mut [T]>| s.map_or(core::ptr::null_mut(), |s| s.as_mut_ptr());
        // SAFETY: the tier is available (caller); pointers come from slices of
        // length `n` (the optional ones exactly when their flag is on) and
        // `for_each_block` stays inside `0..n`.
        unsafe {
            let body = RmsPropBody::<I, T, L2, MAXIMIZE, CENTERED, MOMENTUM> {
                param: b.param.as_mut_ptr(),
                grad: b.grad.as_ptr(),
                square_avg: b.square_avg.as_mut_ptr(),
                momentum_buffer: optional(b.momentum_buffer),
                grad_avg: optional(b.grad_avg),
                alpha: I::splat(c.alpha),
                one_minus_alpha: I::splat(c.one_minus_alpha),
                eps: I::splat(c.eps),
                lr: I::splat(c.lr),
                momentum: I::splat(c.momentum),
                weight_decay: I::splat(c.weight_decay.unwrap_or(T::ZERO)),
            };
            for_each_block::<I, T, _>(b.param.len(), &body);
        }
    }
}

crate::lanes::run_with_l2_and_maximize!(RmsPropBuffers, RmsPropCoefficients);

crate::buffers::entry_points! {
    /// # Example
    /// ```
    /// use fused_optim_kernels::{rmsprop, RmsPropBuffers, RmsPropCoefficients};
    /// let c = RmsPropCoefficients {
    ///     alpha: 0.99f32, one_minus_alpha: 0.01, eps: 1e-8, lr: 1e-2, momentum: 0.0,
    ///     weight_decay: None, maximize: false,
    /// };
    /// let (mut p, g, mut v) = (vec![1.0f32; 3], vec![0.5f32; 3], vec![0.0f32; 3]);
    /// rmsprop(RmsPropBuffers { param: &mut p, grad: &g, square_avg: &mut v,
    ///                          momentum_buffer: None, grad_avg: None }, &c);
    /// assert!((p[0] - (1.0 - 0.1)).abs() < 1e-6); // g/√(0.01·g²) = 10: a first step of 10·lr
    /// ```
    "RMSprop", rmsprop, rmsprop_on, rmsprop, RmsPropBuffers, RmsPropCoefficients
}
