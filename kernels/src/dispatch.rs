//! Run-time ISA dispatch, and the public entry points: the only code that
//! names every algorithm and every tier.
//!
//! Each tier has one static [`KernelTable`] of function pointers, one entry
//! per algorithm and element type: the algorithm's generic body
//! instantiated for that tier's token. The body picks the variant for the
//! call's options in plain code and enters it through the token, which runs
//! each variant in its own `#[target_feature]` function (see
//! `lanes::Variant`). A table is reached only through its token's
//! [`Token::try_new`] ([`Tier::table`](Tier)), so its entries' one
//! precondition, the tier's CPU features, holds wherever a table is at hand.
//! The first dispatched call picks the best tier whose token this CPU grants
//! (or the one named by the `FUSED_OPTIM_TIER` environment variable, if
//! available) and caches the choice in a `OnceLock`; later calls cost one
//! atomic load.
//!
//! Every entry point comes in three forms: `adam` (the dispatched tier;
//! checks the buffers once, and panics on a mismatch), `adam_checked` (the
//! dispatched tier, on buffers already [`Checked`]: nothing is checked again,
//! the form a driver calls per piece) and `adam_on` (a forced tier, or an
//! error if the CPU lacks it).

use crate::arch::Portable;
#[cfg(target_arch = "x86_64")]
use crate::arch::{Avx2, Avx512};
use crate::float::{ByFloat, Float};
use crate::generic;
use crate::lanes::{Enter, Lanes, Token, WidenLanes};
use crate::narrow::HalfLanes;
use crate::operands::{
    AdaDeltaBuffers, AdaDeltaCoefficients, AdaGradBuffers, AdaGradCoefficients, AdaMaxBuffers,
    AdaMaxCoefficients, AdamBuffers, AdamCoefficients, Check, Checked, LionBuffers, LionCoefficients,
    MixedBuffers, MixedCoefficients, MixedSlice, MixedUpdate, NormElement, NormSlice, ProbeBuffers,
    QuantizedBuffers, QuantizedCoefficients, RmsPropBuffers, RmsPropCoefficients, SgdBuffers,
    SgdCoefficients, StateProbeBuffers, SumTree,
};
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
            Tier::Avx2 => Avx2::FEATURES,
            #[cfg(target_arch = "x86_64")]
            Tier::Avx512 => Avx512::FEATURES,
            #[cfg(not(target_arch = "x86_64"))]
            Tier::Avx2 | Tier::Avx512 => "",
        }
    }

    /// True when this CPU can run the tier: it has every one of
    /// [`Tier::features`] (the tier's token can be constructed).
    pub fn is_available(self) -> bool {
        self.table().is_some()
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

    /// The tier's kernel table, if this CPU has the tier: reached only
    /// through its token's [`Token::try_new`], so every entry of a table
    /// returned here may run.
    fn table(self) -> Option<&'static KernelTable> {
        match self {
            Tier::Portable => Portable::try_new().map(|_| &PORTABLE),
            #[cfg(target_arch = "x86_64")]
            Tier::Avx2 => Avx2::try_new().map(|_| &AVX2),
            #[cfg(target_arch = "x86_64")]
            Tier::Avx512 => Avx512::try_new().map(|_| &AVX512),
            #[cfg(not(target_arch = "x86_64"))]
            Tier::Avx2 | Tier::Avx512 => None,
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

/// An entry of a tier's table: a kernel on checked buffers.
///
/// # Safety of a call
/// The CPU has the tier's features (the table was reached through its token).
type Entry<B, C> = unsafe fn(Checked<B>, &C);

/// The kernels of one element type, for one tier.
#[doc(hidden)]
pub struct TypedKernels<T: 'static> {
    adam: for<'a> unsafe fn(Checked<AdamBuffers<'a, T>>, &AdamCoefficients<T>),
    adamax: for<'a> unsafe fn(Checked<AdaMaxBuffers<'a, T>>, &AdaMaxCoefficients<T>),
    adagrad: for<'a> unsafe fn(Checked<AdaGradBuffers<'a, T>>, &AdaGradCoefficients<T>),
    rmsprop: for<'a> unsafe fn(Checked<RmsPropBuffers<'a, T>>, &RmsPropCoefficients<T>),
    adadelta: for<'a> unsafe fn(Checked<AdaDeltaBuffers<'a, T>>, &AdaDeltaCoefficients<T>),
    sgd: for<'a> unsafe fn(Checked<SgdBuffers<'a, T>>, &SgdCoefficients<T>),
    lion: for<'a> unsafe fn(Checked<LionBuffers<'a, T>>, &LionCoefficients<T>),
    probe2: for<'a> unsafe fn(Checked<ProbeBuffers<'a, T, 2>>, &()),
    probe3: for<'a> unsafe fn(Checked<ProbeBuffers<'a, T, 3>>, &()),
    probe4: for<'a> unsafe fn(Checked<ProbeBuffers<'a, T, 4>>, &()),
}

/// The kernels of one tier, for every element type.
#[doc(hidden)]
pub struct KernelTable {
    f32: TypedKernels<f32>,
    f64: TypedKernels<f64>,
    adam_mixed: MixedEntry<AdamCoefficients<f32>>,
    sgd_mixed: MixedEntry<SgdCoefficients<f32>>,
    lion_mixed: MixedEntry<LionCoefficients<f32>>,
    adam_quantized: QuantizedEntry<AdamCoefficients<f32>>,
    sgd_quantized: QuantizedEntry<SgdCoefficients<f32>>,
    lion_quantized: QuantizedEntry<LionCoefficients<f32>>,
    grad_non_finite: for<'a, 'b> unsafe fn(&'a MixedSlice<'b>, f32) -> bool,
    convert: for<'a, 'b, 'c, 'd> unsafe fn(&'a MixedSlice<'b>, &'c mut MixedSlice<'d>, f32),
    scale_in_place: for<'a, 'b> unsafe fn(&'a mut MixedSlice<'b>, f32),
    sum_squares: for<'a, 'b> unsafe fn(&'a NormSlice<'b>, u64) -> SumTree,
    probe_state: for<'a> unsafe fn(Checked<StateProbeBuffers<'a>>, &()),
}

impl ByFloat for KernelTable {
    type Row<T: Float> = TypedKernels<T>;
    fn f32_row(&self) -> &TypedKernels<f32> {
        &self.f32
    }
    fn f64_row(&self) -> &TypedKernels<f64> {
        &self.f64
    }
}

/// The token of the tier whose table holds the calling entry.
///
/// # Safety
/// The CPU has `I`'s features: true inside a table entry, which is only
/// called through a table reached by `I::try_new()`.
#[inline(always)]
unsafe fn token<I: Token>() -> I {
    // SAFETY: forwarded from the caller.
    unsafe { I::new_unchecked() }
}

