//! The C-ABI differential fuzz case (`fuzz/fuzz_targets/diff_capi.rs`): one call
//! of any `fo_*` step (Adam, AdaMax, AdaGrad, RMSprop, AdaDelta, SGD, Lion on f32
//! or f64, or mixed-precision Adam; the one-tensor or the many-tensor entry
//! point) with raw config flag bytes (any `u8`), hyperparameters (from the
//! tables of [`crate::fuzz`], or raw bits), the step, up to four tensors of up to
//! [`MAX_ELEMS`] elements at their own offsets, and for every buffer, array
//! and config a pointer that is its own, null, misaligned, or aliased to or
//! overlapping another buffer; sometimes an absurd length or count, an
//! optional buffer given against its option, an unknown dtype tag.
//!
//! [`check`] works out, without the library, what the call must come to,
//! phase by phase as the C ABI documents its checks: the config pointer;
//! the hyperparameters and the step (by the safe Rust API's validation); the
//! optional state buffers against their options; the arrays; each buffer of
//! each nonempty tensor (null, misaligned, too long); overlap between any
//! written buffer and any other (computed pairwise here); for mixed
//! precision, unknown tags before the buffers and the Rust step's own checks
//! after them. A refused call must return a status of the first phase that
//! has one (any of that phase's, as the ABI does not order checks within a
//! phase) and leave every byte of every buffer, and `skipped`, as it was.
//! An accepted call must give, for f32/f64, the bits of the scalar
//! reference (`fused_optim::kernels::spec`) on each tensor alone, and
//! for mixed precision the bits and `skipped` of the safe Rust step
//! (`adam_step_mixed_many`, serial; itself fuzzed against the reference by
//! `diff_adam_mixed`), NaN compared as NaN. The Rust configs read every flag
//! byte as `byte != 0`, so a flag byte other than 1 that does not act as 1
//! diverges.
//!
//! Every C call runs on the C ABI's own threads: `fo_set_threads(3)` with the
//! serial threshold at 0, so every nonempty step is split across threads
//! (the same process-wide threshold the other targets set).

use crate::c_steps::adam_step_mixed_of;
use crate::fuzz::{
    BETA, BETA1_DECAY, DAMPENING, DECAY, EPS, Hyper, INITIAL_ACCUMULATOR, LOSS_SCALE, LR, LR_DECAY, MOMENTUM,
    Outcome, RATE, Step,
};
use arbitrary::Arbitrary;
use fused_optim::kernels::{Dtype, MixedLayout, MixedSlice, bf16, f16, spec};
use fused_optim::mixed::{
    MixedAdamBuffers, MixedOptions, StepOutcome, adam_step_mixed_many, mixed_coefficients,
};
use fused_optim::{
    AdaDeltaBuffers, AdaDeltaConfig, AdaGradBuffers, AdaGradConfig, AdaMaxBuffers, AdaMaxConfig, AdamBuffers,
    AdamConfig, EpsForm, Float, LionBuffers, LionConfig, Parallelism, RmsPropBuffers, RmsPropConfig,
    SgdBuffers, SgdConfig, WeightDecay,
};
use fused_optim_capi::*;
use std::ptr::{null, null_mut};
use std::sync::Once;

use crate::c_steps::Api;

/// Most elements of one tensor.
pub const MAX_ELEMS: usize = 200;
/// Most tensors of one case.
const MAX_TENSORS: usize = 4;
/// Buffer slots per tensor: param, grad and up to four state buffers.
const SLOTS: usize = 6;
/// Bytes of one buffer's region: the longest tensor of f64 past the largest
/// start offset (15) and overlap shift (3), with room to spare.
const REGION_BYTES: usize = (MAX_ELEMS + 32) * 8;
/// Words of the arena that holds every buffer of a case.
const ARENA_WORDS: usize = MAX_TENSORS * SLOTS * REGION_BYTES / 8;
/// The byte `skipped` holds before a call (neither false nor true).
const SKIPPED_BEFORE: u8 = 0xAA;
/// What [`refusal`] calls a mixed-precision step the `found_inf` check skipped.
pub const SKIPPED: &str = "skipped-non-finite";

/// One input of `diff_capi`, decoded in field order.
#[derive(Arbitrary, Clone, Debug)]
pub struct CapiCase {
    /// Below 240, `% 7`: Adam, AdaMax, AdaGrad, RMSprop, AdaDelta,
    /// mixed-precision Adam, Lion; 240 and above: SGD.
    algorithm: u8,
    /// f64 instead of f32 (not for mixed precision).
    double: bool,
    /// The many-tensor entry point instead of the one-tensor one.
    many: bool,
    /// Raw flag bytes, in the config's order (Adam: amsgrad, maximize,
    /// eps_hat; RMSprop: centered, maximize; SGD: nesterov, maximize; the
    /// others: maximize).
    flags: [u8; 3],
    /// Hyperparameters, in the config's order.
    hypers: [Hyper; 6],
    /// Adam's weight decay mode.
    mode: Mode,
    step: Step,
    /// The config pointer: its own (most), null, or misaligned.
    config_at: u8,
    /// Many-tensor form: one array null or misaligned (>= 224), or none.
    arrays: u8,
    /// Many-tensor form: the tensor count, or an absurd one (>= 248).
    count: u8,
    /// f32/f64: bit k gives optional buffer k against its option.
    flip: u8,
    mixed: MixedPlan,
    tensors: Vec<TensorPlan>,
    /// The bits every buffer starts with (cycled; one word per 8 bytes).
    data: Vec<u64>,
}

/// Adam's `weight_decay_mode`: mostly 0, 1 or 2, sometimes any `u32`.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct Mode {
    pick: u8,
    raw: u32,
}

impl Mode {
    fn value(self) -> u32 {
        if self.pick < 240 { u32::from(self.pick % 3) } else { self.raw }
    }
}

/// One tensor: its length, offset, and how each buffer's pointer is made.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct TensorPlan {
    len: u8,
    /// >= 250: an absurd length (see [`TensorPlan::len`]).
    huge: u8,
    /// Elements from the start of each region (`% 16`).
    offset: u8,
    /// Per buffer slot: its own pointer (most), null, misaligned, or aliased.
    pointers: [u8; SLOTS],
    /// Per buffer slot: the buffer an aliased pointer points into.
    targets: [u8; SLOTS],
    /// Mixed precision: bit 0 gives `max_exp_avg_sq` against AMSGrad, bit 1
    /// the copy against the layout.
    flip: u8,
    /// Mixed precision: a supported layout (< 224), else `tags`.
    layout: u8,
    /// Mixed precision: raw type tags of param, grad, state and copy.
    tags: [u8; 4],
    /// Mixed precision: the stochastic-rounding position.
    position: u64,
}

