//! # fused-optim-candle
//!
//! [fused-optim](fused_optim)'s fused optimizer steps as candle's
//! optimizers: [`AdamW`], [`Adam`], [`AdaMax`], [`AdaGrad`], [`RmsProp`],
//! [`AdaDelta`], [`Lion`] and [`Sgd`] implement [`candle_nn::Optimizer`]
//! (`new`, `step(&GradStore)`, `learning_rate`, `set_learning_rate`) over
//! [`Var`]s on the CPU device.
//!
//! ## What is fused
//!
//! `candle_nn::AdamW` steps each variable with about ten tensor operations
//! (`m·β1`, `g·(1−β1)`, their sum, `g²`, …), each a pass over the tensor
//! that allocates its result, then copies the results back into the
//! variable and its moments. Here each variable is stepped by the core
//! crate's kernel in **one pass**: parameter, gradient and state are read
//! once and written once, in place, with no temporary; the SIMD tier is
//! picked at run time and a large tensor is split across rayon's threads.
//!
//! ## How the update reaches candle's storage
//!
//! candle lends a tensor's storage mutably only to an in-place custom op
//! ([`InplaceOp1`], one tensor at a time, behind the storage's write lock).
//! The step of one variable is an [`InplaceOp1`] on the variable, inside
//! which a second one on the (contiguous) gradient lends the gradient's
//! slice; the core crate's step then runs on the two slices and on the
//! optimizer's state. (The gradient's slice is lent mutably because the
//! core crate's mixed-precision buffers are mutable slices; nothing writes
//! it.) Before that, an [`InplaceOp2`](candle_core::InplaceOp2) that writes
//! nothing lets candle refuse a gradient that shares its variable's storage,
//! which the nested write locks would otherwise wait on forever. The locks
//! are taken variable first, then gradient, one variable at a time.
//!
//! So each variable is one call of the core crate: the multi-tensor step
//! ([`fused_optim::step_many`]), which balances all the tensors across the
//! threads in one call, would need every storage lent at once. The crate's
//! benchmark measures what that costs (`BENCHMARKS.md`, "candle"): nothing
//! measurable for a model of 50 tensors of 0.2–0.3 M parameters, each large
//! enough to be split across the threads by itself; tensors below the core
//! crate's serial threshold (512 KiB of traffic) step on one thread each.
//!
//! The state (`exp_avg`, `exp_avg_sq`, …) is the optimizer's own `Vec`s,
//! allocated by [`new`](candle_nn::Optimizer::new); a step allocates
//! nothing, but for a non-contiguous gradient, which candle copies into a
//! contiguous one first ([`Tensor::contiguous`]).
//!
//! ## Dtypes
//!
//! - `f32` and `f64` variables step in their own type, with state of that
//!   type: the core crate's [`fused_optim::step()`], whose bits are the same on
//!   every SIMD tier and thread count.
//! - `bf16` and `f16` variables (with gradients of the same type) use the
//!   core crate's mixed-precision step ([`fused_optim::mixed`]): the weights
//!   and gradients stay in their 16-bit type, the state is `f32`, the
//!   arithmetic is `f32`, and the new weight is rounded to nearest even.
//!   The core crate has this step for Adam/AdamW, Lion and SGD only; the
//!   other algorithms refuse 16-bit variables (at [`new`](candle_nn::Optimizer::new)).
//!   (`candle_nn::AdamW` computes in `bf16` throughout, moments included,
//!   so the two drift apart further in `bf16` than in `f32`: the crate's
//!   `tests/mlp.rs` states by how much.) No loss scaling and no `found_inf`
//!   skip: a non-finite gradient propagates into the weights, as in
//!   `candle_nn::AdamW`.
//! - Variables of another dtype: as `candle_nn::AdamW` does, integer
//!   variables are left out at construction; a float dtype the core crate
//!   has no step for (`F8E4M3`, …) is an error there.
//!
//! ## Errors: a failing step changes nothing
//!
//! Errors are `candle_core::Error::Msg`, naming the variable by its
//! position among the optimizer's variables ([`Optimizer::vars`]: those
//! given to `new`, integer ones left out), its dtype and shape:
//!
//! - at construction: a variable not on the CPU device, a non-contiguous
//!   variable (candle 0.11 makes every `Var` contiguous, so this is a
//!   guard), an unsupported dtype, bad hyperparameters (`beta1 >= 1`, a
//!   negative `lr`, … with the core crate's message);
//! - at a step, checked for every variable before any is written: a
//!   gradient on another device, of another dtype or shape than its
//!   variable, or sharing the variable's storage; a learning rate set by
//!   [`set_learning_rate`](candle_nn::Optimizer::set_learning_rate) that the
//!   core crate refuses (negative, NaN).
//!
//! Variables without a gradient in the [`GradStore`] are skipped (not decayed
//! either), as `candle_nn::AdamW` skips them; the step count still advances.
//!
//! ## AdamW against `candle_nn::AdamW`
//!
//! [`AdamW`] takes `candle_nn`'s own [`ParamsAdamW`] (same fields, same
//! defaults) and computes the same update: `θ·(1 − lr·λ)` (decoupled decay)
//! and the bias-corrected moments, with `ε` added to `√v̂`. The results differ
//! only by rounding: the core crate computes `(1−β2)·g·g` where candle
//! computes `g²·(1−β2)`, and evaluates `lr·m̂/(√v̂ + ε)` in its one-division
//! form `s·m/(√v + ε̂)` (`s = lr·√bc2/bc1`, `ε̂ = ε·√bc2`, computed in `f64`)
//! where candle multiplies `m` and `v` by `1/bc1` and `1/bc2` and divides by
//! `√v̂ + ε` then multiplies by `lr`: a few ulps per step in `f32`.
//! The step number is counted the same way (every call of `step`).
//!
//! ## Threads
//!
//! A variable's step runs on [`Parallelism::Global`] by default: rayon's
//! current pool (the global one, sized by `RAYON_NUM_THREADS` or the
//! machine, or the pool whose [`install`](https://docs.rs/rayon) runs the
//! step), splitting tensors above the core crate's serial threshold
//! ([`fused_optim::serial_threshold`]); [`Optimizer::with_parallelism`]
//! chooses others. candle's own CPU kernels are independent of this: its
//! matrix products use `candle_core::utils::get_num_threads()` (also
//! `RAYON_NUM_THREADS`, else the physical cores), and its elementwise ops,
//! which `candle_nn::AdamW` is made of, run on the calling thread.
//!
//! `candle-optimisers` (SGD, RMSprop, AdaGrad, AdaDelta, AdaMax, Adam, …
//! as tensor operations) is not compared against: its 0.10 depends on
//! candle 0.10, and no candle version serves both it and candle-nn 0.11.
//!
//! ## Example
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use candle_nn::{Linear, Module, Optimizer, VarBuilder, VarMap};
//! use fused_optim_candle::{AdamW, ParamsAdamW};
//!
//! let device = Device::Cpu;
//! let varmap = VarMap::new();
//! let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
//! let layer: Linear = candle_nn::linear(4, 1, vb.pp("fc"))?;
//! let mut opt = AdamW::new(varmap.all_vars(), ParamsAdamW { lr: 0.05, ..ParamsAdamW::default() })?;
//! let x = Tensor::ones((8, 4), DType::F32, &device)?;
//! let mut losses = vec![];
//! for _ in 0..20 {
//!     let loss = layer.forward(&x)?.sqr()?.mean_all()?; // drive the output to 0
//!     opt.backward_step(&loss)?;
//!     losses.push(loss.to_scalar::<f32>()?);
//! }
//! assert!(losses[19] < losses[0]);
//! assert_eq!(opt.steps(), 20);
//! # Ok::<(), candle_core::Error>(())
//! ```

