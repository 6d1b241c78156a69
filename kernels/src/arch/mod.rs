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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::float::{Float, sign_nan};
    use crate::lanes::{Enter, Lanes, Token, Variant, load_n, store_n};

    /// `sign` lane-wise over `input` into `output` on the tier `I`, whole
    /// vectors then one partial one.
    struct SignOf<'a, T>(&'a [T], &'a mut [T]);

    impl<I: Lanes<T>, T: Float> Variant<I> for SignOf<'_, T> {
        type Output = ();

        unsafe fn run(self) {
            let SignOf(input, output) = self;
            assert_eq!(input.len(), output.len());
            let mut o = 0;
            while o < input.len() {
                let n = I::N.min(input.len() - o);
                // SAFETY: `o + n <= len` for both slices; the caller
                // guarantees the tier (a token of `I` exists).
                unsafe {
                    let v = load_n::<I, T>(input.as_ptr().add(o), n);
                    store_n::<I, T>(output.as_mut_ptr().add(o), n, I::sign(v));
                }
                o += n;
            }
        }
    }

    /// Edge values of `T` and their negations: zeros, subnormals, the
    /// smallest normal, ones, the largest finite, infinities, NaNs (two
    /// payloads, both signs).
    fn edges<T: Float>(bits: &[u64], from_bits: fn(u64) -> T) -> Vec<T> {
        bits.iter().flat_map(|&b| [from_bits(b), -from_bits(b)]).collect()
    }

    /// Every edge value, on the tier of `token`, has `sign_nan`'s bits (a NaN
    /// in, a NaN out).
    fn sign_matches_rule<I: Lanes<f32> + Lanes<f64> + Enter>(token: I) {
        let f32s = edges::<f32>(
            &[0, 1, 0x7F_FFFF, 0x80_0000, 0x3F80_0000, 0x7F7F_FFFF, 0x7F80_0000, 0x7FC0_0000, 0x7F80_0001],
            |b| f32::from_bits(b as u32),
        );
        let f64s = edges::<f64>(
            &[
                0,
                1,
                0xF_FFFF_FFFF_FFFF,
                0x10_0000_0000_0000,
                0x3FF0_0000_0000_0000,
                0x7FEF_FFFF_FFFF_FFFF,
                0x7FF0_0000_0000_0000,
                0x7FF8_0000_0000_0000,
                0x7FF0_0000_0000_0001,
            ],
            f64::from_bits,
        );
        fn check<I: Lanes<T> + Enter, T: Float>(token: I, values: &[T]) {
            // Every rotation, so each value sits in every lane and in the tail.
            for shift in 0..values.len() {
                let mut input = values.to_vec();
                input.rotate_left(shift);
                let mut output = vec![T::ONE; input.len()];
                token.enter(SignOf(&input, &mut output));
                for (x, s) in input.iter().zip(&output) {
                    let want = sign_nan(*x);
                    assert!(s.same_bits(want), "{:?}: sign({x:?}) = {s:?}, want {want:?}", token);
                    if !x.is_nan() {
                        assert_eq!(s.to_bits_u64(), want.to_bits_u64(), "{:?}: sign({x:?})", token);
                    }
                }
            }
        }
        check::<I, f32>(token, &f32s);
        check::<I, f64>(token, &f64s);
    }

    #[test]
    fn sign_on_every_tier() {
        sign_matches_rule(Portable::new());
        #[cfg(target_arch = "x86_64")]
        {
            match Avx2::try_new() {
                Some(token) => sign_matches_rule(token),
                None => eprintln!("SKIPPED: tier avx2 is not available on this CPU"),
            }
            match Avx512::try_new() {
                Some(token) => sign_matches_rule(token),
                None => eprintln!("SKIPPED: tier avx512 is not available on this CPU"),
            }
        }
    }
}