impl TensorPlan {
    /// The length the call is given, for elements of `size` bytes.
    fn len(&self, size: usize) -> usize {
        match self.huge {
            250 => usize::MAX,
            251 => usize::MAX / 2,
            252 => isize::MAX as usize / size + 1,
            253 => isize::MAX as usize / size,
            _ => self.len as usize % (MAX_ELEMS + 1),
        }
    }
}

/// The mixed-precision options and `skipped`.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct MixedPlan {
    /// The options pointer: its own (most), null, or misaligned.
    options_at: u8,
    /// skip_non_finite, zero_grad, stochastic_rounding: raw bytes.
    flags: [u8; 3],
    loss_scale: Hyper,
    seed: u64,
    /// `skipped`: its own byte (most), null, or a byte of a buffer.
    skipped: u8,
    skipped_target: u8,
}

/// How a pointer is made.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Pointer {
    Own,
    Null,
    /// This many bytes past its own.
    Misaligned(usize),
    /// `shift` elements past buffer `buffer`'s own pointer.
    Alias {
        buffer: usize,
        shift: usize,
    },
}

fn pointer(kind: u8, target: u8, buffers: usize) -> Pointer {
    match kind {
        0..=199 => Pointer::Own,
        200..=214 => Pointer::Null,
        215..=224 => Pointer::Misaligned(1 + kind as usize % 3),
        _ => Pointer::Alias { buffer: target as usize % buffers, shift: kind as usize % 4 },
    }
}

/// A pointer plan of a config or options struct: its own place, null, or misaligned.
fn place(at: u8) -> Option<usize> {
    match at {
        0..=239 => Some(0),
        240..=247 => None,
        _ => Some(1 + at as usize % 7),
    }
}

/// A byte range of the address space a call reads or writes.
#[derive(Clone, Copy, Debug)]
struct Span {
    start: u128,
    end: u128,
    written: bool,
}

/// True if a written span shares a byte with any other span (computed pairwise).
fn any_overlap(spans: &[Span]) -> bool {
    spans.iter().enumerate().any(|(i, a)| {
        spans[i + 1..].iter().any(|b| {
            (a.written || b.written)
                && a.start < a.end
                && b.start < b.end
                && a.start < b.end
                && b.start < a.end
        })
    })
}

/// A pointer's checks as the ABI documents them: null, aligned for `align`,
/// `n` elements of `size` bytes within `isize::MAX` bytes and the address
/// space. `Err` is the status, `Ok` the span.
fn checked(ptr: usize, n: usize, size: usize, align: usize, written: bool) -> Result<Span, fo_status> {
    if ptr == 0 {
        return Err(fo_status::FO_ERROR_NULL_POINTER);
    }
    if !ptr.is_multiple_of(align) {
        return Err(fo_status::FO_ERROR_ALIGNMENT);
    }
    let bytes = n as u128 * size as u128;
    if bytes > isize::MAX as u128 || ptr as u128 + bytes > usize::MAX as u128 {
        return Err(fo_status::FO_ERROR_LENGTH);
    }
    Ok(Span { start: ptr as u128, end: ptr as u128 + bytes, written })
}

/// What a call must come to.
#[derive(Debug)]
enum Expect {
    /// Refused with one of these statuses (those of the first phase that has one).
    Refused(Vec<fo_status>),
    /// Accepted: compared with the reference.
    Accepted,
}

/// The first phase with a failure, of phases given in order.
fn first_phase(phases: Vec<Vec<fo_status>>) -> Expect {
    phases.into_iter().find(|p| !p.is_empty()).map_or(Expect::Accepted, Expect::Refused)
}

/// The buffers of a case: one arena, each buffer slot its own region.
struct Arena {
    words: Vec<u64>,
    /// The address of `words[0]`, taken with write permission.
    base: usize,
}

impl Arena {
    fn new(data: &[u64]) -> Arena {
        let fill = |i: usize| if data.is_empty() { 0x3FF0_0000_3F80_0000 } else { data[i % data.len()] };
        Arena::from((0..ARENA_WORDS).map(fill).collect())
    }
    fn from(mut words: Vec<u64>) -> Arena {
        let base = words.as_mut_ptr() as usize;
        Arena { words, base }
    }
    fn base(&self) -> usize {
        self.base
    }
    /// The start of slot `slot` of tensor `tensor`, `offset` elements of `size` bytes in.
    fn own(&self, tensor: usize, slot: usize, offset: usize, size: usize) -> usize {
        self.base() + (tensor * SLOTS + slot) * REGION_BYTES + offset * size
    }
}

/// Sets up the C ABI's threads once per process: 3 threads, every step split.
fn threads() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        assert_eq!(fo_set_threads(3), fo_status::FO_OK);
        fo_set_serial_threshold(0);
    });
}

/// The algorithm of a case.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Algorithm {
    Adam,
    AdaMax,
    AdaGrad,
    RmsProp,
    AdaDelta,
    Mixed,
    Sgd,
    Lion,
}

impl CapiCase {
    /// The entry point the case calls: algorithm, element type and form.
    pub fn entry_point(&self) -> String {
        let dtype = match (self.algorithm(), self.double) {
            (Algorithm::Mixed, _) => "mixed",
            (_, false) => "f32",
            (_, true) => "f64",
        };
        let form = if self.many { "many" } else { "one tensor" };
        format!("{:?} {dtype} {form}", self.algorithm())
    }

    fn algorithm(&self) -> Algorithm {
        if self.algorithm >= 240 {
            return Algorithm::Sgd;
        }
        [
            Algorithm::Adam,
            Algorithm::AdaMax,
            Algorithm::AdaGrad,
            Algorithm::RmsProp,
            Algorithm::AdaDelta,
            Algorithm::Mixed,
            Algorithm::Lion,
        ][self.algorithm as usize % 7]
    }

    fn h(&self, k: usize, table: &[f64]) -> f64 {
        self.hypers[k].value(table)
    }