#![warn(missing_docs)]
#![deny(unsafe_code)]

use candle_core::backend::BackendStorage;
use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, DType, InplaceOp1, Layout, Result, Tensor, Var, bail};
use fused_optim::mixed::{MixedBuffers, MixedKernel, MixedOptions, MixedSlice, step_mixed};
use fused_optim::{Algorithm, Float, new_state};
use std::cell::Cell;

pub use candle_nn::ParamsAdamW;
pub use fused_optim::{
    AdaDeltaConfig, AdaGradConfig, AdaMaxConfig, AdamConfig, EpsForm, LionConfig, Parallelism, RmsPropConfig,
    SgdConfig, WeightDecay,
};

/// candle's AdamW ([`ParamsAdamW`]: `lr`, `beta1`, `beta2`, `eps`,
/// `weight_decay`, candle's defaults), fused.
pub type AdamW = Optimizer<ParamsAdamW>;
/// Adam, AdamW or AMSGrad from the core crate's [`AdamConfig`] (PyTorch's
/// options: L2 or decoupled decay, AMSGrad, maximize, the ε̂ form).
pub type Adam = Optimizer<AdamConfig>;
/// AdaMax ([`AdaMaxConfig`]); `f32`/`f64` variables.
pub type AdaMax = Optimizer<AdaMaxConfig>;
/// AdaGrad ([`AdaGradConfig`]); `f32`/`f64` variables.
pub type AdaGrad = Optimizer<AdaGradConfig>;
/// RMSprop ([`RmsPropConfig`]); `f32`/`f64` variables.
pub type RmsProp = Optimizer<RmsPropConfig>;
/// AdaDelta ([`AdaDeltaConfig`]); `f32`/`f64` variables.
pub type AdaDelta = Optimizer<AdaDeltaConfig>;
/// Lion ([`LionConfig`]).
pub type Lion = Optimizer<LionConfig>;
/// SGD with momentum, dampening, Nesterov and weight decay as PyTorch's ([`SgdConfig`]).
pub type Sgd = Optimizer<SgdConfig>;

