//! Run-time ISA dispatch: detect once, cache the table, call through it.
//!
//! Each tier has one static [`KernelTable`] of function pointers, one entry
//! per algorithm and element type. Every entry is a thin wrapper (with
//! `#[target_feature(enable = …)]` on the x86 tiers) around the algorithm's
//! single generic body instantiated for that tier's [`Lanes`](crate::Lanes)
//! token. The first dispatched call detects the CPU's features
//! (`is_x86_feature_detected!`), picks the best tier (or the one named by the
//! `FUSED_OPTIM_TIER` environment variable, if available) and caches the
//! choice in a `OnceLock`; later calls cost one atomic load.

use crate::adadelta::{self, AdaDeltaBuffers, AdaDeltaCoefficients};
use crate::adagrad::{self, AdaGradBuffers, AdaGradCoefficients};
use crate::adam::{self, AdamBuffers, AdamCoefficients};
use crate::adam_mixed::{self, MixedAdamBuffers, MixedAdamCoefficients, MixedSlice};
use crate::adamax::{self, AdaMaxBuffers, AdaMaxCoefficients};
use crate::isa::Portable;
use crate::probe::{self, ProbeBuffers};
use crate::rmsprop::{self, RmsPropBuffers, RmsPropCoefficients};
use crate::{Float, float};
use core::fmt;
use std::sync::OnceLock;

/// An instruction-set tier: which [`Lanes`](crate::Lanes) token a kernel runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tier {
    /// `wide`'s own 128-bit operators: SSE2 on x86-64, NEON on aarch64. Always available.
    Portable,
    /// 256-bit AVX2 with F16C (x86-64; every AVX2 CPU has F16C).
    Avx2,
    /// 512-bit AVX-512F (x86-64).
    Avx512,
}

/// Every tier, slowest first.
pub const ALL_TIERS: [Tier; 3] = [Tier::Portable, Tier::Avx2, Tier::Avx512];

/// The environment variable that can force the dispatched tier (`portable`, `avx2`, `avx512`).
pub const TIER_ENV: &str = "FUSED_OPTIM_TIER";

impl Tier {
    /// Short lower-case name (`"avx512"`), as `FUSED_OPTIM_TIER` takes it.
    pub const fn name(self) -> &'static str {
        match self {
            Tier::Portable => "portable",
            Tier::Avx2 => "avx2",
            Tier::Avx512 => "avx512",
        }
    }

    /// Parses [`Tier::name`].
    pub fn from_name(name: &str) -> Option<Tier> {
        ALL_TIERS.into_iter().find(|t| t.name().eq_ignore_ascii_case(name.trim()))
    }

    /// Lanes per vector for an element of `T`.
    pub const fn lanes<T: Float>(self) -> usize {
        let bytes = match self {
            Tier::Portable => 16,
            Tier::Avx2 => 32,
            Tier::Avx512 => 64,
        };
        bytes / T::BYTES
    }

    /// True when this CPU can run the tier.
    pub fn is_available(self) -> bool {
        match self {
            Tier::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Tier::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("f16c")
            }
            #[cfg(target_arch = "x86_64")]
            Tier::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            Tier::Avx2 | Tier::Avx512 => false,
        }
    }

    /// The tiers this CPU can run, slowest first.
    pub fn available() -> impl Iterator<Item = Tier> {
        ALL_TIERS.into_iter().filter(|t| t.is_available())
    }

    /// The fastest tier this CPU can run.
    pub fn best_available() -> Tier {
        Tier::available().last().unwrap_or(Tier::Portable)
    }

    /// The tier the dispatched entry points use (detected on first use, then cached).
    pub fn dispatched() -> Tier {
        chosen().0
    }

    fn table(self) -> Option<&'static KernelTable> {
        if !self.is_available() {
            return None;
        }
        match self {
            Tier::Portable => Some(&portable::TABLE),
            #[cfg(target_arch = "x86_64")]
            Tier::Avx2 => Some(&avx2::TABLE),
            #[cfg(target_arch = "x86_64")]
            Tier::Avx512 => Some(&avx512::TABLE),
            #[cfg(not(target_arch = "x86_64"))]
            _ => None,
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A forced tier was asked for on a CPU that lacks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TierUnavailable(pub Tier);

impl fmt::Display for TierUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the {} tier is not available on this CPU", self.0)
    }
}