/// The kernels of one element type on the tier `I`.
const fn typed_kernels<I: Lanes<T> + Enter, T: Float>() -> TypedKernels<T> {
    TypedKernels {
        // SAFETY: an entry is called only through its tier's table, which is
        // reached only through `I::try_new()` (`Tier::table`).
        adam: |b, c| generic::adam::adam(unsafe { token::<I>() }, b, c),
        // SAFETY: see above.
        adamax: |b, c| generic::adamax::adamax(unsafe { token::<I>() }, b, c),
        // SAFETY: see above.
        adagrad: |b, c| generic::adagrad::adagrad(unsafe { token::<I>() }, b, c),
        // SAFETY: see above.
        rmsprop: |b, c| generic::rmsprop::rmsprop(unsafe { token::<I>() }, b, c),
        // SAFETY: see above.
        adadelta: |b, c| generic::adadelta::adadelta(unsafe { token::<I>() }, b, c),
        // SAFETY: see above.
        sgd: |b, c| generic::sgd::sgd(unsafe { token::<I>() }, b, c),
        // SAFETY: see above.
        lion: |b, c| generic::lion::lion(unsafe { token::<I>() }, b, c),
        // SAFETY: see above.
        probe2: |b, ()| generic::probe::probe(unsafe { token::<I>() }, b),
        // SAFETY: see above.
        probe3: |b, ()| generic::probe::probe(unsafe { token::<I>() }, b),
        // SAFETY: see above.
        probe4: |b, ()| generic::probe::probe(unsafe { token::<I>() }, b),
    }
}

/// The table of the tier `I`.
const fn table<I: Lanes<f32> + Lanes<f64> + HalfLanes + WidenLanes + Enter>() -> KernelTable {
    KernelTable {
        f32: typed_kernels::<I, f32>(),
        f64: typed_kernels::<I, f64>(),
        // SAFETY: as in `typed_kernels`.
        adam_mixed: |b, c| generic::mixed::mixed(unsafe { token::<I>() }, b, c),
        // SAFETY: as in `typed_kernels`.
        sgd_mixed: |b, c| generic::mixed::mixed(unsafe { token::<I>() }, b, c),
        // SAFETY: as in `typed_kernels`.
        lion_mixed: |b, c| generic::mixed::mixed(unsafe { token::<I>() }, b, c),
        // SAFETY: as in `typed_kernels`.
        adam_quantized: |b, c| generic::quantized::quantized(unsafe { token::<I>() }, b, c),
        // SAFETY: as in `typed_kernels`.
        sgd_quantized: |b, c| generic::quantized::quantized(unsafe { token::<I>() }, b, c),
        // SAFETY: as in `typed_kernels`.
        lion_quantized: |b, c| generic::quantized::quantized(unsafe { token::<I>() }, b, c),
        // SAFETY: as in `typed_kernels`.
        grad_non_finite: |g, s| generic::grad_non_finite::grad_non_finite(unsafe { token::<I>() }, g, s),
        // SAFETY: as in `typed_kernels`.
        convert: |a, b, s| generic::convert::convert(unsafe { token::<I>() }, a, b, s),
        // SAFETY: as in `typed_kernels`.
        scale_in_place: |x, s| generic::convert::scale_in_place(unsafe { token::<I>() }, x, s),
        // SAFETY: as in `typed_kernels`.
        sum_squares: |g, first| generic::grad_norm::sum_squares(unsafe { token::<I>() }, g, first),
        // SAFETY: as in `typed_kernels`.
        probe_state: |b, ()| generic::state_probe::probe_state(unsafe { token::<I>() }, b),
    }
}

static PORTABLE: KernelTable = table::<Portable>();
#[cfg(target_arch = "x86_64")]
static AVX2: KernelTable = table::<Avx2>();
#[cfg(target_arch = "x86_64")]
static AVX512: KernelTable = table::<Avx512>();

fn chosen() -> &'static (Tier, &'static KernelTable) {
    static CHOSEN: OnceLock<(Tier, &'static KernelTable)> = OnceLock::new();
    CHOSEN.get_or_init(|| {
        let forced = std::env::var(TIER_ENV).ok().and_then(|name| Tier::from_name(&name));
        let tier = forced.filter(|t| t.is_available()).unwrap_or_else(Tier::best_available);
        let table = tier.table().expect("an available tier has a table");
        (tier, table)
    })
}

/// The dispatched tier's table.
#[inline]
fn dispatched() -> &'static KernelTable {
    chosen().1
}

/// `tier`'s table, if the CPU has it.
fn forced(tier: Tier) -> Result<&'static KernelTable, TierUnavailable> {
    tier.table().ok_or(TierUnavailable(tier))
}

/// Runs `entry` on buffers checked once here (the unchecked-by-caller forms).
///
/// # Panics
/// If the check fails (before anything is written).
///
/// # Safety
/// As [`Entry`]: the entry comes from a table at hand.
#[track_caller]
unsafe fn check_and_run<B: Check, C>(entry: Entry<B, C>, buffers: B, coefficients: &C) {
    let checked = Checked::or_panic(buffers);
    // SAFETY: forwarded from the caller.
    unsafe { entry(checked, coefficients) }
}

/// One Adam step on the dispatched tier (the best this CPU has).
///
/// # Panics
/// If the buffers' lengths differ (checked before anything is written).
///
/// # Example
/// ```
/// use fused_optim_kernels::{adam, AdamBuffers, AdamCoefficients, Decay};
/// let c = AdamCoefficients {
///     beta1: 0.9f32, one_minus_beta1: 0.1, beta2: 0.999, one_minus_beta2: 0.001,
///     step_size: 1e-3 * 0.001f32.sqrt() / 0.1, eps_hat: 1e-8 * 0.001f32.sqrt(),
///     decay: Decay::None, grad_scale: 1.0, maximize: false,
/// };
/// let (mut p, g) = (vec![1.0f32; 5], vec![0.5f32; 5]);
/// let (mut m, mut v) = (vec![0.0f32; 5], vec![0.0f32; 5]);
/// adam(AdamBuffers { param: &mut p, grad: &g, exp_avg: &mut m, exp_avg_sq: &mut v, max_exp_avg_sq: None }, &c);
/// assert!((p[0] - (1.0 - 1e-3)).abs() < 1e-6); // the first step moves by about lr·sign(g)
/// ```
#[track_caller]
pub fn adam<T: Float>(buffers: AdamBuffers<'_, T>, coefficients: &AdamCoefficients<T>) {
    // SAFETY: the dispatched table's entries may run.
    unsafe { check_and_run(T::row(dispatched()).adam, buffers, coefficients) }
}

