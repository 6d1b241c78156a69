//! The x86-64 tiers: `wide` values, `core::arch` intrinsics.
//!
//! Each op is one intrinsic (two for `max`, three for `neg` on AVX-512F,
//! which has no floating-point `xor`, and five or six for `sign`: two
//! compares, the sign bit's `and`/`or`, two selects). Every method is `#[inline(always)]`
//! and is only ever inlined into a `#[target_feature]` function of the
//! matching tier (one per kernel variant, see `x86_entry!`), where the
//! intrinsics become single `ymm`/`zmm` instructions. The tokens convert
//! between `wide` values and `__m256`/`__m512` with the `From` impls `wide`
//! provides (a transmute), so their code is the intrinsic's whatever `wide`
//! was compiled for.

mod avx2;
mod avx512;
mod entry;

pub use avx2::Avx2;
pub use avx512::Avx512;
#[cfg(test)]
pub(crate) use entry::detected;