    /// The tensors of the call: the many-tensor form takes up to
    /// [`MAX_TENSORS`], the one-tensor form the first (or an empty one).
    fn tensors(&self) -> Vec<TensorPlan> {
        let mut t: Vec<TensorPlan> = self.tensors.iter().take(MAX_TENSORS).copied().collect();
        if !self.many {
            t.truncate(1);
            if t.is_empty() {
                t.push(TensorPlan {
                    len: 0,
                    huge: 0,
                    offset: 0,
                    pointers: [0; SLOTS],
                    targets: [0; SLOTS],
                    flip: 0,
                    layout: 0,
                    tags: [0; 4],
                    position: 0,
                });
            }
        }
        t
    }

    /// The count the many-tensor form passes: the tensors', or an absurd one.
    fn count(&self, tensors: usize) -> usize {
        if self.many && self.count >= 248 { isize::MAX as usize / 8 + 1 } else { tensors }
    }

    /// Which array of the many-tensor form (a buffer slot below `slots`,
    /// [`SLOTS`] for `lens`) is mangled, and whether it is nulled (else misaligned).
    fn mangled_array(&self, slots: usize) -> Option<(usize, bool)> {
        let which = match self.arrays as usize % (slots + 1) {
            k if k == slots => SLOTS,
            k => k,
        };
        (self.many && self.arrays >= 224).then_some((which, (self.arrays / 2).is_multiple_of(2)))
    }
}

/// Where each buffer of a case points, by tensor and slot (0 for null).
fn pointers(
    arena: &Arena,
    tensors: &[TensorPlan],
    sizes: &dyn Fn(usize, usize) -> usize,
) -> Vec<[usize; SLOTS]> {
    let own = |t: usize, k: usize| arena.own(t, k, tensors[t].offset as usize % 16, sizes(t, k));
    let buffers = tensors.len() * SLOTS;
    (0..tensors.len())
        .map(|t| {
            std::array::from_fn(|k| match pointer(tensors[t].pointers[k], tensors[t].targets[k], buffers) {
                Pointer::Own => own(t, k),
                Pointer::Null => 0,
                Pointer::Misaligned(bytes) => own(t, k) + bytes,
                Pointer::Alias { buffer, shift } => {
                    let (bt, bk) = (buffer / SLOTS, buffer % SLOTS);
                    own(bt, bk) + shift * sizes(bt, bk)
                }
            })
        })
        .collect()
}

/// A config or options struct at its place in an aligned store: the pointer
/// the call gets (null for no place).
fn placed<C: Copy>(store: &mut [u64; 16], value: C, at: Option<usize>) -> *const C {
    assert!(size_of::<C>() + 8 <= size_of::<[u64; 16]>());
    match at {
        None => null(),
        Some(offset) => {
            // SAFETY: `offset < 8` bytes into the store, which has room for a
            // `C` after it (asserted); written unaligned.
            unsafe {
                let p = store.as_mut_ptr().cast::<u8>().add(offset).cast::<C>();
                p.write_unaligned(value);
                p.cast_const()
            }
        }
    }
}

/// Runs a case: what it came to, and the status the call returned. Panics
/// on any divergence from what the case must come to.
pub fn run(case: &CapiCase) -> (Outcome, fo_status) {
    threads();
    match (case.algorithm(), case.double) {
        (Algorithm::Mixed, _) => mixed(case),
        (_, false) => plain::<f32>(case),
        (_, true) => plain::<f64>(case),
    }
}

/// Checks a case (see the module essay).
pub fn check(case: &CapiCase) -> Outcome {
    run(case).0
}

/// The status a refused case gets, named (`None`: accepted).
pub fn refusal(case: &CapiCase) -> Option<String> {
    match run(case) {
        (Outcome::Skipped, _) => Some(SKIPPED.to_string()),
        (_, fo_status::FO_OK) => None,
        (_, status) => Some(format!("{status:?}")),
    }
}

/// What a failed check prints: the entry point, then the case.
fn reproducer(case: &CapiCase) -> String {
    format!("reproducer ({}):\n{case:#?}", case.entry_point())
}

/// Asserts that `status` is what `expect` allows.
fn assert_status(case: &CapiCase, expect: &Expect, status: fo_status) {
    let ok = match expect {
        Expect::Refused(allowed) => allowed.contains(&status),
        Expect::Accepted => status == fo_status::FO_OK,
    };
    assert!(ok, "the call returned {status:?}, expected {expect:?}\n{}", reproducer(case));
}

// ---------------------------------------------------------------------------
// f32 and f64: Adam, AdaMax, AdaGrad, RMSprop, AdaDelta, SGD, Lion.

/// One f32/f64 algorithm's C config and Rust config from a case.
enum Configs {
    Adam(fo_adam_config, Option<AdamConfig>),
    AdaMax(fo_adamax_config, AdaMaxConfig),
    AdaGrad(fo_adagrad_config, AdaGradConfig),
    RmsProp(fo_rmsprop_config, RmsPropConfig),
    AdaDelta(fo_adadelta_config, AdaDeltaConfig),
    Sgd(fo_sgd_config, SgdConfig),
    Lion(fo_lion_config, LionConfig),
}

/// Adam's C config from a case, raw flag bytes and all, and the Rust
/// config it stands for (`None`: an unknown weight decay mode).
fn adam_configs(case: &CapiCase) -> (fo_adam_config, Option<AdamConfig>) {
    let [f0, f1, f2] = case.flags;
    let c = fo_adam_config {
        lr: case.h(0, LR),
        beta1: case.h(1, BETA),
        beta2: case.h(2, BETA),
        eps: case.h(3, EPS),
        weight_decay: case.h(4, DECAY),
        weight_decay_mode: case.mode.value(),
        amsgrad: f0,
        maximize: f1,
        eps_hat: f2,
        beta1_decay: case.h(5, BETA1_DECAY),
    };
    let weight_decay = match c.weight_decay_mode {
        0 => Some(WeightDecay::None),
        1 => Some(WeightDecay::L2(c.weight_decay)),
        2 => Some(WeightDecay::Decoupled(c.weight_decay)),
        _ => None,
    };
    let rust = weight_decay.map(|weight_decay| AdamConfig {
        lr: c.lr,
        betas: (c.beta1, c.beta2),
        eps: c.eps,
        eps_form: if f2 != 0 { EpsForm::Hat } else { EpsForm::Standard },
        weight_decay,
        amsgrad: f0 != 0,
        maximize: f1 != 0,
        beta1_decay: c.beta1_decay,
    });
    (c, rust)
}