/// [`adam`] on buffers already checked: nothing is checked again.
pub fn adam_checked<T: Float>(buffers: Checked<AdamBuffers<'_, T>>, coefficients: &AdamCoefficients<T>) {
    // SAFETY: the dispatched table's entries may run.
    unsafe { (T::row(dispatched()).adam)(buffers, coefficients) }
}

/// [`adam`] on a forced tier, or an error (and nothing written) if the CPU lacks it.
///
/// # Panics
/// If the buffers' lengths differ (checked before anything is written).
#[track_caller]
pub fn adam_on<T: Float>(
    tier: Tier,
    buffers: AdamBuffers<'_, T>,
    coefficients: &AdamCoefficients<T>,
) -> Result<(), TierUnavailable> {
    let row = T::row(forced(tier)?);
    // SAFETY: `forced` returns only the table of a tier the CPU has.
    unsafe { check_and_run(row.adam, buffers, coefficients) };
    Ok(())
}

/// One AdaMax step on the dispatched tier (the best this CPU has).
///
/// # Panics
/// If the buffers' lengths differ (checked before anything is written).
///
/// # Example
/// ```
/// use fused_optim_kernels::{adamax, AdaMaxBuffers, AdaMaxCoefficients};
/// let c = AdaMaxCoefficients {
///     beta1: 0.9f64, one_minus_beta1: 0.1, beta2: 0.999, eps: 1e-8,
///     step_size: 2e-3 / 0.1, weight_decay: None, grad_scale: 1.0, maximize: false,
/// };
/// let (mut p, g) = (vec![1.0f64; 3], vec![-4.0f64; 3]);
/// let (mut m, mut u) = (vec![0.0f64; 3], vec![0.0f64; 3]);
/// adamax(AdaMaxBuffers { param: &mut p, grad: &g, exp_avg: &mut m, exp_inf: &mut u }, &c);
/// assert!((p[0] - (1.0 + 2e-3)).abs() < 1e-9); // the first step moves by about lr·sign(−g)
/// ```
#[track_caller]
pub fn adamax<T: Float>(buffers: AdaMaxBuffers<'_, T>, coefficients: &AdaMaxCoefficients<T>) {
    // SAFETY: the dispatched table's entries may run.
    unsafe { check_and_run(T::row(dispatched()).adamax, buffers, coefficients) }
}

/// [`adamax`] on buffers already checked: nothing is checked again.
pub fn adamax_checked<T: Float>(
    buffers: Checked<AdaMaxBuffers<'_, T>>,
    coefficients: &AdaMaxCoefficients<T>,
) {
    // SAFETY: the dispatched table's entries may run.
    unsafe { (T::row(dispatched()).adamax)(buffers, coefficients) }
}

/// [`adamax`] on a forced tier, or an error (and nothing written) if the CPU lacks it.
///
/// # Panics
/// If the buffers' lengths differ (checked before anything is written).
#[track_caller]
pub fn adamax_on<T: Float>(
    tier: Tier,
    buffers: AdaMaxBuffers<'_, T>,
    coefficients: &AdaMaxCoefficients<T>,
) -> Result<(), TierUnavailable> {
    let row = T::row(forced(tier)?);
    // SAFETY: `forced` returns only the table of a tier the CPU has.
    unsafe { check_and_run(row.adamax, buffers, coefficients) };
    Ok(())
}

/// One AdaGrad step on the dispatched tier (the best this CPU has).
///
/// # Panics
/// If the buffers' lengths differ (checked before anything is written).
///
/// # Example
/// ```
/// use fused_optim_kernels::{adagrad, AdaGradBuffers, AdaGradCoefficients};
/// let c = AdaGradCoefficients { step_size: 1e-2f32, eps: 1e-10, weight_decay: None, grad_scale: 1.0, maximize: false };
/// let (mut p, g, mut s) = (vec![1.0f32; 3], vec![2.0f32; 3], vec![0.0f32; 3]);
/// adagrad(AdaGradBuffers { param: &mut p, grad: &g, sum: &mut s }, &c);
/// assert_eq!(s[0], 4.0);
/// assert!((p[0] - 0.99).abs() < 1e-6); // the first step moves by lr·sign(g)
/// ```
#[track_caller]
pub fn adagrad<T: Float>(buffers: AdaGradBuffers<'_, T>, coefficients: &AdaGradCoefficients<T>) {
    // SAFETY: the dispatched table's entries may run.
    unsafe { check_and_run(T::row(dispatched()).adagrad, buffers, coefficients) }
}

/// [`adagrad`] on buffers already checked: nothing is checked again.
pub fn adagrad_checked<T: Float>(
    buffers: Checked<AdaGradBuffers<'_, T>>,
    coefficients: &AdaGradCoefficients<T>,
) {
    // SAFETY: the dispatched table's entries may run.
    unsafe { (T::row(dispatched()).adagrad)(buffers, coefficients) }
}

/// [`adagrad`] on a forced tier, or an error (and nothing written) if the CPU lacks it.
///
/// # Panics
/// If the buffers' lengths differ (checked before anything is written).
#[track_caller]
pub fn adagrad_on<T: Float>(
    tier: Tier,
    buffers: AdaGradBuffers<'_, T>,
    coefficients: &AdaGradCoefficients<T>,
) -> Result<(), TierUnavailable> {
    let row = T::row(forced(tier)?);
    // SAFETY: `forced` returns only the table of a tier the CPU has.
    unsafe { check_and_run(row.adagrad, buffers, coefficients) };
    Ok(())
}

/// One RMSprop step on the dispatched tier (the best this CPU has).
///
/// # Panics
/// If the buffers' lengths differ (checked before anything is written).
///
/// # Example
/// ```
/// use fused_optim_kernels::{rmsprop, RmsPropBuffers, RmsPropCoefficients};
/// let c = RmsPropCoefficients {
///     alpha: 0.99f32, one_minus_alpha: 0.01, eps: 1e-8, lr: 1e-2, momentum: 0.0,
///     weight_decay: None, grad_scale: 1.0, maximize: false,
/// };
/// let (mut p, g, mut v) = (vec![1.0f32; 3], vec![0.5f32; 3], vec![0.0f32; 3]);
/// rmsprop(RmsPropBuffers { param: &mut p, grad: &g, square_avg: &mut v,
///                          momentum_buffer: None, grad_avg: None }, &c);
/// assert!((p[0] - (1.0 - 0.1)).abs() < 1e-6); // g/√(0.01·g²) = 10: a first step of 10·lr
/// ```
#[track_caller]
pub fn rmsprop<T: Float>(buffers: RmsPropBuffers<'_, T>, coefficients: &RmsPropCoefficients<T>) {
    // SAFETY: the dispatched table's entries may run.
    unsafe { check_and_run(T::row(dispatched()).rmsprop, buffers, coefficients) }
}