/// What an optimizer is built from: the hyperparameters, turned into the
/// core crate's algorithm. Implemented for candle's [`ParamsAdamW`] and for
/// every config of the core crate ([`AdamConfig`], [`LionConfig`], …).
pub trait Params: Clone + std::fmt::Debug {
    /// The core crate's algorithm the optimizer runs.
    type Algorithm: Fused;

    /// The core crate's config for these hyperparameters.
    fn algorithm(&self) -> Self::Algorithm;
}

impl Params for ParamsAdamW {
    type Algorithm = AdamConfig;

    /// Decoupled weight decay, with candle's `ε` added to `√v̂` (PyTorch's
    /// form, [`EpsForm::Standard`]).
    fn algorithm(&self) -> AdamConfig {
        AdamConfig {
            lr: self.lr,
            betas: (self.beta1, self.beta2),
            eps: self.eps,
            weight_decay: WeightDecay::Decoupled(self.weight_decay),
            ..AdamConfig::default()
        }
    }
}

impl<A: Fused> Params for A {
    type Algorithm = A;

    fn algorithm(&self) -> A {
        self.clone()
    }
}

/// An algorithm of the core crate as this crate runs it: whether it has a
/// step for `bf16`/`f16` variables (the core crate's mixed-precision step,
/// `f32` state), and that step.
pub trait Fused: Algorithm {
    /// True when `bf16`/`f16` variables can be stepped.
    const HALF: bool = false;

    /// The mixed-precision step of one variable (called only when
    /// [`HALF`](Self::HALF)).
    fn step_half(&self, t: u64, buffers: MixedBuffers<'_>, parallelism: &Parallelism) -> Result<()> {
        let _ = (t, buffers, parallelism);
        bail!("fused-optim: {} has no bf16/f16 step", Self::NAME)
    }
}