impl Configs {
    fn new(case: &CapiCase) -> Configs {
        let [f0, f1, _] = case.flags;
        let on = |b: u8| b != 0;
        match case.algorithm() {
            Algorithm::Adam => {
                let (c, rust) = adam_configs(case);
                Configs::Adam(c, rust)
            }
            Algorithm::AdaMax => {
                let rust = AdaMaxConfig {
                    lr: case.h(0, LR),
                    betas: (case.h(1, BETA), case.h(2, BETA)),
                    eps: case.h(3, EPS),
                    weight_decay: case.h(4, DECAY),
                    maximize: on(f0),
                    beta1_decay: case.h(5, BETA1_DECAY),
                };
                let AdaMaxConfig { lr, betas: (beta1, beta2), eps, weight_decay, beta1_decay, .. } = rust;
                Configs::AdaMax(
                    fo_adamax_config { lr, beta1, beta2, eps, weight_decay, maximize: f0, beta1_decay },
                    rust,
                )
            }
            Algorithm::AdaGrad => {
                let rust = AdaGradConfig {
                    lr: case.h(0, LR),
                    lr_decay: case.h(1, LR_DECAY),
                    weight_decay: case.h(2, DECAY),
                    initial_accumulator_value: case.h(3, INITIAL_ACCUMULATOR),
                    eps: case.h(4, EPS),
                    maximize: on(f0),
                };
                let AdaGradConfig { lr, lr_decay, weight_decay, initial_accumulator_value, eps, .. } = rust;
                let c = fo_adagrad_config {
                    lr,
                    lr_decay,
                    weight_decay,
                    initial_accumulator_value,
                    eps,
                    maximize: f0,
                };
                Configs::AdaGrad(c, rust)
            }
            Algorithm::RmsProp => {
                let rust = RmsPropConfig {
                    lr: case.h(0, LR),
                    alpha: case.h(1, RATE),
                    eps: case.h(2, EPS),
                    weight_decay: case.h(3, DECAY),
                    momentum: case.h(4, MOMENTUM),
                    centered: on(f0),
                    maximize: on(f1),
                };
                let RmsPropConfig { lr, alpha, eps, weight_decay, momentum, .. } = rust;
                let c =
                    fo_rmsprop_config { lr, alpha, eps, weight_decay, momentum, centered: f0, maximize: f1 };
                Configs::RmsProp(c, rust)
            }
            Algorithm::Mixed => unreachable!("mixed precision has its own configs"),
            Algorithm::AdaDelta => {
                let rust = AdaDeltaConfig {
                    lr: case.h(0, LR),
                    rho: case.h(1, RATE),
                    eps: case.h(2, EPS),
                    weight_decay: case.h(3, DECAY),
                    maximize: on(f0),
                };
                let AdaDeltaConfig { lr, rho, eps, weight_decay, .. } = rust;
                Configs::AdaDelta(fo_adadelta_config { lr, rho, eps, weight_decay, maximize: f0 }, rust)
            }
            Algorithm::Sgd => {
                let rust = SgdConfig {
                    lr: case.h(0, LR),
                    momentum: case.h(1, MOMENTUM),
                    dampening: case.h(2, DAMPENING),
                    weight_decay: case.h(3, DECAY),
                    nesterov: on(f0),
                    maximize: on(f1),
                };
                let SgdConfig { lr, momentum, dampening, weight_decay, .. } = rust;
                let c = fo_sgd_config { lr, momentum, dampening, weight_decay, nesterov: f0, maximize: f1 };
                Configs::Sgd(c, rust)
            }
            Algorithm::Lion => {
                let rust = LionConfig {
                    lr: case.h(0, LR),
                    betas: (case.h(1, BETA), case.h(2, RATE)),
                    weight_decay: case.h(3, DECAY),
                    maximize: on(f0),
                };
                let LionConfig { lr, betas: (beta1, beta2), weight_decay, .. } = rust;
                Configs::Lion(fo_lion_config { lr, beta1, beta2, weight_decay, maximize: f0 }, rust)
            }
        }
    }

    /// Slots used (param, grad, then state) and, per slot, the option an
    /// optional buffer needs (`None`: required).
    fn slots(&self) -> Vec<Option<bool>> {
        match self {
            Configs::Adam(c, _) => vec![None, None, None, None, Some(c.amsgrad != 0)],
            Configs::AdaMax(..) => vec![None; 4],
            Configs::AdaGrad(..) => vec![None; 3],
            Configs::RmsProp(c, _) => vec![None, None, None, Some(c.momentum > 0.0), Some(c.centered != 0)],
            Configs::AdaDelta(..) => vec![None; 4],
            Configs::Sgd(c, _) => vec![None, None, Some(c.momentum > 0.0)],
            Configs::Lion(..) => vec![None; 3],
        }
    }

    /// The hyperparameter and step checks of the safe Rust API.
    fn validate<T: Float>(&self, t: u64) -> Result<(), fo_status> {
        let status = |e: fused_optim::Error| fo_status::from(e);
        match self {
            Configs::Adam(_, None) => Err(fo_status::FO_ERROR_HYPERPARAMETER),
            Configs::Adam(_, Some(r)) => r.coefficients::<T>(t).map(drop).map_err(status),
            Configs::AdaMax(_, r) => r.coefficients::<T>(t).map(drop).map_err(status),
            Configs::AdaGrad(_, r) => r.coefficients::<T>(t).map(drop).map_err(status),
            Configs::RmsProp(_, r) => r.coefficients::<T>(t).map(drop).map_err(status),
            Configs::AdaDelta(_, r) => r.coefficients::<T>(t).map(drop).map_err(status),
            Configs::Sgd(_, r) => r.coefficients::<T>(t).map(drop).map_err(status),
            Configs::Lion(_, r) => r.coefficients::<T>(t).map(drop).map_err(status),
        }
    }
}