impl std::error::Error for TierUnavailable {}

/// The kernels of one element type, for one tier.
///
/// # Safety of the entries
/// Each entry may only be called when its tier is available and the buffers
/// have equal lengths.
#[doc(hidden)]
pub struct TypedKernels<T: 'static> {
    pub adam: for<'a> unsafe fn(AdamBuffers<'a, T>, &AdamCoefficients<T>),
    pub adamax: for<'a> unsafe fn(AdaMaxBuffers<'a, T>, &AdaMaxCoefficients<T>),
    pub adagrad: for<'a> unsafe fn(AdaGradBuffers<'a, T>, &AdaGradCoefficients<T>),
    pub rmsprop: for<'a> unsafe fn(RmsPropBuffers<'a, T>, &RmsPropCoefficients<T>),
    pub adadelta: for<'a> unsafe fn(AdaDeltaBuffers<'a, T>, &AdaDeltaCoefficients<T>),
    pub probe2: for<'a> unsafe fn(ProbeBuffers<'a, T, 2>),
    pub probe3: for<'a> unsafe fn(ProbeBuffers<'a, T, 3>),
    pub probe4: for<'a> unsafe fn(ProbeBuffers<'a, T, 4>),
}

/// The kernels of one tier, for every element type.
#[doc(hidden)]
pub struct KernelTable {
    pub f32: TypedKernels<f32>,
    pub f64: TypedKernels<f64>,
    pub adam_mixed: for<'a> unsafe fn(MixedAdamBuffers<'a>, &MixedAdamCoefficients),
    pub grad_non_finite: for<'a, 'b> unsafe fn(&'a MixedSlice<'b>, f32) -> bool,
    pub convert: for<'a, 'b, 'c, 'd> unsafe fn(&'a MixedSlice<'b>, &'c mut MixedSlice<'d>, f32),
    pub scale_in_place: for<'a, 'b> unsafe fn(&'a mut MixedSlice<'b>, f32),
}