/// [`rmsprop`] on buffers already checked: nothing is checked again.
pub fn rmsprop_checked<T: Float>(
    buffers: Checked<RmsPropBuffers<'_, T>>,
    coefficients: &RmsPropCoefficients<T>,
) {
    // SAFETY: the dispatched table's entries may run.
    unsafe { (T::row(dispatched()).rmsprop)(buffers, coefficients) }
}

/// [`rmsprop`] on a forced tier, or an error (and nothing written) if the CPU lacks it.
///
/// # Panics
/// If the buffers' lengths differ (checked before anything is written).
#[track_caller]
pub fn rmsprop_on<T: Float>(
    tier: Tier,
    buffers: RmsPropBuffers<'_, T>,
    coefficients: &RmsPropCoefficients<T>,
) -> Result<(), TierUnavailable> {
    let row = T::row(forced(tier)?);
    // SAFETY: `forced` returns only the table of a tier the CPU has.
    unsafe { check_and_run(row.rmsprop, buffers, coefficients) };
    Ok(())
}

/// One AdaDelta step on the dispatched tier (the best this CPU has).
///
/// # Panics
/// If the buffers' lengths differ (checked before anything is written).
///
/// # Example
/// ```
/// use fused_optim_kernels::{adadelta, AdaDeltaBuffers, AdaDeltaCoefficients};
/// let c = AdaDeltaCoefficients {
///     rho: 0.9f64, one_minus_rho: 0.1, eps: 1e-6, lr: 1.0, weight_decay: None, grad_scale: 1.0, maximize: false,
/// };
/// let (mut p, g) = (vec![1.0f64; 3], vec![1.0f64; 3]);
/// let (mut s, mut x) = (vec![0.0f64; 3], vec![0.0f64; 3]);
/// adadelta(AdaDeltaBuffers { param: &mut p, grad: &g, square_avg: &mut s, acc_delta: &mut x }, &c);
/// // δ = √(0 + ε)/√(0.1 + ε)·1 ≈ 3.16e-3
/// assert!((p[0] - (1.0 - (1e-6f64 / (0.1 + 1e-6)).sqrt())).abs() < 1e-12);
/// ```
#[track_caller]
pub fn adadelta<T: Float>(buffers: AdaDeltaBuffers<'_, T>, coefficients: &AdaDeltaCoefficients<T>) {
    // SAFETY: the dispatched table's entries may run.
    unsafe { check_and_run(T::row(dispatched()).adadelta, buffers, coefficients) }
}

/// [`adadelta`] on buffers already checked: nothing is checked again.
pub fn adadelta_checked<T: Float>(
    buffers: Checked<AdaDeltaBuffers<'_, T>>,
    coefficients: &AdaDeltaCoefficients<T>,
) {
    // SAFETY: the dispatched table's entries may run.
    unsafe { (T::row(dispatched()).adadelta)(buffers, coefficients) }
}

/// [`adadelta`] on a forced tier, or an error (and nothing written) if the CPU lacks it.
///
/// # Panics
/// If the buffers' lengths differ (checked before anything is written).
#[track_caller]
pub fn adadelta_on<T: Float>(
    tier: Tier,
    buffers: AdaDeltaBuffers<'_, T>,
    coefficients: &AdaDeltaCoefficients<T>,
) -> Result<(), TierUnavailable> {
    let row = T::row(forced(tier)?);
    // SAFETY: `forced` returns only the table of a tier the CPU has.
    unsafe { check_and_run(row.adadelta, buffers, coefficients) };
    Ok(())
}

/// One SGD step on the dispatched tier (the best this CPU has).
///
/// With `momentum_buffer` given, the step uses momentum; then
/// [`SgdCoefficients::first`] (the step number `t == 1`) makes the step
/// ignore the buffer's prior contents and overwrite them with the gradient.
///
/// # Panics
/// If the buffers' lengths differ (checked before anything is written).
///
/// # Example
/// ```
/// use fused_optim_kernels::{sgd, SgdBuffers, SgdCoefficients};
/// let c = SgdCoefficients {
///     lr: 0.5f32, momentum: 0.5, one_minus_dampening: 1.0, nesterov: false, first: true,
///     weight_decay: None, grad_scale: 1.0, maximize: false,
/// };
/// let (mut p, g, mut b) = (vec![1.0f32; 3], vec![0.5f32; 3], vec![f32::NAN; 3]);
/// sgd(SgdBuffers { param: &mut p, grad: &g, momentum_buffer: Some(&mut b) }, &c);
/// assert_eq!((p[0], b[0]), (0.75, 0.5)); // the first step: b = g, p −= lr·b (the old b unread)
/// let later = SgdCoefficients { first: false, ..c };
/// sgd(SgdBuffers { param: &mut p, grad: &g, momentum_buffer: Some(&mut b) }, &later);
/// assert_eq!((p[0], b[0]), (0.375, 0.75)); // b = 0.5·0.5 + 0.5, p = 0.75 − 0.5·0.75
/// ```
#[track_caller]
pub fn sgd<T: Float>(buffers: SgdBuffers<'_, T>, coefficients: &SgdCoefficients<T>) {
    // SAFETY: the dispatched table's entries may run.
    unsafe { check_and_run(T::row(dispatched()).sgd, buffers, coefficients) }
}

/// [`sgd`] on buffers already checked: nothing is checked again.
pub fn sgd_checked<T: Float>(buffers: Checked<SgdBuffers<'_, T>>, coefficients: &SgdCoefficients<T>) {
    // SAFETY: the dispatched table's entries may run.
    unsafe { (T::row(dispatched()).sgd)(buffers, coefficients) }
}

/// [`sgd`] on a forced tier, or an error (and nothing written) if the CPU lacks it.
///
/// # Panics
/// If the buffers' lengths differ (checked before anything is written).
///
/// # Example
/// ```
/// use fused_optim_kernels::{sgd_on, SgdBuffers, SgdCoefficients, Tier};
/// let c = SgdCoefficients {
///     lr: 0.25f64, momentum: 0.0, one_minus_dampening: 1.0, nesterov: false, first: true,
///     weight_decay: None, grad_scale: 1.0, maximize: false,
/// };
/// let (mut p, g) = (vec![1.0f64; 3], vec![2.0f64; 3]);
/// sgd_on(Tier::Portable, SgdBuffers { param: &mut p, grad: &g, momentum_buffer: None }, &c)
///     .expect("the portable tier is always available");
/// assert_eq!(p[0], 0.5); // no momentum: p −= lr·g
/// ```
#[track_caller]
pub fn sgd_on<T: Float>(
    tier: Tier,
    buffers: SgdBuffers<'_, T>,
    coefficients: &SgdCoefficients<T>,
) -> Result<(), TierUnavailable> {
    let row = T::row(forced(tier)?);
    // SAFETY: `forced` returns only the table of a tier the CPU has.
    unsafe { check_and_run(row.sgd, buffers, coefficients) };
    Ok(())
}