/// The f32/f64 call of a case; see the module essay.
fn plain<T: Api>(case: &CapiCase) -> (Outcome, fo_status) {
    let size = size_of::<T>();
    let configs = Configs::new(case);
    let slots = configs.slots();
    let tensors = case.tensors();
    let count = case.count(tensors.len());
    let t = case.step.value();
    let arena = Arena::new(&case.data);
    let ptrs = pointers(&arena, &tensors, &|_, _| size);
    let lens: Vec<usize> = tensors.iter().map(|p| p.len(size)).collect();

    // Optional buffers given (one-tensor form: a non-null pointer; many:
    // a non-null array), each against its option when the case flips it.
    let mangled = case.mangled_array(slots.len());
    let given: Vec<bool> = slots
        .iter()
        .enumerate()
        .map(|(k, on)| match on {
            None => true,
            Some(on) => {
                let wanted = *on != (case.flip >> k & 1 == 1);
                if case.many { wanted && mangled != Some((k, true)) } else { wanted && ptrs[0][k] != 0 }
            }
        })
        .collect();

    // What the call must come to, phase by phase.
    let config_at = place(case.config_at);
    let mut phases = vec![match config_at {
        None => vec![fo_status::FO_ERROR_NULL_POINTER],
        Some(off) if off % 8 != 0 => vec![fo_status::FO_ERROR_ALIGNMENT],
        _ => vec![],
    }];
    phases.push(configs.validate::<T>(t).err().into_iter().collect());
    let state_mismatch = slots.iter().zip(&given).any(|(on, given)| on.is_some_and(|on| on != *given));
    phases.push(if state_mismatch { vec![fo_status::FO_ERROR_STATE_BUFFER] } else { vec![] });
    let used: Vec<usize> = (0..slots.len()).filter(|&k| given[k]).collect();
    let mut array_errors = vec![];
    if case.many && count > 0 {
        for k in used.iter().copied().chain([SLOTS]) {
            let status = match mangled {
                Some((m, true)) if m == k => Some(fo_status::FO_ERROR_NULL_POINTER),
                Some((m, false)) if m == k => Some(fo_status::FO_ERROR_ALIGNMENT),
                _ if count as u128 * 8 > isize::MAX as u128 => Some(fo_status::FO_ERROR_LENGTH),
                _ => None,
            };
            array_errors.extend(status);
        }
    }
    let mut later = vec![array_errors];
    let (mut span_errors, mut spans) = (vec![], vec![]);
    if count > 0 && count <= tensors.len() {
        for (i, &n) in lens.iter().enumerate().filter(|(_, n)| **n > 0) {
            for &k in &used {
                match checked(ptrs[i][k], n, size, size, k != 1) {
                    Ok(span) => spans.push(span),
                    Err(status) => span_errors.push(status),
                }
            }
        }
    }
    later.push(span_errors);
    later.push(if any_overlap(&spans) { vec![fo_status::FO_ERROR_OVERLAP] } else { vec![] });
    // A step of no tensors is accepted once the config, step and options pass.
    let expect = match first_phase(phases) {
        Expect::Accepted if count == 0 => Expect::Accepted,
        Expect::Accepted => first_phase(later),
        refused => refused,
    };

    // The call.
    let mut store = [0u64; 16];
    let before = arena.words.clone();
    let p = |i: usize, k: usize| ptrs[i][k] as *mut T;
    let arrays: Vec<Vec<*mut T>> =
        (0..SLOTS).map(|k| (0..tensors.len()).map(|i| p(i, k)).collect()).collect();
    let mut misaligned: Vec<u8> = vec![0; (tensors.len().max(1)) * 8 + 8];
    let array = |k: usize, misaligned: &mut Vec<u8>| -> *const *mut T {
        let given = k == SLOTS || given.get(k).copied().unwrap_or(false);
        match mangled {
            _ if !given => null(),
            Some((m, true)) if m == k => null(),
            Some((m, false)) if m == k => {
                // The array's bytes one byte into a buffer: misaligned, never read.
                let bytes = if k == SLOTS { lens.len() * 8 } else { arrays[k].len() * 8 };
                // SAFETY: both ranges are inside their buffers (`misaligned`
                // has 8 bytes more than any array).
                unsafe {
                    let from =
                        if k == SLOTS { lens.as_ptr().cast::<u8>() } else { arrays[k].as_ptr().cast::<u8>() };
                    std::ptr::copy_nonoverlapping(from, misaligned.as_mut_ptr().add(1), bytes);
                    misaligned.as_ptr().add(1).cast()
                }
            }
            _ if k == SLOTS => lens.as_ptr().cast(),
            _ => arrays[k].as_ptr(),
        }
    };
    let a: Vec<*const *mut T> = (0..=SLOTS).map(|k| array(k, &mut misaligned)).collect();
    let lens_array = a[SLOTS].cast::<usize>();
    let g = |arr: *const *mut T| arr.cast::<*const T>();
    let one = |k: usize| if given[k] { p(0, k) } else { null_mut() };
    let n = lens.first().copied().unwrap_or(0);
    // SAFETY: every pointer is null, misaligned, or into the arena with room
    // for its length (regions hold MAX_ELEMS elements past the largest
    // offset and shift); absurd lengths, null and misaligned pointers,
    // overlaps and absurd counts are what the library must refuse before it
    // reads any buffer, and the expectation above is that it does. Arrays
    // hold `tensors.len()` pointers; the count is that or absurd.
    let status = unsafe {
        match &configs {
            Configs::Adam(c, _) => {
                let c = placed(&mut store, *c, config_at);
                if case.many {
                    T::ADAM_MANY(a[0], g(a[1]), a[2], a[3], a[4], lens_array, count, c, t)
                } else {
                    T::ADAM(p(0, 0), p(0, 1), p(0, 2), p(0, 3), one(4), n, c, t)
                }
            }
            Configs::AdaMax(c, _) => {
                let c = placed(&mut store, *c, config_at);
                if case.many {
                    T::ADAMAX_MANY(a[0], g(a[1]), a[2], a[3], lens_array, count, c, t)
                } else {
                    T::ADAMAX(p(0, 0), p(0, 1), p(0, 2), p(0, 3), n, c, t)
                }
            }
            Configs::AdaGrad(c, _) => {
                let c = placed(&mut store, *c, config_at);
                if case.many {
                    T::ADAGRAD_MANY(a[0], g(a[1]), a[2], lens_array, count, c, t)
                } else {
                    T::ADAGRAD(p(0, 0), p(0, 1), p(0, 2), n, c, t)
                }
            }
            Configs::RmsProp(c, _) => {
                let c = placed(&mut store, *c, config_at);
                if case.many {
                    T::RMSPROP_MANY(a[0], g(a[1]), a[2], a[3], a[4], lens_array, count, c, t)
                } else {
                    T::RMSPROP(p(0, 0), p(0, 1), p(0, 2), one(3), one(4), n, c, t)
                }
            }
            Configs::AdaDelta(c, _) => {
                let c = placed(&mut store, *c, config_at);
                if case.many {
                    T::ADADELTA_MANY(a[0], g(a[1]), a[2], a[3], lens_array, count, c, t)
                } else {
                    T::ADADELTA(p(0, 0), p(0, 1), p(0, 2), p(0, 3), n, c, t)
                }
            }
            Configs::Sgd(c, _) => {
                let c = placed(&mut store, *c, config_at);
                if case.many {
                    T::SGD_MANY(a[0], g(a[1]), a[2], lens_array, count, c, t)
                } else {
                    T::SGD(p(0, 0), p(0, 1), one(2), n, c, t)
                }
            }
            Configs::Lion(c, _) => {
                let c = placed(&mut store, *c, config_at);
                if case.many {
                    T::LION_MANY(a[0], g(a[1]), a[2], lens_array, count, c, t)
                } else {
                    T::LION(p(0, 0), p(0, 1), p(0, 2), n, c, t)
                }
            }
        }
    };
    assert_status(case, &expect, status);
    if status != fo_status::FO_OK {
        assert!(arena.words == before, "a refused call ({status:?}) wrote\n{}", reproducer(case));
        return (Outcome::Rejected, status);
    }

    // The reference, tensor by tensor, on a copy of the buffers as they were.
    let want = Arena::from(before);
    let shift = |ptr: usize| ptr - arena.base() + want.base();
    if count > 0 {
        for (i, &n) in lens.iter().enumerate().filter(|(_, n)| **n > 0) {
            let q: [usize; SLOTS] =
                std::array::from_fn(|k| if k < slots.len() && given[k] { shift(ptrs[i][k]) } else { 0 });
            // SAFETY: the call was accepted, so (as checked above, by this
            // harness) every used buffer of this tensor is in the arena copy,
            // aligned, and no written one shares a byte with any other; the
            // gradient is only read.
            unsafe { reference_step::<T>(&configs, t, q, n) };
        }
    }
    let same = arena.words.iter().zip(&want.words).all(|(&x, &y)| same_words::<T>(x, y));
    assert!(same, "the C step's bits differ from the reference\n{}", reproducer(case));
    (Outcome::Matched, status)
}

