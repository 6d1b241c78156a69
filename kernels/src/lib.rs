//! # fused-optim-kernels
//!
//! The pure kernels of [fused-optim](https://docs.rs/fused-optim): fused,
//! single-pass optimizer steps over flat `f32`/`f64` slices. No threads, no
//! allocation, no FFI; the root crate adds validation, per-step scalars, the
//! rayon driver and the owning optimizer, and `fused-optim-capi` the C ABI.
//!
//! ## The numerics contract
//!
//! [`spec`] holds one plain scalar loop per algorithm: it is the
//! specification. Every SIMD tier gives the same bits for every input, NaN,
//! inf and subnormals included (a NaN must be a NaN; its payload is not part
//! of the contract, see [`Float::same_bits`]). This holds because the kernels
//! use only correctly rounded IEEE operations (`+ − × ÷ √`, `abs`, negation)
//! and a `max` and a `sign` with stated NaN rules ([`max_nan`], [`sign_nan`]), in one fixed order, with
//! no FMA and no approximate reciprocals. Each spec module's essay gives
//! its formula, op order, tail handling and NaN rule: [`spec::adam`](mod@spec::adam),
//! [`spec::adamax`](mod@spec::adamax), [`spec::adagrad`](mod@spec::adagrad),
//! [`spec::rmsprop`](mod@spec::rmsprop), [`spec::adadelta`](mod@spec::adadelta),
//! [`spec::sgd`](mod@spec::sgd),
//! [`spec::lion`](mod@spec::lion),
//! [`spec::mixed`](mod@spec::mixed) (the mixed-precision step of every algorithm that has one),
//! [`spec::quantized`](mod@spec::quantized) (the 8-bit-state step of the same algorithms),
//! [`spec::grad_norm`](mod@spec::grad_norm) (the deterministic gradient norm of clipping).
//!
//! ## How one body becomes three tiers
//!
//! Each algorithm is written once, as an `#[inline(always)]` generic body over
//! the [`Lanes`] trait (in the private `generic` module: `fn adam<I: Lanes<T>,
//! T>`, …). The ISA tokens of [`arch`] implement it with `wide` vector types as
//! values, and constructing one ([`Token::try_new`]) proves the CPU has its
//! features:
//!
//! | [`Tier`] | token | f32 lanes | f64 lanes | lowered through |
//! | --- | --- | --- | --- | --- |
//! | `portable` | [`arch::Portable`] | 4 | 2 | `wide`'s operators: SSE2 on x86-64, NEON on aarch64 |
//! | `avx2` | `arch::Avx2` | 8 | 4 | `core::arch` AVX intrinsics, in `#[target_feature(enable = "avx2,f16c")]` functions |
//! | `avx512` | `arch::Avx512` | 16 | 8 | `core::arch` AVX-512F intrinsics, in `#[target_feature(enable = "avx512f,avx2,fma,f16c")]` functions |
//!
//! Each variant of a body (its options fixed as const generics; each
//! mixed-precision layout) is entered through its tier's token into a
//! `#[target_feature]` function of its own; the `match` that picks the
//! variant stays in plain code. So an unoptimised build keeps one variant's
//! locals per frame (at most about 213 KB), not every variant's in one.
//!
//! [`dispatch`] detects the CPU's features on first use and caches the best
//! tier's function table, so a baseline x86-64 build runs 512-bit code on
//! CPUs that have it. Every tier can also be called directly
//! ([`adam_on`], [`adamax_on`], …) after an availability check, and every
//! kernel on buffers [`Checked`] once ([`adam_checked`], …), which a driver
//! cuts into pieces without checking them again.
//!
//! ## Layers
//!
//! Imports run one way, from the bottom up:
//!
//! | layer | modules | imports |
//! | --- | --- | --- |
//! | bottom | `float`, `lanes`, [`narrow`], `operands` | nothing above them |
//! | bodies | [`spec`], `generic`, [`arch`] | the bottom only (no two of them import each other) |
//! | dispatch | [`dispatch`] | everything below: the only module naming every algorithm and tier |
//! | surface | `lib.rs` | re-exports |
//!
//! ## Example
//!
//! ```
//! use fused_optim_kernels::{adam_on, spec, AdamBuffers, AdamCoefficients, Decay, Tier};
//! let c = AdamCoefficients {
//!     beta1: 0.9f32, one_minus_beta1: 0.1, beta2: 0.999, one_minus_beta2: 0.001,
//!     step_size: 3.2e-4, eps_hat: 3.2e-10, decay: Decay::Decoupled(0.99999), grad_scale: 1.0, maximize: false,
//! };
//! let g: Vec<f32> = (0..37).map(|i| (i as f32 - 18.0) * 0.25).collect();
//! let mut want = (vec![1.0f32; 37], vec![0.0f32; 37], vec![0.0f32; 37]);
//! spec::adam(AdamBuffers { param: &mut want.0, grad: &g, exp_avg: &mut want.1,
//!     exp_avg_sq: &mut want.2, max_exp_avg_sq: None }, &c);
//! for tier in Tier::available() {
//!     let mut got = (vec![1.0f32; 37], vec![0.0f32; 37], vec![0.0f32; 37]);
//!     adam_on(tier, AdamBuffers { param: &mut got.0, grad: &g, exp_avg: &mut got.1,
//!         exp_avg_sq: &mut got.2, max_exp_avg_sq: None }, &c).unwrap();
//!     assert_eq!(got, want, "{tier}");
//! }
//! ```

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