/// One Lion step on the dispatched tier (the best this CPU has).
///
/// # Panics
/// If the buffers' lengths differ (checked before anything is written).
///
/// # Example
/// ```
/// use fused_optim_kernels::{lion, LionBuffers, LionCoefficients};
/// let c = LionCoefficients {
///     beta1: 0.9f32, one_minus_beta1: 0.1, beta2: 0.99, one_minus_beta2: 0.01,
///     lr: 0.5, decay_factor: None, grad_scale: 1.0, maximize: false,
/// };
/// let (mut p, g, mut m) = (vec![1.0f32, 1.0, 1.0], vec![4.0f32, -0.25, 0.0], vec![0.0f32; 3]);
/// lion(LionBuffers { param: &mut p, grad: &g, exp_avg: &mut m }, &c);
/// assert_eq!(p, [0.5, 1.5, 1.0]); // every element moves by lr·sign(c), or not at all
/// assert_eq!(m, [0.04, -0.0025, 0.0]);
/// ```
#[track_caller]
pub fn lion<T: Float>(buffers: LionBuffers<'_, T>, coefficients: &LionCoefficients<T>) {
    // SAFETY: the dispatched table's entries may run.
    unsafe { check_and_run(T::row(dispatched()).lion, buffers, coefficients) }
}

/// [`lion`] on buffers already checked: nothing is checked again.
pub fn lion_checked<T: Float>(buffers: Checked<LionBuffers<'_, T>>, coefficients: &LionCoefficients<T>) {
    // SAFETY: the dispatched table's entries may run.
    unsafe { (T::row(dispatched()).lion)(buffers, coefficients) }
}

/// [`lion`] on a forced tier, or an error (and nothing written) if the CPU lacks it.
///
/// # Panics
/// If the buffers' lengths differ (checked before anything is written).
#[track_caller]
pub fn lion_on<T: Float>(
    tier: Tier,
    buffers: LionBuffers<'_, T>,
    coefficients: &LionCoefficients<T>,
) -> Result<(), TierUnavailable> {
    let row = T::row(forced(tier)?);
    // SAFETY: `forced` returns only the table of a tier the CPU has.
    unsafe { check_and_run(row.lion, buffers, coefficients) };
    Ok(())
}

/// The algorithms with a mixed-precision step, and where each one's kernel
/// sits in a tier's table (as [`ProbeShape`] does for the probe's shapes).
pub trait MixedKernel: MixedUpdate {
    /// The table's entry for this algorithm.
    #[doc(hidden)]
    fn entry(table: &KernelTable) -> MixedEntry<Self>;
}

/// A table's mixed-precision entry for the algorithm `U`.
#[doc(hidden)]
pub type MixedEntry<U> = for<'a> unsafe fn(Checked<MixedBuffers<'a>>, &MixedCoefficients<U>);

impl MixedKernel for AdamCoefficients<f32> {
    fn entry(table: &KernelTable) -> MixedEntry<Self> {
        table.adam_mixed
    }
}

impl MixedKernel for SgdCoefficients<f32> {
    fn entry(table: &KernelTable) -> MixedEntry<Self> {
        table.sgd_mixed
    }
}

impl MixedKernel for LionCoefficients<f32> {
    fn entry(table: &KernelTable) -> MixedEntry<Self> {
        table.lion_mixed
    }
}

/// One mixed-precision step of the algorithm whose `f32` scalars are `U`, on
/// the dispatched tier.
///
/// # Panics
/// If the lengths differ, the state buffers' types differ, the layout is not
/// one of [`MixedLayout::SUPPORTED`](crate::MixedLayout::SUPPORTED), or a
/// state buffer the options need is absent (checked before anything is
/// written).
#[track_caller]
pub fn mixed<U: MixedKernel>(buffers: MixedBuffers<'_>, coefficients: &MixedCoefficients<U>) {
    // SAFETY: the dispatched table's entries may run.
    unsafe { check_and_run(U::entry(dispatched()), buffers, coefficients) }
}

/// [`mixed()`] on buffers already checked (their layout derived once, by
/// [`Checked::new`]): nothing is checked again.
///
/// # Panics
/// If a state buffer the options need is absent (before anything is written).
pub fn mixed_checked<U: MixedKernel>(
    buffers: Checked<MixedBuffers<'_>>,
    coefficients: &MixedCoefficients<U>,
) {
    // SAFETY: the dispatched table's entries may run.
    unsafe { U::entry(dispatched())(buffers, coefficients) }
}

/// [`mixed()`] on a forced tier, or an error (and nothing written) if the
/// CPU lacks it.
///
/// # Panics
/// As [`mixed()`].
#[track_caller]
pub fn mixed_on<U: MixedKernel>(
    tier: Tier,
    buffers: MixedBuffers<'_>,
    coefficients: &MixedCoefficients<U>,
) -> Result<(), TierUnavailable> {
    let table = forced(tier)?;
    // SAFETY: `forced` returns only the table of a tier the CPU has.
    unsafe { check_and_run(U::entry(table), buffers, coefficients) };
    Ok(())
}

/// The algorithms with an 8-bit-state step (those with a mixed-precision
/// update), and where each one's kernel sits in a tier's table.
pub trait QuantizedKernel: MixedUpdate {
    /// The table's entry for this algorithm.
    #[doc(hidden)]
    fn quantized_entry(table: &KernelTable) -> QuantizedEntry<Self>;
}

/// A table's 8-bit-state entry for the algorithm `U`.
#[doc(hidden)]
pub type QuantizedEntry<U> = for<'a> unsafe fn(Checked<QuantizedBuffers<'a>>, &QuantizedCoefficients<U>);

impl QuantizedKernel for AdamCoefficients<f32> {
    fn quantized_entry(table: &KernelTable) -> QuantizedEntry<Self> {
        table.adam_quantized
    }
}

impl QuantizedKernel for SgdCoefficients<f32> {
    fn quantized_entry(table: &KernelTable) -> QuantizedEntry<Self> {
        table.sgd_quantized
    }
}

impl QuantizedKernel for LionCoefficients<f32> {
    fn quantized_entry(table: &KernelTable) -> QuantizedEntry<Self> {
        table.lion_quantized
    }
}

/// Checks `buffers` for the algorithm `U` (lengths, scales, the slots its
/// options need), panicking with the error's message.
#[track_caller]
fn checked_for<'a, U: MixedUpdate>(buffers: QuantizedBuffers<'a>) -> Checked<QuantizedBuffers<'a>> {
    if let Err(e) = buffers.check_for::<U>() {
        panic!("{e}");
    }
    Checked::or_panic(buffers)
}