/// The mixed-precision step as this crate runs it: no loss scale, no
/// `found_inf` skip (a non-finite gradient propagates, as in candle), round
/// to nearest even.
fn mixed<A: Algorithm>(config: &A, t: u64, buffers: MixedBuffers<'_>, parallelism: &Parallelism) -> Result<()>
where
    A::Coefficients<f32>: MixedKernel,
{
    let options = MixedOptions { skip_non_finite: false, ..MixedOptions::default() };
    step_mixed(config, t, buffers, &options, parallelism).map(|_applied| ()).map_err(core_error)
}

impl Fused for AdamConfig {
    const HALF: bool = true;
    fn step_half(&self, t: u64, buffers: MixedBuffers<'_>, parallelism: &Parallelism) -> Result<()> {
        mixed(self, t, buffers, parallelism)
    }
}

impl Fused for LionConfig {
    const HALF: bool = true;
    fn step_half(&self, t: u64, buffers: MixedBuffers<'_>, parallelism: &Parallelism) -> Result<()> {
        mixed(self, t, buffers, parallelism)
    }
}

impl Fused for SgdConfig {
    const HALF: bool = true;
    fn step_half(&self, t: u64, buffers: MixedBuffers<'_>, parallelism: &Parallelism) -> Result<()> {
        mixed(self, t, buffers, parallelism)
    }
}

impl Fused for AdaMaxConfig {}
impl Fused for AdaGradConfig {}
impl Fused for RmsPropConfig {}
impl Fused for AdaDeltaConfig {}

/// A core crate error as candle's.
fn core_error(e: fused_optim::Error) -> candle_core::Error {
    candle_core::Error::msg(format!("fused-optim: {e}"))
}

/// One variable's state: `f64` for an `f64` variable, `f32` for the others
/// (`f32`, and `bf16`/`f16` through the mixed-precision step).
#[derive(Debug)]
enum State<A: Algorithm> {
    F32(A::State<f32>),
    F64(A::State<f64>),
}

#[derive(Debug)]
struct Slot<A: Algorithm> {
    var: Var,
    state: State<A>,
}

/// A fused optimizer over candle [`Var`]s: one algorithm of the core crate
/// ([`Params::Algorithm`]), its state per variable, the step count. The
/// aliases ([`AdamW`], [`Adam`], [`Lion`], …) are what users name.
#[derive(Debug)]
pub struct Optimizer<P: Params> {
    config: P::Algorithm,
    vars: Vec<Slot<P::Algorithm>>,
    steps: u64,
    parallelism: Parallelism,
}

impl<P: Params> Optimizer<P> {
    /// Sets the threads each variable's step may use (default:
    /// [`Parallelism::Global`], rayon's current pool).
    pub fn with_parallelism(mut self, parallelism: Parallelism) -> Self {
        self.parallelism = parallelism;
        self
    }

    /// The threads each variable's step may use.
    pub fn parallelism(&self) -> &Parallelism {
        &self.parallelism
    }

    /// Steps taken so far (the last step's number).
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The core crate's config the steps run (its learning rate is
    /// [`learning_rate`](candle_nn::Optimizer::learning_rate)).
    pub fn config(&self) -> &P::Algorithm {
        &self.config
    }

    /// The variables stepped, in the order given to `new` (integer ones left out).
    pub fn vars(&self) -> impl ExactSizeIterator<Item = &Var> {
        self.vars.iter().map(|s| &s.var)
    }
}

/// `var` refused if the optimizer cannot step it: another device, a
/// non-contiguous layout, a dtype without a step for `A`.
fn check_var<A: Fused>(index: usize, var: &Var) -> Result<()> {
    let what = || format!("fused-optim {}: variable {index} ({:?}, {:?})", A::NAME, var.dtype(), var.shape());
    if !var.device().is_cpu() {
        bail!("{}: on {:?}, not the CPU device (use candle_nn::AdamW there)", what(), var.device().location())
    }
    if !var.is_contiguous() {
        bail!("{}: not contiguous (make it with Var::from_tensor(&t.contiguous()?))", what())
    }
    match var.dtype() {
        DType::F32 | DType::F64 => Ok(()),
        DType::BF16 | DType::F16 if A::HALF => Ok(()),
        DType::BF16 | DType::F16 => {
            bail!("{}: {} has no bf16/f16 step (Adam, AdamW, Lion and SGD have)", what(), A::NAME)
        }
        dtype => bail!("{}: no step for {dtype:?} (f32, f64, bf16, f16 have)", what()),
    }
}

/// `grad` refused for `var`: another device, dtype or shape, or `var`'s own storage.
fn check_grad<A: Algorithm>(index: usize, var: &Var, grad: &Tensor) -> Result<()> {
    let what = || format!("fused-optim {}: variable {index} ({:?}, {:?})", A::NAME, var.dtype(), var.shape());
    if !grad.device().is_cpu() {
        bail!("{}: its gradient is on {:?}, not the CPU device", what(), grad.device().location())
    }
    if grad.dtype() != var.dtype() {
        bail!("{}: its gradient is {:?}", what(), grad.dtype())
    }
    if grad.shape() != var.shape() {
        bail!("{}: its gradient has the shape {:?}", what(), grad.shape())
    }
    // candle refuses an in-place op whose source shares the destination's
    // storage before it takes any lock; the nested ops of the step would wait
    // on themselves instead. This op writes nothing.
    var.inplace_op2(grad, &SharesNoStorage).map_err(|e| candle_core::Error::msg(format!("{}: {e}", what())))
}

/// The in-place op that only lets candle check that a gradient does not
/// share its variable's storage.
struct SharesNoStorage;

impl candle_core::InplaceOp2 for SharesNoStorage {
    fn name(&self) -> &'static str {
        "fused-optim gradient check"
    }
    fn cpu_fwd(&self, _: &mut CpuStorage, _: &Layout, _: &CpuStorage, _: &Layout) -> Result<()> {
        Ok(())
    }
}

