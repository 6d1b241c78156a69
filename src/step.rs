//! The stateless step, written once for every algorithm, and its named
//! forms (`adam_step`, `adam_step_many`, …).
//!
//! [`step`] and [`step_many`] do the same for every [`Algorithm`]: validate
//! the hyperparameters and compute the step's coefficients once
//! ([`Validated::new`]), check every buffer of every tensor, and only then run
//! the kernel through the driver ([`crate::parallel`]), which cuts the
//! checked buffers into pieces and calls the kernel on each as it is. So on
//! error nothing is written, for every algorithm alike.

use crate::algorithms::{
    AdaDeltaConfig, AdaGradConfig, AdaMaxConfig, AdamConfig, Algorithm, LionConfig, RmsPropConfig, SgdConfig,
    Validated,
};
use crate::parallel::{Parallelism, drive, drive_many};
use crate::{Error, Float};
use fused_optim_kernels::{
    AdaDeltaBuffers, AdaGradBuffers, AdaMaxBuffers, AdamBuffers, LionBuffers, RmsPropBuffers, SgdBuffers,
};

/// One step of the algorithm `config` describes over one tensor's buffers.
/// `t` is the step number after increment (the first update is `t = 1`).
/// On error nothing is written.
///
/// ```
/// use fused_optim::{step, AdaGradBuffers, AdaGradConfig, Parallelism};
/// let (mut p, g, mut sum) = (vec![1.0f32; 4], vec![0.5f32; 4], vec![0.0f32; 4]);
/// step(&AdaGradConfig::default(), 1, AdaGradBuffers { param: &mut p, grad: &g, sum: &mut sum }, &Parallelism::Serial)?;
/// assert!(p[0] < 1.0 && sum[0] == 0.25);
/// # Ok::<(), fused_optim::Error>(())
/// ```
pub fn step<A: Algorithm, T: Float>(
    config: &A,
    t: u64,
    buffers: A::Buffers<'_, T>,
    parallelism: &Parallelism,
) -> Result<(), Error> {
    let validated = Validated::<A, T>::new(config, t)?;
    let buffers = validated.check(buffers)?;
    drive(buffers, validated.bytes_per_element(), parallelism, |b| A::kernel(b, validated.coefficients()));
    Ok(())
}

/// One step over a list of tensors (each its own length and buffers; one
/// hyperparameter set and step number for all), balanced across threads by
/// elements. Every tensor is checked before any is written; an error names
/// the first bad tensor ([`Error::Tensor`]).
pub fn step_many<A: Algorithm, T: Float>(
    config: &A,
    t: u64,
    tensors: &mut [A::Buffers<'_, T>],
    parallelism: &Parallelism,
) -> Result<(), Error> {
    let validated = Validated::<A, T>::new(config, t)?;
    step_many_validated(&validated, tensors.iter_mut().map(A::reborrow), parallelism)
}

/// [`step_many`] with the coefficients already computed (the C ABI's path:
/// it validates the config before it reads any pointer).
pub fn step_many_validated<'a, A: Algorithm, T: Float>(
    validated: &Validated<'_, A, T>,
    tensors: impl IntoIterator<Item = A::Buffers<'a, T>>,
    parallelism: &Parallelism,
) -> Result<(), Error> {
    // The one list of the step: each tensor checked once, into the kernels'
    // `Checked` buffers the driver cuts.
    let checked = tensors
        .into_iter()
        .enumerate()
        .map(|(index, b)| validated.check(b).map_err(|e| Error::Tensor { index, error: Box::new(e) }))
        .collect::<Result<Vec<_>, _>>()?;
    let total = checked.iter().map(|b| b.len()).sum();
    drive_many(checked, total, validated.bytes_per_element(), parallelism, |b| {
        A::kernel(b, validated.coefficients())
    });
    Ok(())
}