/// One 8-bit-state step of the algorithm whose `f32` scalars are `U`, on the
/// dispatched tier (the codes, formula and op order:
/// [`spec::quantized`](mod@crate::spec::quantized)).
///
/// # Panics
/// If the lengths differ, a slot's scales are not one per block of
/// [`QUANT_BLOCK`](crate::QUANT_BLOCK), or a state slot the options need is
/// absent (checked before anything is written).
///
/// # Example
/// ```
/// use fused_optim_kernels::{quantized, spec, LionCoefficients, QuantizedBuffers, QuantizedCoefficients, QuantizedSlot};
/// let lion = LionCoefficients {
///     beta1: 0.9f32, one_minus_beta1: 0.1, beta2: 0.99, one_minus_beta2: 0.01,
///     lr: 0.5, decay_factor: None, grad_scale: 1.0, maximize: false,
/// };
/// let c = QuantizedCoefficients { algorithm: lion, grad_scale: 1.0, zero_grad: false };
/// let (mut p, mut g) = (vec![1.0f32; 300], vec![4.0f32; 300]);
/// let (mut codes, mut scales) = (vec![0u8; 300], vec![0.0f32; 2]); // a fresh state: all zero
/// let slot = QuantizedSlot { codes: &mut codes, scales: &mut scales };
/// quantized(QuantizedBuffers { param: &mut p, grad: &mut g, state: [Some(slot), None, None] }, &c);
/// assert_eq!(p[0], 0.5); // p −= lr·sign(c)
/// assert_eq!(scales, [0.04, 0.04]); // m = (1 − β2)·g, every element the block's absmax
/// assert!(codes.iter().all(|&c| c == 0x7F)); // so every code is +1.0
/// assert_eq!(spec::decode_signed(codes[0]) * scales[0], 0.04);
/// ```
#[track_caller]
pub fn quantized<U: QuantizedKernel>(buffers: QuantizedBuffers<'_>, coefficients: &QuantizedCoefficients<U>) {
    let checked = checked_for::<U>(buffers);
    // SAFETY: the dispatched table's entries may run.
    unsafe { U::quantized_entry(dispatched())(checked, coefficients) }
}

/// [`quantized()`] on buffers already checked ([`Checked::new`]: lengths and
/// scales): nothing is checked again but the slots the options need.
///
/// # Panics
/// If a state slot the options need is absent (before anything is written).
pub fn quantized_checked<U: QuantizedKernel>(
    buffers: Checked<QuantizedBuffers<'_>>,
    coefficients: &QuantizedCoefficients<U>,
) {
    // SAFETY: the dispatched table's entries may run.
    unsafe { U::quantized_entry(dispatched())(buffers, coefficients) }
}

/// [`quantized()`] on a forced tier, or an error (and nothing written) if
/// the CPU lacks it.
///
/// # Panics
/// As [`quantized()`].
#[track_caller]
pub fn quantized_on<U: QuantizedKernel>(
    tier: Tier,
    buffers: QuantizedBuffers<'_>,
    coefficients: &QuantizedCoefficients<U>,
) -> Result<(), TierUnavailable> {
    let table = forced(tier)?;
    let checked = checked_for::<U>(buffers);
    // SAFETY: `forced` returns only the table of a tier the CPU has.
    unsafe { U::quantized_entry(table)(checked, coefficients) };
    Ok(())
}

/// True if any element of `grad`, multiplied by `scale`, is infinite or NaN
/// (the `found_inf` check, on the dispatched tier). Reads only.
pub fn grad_non_finite(grad: &MixedSlice<'_>, scale: f32) -> bool {
    // SAFETY: the dispatched table's entries may run.
    unsafe { (dispatched().grad_non_finite)(grad, scale) }
}

/// [`grad_non_finite`] on a forced tier.
pub fn grad_non_finite_on(tier: Tier, grad: &MixedSlice<'_>, scale: f32) -> Result<bool, TierUnavailable> {
    let table = forced(tier)?;
    // SAFETY: `forced` returns only the table of a tier the CPU has.
    Ok(unsafe { (table.grad_non_finite)(grad, scale) })
}

/// `dst = narrow(widen(src)·scale)` on the dispatched tier (`scale = 1`: a
/// plain conversion, exact or rounded to nearest even).
///
/// # Panics
/// If the lengths differ.
pub fn convert(src: &MixedSlice<'_>, dst: &mut MixedSlice<'_>, scale: f32) {
    assert_eq!(src.len(), dst.len(), "convert: unequal lengths");
    // SAFETY: the dispatched table's entries may run.
    unsafe { (dispatched().convert)(src, dst, scale) }
}

/// [`convert`] on a forced tier.
///
/// # Panics
/// If the lengths differ.
pub fn convert_on(
    tier: Tier,
    src: &MixedSlice<'_>,
    dst: &mut MixedSlice<'_>,
    scale: f32,
) -> Result<(), TierUnavailable> {
    assert_eq!(src.len(), dst.len(), "convert: unequal lengths");
    let table = forced(tier)?;
    // SAFETY: `forced` returns only the table of a tier the CPU has.
    unsafe { (table.convert)(src, dst, scale) };
    Ok(())
}

/// `x = narrow(widen(x)·scale)` in place, on the dispatched tier (the
/// framework's separate unscale pass).
pub fn scale_in_place(x: &mut MixedSlice<'_>, scale: f32) {
    // SAFETY: the dispatched table's entries may run.
    unsafe { (dispatched().scale_in_place)(x, scale) }
}

/// The sum of squares of one gradient, on the dispatched tier: the root of
/// its block tree, in the order [`spec::grad_norm`](mod@crate::spec::grad_norm)
/// fixes (the same bits on every tier). Reads only.
///
/// # Example
/// ```
/// use fused_optim_kernels::{grad_sum_squares, spec, bf16};
/// let g: Vec<f32> = (0..10_000).map(|i| (i % 7) as f32 - 3.0).collect();
/// assert_eq!(grad_sum_squares(&g).to_bits(), spec::sum_squares(&g).to_bits());
/// let b: Vec<bf16> = g.iter().map(|&x| bf16::from_f32(x)).collect();
/// assert_eq!(grad_sum_squares(&b), grad_sum_squares(&g)); // small integers: exact in bf16
/// ```
pub fn grad_sum_squares<T: NormElement>(grad: &[T]) -> f64 {
    grad_sum_squares_blocks(&T::norm_slice(grad), 0).root()
}

/// [`grad_sum_squares`] on a forced tier.
pub fn grad_sum_squares_on<T: NormElement>(tier: Tier, grad: &[T]) -> Result<f64, TierUnavailable> {
    Ok(grad_sum_squares_blocks_on(tier, &T::norm_slice(grad), 0)?.root())
}