/// An in-place op that lends a tensor's CPU storage and layout to a closure, once.
struct Lend<F>(Cell<Option<F>>);

impl<F: FnOnce(&mut CpuStorage, &Layout) -> Result<()>> InplaceOp1 for Lend<F> {
    fn name(&self) -> &'static str {
        "fused-optim step"
    }
    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        match self.0.take() {
            Some(f) => f(storage, layout),
            None => bail!("fused-optim: an in-place op ran twice"),
        }
    }
}

/// Runs `f` on `tensor`'s storage and layout, under its write lock.
fn with_storage(tensor: &Tensor, f: impl FnOnce(&mut CpuStorage, &Layout) -> Result<()>) -> Result<()> {
    tensor.inplace_op1(&Lend(Cell::new(Some(f))))
}

/// The elements a contiguous layout covers.
fn elements<'a, T>(data: &'a mut [T], layout: &Layout) -> Result<&'a mut [T]> {
    match layout.contiguous_offsets() {
        Some((start, end)) if end <= data.len() => Ok(&mut data[start..end]),
        _ => bail!("fused-optim: a tensor is not contiguous"),
    }
}

/// One step of `config` over one `f32`/`f64` variable.
fn step_full<A: Algorithm, T: Float>(
    config: &A,
    t: u64,
    state: &mut A::State<T>,
    param: &mut [T],
    grad: &[T],
    parallelism: &Parallelism,
) -> Result<()> {
    let Some(buffers) = A::buffers(param, grad, A::slots(A::view_mut(state))) else {
        bail!("fused-optim {}: state buffers missing", A::NAME)
    };
    fused_optim::step(config, t, buffers, parallelism).map_err(core_error)
}

/// One step of `config` over one `bf16`/`f16` variable, `f32` state.
fn step_half<A: Fused>(
    config: &A,
    t: u64,
    state: &mut A::State<f32>,
    param: MixedSlice<'_>,
    grad: MixedSlice<'_>,
    parallelism: &Parallelism,
) -> Result<()> {
    let state = A::slots(A::view_mut(state)).map(|s| s.map(MixedSlice::F32));
    config.step_half(t, MixedBuffers { param, grad, state, param_copy: None, position: 0 }, parallelism)
}