/// One Adam step over caller-owned slices: the shape a framework needs.
///
/// `t` is the step number after increment (the first update is `t = 1`).
/// `buffers.max_exp_avg_sq` must be `Some` exactly when `config.amsgrad`.
/// On error nothing is written.
///
/// ```
/// use fused_optim::{adam_step, AdamBuffers, AdamConfig, Parallelism};
/// let mut param = vec![1.0f32, -2.0, 3.0];
/// let grad = [0.1f32, -0.2, 0.0];
/// let (mut m, mut v) = (vec![0.0f32; 3], vec![0.0f32; 3]);
/// let buffers = AdamBuffers { param: &mut param, grad: &grad, exp_avg: &mut m,
///                             exp_avg_sq: &mut v, max_exp_avg_sq: None };
/// adam_step(&AdamConfig::default(), 1, buffers, &Parallelism::Global)?;
/// assert!((param[0] - 0.999).abs() < 1e-6 && (param[1] + 1.999).abs() < 1e-6);
/// assert_eq!(param[2], 3.0); // zero gradient, zero moment: no move
/// # Ok::<(), fused_optim::Error>(())
/// ```
pub fn adam_step<T: Float>(
    config: &AdamConfig,
    t: u64,
    buffers: AdamBuffers<'_, T>,
    parallelism: &Parallelism,
) -> Result<(), Error> {
    step(config, t, buffers, parallelism)
}

