//! ISA tokens: zero-sized types that implement [`crate::Lanes`].
//!
//! | token | vectors | lowered through | available |
//! | --- | --- | --- | --- |
//! | [`Portable`] | `f32x4`, `f64x2` | `wide`'s operators (SSE2 on x86-64, NEON on aarch64, scalar elsewhere) | always |
//! | [`Avx2`] | `f32x8`, `f64x4` | `core::arch::x86_64` AVX intrinsics | x86-64 with AVX2 |
//! | [`Avx512`] | `f32x16`, `f64x8` | `core::arch::x86_64` AVX-512F intrinsics | x86-64 with AVX-512F |
//!
//! The x86 tokens convert between `wide` values and `__m256`/`__m512` with the
//! `From` impls `wide` provides (a transmute), so their code is the intrinsic's
//! whatever `wide` was compiled for.

mod portable;
pub use portable::Portable;

#[cfg(target_arch = "x86_64")]
mod x86;
#[cfg(target_arch = "x86_64")]
pub use x86::{Avx2, Avx512};
