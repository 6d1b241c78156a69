//! Run-time ISA dispatch: detect once, cache the table, call through it.
//!
//! Each tier has one static [`KernelTable`] of function pointers, one entry
//! per algorithm and element type: the algorithm's `run` instantiated for
//! that tier's [`Lanes`] token. `run` picks the variant for the
//! call's options in plain code and enters it through the token, which runs
//! each variant in its own `#[target_feature]` function (see
//! `lanes::Variant`). The first dispatched call detects the CPU's features
//! (`is_x86_feature_detected!`), picks the best tier whose every required
//! feature is present (or the one named by the `FUSED_OPTIM_TIER`
//! environment variable, if available) and caches the choice in a
//! `OnceLock`; later calls cost one atomic load.

use crate::adadelta::{self, AdaDeltaBuffers, AdaDeltaCoefficients};
use crate::adagrad::{self, AdaGradBuffers, AdaGradCoefficients};
use crate::adam::{self, AdamBuffers, AdamCoefficients};
use crate::adam_mixed::{self, MixedAdamBuffers, MixedAdamCoefficients, MixedSlice};
use crate::adamax::{self, AdaMaxBuffers, AdaMaxCoefficients};
use crate::isa::Portable;
use crate::lanes::{Enter, Lanes};
use crate::narrow::HalfLanes;
use crate::probe::{self, ProbeBuffers};
use crate::rmsprop::{self, RmsPropBuffers, RmsPropCoefficients};
use crate::{Float, float};
use core::fmt;
use std::sync::OnceLock;

/// An instruction-set tier: which [`Lanes`] token a kernel runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tier {
    /// `wide`'s own 128-bit operators: SSE2 on x86-64, NEON on aarch64. Always available.
    Portable,
    /// 256-bit AVX2 with F16C (x86-64; every AVX2 CPU has F16C).
    Avx2,
    /// 512-bit AVX-512F (x86-64; also requires AVX2, FMA and F16C, which
    /// its code uses or `avx512f` implies).
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

    /// The CPU features the tier's code needs, comma-separated, as
    /// `#[target_feature]` and `is_x86_feature_detected!` name them (empty for
    /// the portable tier, which needs only the build's baseline).
    pub const fn features(self) -> &'static str {
        match self {
            Tier::Portable => Portable::FEATURES,
            #[cfg(target_arch = "x86_64")]
            Tier::Avx2 => crate::isa::Avx2::FEATURES,
            #[cfg(target_arch = "x86_64")]
            Tier::Avx512 => crate::isa::Avx512::FEATURES,
            #[cfg(not(target_arch = "x86_64"))]
            Tier::Avx2 | Tier::Avx512 => "",
        }
    }

    /// True when this CPU can run the tier: it has every one of [`Tier::features`].
    pub fn is_available(self) -> bool {
        self.is_supported_by(|feature| detected(feature).unwrap_or(false))
    }

    /// True when a CPU whose features are exactly those `has` accepts could
    /// run the tier (the portable tier: always; the x86 tiers: on x86-64,
    /// with every one of [`Tier::features`]). [`Tier::is_available`] asks
    /// the CPU; tests ask injected feature sets.
    pub fn is_supported_by(self, has: impl Fn(&str) -> bool) -> bool {
        match self {
            Tier::Portable => true,
            Tier::Avx2 | Tier::Avx512 => cfg!(target_arch = "x86_64") && self.features().split(',').all(has),
        }
    }

    /// The fastest tier a CPU with the features `has` accepts could run.
    pub fn best_supported_by(has: impl Fn(&str) -> bool) -> Tier {
        ALL_TIERS.into_iter().filter(|t| t.is_supported_by(&has)).last().unwrap_or(Tier::Portable)
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
            Tier::Portable => Some(&PORTABLE),
            #[cfg(target_arch = "x86_64")]
            Tier::Avx2 => Some(&AVX2),
            #[cfg(target_arch = "x86_64")]
            Tier::Avx512 => Some(&AVX512),
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

/// The kernels of one element type on the tier `I`.
const fn typed_kernels<I: Lanes<T> + Enter, T: Float>() -> TypedKernels<T> {
    TypedKernels {
        adam: adam::run::<I, T>,
        adamax: adamax::run::<I, T>,
        adagrad: adagrad::run::<I, T>,
        rmsprop: rmsprop::run::<I, T>,
        adadelta: adadelta::run::<I, T>,
        probe2: probe::run::<I, T, 2>,
        probe3: probe::run::<I, T, 3>,
        probe4: probe::run::<I, T, 4>,
    }
}

/// The table of the tier `I`.
const fn table<I: Lanes<f32> + Lanes<f64> + HalfLanes + Enter>() -> KernelTable {
    KernelTable {
        f32: typed_kernels::<I, f32>(),
        f64: typed_kernels::<I, f64>(),
        adam_mixed: adam_mixed::run::<I>,
        grad_non_finite: adam_mixed::run_non_finite::<I>,
        convert: crate::convert::run::<I>,
        scale_in_place: crate::convert::run_in_place::<I>,
    }
}

static PORTABLE: KernelTable = table::<Portable>();
#[cfg(target_arch = "x86_64")]
static AVX2: KernelTable = table::<crate::isa::Avx2>();
#[cfg(target_arch = "x86_64")]
static AVX512: KernelTable = table::<crate::isa::Avx512>();

/// Whether this CPU has `feature` (`None` for a name this function does not
/// know, which counts as absent).
fn detected(feature: &str) -> Option<bool> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        match feature {
            "avx2" => Some(has!("avx2")),
            "f16c" => Some(has!("f16c")),
            "fma" => Some(has!("fma")),
            "avx512f" => Some(has!("avx512f")),
            _ => None,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = feature;
        None
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// A CPU reporting exactly `features`.
    fn cpu(features: &'static [&'static str]) -> impl Fn(&str) -> bool {
        move |f| features.contains(&f)
    }

    #[test]
    fn every_required_feature_is_known_to_detection() {
        for tier in ALL_TIERS {
            for feature in tier.features().split(',').filter(|f| !f.is_empty()) {
                if cfg!(target_arch = "x86_64") {
                    assert!(
                        detected(feature).is_some(),
                        "{tier} needs `{feature}`, which detection does not know"
                    );
                }
            }
        }
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn a_tier_needs_every_feature_its_code_uses() {
        // Portable needs nothing.
        assert_eq!(Tier::best_supported_by(cpu(&[])), Tier::Portable);
        // AVX2 without F16C (its f16 conversions) is not the AVX2 tier.
        assert_eq!(Tier::best_supported_by(cpu(&["avx2"])), Tier::Portable);
        assert_eq!(Tier::best_supported_by(cpu(&["avx2", "f16c"])), Tier::Avx2);
        // AVX-512F alone (a hypervisor masking AVX2): its code uses AVX2 and
        // F16C instructions too, so it must not be chosen.
        assert_eq!(Tier::best_supported_by(cpu(&["avx512f"])), Tier::Portable);
        assert_eq!(Tier::best_supported_by(cpu(&["avx512f", "f16c"])), Tier::Portable);
        assert_eq!(Tier::best_supported_by(cpu(&["avx512f", "avx2", "f16c"])), Tier::Avx2);
        assert_eq!(Tier::best_supported_by(cpu(&["avx512f", "avx2", "fma"])), Tier::Portable);
        assert_eq!(Tier::best_supported_by(cpu(&["avx512f", "avx2", "fma", "f16c"])), Tier::Avx512);
        assert!(!Tier::Avx512.is_supported_by(cpu(&["avx512f", "avx2", "f16c"])));
    }
}