/// One Adam step over a whole list of tensors (each its own length and
/// buffers; one hyperparameter set and step number for all): the same bits as
/// [`adam_step`] on each tensor alone, in one call.
///
/// The work is balanced across threads by elements, not by tensors: large
/// tensors are split, small ones grouped, with no hand-off per tensor. Every
/// tensor is checked before any is written; an error names the first bad
/// tensor ([`Error::Tensor`]) and nothing is written.
///
/// ```
/// use fused_optim::{adam_step_many, AdamBuffers, AdamConfig, Parallelism};
/// let grads = [vec![0.5f32; 3], vec![-1.0f32; 1000]];
/// let mut params = [vec![1.0f32; 3], vec![2.0f32; 1000]];
/// let mut moments = [(vec![0.0f32; 3], vec![0.0f32; 3]), (vec![0.0f32; 1000], vec![0.0f32; 1000])];
/// let mut tensors: Vec<AdamBuffers<'_, f32>> = params.iter_mut().zip(&grads).zip(&mut moments)
///     .map(|((p, g), (m, v))| AdamBuffers { param: p, grad: g, exp_avg: m, exp_avg_sq: v, max_exp_avg_sq: None })
///     .collect();
/// adam_step_many(&AdamConfig::default(), 1, &mut tensors, &Parallelism::Global)?;
/// assert!(params[0][0] < 1.0 && params[1][999] > 2.0);
/// # Ok::<(), fused_optim::Error>(())
/// ```
pub fn adam_step_many<T: Float>(
    config: &AdamConfig,
    t: u64,
    tensors: &mut [AdamBuffers<'_, T>],
    parallelism: &Parallelism,
) -> Result<(), Error> {
    step_many(config, t, tensors, parallelism)
}

/// One AdaMax step over caller-owned slices. `t` is the step number after
/// increment (the first update is `t = 1`). On error nothing is written.
///
/// ```
/// use fused_optim::{adamax_step, AdaMaxBuffers, AdaMaxConfig, Parallelism};
/// let (mut p, g) = (vec![0.5f64; 4], vec![-1.0f64; 4]);
/// let (mut m, mut u) = (vec![0.0; 4], vec![0.0; 4]);
/// let b = AdaMaxBuffers { param: &mut p, grad: &g, exp_avg: &mut m, exp_inf: &mut u };
/// adamax_step(&AdaMaxConfig::default(), 1, b, &Parallelism::Serial)?;
/// assert!((p[0] - 0.502).abs() < 1e-9); // first step: lr·sign(−g)
/// # Ok::<(), fused_optim::Error>(())
/// ```
pub fn adamax_step<T: Float>(
    config: &AdaMaxConfig,
    t: u64,
    buffers: AdaMaxBuffers<'_, T>,
    parallelism: &Parallelism,
) -> Result<(), Error> {
    step(config, t, buffers, parallelism)
}

/// One AdaMax step over a whole list of tensors: the same bits as
/// [`adamax_step`] on each alone, balanced across threads by elements (see
/// [`adam_step_many`]). Every tensor is checked before
/// any is written; an error names the first bad tensor ([`Error::Tensor`]).
pub fn adamax_step_many<T: Float>(
    config: &AdaMaxConfig,
    t: u64,
    tensors: &mut [AdaMaxBuffers<'_, T>],
    parallelism: &Parallelism,
) -> Result<(), Error> {
    step_many(config, t, tensors, parallelism)
}

/// One AdaGrad step over caller-owned slices. `t` is the step number after
/// increment (the first update is `t = 1`; it matters only with `lr_decay`).
/// The `sum` buffer starts at [`AdaGradConfig::initial_accumulator_value`].
/// On error nothing is written.
///
/// ```
/// use fused_optim::{adagrad_step, AdaGradBuffers, AdaGradConfig, Parallelism};
/// let (mut p, g, mut s) = (vec![1.0f32; 4], vec![3.0f32; 4], vec![0.0f32; 4]);
/// adagrad_step(&AdaGradConfig::default(), 1, AdaGradBuffers { param: &mut p, grad: &g, sum: &mut s },
///              &Parallelism::Serial)?;
/// assert_eq!(s[0], 9.0);
/// assert!((p[0] - 0.99).abs() < 1e-6); // first step: lr·g/|g|
/// # Ok::<(), fused_optim::Error>(())
/// ```
pub fn adagrad_step<T: Float>(
    config: &AdaGradConfig,
    t: u64,
    buffers: AdaGradBuffers<'_, T>,
    parallelism: &Parallelism,
) -> Result<(), Error> {
    step(config, t, buffers, parallelism)
}

/// One AdaGrad step over a list of tensors: the same bits as [`adagrad_step`]
/// on each alone (see [`adam_step_many`]).
pub fn adagrad_step_many<T: Float>(
    config: &AdaGradConfig,
    t: u64,
    tensors: &mut [AdaGradBuffers<'_, T>],
    parallelism: &Parallelism,
) -> Result<(), Error> {
    step_many(config, t, tensors, parallelism)
}

/// One RMSprop step over caller-owned slices. `momentum_buffer` must be
/// given exactly when `momentum > 0`, `grad_avg` exactly when `centered`.
/// On error nothing is written.
///
/// ```
/// use fused_optim::{rmsprop_step, RmsPropBuffers, RmsPropConfig, Parallelism};
/// let config = RmsPropConfig { momentum: 0.9, centered: true, ..RmsPropConfig::default() };
/// let (mut p, g) = (vec![1.0f64; 4], vec![0.5f64; 4]);
/// let (mut v, mut b, mut a) = (vec![0.0; 4], vec![0.0; 4], vec![0.0; 4]);
/// let buffers = RmsPropBuffers { param: &mut p, grad: &g, square_avg: &mut v,
///                                momentum_buffer: Some(&mut b), grad_avg: Some(&mut a) };
/// rmsprop_step(&config, 1, buffers, &Parallelism::Serial)?;
/// assert!(p[0] < 1.0);
/// # Ok::<(), fused_optim::Error>(())
/// ```
pub fn rmsprop_step<T: Float>(
    config: &RmsPropConfig,
    t: u64,
    buffers: RmsPropBuffers<'_, T>,
    parallelism: &Parallelism,
) -> Result<(), Error> {
    step(config, t, buffers, parallelism)
}

/// One RMSprop step over a list of tensors: the same bits as [`rmsprop_step`]
/// on each alone (see [`adam_step_many`]).
pub fn rmsprop_step_many<T: Float>(
    config: &RmsPropConfig,
    t: u64,
    tensors: &mut [RmsPropBuffers<'_, T>],
    parallelism: &Parallelism,
) -> Result<(), Error> {
    step_many(config, t, tensors, parallelism)
}

/// One AdaDelta step over caller-owned slices. On error nothing is written.
///
/// ```
/// use fused_optim::{adadelta_step, AdaDeltaBuffers, AdaDeltaConfig, Parallelism};
/// let (mut p, g) = (vec![1.0f32; 4], vec![1.0f32; 4]);
/// let (mut s, mut x) = (vec![0.0f32; 4], vec![0.0f32; 4]);
/// let buffers = AdaDeltaBuffers { param: &mut p, grad: &g, square_avg: &mut s, acc_delta: &mut x };
/// adadelta_step(&AdaDeltaConfig::default(), 1, buffers, &Parallelism::Serial)?;
/// assert!((p[0] - (1.0 - 3.16e-3)).abs() < 1e-5); // δ = √ε/√(0.1 + ε)
/// # Ok::<(), fused_optim::Error>(())
/// ```
pub fn adadelta_step<T: Float>(
    config: &AdaDeltaConfig,
    t: u64,
    buffers: AdaDeltaBuffers<'_, T>,
    parallelism: &Parallelism,
) -> Result<(), Error> {
    step(config, t, buffers, parallelism)
}

/// One AdaDelta step over a list of tensors: the same bits as
/// [`adadelta_step`] on each alone (see [`adam_step_many`]).
pub fn adadelta_step_many<T: Float>(
    config: &AdaDeltaConfig,
    t: u64,
    tensors: &mut [AdaDeltaBuffers<'_, T>],
    parallelism: &Parallelism,
) -> Result<(), Error> {
    step_many(config, t, tensors, parallelism)
}

/// One SGD step over caller-owned slices (`torch.optim.SGD`).
/// `momentum_buffer` must be given exactly when `momentum > 0`.
///
/// `t` is the step number and decides the first step: at `t == 1` the
/// momentum buffer's contents are ignored and overwritten with the
/// (adjusted) gradient, PyTorch's first step for a parameter without a
/// buffer; every `t > 1` decays the buffer, `b = μ·b + (1 − dampening)·d`.
/// Mirroring PyTorch's state, pass `t = 1` for a parameter that has no
/// buffer yet and `t = 2` (any `t > 1`) otherwise. On error nothing is
/// written.
///
/// ```
/// use fused_optim::{sgd_step, SgdBuffers, SgdConfig, Parallelism};
/// let config = SgdConfig { lr: 0.5, momentum: 0.5, ..SgdConfig::default() };
/// let (mut p, g, mut b) = (vec![1.0f64; 4], vec![0.5f64; 4], vec![123.0f64; 4]);
/// sgd_step(&config, 1, SgdBuffers { param: &mut p, grad: &g, momentum_buffer: Some(&mut b) },
///          &Parallelism::Serial)?;
/// assert_eq!((p[0], b[0]), (0.75, 0.5)); // t = 1: b = g (the 123 is not read)
/// sgd_step(&config, 2, SgdBuffers { param: &mut p, grad: &g, momentum_buffer: Some(&mut b) },
///          &Parallelism::Serial)?;
/// assert_eq!((p[0], b[0]), (0.375, 0.75)); // t = 2: b = 0.5·0.5 + 0.5
/// # Ok::<(), fused_optim::Error>(())
/// ```
pub fn sgd_step<T: Float>(
    config: &SgdConfig,
    t: u64,
    buffers: SgdBuffers<'_, T>,
    parallelism: &Parallelism,
) -> Result<(), Error> {
    step(config, t, buffers, parallelism)
}

/// One SGD step over a list of tensors: the same bits as [`sgd_step`] on
/// each alone (see [`adam_step_many`]). `t == 1` is every tensor's first
/// step (see [`sgd_step`]).
pub fn sgd_step_many<T: Float>(
    config: &SgdConfig,
    t: u64,
    tensors: &mut [SgdBuffers<'_, T>],
    parallelism: &Parallelism,
) -> Result<(), Error> {
    step_many(config, t, tensors, parallelism)
}

/// One Lion step over caller-owned slices. `t` is the step number after
/// increment (the first update is `t = 1`; Lion only checks it). On error
/// nothing is written.
///
/// ```
/// use fused_optim::{lion_step, LionBuffers, LionConfig, Parallelism};
/// let (mut p, g, mut m) = (vec![1.0f32; 4], vec![0.5f32, -3.0, 0.0, 1e-30], vec![0.0f32; 4]);
/// let config = LionConfig { lr: 0.25, ..LionConfig::default() };
/// lion_step(&config, 1, LionBuffers { param: &mut p, grad: &g, exp_avg: &mut m }, &Parallelism::Serial)?;
/// assert_eq!(p, [0.75, 1.25, 1.0, 0.75]); // p −= lr·sign(β1·m + (1−β1)·g)
/// # Ok::<(), fused_optim::Error>(())
/// ```
pub fn lion_step<T: Float>(
    config: &LionConfig,
    t: u64,
    buffers: LionBuffers<'_, T>,
    parallelism: &Parallelism,
) -> Result<(), Error> {
    step(config, t, buffers, parallelism)
}

/// One Lion step over a list of tensors: the same bits as [`lion_step`] on
/// each alone (see [`adam_step_many`]).
pub fn lion_step_many<T: Float>(
    config: &LionConfig,
    t: u64,
    tensors: &mut [LionBuffers<'_, T>],
    parallelism: &Parallelism,
) -> Result<(), Error> {
    step_many(config, t, tensors, parallelism)
}