// The bottom layer: element types, the lane trait, the operands.
mod float;
mod lanes;
pub mod narrow;
mod operands;

// The bodies: the specification, the generic kernels, the ISA tokens.
pub mod arch;
mod generic;
pub mod spec;

// Detection, the tables, the entry points.
pub mod dispatch;

pub use dispatch::{
    ALL_TIERS, MixedKernel, ProbeShape, QuantizedKernel, TIER_ENV, Tier, TierUnavailable, adadelta,
    adadelta_checked, adadelta_on, adagrad, adagrad_checked, adagrad_on, adam, adam_checked, adam_on, adamax,
    adamax_checked, adamax_on, convert, convert_on, grad_non_finite, grad_non_finite_on, grad_norm,
    grad_norm_on, grad_sum_squares, grad_sum_squares_blocks, grad_sum_squares_blocks_on, grad_sum_squares_on,
    lion, lion_checked, lion_on, mixed, mixed_checked, mixed_on, probe, probe_checked, probe_on, probe_state,
    probe_state_checked, probe_state_on, quantized, quantized_checked, quantized_on, rmsprop,
    rmsprop_checked, rmsprop_on, scale_in_place, sgd, sgd_checked, sgd_on,
};
pub use float::{Float, max_nan, sign_nan};
pub use lanes::{Lanes, MAX_VECTOR_BYTES, Token, WidenLanes};
pub use narrow::{Dtype, HalfLanes, Storage, bf16, f16};
pub use operands::{
    AdaDeltaBuffers, AdaDeltaCoefficients, AdaGradBuffers, AdaGradCoefficients, AdaMaxBuffers,
    AdaMaxCoefficients, AdamBuffers, AdamCoefficients, Check, Checked, Decay, Dense, GradScale,
    KernelBuffers, LengthMismatch, LionBuffers, LionCoefficients, MAX_MIXED_STATE, MAX_NAMED,
    MIXED_STATE_SLOTS, MixedAdamBuffers, MixedAdamCoefficients, MixedBuffers, MixedCoefficients, MixedError,
    MixedLayout, MixedSlice, MixedUpdate, NORM_BLOCK, NormElement, NormSlice, Parts, Piece, ProbeBuffers,
    ProbeState, QUANT_BLOCK, QUANTIZED_CODE_SLOTS, QuantizedBuffers, QuantizedCoefficients, QuantizedError,
    QuantizedSlot, Reborrow, RmsPropBuffers, RmsPropCoefficients, SgdBuffers, SgdCoefficients,
    StateProbeBuffers, StochasticKeys, SumTree, quant_blocks,
};
