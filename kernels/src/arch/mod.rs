//! ISA tokens: types that implement [`Lanes`](crate::Lanes), and whose
//! construction proves the CPU features their code needs.
//!
//! | token | vectors | lowered through | obtained by |
//! | --- | --- | --- | --- |
//! | [`Portable`] | `f32x4`, `f64x2` | `wide`'s operators (SSE2 on x86-64, NEON on aarch64, scalar elsewhere) | [`Portable::new`], always |
//! | `Avx2` | `f32x8`, `f64x4` | `core::arch::x86_64` AVX intrinsics | [`Token::try_new`](crate::Token::try_new): x86-64 with AVX2 and F16C |
//! | `Avx512` | `f32x16`, `f64x8` | `core::arch::x86_64` AVX-512F intrinsics | [`Token::try_new`](crate::Token::try_new): x86-64 with AVX-512F, AVX2, FMA and F16C |
//!
//! A token has a private field and no `Default`: holding one proves the
//! features ([`Token`](crate::Token)), so the kernels' way into a tier's
//! `#[target_feature]` functions takes a token by value.

mod portable;
pub use portable::Portable;

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86_64;
#[cfg(target_arch = "x86_64")]
pub use x86_64::{Avx2, Avx512};
