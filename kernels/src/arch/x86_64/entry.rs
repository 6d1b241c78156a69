//! What the two x86-64 tokens share: feature detection, and the two macros
//! that give a token its `#[target_feature]` entry and its lane operations.

/// Whether this CPU has `feature` (`None` for a name this function does not
/// know, which counts as absent).
pub(crate) fn detected(feature: &str) -> Option<bool> {
    use std::arch::is_x86_feature_detected as has;
    match feature {
        "avx2" => Some(has!("avx2")),
        "f16c" => Some(has!("f16c")),
        "fma" => Some(has!("fma")),
        "avx512f" => Some(has!("avx512f")),
        _ => None,
    }
}

/// Whether this CPU has every one of `features` (comma-separated).
pub(super) fn has_all(features: &str) -> bool {
    features.split(',').all(|feature| detected(feature) == Some(true))
}

/// Gives a token its target features, written once: the `FEATURES` that
/// [`Token::try_new`](crate::lanes::Token::try_new) detects and the
/// `#[target_feature]` function that [`Enter::enter`](crate::lanes::Enter)
/// runs every kernel variant in are the same literal.
macro_rules! x86_entry {
    ($token:ident, $entry:ident, $features:literal) => {
        // SAFETY: `try_new` returns a token only where the CPU has every one
        // of `FEATURES`, which are all the features the token's methods use.
        unsafe impl crate::lanes::Token for $token {
            const FEATURES: &'static str = $features;

            fn try_new() -> Option<$token> {
                super::entry::has_all($features).then_some($token(()))
            }

            unsafe fn new_unchecked() -> $token {
                $token(())
            }
        }

        // SAFETY: `enter` runs the variant inside `$entry`, compiled with
        // `FEATURES`, the features the token's methods use.
        unsafe impl crate::lanes::Enter for $token {
            #[inline(always)]
            fn enter<V: crate::lanes::Variant<Self>>(self, v: V) -> V::Output {
                // SAFETY: `self` proves the CPU has `FEATURES`.
                unsafe { $entry(v) }
            }
        }

        /// One kernel variant, compiled with the tier's target features (one
        /// function per variant: see `Variant`).
        ///
        /// # Safety
        /// The CPU has `FEATURES`.
        #[target_feature(enable = $features)]
        unsafe fn $entry<V: crate::lanes::Variant<$token>>(v: V) -> V::Output {
            // SAFETY: the CPU has the tier's features (the caller's contract).
            unsafe { v.run() }
        }
    };
}

/// Implements `Lanes<$t>` for `$token`, given the `wide` and raw vector
/// types, the lane count and the intrinsics of one element width; `neg`,
/// `abs`, `max`, `sign` and the partial loads and stores come in as named functions.
macro_rules! x86_lanes {
    (
        $token:ty, $t:ty, $v:ty, $raw:ty, $n:literal,
        $set1:ident, $loadu:ident, $storeu:ident,
        $add:ident, $sub:ident, $mul:ident, $div:ident, $sqrt:ident,
        $neg:expr, $abs:expr, $max:expr, $sign:expr, $load_partial:expr, $store_partial:expr $(,)?
    ) => {
        // SAFETY: each method is the single IEEE-exact intrinsic named after
        // it (max: `maxp` then NaN-fix-up, the rule of `max_nan`; sign:
        // compare masks and bit logic, the rule of `sign_nan`; neg/abs:
        // sign-bit logic). `$n` lanes of `$t` fit in MAX_VECTOR_BYTES.
        unsafe impl crate::lanes::Lanes<$t> for $token {
            type V = $v;
            const N: usize = $n;
            const UNROLL: usize = 2;

            #[inline(always)]
            unsafe fn splat(x: $t) -> $v {
                // SAFETY: the caller guarantees the CPU feature.
                unsafe { $set1(x).into() }
            }
            #[inline(always)]
            unsafe fn load(p: *const $t) -> $v {
                // SAFETY: the caller guarantees the CPU feature and `N` readable elements.
                unsafe { $loadu(p).into() }
            }
            #[inline(always)]
            unsafe fn store(p: *mut $t, v: $v) {
                // SAFETY: the caller guarantees the CPU feature and `N` writable elements.
                unsafe { $storeu(p, v.into()) }
            }
            #[inline(always)]
            unsafe fn load_partial(p: *const $t, len: usize) -> $v {
                // SAFETY: the caller guarantees the CPU feature and `len` readable elements.
                unsafe { $load_partial(p, len) }
            }
            #[inline(always)]
            unsafe fn store_partial(p: *mut $t, len: usize, v: $v) {
                // SAFETY: the caller guarantees the CPU feature and `len` writable elements.
                unsafe { $store_partial(p, len, v) }
            }
            #[inline(always)]
            unsafe fn add(a: $v, b: $v) -> $v {
                // SAFETY: the caller guarantees the CPU feature.
                unsafe { $add(a.into(), b.into()).into() }
            }
            #[inline(always)]
            unsafe fn sub(a: $v, b: $v) -> $v {
                // SAFETY: the caller guarantees the CPU feature.
                unsafe { $sub(a.into(), b.into()).into() }
            }
            #[inline(always)]
            unsafe fn mul(a: $v, b: $v) -> $v {
                // SAFETY: the caller guarantees the CPU feature.
                unsafe { $mul(a.into(), b.into()).into() }
            }
            #[inline(always)]
            unsafe fn div(a: $v, b: $v) -> $v {
                // SAFETY: the caller guarantees the CPU feature.
                unsafe { $div(a.into(), b.into()).into() }
            }
            #[inline(always)]
            unsafe fn sqrt(a: $v) -> $v {
                // SAFETY: the caller guarantees the CPU feature.
                unsafe { $sqrt(a.into()).into() }
            }
            #[inline(always)]
            unsafe fn neg(a: $v) -> $v {
                // SAFETY: the caller guarantees the CPU feature.
                unsafe { $neg(a.into()).into() }
            }
            #[inline(always)]
            unsafe fn abs(a: $v) -> $v {
                // SAFETY: the caller guarantees the CPU feature.
                unsafe { $abs(a.into()).into() }
            }
            #[inline(always)]
            unsafe fn max(a: $v, b: $v) -> $v {
                // SAFETY: the caller guarantees the CPU feature.
                unsafe { $max(a.into(), b.into()).into() }
            }
            #[inline(always)]
            unsafe fn sign(a: $v) -> $v {
                // SAFETY: the caller guarantees the CPU feature.
                unsafe { $sign(a.into()).into() }
            }
        }
    };
}

pub(super) use {x86_entry, x86_lanes};