/// Two arena words equal as elements of `T`, NaN as NaN.
fn same_words<T: Float>(x: u64, y: u64) -> bool {
    if size_of::<T>() == 8 {
        f64::from_bits(x).same_bits(f64::from_bits(y))
    } else {
        let halves = |w: u64| [f32::from_bits(w as u32), f32::from_bits((w >> 32) as u32)];
        halves(x).iter().zip(halves(y)).all(|(a, b)| a.same_bits(b))
    }
}

/// One tensor's reference step at the addresses `q` (0: not given).
///
/// # Safety
/// Each nonzero address is valid for `n` elements of `T`; the written ones
/// (all but slot 1, the gradient) share no byte with any other.
unsafe fn reference_step<T: Float>(configs: &Configs, t: u64, q: [usize; SLOTS], n: usize) {
    // SAFETY: the caller's contract.
    let w = |k: usize| unsafe { std::slice::from_raw_parts_mut(q[k] as *mut T, n) };
    let o = |k: usize| (q[k] != 0).then(|| w(k));
    // SAFETY: the caller's contract.
    let g = unsafe { std::slice::from_raw_parts(q[1] as *const T, n) };
    match configs {
        Configs::Adam(_, Some(r)) => {
            let b =
                AdamBuffers { param: w(0), grad: g, exp_avg: w(2), exp_avg_sq: w(3), max_exp_avg_sq: o(4) };
            spec::adam(b, &r.coefficients::<T>(t).unwrap());
        }
        Configs::Adam(_, None) => unreachable!("an unknown weight decay mode is refused"),
        Configs::AdaMax(_, r) => {
            let b = AdaMaxBuffers { param: w(0), grad: g, exp_avg: w(2), exp_inf: w(3) };
            spec::adamax(b, &r.coefficients::<T>(t).unwrap());
        }
        Configs::AdaGrad(_, r) => {
            spec::adagrad(
                AdaGradBuffers { param: w(0), grad: g, sum: w(2) },
                &r.coefficients::<T>(t).unwrap(),
            );
        }
        Configs::RmsProp(_, r) => {
            let b = RmsPropBuffers {
                param: w(0),
                grad: g,
                square_avg: w(2),
                momentum_buffer: o(3),
                grad_avg: o(4),
            };
            spec::rmsprop(b, &r.coefficients::<T>(t).unwrap());
        }
        Configs::AdaDelta(_, r) => {
            let b = AdaDeltaBuffers { param: w(0), grad: g, square_avg: w(2), acc_delta: w(3) };
            spec::adadelta(b, &r.coefficients::<T>(t).unwrap());
        }
        Configs::Sgd(_, r) => {
            let b = SgdBuffers { param: w(0), grad: g, momentum_buffer: o(2) };
            spec::sgd(b, &r.coefficients::<T>(t).unwrap());
        }
        Configs::Lion(_, r) => {
            spec::lion(LionBuffers { param: w(0), grad: g, exp_avg: w(2) }, &r.coefficients::<T>(t).unwrap());
        }
    }
}

// ---------------------------------------------------------------------------
// Mixed-precision Adam.

/// Unknown type tags a case can pick.
const UNKNOWN_TAGS: [u32; 5] = [0, 4, 7, 0x8000_0000, u32::MAX];

/// A tensor's type tags (param, grad, state, copy) and whether its copy is
/// wanted, from its plan.
fn tags(plan: &TensorPlan) -> ([fo_dtype; 4], bool) {
    if plan.layout < 224 {
        let l = MixedLayout::SUPPORTED[plan.layout as usize % MixedLayout::SUPPORTED.len()];
        let copy = l.copy.unwrap_or(Dtype::F32);
        return ([l.param, l.grad, l.state, copy].map(fo_dtype::from), l.copy.is_some());
    }
    let tag = |t: u8| match t % 4 {
        0 => FO_DTYPE_F32,
        1 => FO_DTYPE_BF16,
        2 => FO_DTYPE_F16,
        _ => fo_dtype(UNKNOWN_TAGS[(t / 4) as usize % UNKNOWN_TAGS.len()]),
    };
    (plan.tags.map(tag), plan.flip & 4 != 0)
}

/// Bytes of an element of a tag (4 for an unknown one: it is refused first).
fn tag_size(tag: fo_dtype) -> usize {
    match Dtype::try_from(tag) {
        Ok(Dtype::Bf16 | Dtype::F16) => 2,
        _ => 4,
    }
}

/// Each slot's tag: param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, copy.
fn slot_tags(t: [fo_dtype; 4]) -> [fo_dtype; SLOTS] {
    [t[0], t[1], t[2], t[2], t[2], t[3]]
}