/// The blocks of `grad` as a run of its tensor's block tree starting at block
/// `first_block`, on the dispatched tier: the form a driver calls per piece.
/// `grad` must begin at element `first_block·NORM_BLOCK` of its tensor and
/// have a length that is a multiple of [`NORM_BLOCK`](crate::NORM_BLOCK)
/// unless it runs to the tensor's end; the runs of a tensor's pieces,
/// [`SumTree::append`]ed in order, then give the tensor's
/// [`SumTree::root`] bit for bit.
///
/// # Example
/// ```
/// use fused_optim_kernels::{grad_sum_squares, grad_sum_squares_blocks, NormSlice, SumTree, NORM_BLOCK};
/// let g: Vec<f64> = (0..5 * NORM_BLOCK + 17).map(|i| (i as f64).sin()).collect();
/// let mut tree = SumTree::starting_at(0);
/// for (first, piece) in [(0, &g[..3 * NORM_BLOCK]), (3, &g[3 * NORM_BLOCK..])] {
///     tree.append(&grad_sum_squares_blocks(&NormSlice::F64(piece), first));
/// }
/// assert_eq!(tree.root().to_bits(), grad_sum_squares(&g).to_bits());
/// ```
pub fn grad_sum_squares_blocks(grad: &NormSlice<'_>, first_block: u64) -> SumTree {
    // SAFETY: the dispatched table's entries may run.
    unsafe { (dispatched().sum_squares)(grad, first_block) }
}

/// [`grad_sum_squares_blocks`] on a forced tier.
pub fn grad_sum_squares_blocks_on(
    tier: Tier,
    grad: &NormSlice<'_>,
    first_block: u64,
) -> Result<SumTree, TierUnavailable> {
    let table = forced(tier)?;
    // SAFETY: `forced` returns only the table of a tier the CPU has.
    Ok(unsafe { (table.sum_squares)(grad, first_block) })
}

/// The 2-norm of every gradient of `grads` together, on the dispatched tier:
/// the tensors' sums of squares added in order from `+0`, then `√` (see
/// [`spec::grad_norm`](mod@crate::spec::grad_norm)). Reads only.
///
/// # Example
/// ```
/// use fused_optim_kernels::{grad_norm, spec};
/// let (a, b) = (vec![3.0f32; 1], vec![4.0f32; 1]);
/// assert_eq!(grad_norm(&[&a[..], &b[..]]), 5.0);
/// let big = vec![1e30f32; 100]; // an f32 sum of squares would overflow
/// assert_eq!(grad_norm(&[&big[..]]), spec::grad_norm(&[&big[..]]));
/// assert!((grad_norm(&[&big[..]]) / 1e31 - 1.0).abs() < 1e-6);
/// ```
pub fn grad_norm<T: NormElement>(grads: &[&[T]]) -> f64 {
    grads.iter().fold(0.0f64, |total, g| total + grad_sum_squares(g)).sqrt()
}

/// [`grad_norm`] on a forced tier.
pub fn grad_norm_on<T: NormElement>(tier: Tier, grads: &[&[T]]) -> Result<f64, TierUnavailable> {
    let mut total = 0.0f64;
    for g in grads {
        total += grad_sum_squares_on(tier, g)?;
    }
    Ok(total.sqrt())
}

/// Probe shapes with a kernel behind them: 2, 3 or 4 written streams.
pub trait ProbeShape<T: Float>: Check + Sized {
    /// The table's entry for this shape.
    #[doc(hidden)]
    fn entry(k: &TypedKernels<T>) -> Entry<Self, ()>;
}

impl<T: Float> ProbeShape<T> for ProbeBuffers<'_, T, 2> {
    fn entry(k: &TypedKernels<T>) -> Entry<Self, ()> {
        k.probe2
    }
}

impl<T: Float> ProbeShape<T> for ProbeBuffers<'_, T, 3> {
    fn entry(k: &TypedKernels<T>) -> Entry<Self, ()> {
        k.probe3
    }
}

impl<T: Float> ProbeShape<T> for ProbeBuffers<'_, T, 4> {
    fn entry(k: &TypedKernels<T>) -> Entry<Self, ()> {
        k.probe4
    }
}

/// One pass of the bandwidth probe on the dispatched tier: a kernel's access
/// pattern with trivial arithmetic.
///
/// A step of Adam reads four streams (p, g, m, v) and writes three of them
/// back in place; AdaMax the same; AMSGrad reads five and writes four. The
/// probe does exactly that, `z = g − g` and then `x = x + z` per written
/// stream, through the same lane types, tiers, dispatch and (in the root
/// crate) threads. For finite `g`, `z` is `+0` and the probe leaves every
/// finite, non-`−0` value as it was, so it can be timed interleaved with a
/// kernel on the same buffers without drifting them. It is the roofline: the
/// fastest a step of that shape can go on this machine. A kernel that beats
/// its probe means the probe is wrong, not the kernel fast.
///
/// # Panics
/// If the streams' lengths differ.
#[track_caller]
pub fn probe<'b, T: Float, const W: usize>(buffers: ProbeBuffers<'b, T, W>)
where
    ProbeBuffers<'b, T, W>: ProbeShape<T>,
{
    let entry = <ProbeBuffers<'b, T, W> as ProbeShape<T>>::entry(T::row(dispatched()));
    // SAFETY: the dispatched table's entries may run.
    unsafe { check_and_run(entry, buffers, &()) }
}

/// [`probe`] on buffers already checked: nothing is checked again.
pub fn probe_checked<'b, T: Float, const W: usize>(buffers: Checked<ProbeBuffers<'b, T, W>>)
where
    ProbeBuffers<'b, T, W>: ProbeShape<T>,
{
    let entry = <ProbeBuffers<'b, T, W> as ProbeShape<T>>::entry(T::row(dispatched()));
    // SAFETY: the dispatched table's entries may run.
    unsafe { entry(buffers, &()) }
}

/// [`probe`] on a forced tier, or an error if the CPU lacks it.
///
/// # Panics
/// If the streams' lengths differ.
#[track_caller]
pub fn probe_on<'b, T: Float, const W: usize>(
    tier: Tier,
    buffers: ProbeBuffers<'b, T, W>,
) -> Result<(), TierUnavailable>
where
    ProbeBuffers<'b, T, W>: ProbeShape<T>,
{
    let entry = <ProbeBuffers<'b, T, W> as ProbeShape<T>>::entry(T::row(forced(tier)?));
    // SAFETY: `forced` returns only the table of a tier the CPU has.
    unsafe { check_and_run(entry, buffers, &()) };
    Ok(())
}