/// Builds a tier's module: one wrapper per algorithm × element type, carrying
/// the tier's `#[target_feature]` attributes, and the static table of them.
macro_rules! tier_table {
    ($module:ident, $token:ty $(, #[$feature:meta])*) => {
        mod $module {
            use super::*;

            /// One `#[target_feature]` wrapper per algorithm, named `<algorithm>_<type>`.
            macro_rules! wrapper {
                ($name:ident, $t:ty, $algorithm:ident, $buffers:ident, $coefficients:ident) => {
                    $(#[$feature])*
                    unsafe fn $name(b: $buffers<'_, $t>, c: &$coefficients<$t>) {
                        // SAFETY: the table entry's contract: tier available, lengths equal.
                        unsafe { $algorithm::run::<$token, $t>(b, c) }
                    }
                };
            }

            /// The probe's wrapper, generic over its stream count.
            macro_rules! probe_wrapper {
                ($name:ident, $t:ty) => {
                    $(#[$feature])*
                    unsafe fn $name<const W: usize>(b: ProbeBuffers<'_, $t, W>) {
                        // SAFETY: the table entry's contract: tier available, lengths equal.
                        unsafe { probe::run::<$token, $t, W>(b) }
                    }
                };
            }

            /// Every wrapper of one element type, and its row of the table.
            macro_rules! typed_kernels {
                ($row:ident: $t:ty, $adam:ident, $adamax:ident, $adagrad:ident, $rmsprop:ident, $adadelta:ident, $probe:ident) => {
                    wrapper!($adam, $t, adam, AdamBuffers, AdamCoefficients);
                    wrapper!($adamax, $t, adamax, AdaMaxBuffers, AdaMaxCoefficients);
                    wrapper!($adagrad, $t, adagrad, AdaGradBuffers, AdaGradCoefficients);
                    wrapper!($rmsprop, $t, rmsprop, RmsPropBuffers, RmsPropCoefficients);
                    wrapper!($adadelta, $t, adadelta, AdaDeltaBuffers, AdaDeltaCoefficients);
                    probe_wrapper!($probe, $t);

                    const $row: TypedKernels<$t> = TypedKernels {
                        adam: $adam,
                        adamax: $adamax,
                        adagrad: $adagrad,
                        rmsprop: $rmsprop,
                        adadelta: $adadelta,
                        probe2: $probe::<2>,
                        probe3: $probe::<3>,
                        probe4: $probe::<4>,
                    };
                };
            }
            typed_kernels!(F32: f32, adam_f32, adamax_f32, adagrad_f32, rmsprop_f32, adadelta_f32, probe_f32);
            typed_kernels!(F64: f64, adam_f64, adamax_f64, adagrad_f64, rmsprop_f64, adadelta_f64, probe_f64);

            $(#[$feature])*
            unsafe fn adam_mixed(b: MixedAdamBuffers<'_>, c: &MixedAdamCoefficients) {
                // SAFETY: the table entry's contract: tier available, buffers checked.
                unsafe { adam_mixed::run::<$token>(b, c) }
            }

            $(#[$feature])*
            unsafe fn grad_non_finite(g: &MixedSlice<'_>, scale: f32) -> bool {
                // SAFETY: the table entry's contract: tier available.
                unsafe { adam_mixed::run_non_finite::<$token>(g, scale) }
            }

            $(#[$feature])*
            unsafe fn convert(src: &MixedSlice<'_>, dst: &mut MixedSlice<'_>, scale: f32) {
                // SAFETY: the table entry's contract: tier available, lengths equal.
                unsafe { crate::convert::run::<$token>(src, dst, scale) }
            }

            $(#[$feature])*
            unsafe fn scale_in_place(x: &mut MixedSlice<'_>, scale: f32) {
                // SAFETY: the table entry's contract: tier available.
                unsafe { crate::convert::run_in_place::<$token>(x, scale) }
            }

            pub(super) static TABLE: KernelTable =
                KernelTable { f32: F32, f64: F64, adam_mixed, grad_non_finite, convert, scale_in_place };
        }
    };
}

tier_table!(portable, Portable);
#[cfg(target_arch = "x86_64")]
tier_table!(avx2, crate::isa::Avx2, #[target_feature(enable = "avx2,f16c")]);
#[cfg(target_arch = "x86_64")]
tier_table!(avx512, crate::isa::Avx512, #[target_feature(enable = "avx512f")]);

fn chosen() -> &'static (Tier, &'static KernelTable) {
    static CHOSEN: OnceLock<(Tier, &'static KernelTable)> = OnceLock::new();
    CHOSEN.get_or_init(|| {
        let forced = std::env::var(TIER_ENV).ok().and_then(|name| Tier::from_name(&name));
        let tier = forced.filter(|t| t.is_available()).unwrap_or_else(Tier::best_available);
        let table = tier.table().expect("an available tier has a table");
        (tier, table)
    })
}

/// The kernels of the dispatched tier for `T`.
#[inline]
pub(crate) fn dispatched<T: Float>() -> &'static TypedKernels<T> {
    <T as float::Select>::select(chosen().1)
}

/// The dispatched tier's whole table.
#[inline]
pub(crate) fn dispatched_table() -> &'static KernelTable {
    chosen().1
}

/// `tier`'s whole table, if the CPU has it.
pub(crate) fn forced_table(tier: Tier) -> Result<&'static KernelTable, TierUnavailable> {
    tier.table().ok_or(TierUnavailable(tier))
}

/// The kernels of `tier` for `T`, if the CPU has it.
pub(crate) fn forced<T: Float>(tier: Tier) -> Result<&'static TypedKernels<T>, TierUnavailable> {
    tier.table().map(<T as float::Select>::select).ok_or(TierUnavailable(tier))
}