/// A buffer of a known type at an address as a kernel slice (empty for `n == 0`).
///
/// # Safety
/// For `n > 0`, `ptr` is valid for `n` elements of `dtype`, with no other
/// live reference to that memory.
unsafe fn mixed_slice<'a>(ptr: usize, dtype: Dtype, n: usize) -> MixedSlice<'a> {
    // SAFETY: the caller's contract; a zero-length slice reads nothing.
    unsafe {
        match dtype {
            Dtype::F32 if n == 0 => MixedSlice::F32(&mut []),
            Dtype::Bf16 if n == 0 => MixedSlice::Bf16(&mut []),
            Dtype::F16 if n == 0 => MixedSlice::F16(&mut []),
            Dtype::F32 => MixedSlice::F32(std::slice::from_raw_parts_mut(ptr as *mut f32, n)),
            Dtype::Bf16 => MixedSlice::Bf16(std::slice::from_raw_parts_mut(ptr as *mut bf16, n)),
            Dtype::F16 => MixedSlice::F16(std::slice::from_raw_parts_mut(ptr as *mut f16, n)),
        }
    }
}

/// The mixed-precision call of a case; see the module essay.
fn mixed(case: &CapiCase) -> (Outcome, fo_status) {
    let (c, rust_config) = adam_configs(case);
    let m = &case.mixed;
    let o = fo_mixed_options {
        loss_scale: m.loss_scale.value(LOSS_SCALE),
        skip_non_finite: m.flags[0],
        zero_grad: m.flags[1],
        stochastic_rounding: m.flags[2],
        seed: m.seed,
    };
    let options = MixedOptions {
        loss_scale: o.loss_scale,
        skip_non_finite: o.skip_non_finite != 0,
        zero_grad: o.zero_grad != 0,
        stochastic_rounding: (o.stochastic_rounding != 0).then_some(o.seed),
    };
    let tensors = case.tensors();
    let count = case.count(tensors.len());
    let t = case.step.value();
    let tags: Vec<([fo_dtype; 4], bool)> = tensors.iter().map(tags).collect();
    let arena = Arena::new(&case.data);
    let sizes = |i: usize, k: usize| tag_size(slot_tags(tags[i].0)[k]);
    let mut ptrs = pointers(&arena, &tensors, &sizes);
    let amsgrad = c.amsgrad != 0;
    for (i, plan) in tensors.iter().enumerate() {
        if amsgrad == (plan.flip & 1 == 1) {
            ptrs[i][4] = 0; // max_exp_avg_sq not given
        }
        if tags[i].1 == (plan.flip & 2 == 2) {
            ptrs[i][5] = 0; // no copy
        }
    }
    let lens: Vec<usize> = tensors.iter().map(|p| p.len(2)).collect();
    let mut skipped_store = [SKIPPED_BEFORE; 8];
    let skipped: usize = match m.skipped {
        0..=199 => skipped_store.as_mut_ptr() as usize,
        200..=227 => 0,
        _ if tensors.is_empty() => 0,
        _ => {
            let b = m.skipped_target as usize % (tensors.len() * SLOTS);
            arena.own(b / SLOTS, b % SLOTS, 0, 1)
        }
    };

    // What the call must come to, phase by phase.
    let (config_at, options_at) = (place(case.config_at), place(m.options_at));
    let pointer_status = |at: Option<usize>| match at {
        None => vec![fo_status::FO_ERROR_NULL_POINTER],
        Some(off) if off % 8 != 0 => vec![fo_status::FO_ERROR_ALIGNMENT],
        _ => vec![],
    };
    let config_phase = match pointer_status(config_at) {
        none if none.is_empty() => pointer_status(options_at),
        refused => refused,
    };
    let mut phases = vec![config_phase];
    let validated = match &rust_config {
        None => Err(fo_status::FO_ERROR_HYPERPARAMETER),
        Some(r) => mixed_coefficients(r, t, &options).map(drop).map_err(fo_status::from),
    };
    phases.push(validated.err().into_iter().collect());
    let mut later = vec![];
    if count > 0 {
        let mangled = case.mangled_array(0);
        later.push(match mangled {
            Some((_, true)) => vec![fo_status::FO_ERROR_NULL_POINTER],
            Some((_, false)) => vec![fo_status::FO_ERROR_ALIGNMENT],
            None if count as u128 * size_of::<fo_mixed_tensor>() as u128 > isize::MAX as u128 => {
                vec![fo_status::FO_ERROR_LENGTH]
            }
            None => vec![],
        });
        let unknown = |tag: fo_dtype| Dtype::try_from(tag).is_err();
        // The copy's tag is read only when there is a copy.
        let any_unknown = tags
            .iter()
            .zip(&ptrs)
            .any(|((tag, _), p)| tag[..3].iter().any(|&t| unknown(t)) || (p[5] != 0 && unknown(tag[3])));
        later.push(if any_unknown { vec![fo_status::FO_ERROR_DTYPE] } else { vec![] });
        let (mut span_errors, mut spans) = (vec![], vec![]);
        if skipped != 0 {
            spans.push(Span { start: skipped as u128, end: skipped as u128 + 1, written: true });
        }
        for (i, &n) in lens.iter().enumerate().filter(|(_, n)| **n > 0) {
            for k in (0..SLOTS).filter(|&k| k < 4 || ptrs[i][k] != 0) {
                let size = sizes(i, k);
                match checked(ptrs[i][k], n, size, size, true) {
                    Ok(span) => spans.push(span),
                    Err(status) => span_errors.push(status),
                }
            }
        }
        later.push(span_errors);
        later.push(if any_overlap(&spans) { vec![fo_status::FO_ERROR_OVERLAP] } else { vec![] });
    }
    let before = arena.words.clone();
    let mut want = Arena::from(before.clone());
    let mut want_skipped = None;
    let expect = match first_phase(phases) {
        Expect::Accepted => match first_phase(later) {
            // Every check of the C layer passed: the safe Rust step decides.
            Expect::Accepted => {
                let shift = |ptr: usize| if ptr == 0 { 0 } else { ptr - arena.base() + want.base() };
                let dtype = |tag: fo_dtype| Dtype::try_from(tag).expect("unknown tags are refused");
                let mut buffers: Vec<MixedAdamBuffers<'_>> = (0..count)
                    .map(|i| {
                        let (n, st) = (lens[i], slot_tags(tags[i].0));
                        // SAFETY: the C layer's checks passed (as computed
                        // above): every buffer of a nonempty tensor is in the
                        // arena copy, aligned, and shares no byte with any other.
                        let s = |k: usize| unsafe { mixed_slice(shift(ptrs[i][k]), dtype(st[k]), n) };
                        let opt = |k: usize| (ptrs[i][k] != 0).then(|| s(k));
                        MixedAdamBuffers {
                            param: s(0),
                            grad: s(1),
                            exp_avg: s(2),
                            exp_avg_sq: s(3),
                            max_exp_avg_sq: opt(4),
                            param_copy: opt(5),
                            position: tensors[i].position,
                        }
                    })
                    .collect();
                let config = rust_config.expect("validated");
                match adam_step_mixed_many(&config, t, &mut buffers, &options, &Parallelism::Serial) {
                    Ok(outcome) => {
                        want_skipped = Some(outcome == StepOutcome::SkippedNonFinite);
                        Expect::Accepted
                    }
                    Err(e) => Expect::Refused(vec![fo_status::from(e)]),
                }
            }
            refused => refused,
        },
        refused => refused,
    };

    // The call.
    let list: Vec<fo_mixed_tensor> = (0..tensors.len())
        .map(|i| {
            let (tag, p) = (tags[i].0, ptrs[i]);
            fo_mixed_tensor {
                param: p[0] as *mut _,
                grad: p[1] as *mut _,
                exp_avg: p[2] as *mut _,
                exp_avg_sq: p[3] as *mut _,
                max_exp_avg_sq: p[4] as *mut _,
                param_copy: p[5] as *mut _,
                len: lens[i],
                position: tensors[i].position,
                param_dtype: tag[0],
                grad_dtype: tag[1],
                state_dtype: tag[2],
                copy_dtype: tag[3],
            }
        })
        .collect();
    let mut misaligned = vec![0u8; list.len() * size_of::<fo_mixed_tensor>() + 16];
    let list_ptr: *const fo_mixed_tensor = match case.mangled_array(0) {
        Some((_, true)) => null(),
        Some((_, false)) => {
            // SAFETY: the list's bytes one byte into a buffer 16 bytes longer: misaligned, never read.
            unsafe {
                let bytes = list.len() * size_of::<fo_mixed_tensor>();
                std::ptr::copy_nonoverlapping(
                    list.as_ptr().cast::<u8>(),
                    misaligned.as_mut_ptr().add(1),
                    bytes,
                );
                misaligned.as_ptr().add(1).cast()
            }
        }
        None => list.as_ptr(),
    };
    let (mut c_store, mut o_store) = ([0u64; 16], [0u64; 16]);
    let (cp, op) = (placed(&mut c_store, c, config_at), placed(&mut o_store, o, options_at));
    let sk = skipped as *mut bool;
    // SAFETY: as for the f32/f64 call: every pointer is null, misaligned,
    // or into the arena with room for its length, and what is not valid is
    // what the library must refuse before reading it; `skipped` is null, its
    // own byte, or a byte of the arena.
    let status = unsafe {
        if case.many || tensors.len() != 1 {
            fo_adam_step_mixed_many(list_ptr, count, cp, op, t, sk)
        } else {
            adam_step_mixed_of(&list[0], cp, op, t, sk)
        }
    };
    assert_status(case, &expect, status);
    let skipped_byte = |store: &[u8; 8]| -> Option<u8> {
        match skipped {
            0 => None,
            s if s == store.as_ptr() as usize => Some(store[0]),
            // SAFETY: a byte of the arena.
            s => Some(unsafe { *(s as *const u8) }),
        }
    };
    if status != fo_status::FO_OK {
        assert!(arena.words == before, "a refused call ({status:?}) wrote\n{}", reproducer(case));
        // (`skipped` in the arena is covered by the arena's bits.)
        let untouched = skipped_store[0] == SKIPPED_BEFORE;
        assert!(untouched, "a refused call ({status:?}) wrote `skipped`\n{}", reproducer(case));
        return (Outcome::Rejected, status);
    }
    let want_skipped = want_skipped.unwrap_or(false); // count 0: applied, nothing to do
    if let Some(byte) = skipped_byte(&skipped_store) {
        assert!(
            byte == u8::from(want_skipped),
            "`skipped` is {byte:#x}, want {want_skipped}\n{}",
            reproducer(case)
        );
        if skipped != skipped_store.as_ptr() as usize {
            // `skipped` in an arena byte no buffer uses: the library wrote it; so does the expectation.
            let at = skipped - arena.base();
            // SAFETY: `at` is a byte offset inside the copy's words.
            unsafe { *want.words.as_mut_ptr().cast::<u8>().add(at) = byte };
        }
    }
    assert!(
        same_mixed(&arena, &want, &ptrs, &tags, &lens, count),
        "the C step's bits differ from the safe Rust step's\n{}",
        reproducer(case)
    );
    (if want_skipped { Outcome::Skipped } else { Outcome::Matched }, status)
}