/// One pass of the bandwidth probe of a lean-state step on the dispatched
/// tier: the `f32` parameter read and written, the `f32` gradient read, two
/// state streams of bf16 words or of 8-bit codes with their per-block scales
/// read and written ([`StateProbeBuffers`]), with trivial arithmetic
/// (`z = g − g`, `p + z`, each word xor-ed with the word's bits of `z`, each
/// scale `+ z` once per block). It moves exactly the bytes the bf16-state
/// and the 8-bit-state steps move, so it is their roof; for finite `g` it
/// leaves every finite value as it was.
///
/// # Panics
/// If the streams' lengths differ, or 8-bit state's scales are not
/// `len.div_ceil(QUANT_BLOCK)` per stream.
///
/// ```
/// use fused_optim_kernels::{probe_state, bf16, ProbeState, StateProbeBuffers};
/// let (mut p, g) = (vec![1.0f32; 100], vec![0.5f32; 100]);
/// let (mut m, mut v) = (vec![bf16::from_f32(0.25); 100], vec![bf16::from_f32(2.0); 100]);
/// probe_state(StateProbeBuffers { param: &mut p, grad: &g, state: ProbeState::Bf16([&mut m, &mut v]) });
/// assert_eq!((p[99], m[0].to_f32(), v[50].to_f32()), (1.0, 0.25, 2.0));
/// ```
#[track_caller]
pub fn probe_state(buffers: StateProbeBuffers<'_>) {
    // SAFETY: the dispatched table's entries may run.
    unsafe { check_and_run(dispatched().probe_state, buffers, &()) }
}

/// [`probe_state`] on buffers already checked: nothing is checked again.
pub fn probe_state_checked(buffers: Checked<StateProbeBuffers<'_>>) {
    // SAFETY: the dispatched table's entries may run.
    unsafe { (dispatched().probe_state)(buffers, &()) }
}

/// [`probe_state`] on a forced tier, or an error (and nothing touched) if
/// the CPU lacks it.
///
/// # Panics
/// As [`probe_state`].
#[track_caller]
pub fn probe_state_on(tier: Tier, buffers: StateProbeBuffers<'_>) -> Result<(), TierUnavailable> {
    let table = forced(tier)?;
    // SAFETY: `forced` returns only the table of a tier the CPU has.
    unsafe { check_and_run(table.probe_state, buffers, &()) };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "x86_64")]
    use crate::arch::x86_64::detected;

    /// A CPU reporting exactly `features`.
    #[cfg(target_arch = "x86_64")]
    fn cpu(features: &'static [&'static str]) -> impl Fn(&str) -> bool {
        move |f| features.contains(&f)
    }

    #[test]
    fn every_required_feature_is_known_to_detection() {
        for tier in ALL_TIERS {
            for feature in tier.features().split(',').filter(|f| !f.is_empty()) {
                #[cfg(target_arch = "x86_64")]
                assert!(
                    detected(feature).is_some(),
                    "{tier} needs `{feature}`, which detection does not know"
                );
                let _ = (tier, feature);
            }
        }
    }

    #[test]
    fn a_tier_is_available_exactly_when_its_token_is() {
        assert_eq!(Tier::Portable.is_available(), Portable::try_new().is_some());
        #[cfg(target_arch = "x86_64")]
        {
            assert_eq!(Tier::Avx2.is_available(), Avx2::try_new().is_some());
            assert_eq!(Tier::Avx512.is_available(), Avx512::try_new().is_some());
            let has = |f: &str| detected(f).unwrap_or(false);
            for tier in ALL_TIERS {
                assert_eq!(tier.is_available(), tier.is_supported_by(has), "{tier}");
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

    /// Values for the norm tests: random magnitudes over many binades, with
    /// specials mixed in when `special`.
    fn norm_values(n: usize, seed: u64, special: bool) -> Vec<f64> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|i| {
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
                if special && r.is_multiple_of(97) {
                    return [f64::NAN, f64::INFINITY, -0.0, 1e-310, 1e300][i % 5];
                }
                let mantissa = (r >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
                mantissa * 2f64.powi((r % 40) as i32 - 20)
            })
            .collect()
    }

    #[test]
    fn every_tier_sums_squares_as_the_reference() {
        use crate::narrow::{bf16, f16};
        use crate::operands::NORM_BLOCK;
        use crate::spec::grad_norm::{sum_squares, sum_squares_blocks};
        // Under Miri (the CI's interpreted run, portable tier only): the
        // short lengths (every partial-vector tail), within its time limit.
        let lengths: Vec<usize> = if cfg!(miri) {
            (0..=17).collect()
        } else {
            (0..=80)
                .chain([127, 128, 129, NORM_BLOCK - 1, NORM_BLOCK, NORM_BLOCK + 1, NORM_BLOCK + 9])
                .chain([3 * NORM_BLOCK + 37, 8 * NORM_BLOCK, 11 * NORM_BLOCK - 3])
                .collect()
        };
        let offsets: &[usize] = if cfg!(miri) { &[1] } else { &[0, 1, 3] };
        for (k, &n) in lengths.iter().enumerate() {
            for special in [false, true] {
                for &offset in offsets {
                    let v = norm_values(n + offset, k as u64 * 2 + special as u64, special);
                    let d: Vec<f64> = v[offset..].to_vec();
                    let f: Vec<f32> = d.iter().map(|&x| x as f32).collect();
                    let b: Vec<bf16> = d.iter().map(|&x| bf16::from_f64(x)).collect();
                    let h: Vec<f16> = d.iter().map(|&x| f16::from_f64(x)).collect();
                    let same = |a: f64, b: f64| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
                    for tier in Tier::available() {
                        let ctx = format!("{tier} n={n} offset={offset} special={special}");
                        assert!(same(grad_sum_squares_on(tier, &d).unwrap(), sum_squares(&d)), "f64 {ctx}");
                        assert!(same(grad_sum_squares_on(tier, &f).unwrap(), sum_squares(&f)), "f32 {ctx}");
                        assert!(same(grad_sum_squares_on(tier, &b).unwrap(), sum_squares(&b)), "bf16 {ctx}");
                        assert!(same(grad_sum_squares_on(tier, &h).unwrap(), sum_squares(&h)), "f16 {ctx}");
                        // A run from a later block: the same nodes as the reference's.
                        if n > NORM_BLOCK {
                            let got = grad_sum_squares_blocks_on(tier, &NormSlice::F32(&f[NORM_BLOCK..]), 1)
                                .unwrap();
                            let want = sum_squares_blocks(&f[NORM_BLOCK..], 1);
                            assert!(got.nodes().zip(want.nodes()).all(|(a, b)| a.0 == b.0 && same(a.1, b.1)));
                            assert_eq!(got.nodes().count(), want.nodes().count(), "{ctx}");
                        }
                    }
                    assert!(same(grad_sum_squares(&f), sum_squares(&f)));
                }
            }
        }
        for tier in ALL_TIERS.into_iter().filter(|t| !t.is_available()) {
            println!("skipped: the {tier} tier is not available on this CPU");
        }
    }
}