/// One step of `config` over one variable's storage, its gradient's and its state.
fn step_storage<A: Fused>(
    config: &A,
    t: u64,
    state: &mut State<A>,
    (param, param_layout): (&mut CpuStorage, &Layout),
    (grad, grad_layout): (&mut CpuStorage, &Layout),
    parallelism: &Parallelism,
) -> Result<()> {
    let (p, g) = (param_layout, grad_layout);
    match (state, param, grad) {
        (State::F32(s), CpuStorage::F32(pd), CpuStorage::F32(gd)) => {
            step_full(config, t, s, elements(pd, p)?, elements(gd, g)?, parallelism)
        }
        (State::F64(s), CpuStorage::F64(pd), CpuStorage::F64(gd)) => {
            step_full(config, t, s, elements(pd, p)?, elements(gd, g)?, parallelism)
        }
        (State::F32(s), CpuStorage::BF16(pd), CpuStorage::BF16(gd)) => {
            let (pd, gd) = (MixedSlice::Bf16(elements(pd, p)?), MixedSlice::Bf16(elements(gd, g)?));
            step_half(config, t, s, pd, gd, parallelism)
        }
        (State::F32(s), CpuStorage::F16(pd), CpuStorage::F16(gd)) => {
            let (pd, gd) = (MixedSlice::F16(elements(pd, p)?), MixedSlice::F16(elements(gd, g)?));
            step_half(config, t, s, pd, gd, parallelism)
        }
        (_, pd, gd) => {
            bail!(
                "fused-optim {}: no step for a {:?} variable with a {:?} gradient",
                A::NAME,
                pd.dtype(),
                gd.dtype()
            )
        }
    }
}

impl<P: Params> candle_nn::Optimizer for Optimizer<P> {
    type Config = P;

    /// The optimizer of `vars` (integer ones left out, as `candle_nn::AdamW`
    /// does), with fresh state; errors as the [crate] says.
    fn new(vars: Vec<Var>, params: P) -> Result<Self> {
        let config = params.algorithm();
        config.validate().map_err(core_error)?;
        let vars: Vec<Var> = vars.into_iter().filter(|v| v.dtype().is_float()).collect();
        for (index, var) in vars.iter().enumerate() {
            check_var::<P::Algorithm>(index, var)?;
        }
        let vars = vars
            .into_iter()
            .map(|var| {
                let len = var.elem_count();
                let state = match var.dtype() {
                    DType::F64 => State::F64(new_state(&config, len).map_err(core_error)?),
                    _ => State::F32(new_state(&config, len).map_err(core_error)?),
                };
                Ok(Slot { var, state })
            })
            .collect::<Result<_>>()?;
        Ok(Optimizer { config, vars, steps: 0, parallelism: Parallelism::default() })
    }

    /// One step of every variable that has a gradient in `grads`, in place.
    /// Every variable and gradient is checked before any is written: on
    /// error nothing has changed (nor has the step count).
    fn step(&mut self, grads: &GradStore) -> Result<()> {
        let Some(t) = self.steps.checked_add(1) else { bail!("fused-optim: the step count overflows") };
        // The step's coefficients for each state type present: a learning
        // rate or step the core crate refuses fails here, before any write.
        if self.vars.iter().any(|s| matches!(s.state, State::F32(_))) {
            self.config.coefficients::<f32>(t).map_err(core_error)?;
        }
        if self.vars.iter().any(|s| matches!(s.state, State::F64(_))) {
            self.config.coefficients::<f64>(t).map_err(core_error)?;
        }
        for (index, slot) in self.vars.iter().enumerate() {
            if let Some(grad) = grads.get(&slot.var) {
                check_grad::<P::Algorithm>(index, &slot.var, grad)?;
            }
        }
        let (config, parallelism) = (&self.config, &self.parallelism);
        for slot in &mut self.vars {
            let Some(grad) = grads.get(&slot.var) else { continue };
            // The same tensor when it is contiguous (no copy).
            let grad = grad.contiguous()?;
            let state = &mut slot.state;
            with_storage(&slot.var, |param, param_layout| {
                with_storage(&grad, |grad, grad_layout| {
                    step_storage(config, t, state, (param, param_layout), (grad, grad_layout), parallelism)
                })
            })?;
        }
        self.steps = t;
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.config.lr()
    }

    /// Sets the learning rate of the next steps (a value the core crate
    /// refuses, negative or NaN, makes the next step fail, writing nothing).
    fn set_learning_rate(&mut self, lr: f64) {
        self.config = self.config.with_lr(lr);
    }
}