/// The two arenas hold the same bits, every element of a buffer of a
/// nonempty tensor compared in its type (NaN as NaN), every other byte exactly.
fn same_mixed(
    got: &Arena,
    want: &Arena,
    ptrs: &[[usize; SLOTS]],
    tags: &[([fo_dtype; 4], bool)],
    lens: &[usize],
    count: usize,
) -> bool {
    let bytes = |a: &Arena| -> Vec<u8> { a.words.iter().flat_map(|w| w.to_le_bytes()).collect() };
    let (mut g, mut w) = (bytes(got), bytes(want));
    for i in (0..count.min(lens.len())).filter(|&i| lens[i] > 0) {
        let st = slot_tags(tags[i].0);
        for k in (0..SLOTS).filter(|&k| ptrs[i][k] != 0) {
            let (dtype, at) = (Dtype::try_from(st[k]).expect("known"), ptrs[i][k] - got.base());
            let size = tag_size(st[k]);
            for e in 0..lens[i] {
                let r = at + e * size..at + (e + 1) * size;
                let (x, y) = (&g[r.clone()], &w[r.clone()]);
                let nan = |b: &[u8]| match dtype {
                    Dtype::F32 => f32::from_le_bytes(b.try_into().unwrap()).is_nan(),
                    Dtype::Bf16 => bf16::from_bits(u16::from_le_bytes(b.try_into().unwrap())).is_nan(),
                    Dtype::F16 => f16::from_bits(u16::from_le_bytes(b.try_into().unwrap())).is_nan(),
                };
                if x != y && !(nan(x) && nan(y)) {
                    return false;
                }
                g[r.clone()].fill(0);
                w[r].fill(0);
            }
        }
    }
    g == w
}
