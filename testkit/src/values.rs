//! Inputs and comparisons: element types' special values and random draws,
//! fills, buffers at offsets with guard elements, bit-exact comparison.

use fused_optim::Float;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Test-side knowledge of an element type: its special values and random draws.
pub trait TestFloat: Float {
    /// ±0, subnormals, the smallest normal, ±1, values whose squares
    /// overflow, the largest finite, ±inf, NaN.
    fn specials() -> Vec<Self>;
    /// A random value of moderate magnitude with a random sign.
    fn random(rng: &mut StdRng) -> Self;
    /// Raw bits reinterpreted (any pattern, NaN payloads included).
    fn random_bits(rng: &mut StdRng) -> Self;
}

impl TestFloat for f32 {
    fn specials() -> Vec<f32> {
        let sqrt_max = f32::MAX.sqrt();
        vec![
            0.0,
            -0.0,
            f32::from_bits(1),
            -f32::from_bits(0x0040_0000),
            f32::MIN_POSITIVE,
            1.0,
            -1.0,
            1e-30,
            sqrt_max * 4.0,
            -sqrt_max * 2.0,
            f32::MAX,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
        ]
    }
    fn random(rng: &mut StdRng) -> f32 {
        let magnitude = 10f32.powf(rng.random_range(-6.0..3.0));
        if rng.random_bool(0.5) { magnitude } else { -magnitude }
    }
    fn random_bits(rng: &mut StdRng) -> f32 {
        f32::from_bits(rng.random())
    }
}

impl TestFloat for f64 {
    fn specials() -> Vec<f64> {
        let sqrt_max = f64::MAX.sqrt();
        vec![
            0.0,
            -0.0,
            f64::from_bits(1),
            -f64::from_bits(0x0008_0000_0000_0000),
            f64::MIN_POSITIVE,
            1.0,
            -1.0,
            1e-300,
            sqrt_max * 4.0,
            -sqrt_max * 2.0,
            f64::MAX,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ]
    }
    fn random(rng: &mut StdRng) -> f64 {
        let magnitude = 10f64.powf(rng.random_range(-6.0..3.0));
        if rng.random_bool(0.5) { magnitude } else { -magnitude }
    }
    fn random_bits(rng: &mut StdRng) -> f64 {
        f64::from_bits(rng.random())
    }
}

/// What the input buffers are filled with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fill {
    /// Moderate random values; state non-negative where the algorithm keeps it so.
    Random,
    /// Half special values, half random, in every buffer.
    Special,
    /// Arbitrary bit patterns.
    Bits,
    /// Random parameters and state, zero gradient.
    ZeroGrad,
}

pub const FILLS: [Fill; 4] = [Fill::Random, Fill::Special, Fill::Bits, Fill::ZeroGrad];

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// `len` values of the fill; `non_negative` keeps random values >= 0 (second moments).
pub fn values<T: TestFloat>(rng: &mut StdRng, fill: Fill, len: usize, non_negative: bool) -> Vec<T> {
    let specials = T::specials();
    (0..len)
        .map(|_| {
            let x = match fill {
                Fill::Random | Fill::ZeroGrad => T::random(rng),
                Fill::Special if rng.random_bool(0.5) => specials[rng.random_range(0..specials.len())],
                Fill::Special => T::random(rng),
                Fill::Bits => T::random_bits(rng),
            };
            if non_negative && matches!(fill, Fill::Random | Fill::ZeroGrad) { x.abs() } else { x }
        })
        .collect()
}

/// The gradient for a fill.
pub fn gradient<T: TestFloat>(rng: &mut StdRng, fill: Fill, len: usize) -> Vec<T> {
    if fill == Fill::ZeroGrad { vec![T::ZERO; len] } else { values(rng, fill, len, false) }
}

/// Panics with the first differing element unless `got` and `want` have the
/// same bits everywhere (NaN compared as NaN).
pub fn assert_same_bits<T: Float>(got: &[T], want: &[T], what: &dyn std::fmt::Display) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    if let Some(i) = (0..got.len()).find(|&i| !got[i].same_bits(want[i])) {
        panic!(
            "{what}: element {i} of {}: got {:?} ({:#x}), want {:?} ({:#x})",
            got.len(),
            got[i],
            got[i].to_bits_u64(),
            want[i],
            want[i].to_bits_u64()
        );
    }
}

/// Guard elements after each test buffer (more than one AVX-512 vector).
const GUARD: usize = 17;

/// What the guard elements hold: any write or stray read-modify-write shows.
fn guard_value<T: Float>() -> T {
    T::from_f64(-7777.25)
}

/// A buffer `len` long that starts `offset` elements into its allocation, so
/// kernels see every misalignment of their start address, with guard
/// elements before and after it: [`Offset::guards_intact`] tells whether
/// anything wrote outside the buffer.
#[derive(Clone, Debug)]
pub struct Offset<T> {
    storage: Vec<T>,
    offset: usize,
    len: usize,
}

impl<T: Float> Offset<T> {
    pub fn new(values: &[T], offset: usize) -> Self {
        let mut storage = vec![guard_value::<T>(); offset];
        storage.extend_from_slice(values);
        storage.extend(std::iter::repeat_n(guard_value::<T>(), GUARD));
        Offset { storage, offset, len: values.len() }
    }
    pub fn get(&self) -> &[T] {
        &self.storage[self.offset..self.offset + self.len]
    }
    pub fn get_mut(&mut self) -> &mut [T] {
        &mut self.storage[self.offset..self.offset + self.len]
    }
    /// True when every guard element still holds its value.
    pub fn guards_intact(&self) -> bool {
        let g = guard_value::<T>().to_bits_u64();
        let (before, rest) = self.storage.split_at(self.offset);
        before.iter().chain(&rest[self.len..]).all(|x| x.to_bits_u64() == g)
    }
}

/// `release` in an optimised build, `debug` in an unoptimised one (the dev
/// profile, which CI runs too, about 30 times slower): heavy cases shrink
/// there so the debug suite takes minutes, and still reach every code path.
pub const fn by_profile<T: Copy>(release: T, debug: T) -> T {
    if cfg!(debug_assertions) { debug } else { release }
}

/// Stack of the threads [`on_small_stack`] runs on: a quarter of a rayon
/// worker's (2 MiB), far below a main thread's (8 MiB).
pub const SMALL_STACK_BYTES: usize = 512 << 10;

/// Runs `f` on a new thread with a [`SMALL_STACK_BYTES`] stack and waits for
/// it. A kernel whose frame does not fit aborts the test binary with a stack
/// overflow, in every build profile (the unoptimised one has the largest
/// frames: every temporary of an inlined body gets its own slot).
pub fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    let thread = std::thread::Builder::new().stack_size(SMALL_STACK_BYTES).spawn(f).unwrap();
    if let Err(payload) = thread.join() {
        std::panic::resume_unwind(payload);
    }
}
