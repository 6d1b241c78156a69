//! # fused-optim-kernels
//!
//! The pure kernels of [fused-optim](https://docs.rs/fused-optim): fused,
//! single-pass optimizer steps over flat `f32`/`f64` slices. No threads, no
//! allocation, no FFI; the root crate adds validation, per-step scalars, the
//! rayon driver and the C ABI.
//!
//! ## The numerics contract
//!
//! [`reference`](mod@reference) holds one plain scalar loop per algorithm: it is the
//! specification. Every SIMD tier gives the same bits for every input, NaN,
//! inf and subnormals included (a NaN must be a NaN; its payload is not part
//! of the contract, see [`Float::same_bits`]). This holds because the kernels
//! use only correctly rounded IEEE operations (`+ − × ÷ √`, `abs`, negation)
//! and a `max` with a stated NaN rule ([`max_nan`]), in one fixed order, with
//! no FMA and no approximate reciprocals. Each algorithm module's essay gives
//! its formula, op order, tail handling and NaN rule: [`adam`](mod@adam),
//! [`adamax`](mod@adamax), [`adagrad`](mod@adagrad), [`rmsprop`](mod@rmsprop),
//! [`adadelta`](mod@adadelta).
//!
//! ## How one body becomes three tiers
//!
//! Each algorithm is written once, as an `#[inline(always)]` generic body over
//! the [`Lanes`] trait. The ISA tokens of [`isa`] implement it with `wide`
//! vector types as values:
//!
//! | [`Tier`] | token | f32 lanes | f64 lanes | lowered through |
//! | --- | --- | --- | --- | --- |
//! | `portable` | [`isa::Portable`] | 4 | 2 | `wide`'s operators: SSE2 on x86-64, NEON on aarch64 |
//! | `avx2` | `isa::Avx2` | 8 | 4 | `core::arch` AVX intrinsics, in `#[target_feature(enable = "avx2,f16c")]` functions |
//! | `avx512` | `isa::Avx512` | 16 | 8 | `core::arch` AVX-512F intrinsics, in `#[target_feature(enable = "avx512f,avx2,fma,f16c")]` functions |
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
//! ([`adam_on`], [`adamax_on`], …) after an availability check.
//!
//! ## Example
//!
//! ```
//! use fused_optim_kernels::{adam_on, reference, AdamBuffers, AdamCoefficients, Decay, Tier};
//! let c = AdamCoefficients {
//!     beta1: 0.9f32, one_minus_beta1: 0.1, beta2: 0.999, one_minus_beta2: 0.001,
//!     step_size: 3.2e-4, eps_hat: 3.2e-10, decay: Decay::Decoupled(0.99999), maximize: false,
//! };
//! let g: Vec<f32> = (0..37).map(|i| (i as f32 - 18.0) * 0.25).collect();
//! let mut want = (vec![1.0f32; 37], vec![0.0f32; 37], vec![0.0f32; 37]);
//! reference::adam(AdamBuffers { param: &mut want.0, grad: &g, exp_avg: &mut want.1,
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

pub mod adadelta;
pub mod adagrad;
pub mod adam;
pub mod adam_mixed;
pub mod adamax;
mod buffers;
pub mod convert;
pub mod dispatch;
mod float;
pub mod isa;
mod lanes;
pub mod narrow;
pub mod probe;
pub mod reference;
pub mod rmsprop;

pub use adadelta::{AdaDeltaBuffers, AdaDeltaCoefficients, adadelta, adadelta_on};
pub use adagrad::{AdaGradBuffers, AdaGradCoefficients, adagrad, adagrad_on};
pub use adam::{AdamBuffers, AdamCoefficients, Decay, adam, adam_on};
pub use adam_mixed::{
    MixedAdamBuffers, MixedAdamCoefficients, MixedLayout, MixedSlice, StochasticKeys, adam_mixed,
    adam_mixed_on, grad_non_finite, grad_non_finite_on,
};
pub use adamax::{AdaMaxBuffers, AdaMaxCoefficients, adamax, adamax_on};
pub use buffers::KernelBuffers;
pub use convert::{convert, convert_on, scale_in_place};
pub use dispatch::{ALL_TIERS, Tier, TierUnavailable};
pub use float::{Float, max_nan};
pub use lanes::{Lanes, MAX_VECTOR_BYTES};
pub use narrow::{Dtype, HalfLanes, Storage, bf16, f16};
pub use probe::{ProbeBuffers, probe, probe_on};
pub use rmsprop::{RmsPropBuffers, RmsPropCoefficients, rmsprop, rmsprop_on};
