//! The 8-bit-state step: every tier against the scalar reference (bytes of
//! the codes, bits of the scales, parameters and gradients; NaN as NaN),
//! over every algorithm with an 8-bit step, lengths around the block and
//! vector sizes, several chained steps, and edge data; the split property
//! the thread driver relies on; the check's errors; the NaN/inf/zero rules.

use fused_optim_kernels::{
    AdamCoefficients, Checked, Decay, KernelBuffers, LionCoefficients, MAX_MIXED_STATE, QUANT_BLOCK,
    QuantizedBuffers, QuantizedCoefficients, QuantizedError, QuantizedKernel, QuantizedSlot, SgdCoefficients,
    Tier, quant_blocks, quantized, quantized_checked, quantized_on, spec,
};

const LENGTHS: [usize; 12] = [0, 1, 15, 16, 17, 255, 256, 257, 511, 512, 1000, 4097];

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Roughly normal, scaled.
    fn normal(&mut self, scale: f32) -> f32 {
        let s: f32 = (0..4).map(|_| (self.next() >> 40) as f32 / (1u64 << 24) as f32).sum();
        (s - 2.0) * scale
    }
}

/// One step's buffers, owned.
#[derive(Clone, Debug)]
struct State {
    param: Vec<f32>,
    grad: Vec<f32>,
    state: [Option<(Vec<u8>, Vec<f32>)>; MAX_MIXED_STATE],
}

impl State {
    fn buffers(&mut self) -> QuantizedBuffers<'_> {
        QuantizedBuffers {
            param: &mut self.param,
            grad: &mut self.grad,
            state: self
                .state
                .each_mut()
                .map(|s| s.as_mut().map(|(c, s)| QuantizedSlot { codes: c, scales: s })),
        }
    }
}

/// `a` and `b` hold the same bits (NaN as NaN).
fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn assert_same(got: &State, want: &State, what: &str) {
    let first = |a: &[f32], b: &[f32]| (0..a.len()).find(|&i| !same(a[i], b[i]));
    assert_eq!(got.param.len(), want.param.len());
    if let Some(i) = first(&got.param, &want.param) {
        panic!("{what}: param[{i}] = {:e}, reference {:e}", got.param[i], want.param[i]);
    }
    if let Some(i) = first(&got.grad, &want.grad) {
        panic!("{what}: grad[{i}] = {:e}, reference {:e}", got.grad[i], want.grad[i]);
    }
    for k in 0..MAX_MIXED_STATE {
        match (&got.state[k], &want.state[k]) {
            (Some((gc, gs)), Some((wc, ws))) => {
                if let Some(i) = (0..gc.len()).find(|&i| gc[i] != wc[i]) {
                    panic!("{what}: state[{k}].codes[{i}] = {:#04x}, reference {:#04x}", gc[i], wc[i]);
                }
                if let Some(j) = first(gs, ws) {
                    panic!("{what}: state[{k}].scales[{j}] = {:e}, reference {:e}", gs[j], ws[j]);
                }
            }
            (None, None) => {}
            _ => panic!("{what}: slot {k} given on one side only"),
        }
    }
}

/// The kinds of data a case starts from.
#[derive(Clone, Copy, Debug)]
enum Data {
    /// Random gradients, random codes and finite scales.
    Plain,
    /// Special values: zeros, one NaN, one inf, huge and tiny values, an
    /// all-zero block, a subnormal absmax, NaN/inf/zero/subnormal scales.
    Special,
}

fn gradient(n: usize, data: Data, rng: &mut Rng, step: usize) -> Vec<f32> {
    let mut g: Vec<f32> = (0..n).map(|_| rng.normal(1.0)).collect();
    if let Data::Special = data {
        for (i, x) in g.iter_mut().enumerate() {
            match (i + step) % 97 {
                0 => *x = 0.0,
                1 => *x = -0.0,
                2 => *x = 1e30,
                3 => *x = -1e-40,
                4 => *x = 3e19,
                _ => {}
            }
        }
        let blocks = quant_blocks(n);
        // Block 1: all zero (with a zero state: an all-zero block).
        if blocks > 2 {
            g[QUANT_BLOCK..2 * QUANT_BLOCK].fill(0.0);
        }
        // Block 2: tiny values, a subnormal absmax.
        if blocks > 3 {
            for x in &mut g[2 * QUANT_BLOCK..3 * QUANT_BLOCK] {
                *x *= 1e-41;
            }
        }
        // One NaN in block 3 on the first step, one inf in the last block on
        // the second.
        if blocks > 4 && step == 0 {
            g[3 * QUANT_BLOCK + 7] = f32::NAN;
        }
        if n > 0 && step == 1 {
            g[n - 1] = f32::INFINITY;
        }
    }
    g
}

fn start(
    n: usize,
    given: [bool; MAX_MIXED_STATE],
    signed: [bool; MAX_MIXED_STATE],
    data: Data,
    seed: u64,
) -> State {
    let mut rng = Rng(seed | 1);
    let param = (0..n).map(|_| rng.normal(2.0)).collect();
    let blocks = quant_blocks(n);
    let state = core::array::from_fn(|k| {
        given[k].then(|| {
            let codes: Vec<u8> = (0..n)
                .map(|_| {
                    let c = rng.next() as u8;
                    if signed[k] { c } else { c | 0x40 }
                })
                .collect();
            let mut scales: Vec<f32> = (0..blocks).map(|_| rng.normal(1.0).abs() * 0.1).collect();
            let mut codes = codes;
            if let Data::Special = data {
                for (j, s) in scales.iter_mut().enumerate() {
                    match j % 7 {
                        4 => *s = f32::NAN,
                        5 => *s = f32::INFINITY,
                        6 => *s = 1e-39,
                        _ => {}
                    }
                }
                if blocks > 0 {
                    scales[0] = 0.0; // a fresh block: codes 0, scale 0
                    codes[..n.min(QUANT_BLOCK)].fill(0);
                }
                if blocks > 2 {
                    scales[1] = 0.0;
                    codes[QUANT_BLOCK..2 * QUANT_BLOCK].fill(0);
                }
                if blocks > 3 {
                    scales[2] = 0.0;
                    codes[2 * QUANT_BLOCK..3 * QUANT_BLOCK].fill(0);
                }
            }
            (codes, scales)
        })
    });
    State { param, grad: Vec::new(), state }
}

/// One algorithm's case: its coefficients per step and the slots it keeps.
trait Case: QuantizedKernel {
    fn at_step(&self, step: usize) -> Self;
}

impl Case for AdamCoefficients<f32> {
    fn at_step(&self, step: usize) -> Self {
        let mut c = *self;
        c.step_size *= 1.0 + step as f32 * 0.125;
        c
    }
}

impl Case for LionCoefficients<f32> {
    fn at_step(&self, _: usize) -> Self {
        *self
    }
}

impl Case for SgdCoefficients<f32> {
    fn at_step(&self, step: usize) -> Self {
        SgdCoefficients { first: step == 0, ..*self }
    }
}

/// Runs `steps` chained steps of the reference and of every tier from the
/// same start, comparing after each.
fn chain<U: Case>(
    name: &str,
    c: U,
    given: [bool; MAX_MIXED_STATE],
    n: usize,
    data: Data,
    zero_grad: bool,
    scale: f32,
) {
    let seed = (n as u64) << 8 ^ scale.to_bits() as u64 ^ zero_grad as u64;
    let mut want = start(n, given, U::SIGNED, data, seed);
    let mut got: Vec<(Tier, State)> = Tier::available().map(|t| (t, want.clone())).collect();
    let mut rng = Rng(seed ^ 0xABCD);
    for step in 0..3 {
        let g = gradient(n, data, &mut rng, step);
        let k = QuantizedCoefficients { algorithm: c.at_step(step), grad_scale: scale, zero_grad };
        want.grad = g.clone();
        spec::quantized(want.buffers(), &k);
        for (tier, s) in &mut got {
            s.grad = g.clone();
            quantized_on(*tier, s.buffers(), &k).expect("an available tier");
            let what = format!(
                "{name}, {tier}, n = {n}, {data:?}, zero_grad {zero_grad}, scale {scale}, step {step}"
            );
            assert_same(s, &want, &what);
        }
    }
}

fn adam(decay: Decay<f32>, maximize: bool) -> AdamCoefficients<f32> {
    AdamCoefficients {
        beta1: 0.9,
        one_minus_beta1: 0.1,
        beta2: 0.999,
        one_minus_beta2: 0.001,
        step_size: 1e-3,
        eps_hat: 1e-8,
        decay,
        grad_scale: 1.0,
        maximize,
    }
}

fn lion(decay_factor: Option<f32>, maximize: bool) -> LionCoefficients<f32> {
    LionCoefficients {
        beta1: 0.9,
        one_minus_beta1: 0.1,
        beta2: 0.99,
        one_minus_beta2: 0.01,
        lr: 1e-4,
        decay_factor,
        grad_scale: 1.0,
        maximize,
    }
}

fn sgd(nesterov: bool, weight_decay: Option<f32>) -> SgdCoefficients<f32> {
    SgdCoefficients {
        lr: 0.01,
        momentum: 0.9,
        one_minus_dampening: 0.875,
        nesterov,
        first: true,
        weight_decay,
        grad_scale: 1.0,
        maximize: false,
    }
}

fn every_option(run: impl Fn(usize, Data, bool, f32)) {
    for tier in [Tier::Avx2, Tier::Avx512] {
        if !tier.is_available() {
            println!("the {tier} tier is not available on this CPU: skipped");
        }
    }
    for n in LENGTHS {
        for data in [Data::Plain, Data::Special] {
            for (zero_grad, scale) in [(false, 1.0), (true, 1.0 / 1024.0), (true, 0.75)] {
                run(n, data, zero_grad, scale);
            }
        }
    }
}

#[test]
fn adam_every_tier_matches_the_reference() {
    let two = [true, true, false];
    let three = [true, true, true];
    every_option(|n, d, z, s| {
        chain("Adam", adam(Decay::None, false), two, n, d, z, s);
        chain("AdamW", adam(Decay::Decoupled(0.999_9), false), two, n, d, z, s);
        chain("Adam L2", adam(Decay::L2(0.01), false), two, n, d, z, s);
        chain("AMSGrad", adam(Decay::Decoupled(0.999_9), false), three, n, d, z, s);
        chain("Adam maximize AMSGrad L2", adam(Decay::L2(0.01), true), three, n, d, z, s);
    });
}

#[test]
fn lion_every_tier_matches_the_reference() {
    let one = [true, false, false];
    every_option(|n, d, z, s| {
        chain("Lion", lion(None, false), one, n, d, z, s);
        chain("Lion decoupled maximize", lion(Some(0.999), true), one, n, d, z, s);
        // A slot the options do not use is left alone.
        chain("Lion extra slot", lion(None, false), [true, true, false], n, d, z, s);
    });
}

#[test]
fn sgd_every_tier_matches_the_reference() {
    let one = [true, false, false];
    every_option(|n, d, z, s| {
        chain("SGD momentum", sgd(false, None), one, n, d, z, s);
        chain("SGD nesterov L2", sgd(true, Some(0.01)), one, n, d, z, s);
        chain("SGD without momentum", sgd(false, None), [false; 3], n, d, z, s);
    });
}

/// Running the step on `[0, 256k)` and `[256k, n)` separately gives the
/// bytes of one call, for the reference, the dispatched entry and `Checked`
/// pieces.
#[test]
fn a_split_at_a_block_boundary_gives_the_same_bytes() {
    let c = QuantizedCoefficients {
        algorithm: adam(Decay::Decoupled(0.999), false),
        grad_scale: 0.5,
        zero_grad: true,
    };
    for n in [257, 512, 1000, 4097] {
        let mut rng = Rng(n as u64);
        let mut whole = start(n, [true; 3], [true, false, false], Data::Special, 7);
        whole.grad = gradient(n, Data::Special, &mut rng, 0);
        let original = whole.clone();
        spec::quantized(whole.buffers(), &c);
        for k in 0..=n / QUANT_BLOCK {
            let mid = (k * QUANT_BLOCK).min(n);
            let mut reference = original.clone();
            let (a, b) = reference.buffers().split_at(mid);
            spec::quantized(a, &c);
            spec::quantized(b, &c);
            assert_same(&reference, &whole, &format!("reference split at {mid} of {n}"));

            let mut dispatched = original.clone();
            let (a, b) = dispatched.buffers().split_at(mid);
            quantized(a, &c);
            quantized(b, &c);
            assert_same(&dispatched, &whole, &format!("dispatched split at {mid} of {n}"));

            let mut pieces = original.clone();
            let (a, b) = Checked::new(pieces.buffers()).expect("equal lengths").split_at(mid);
            quantized_checked(a, &c);
            quantized_checked(b, &c);
            assert_same(&pieces, &whole, &format!("checked pieces split at {mid} of {n}"));
        }
    }
}

#[test]
#[should_panic(expected = "neither a multiple of 256")]
fn a_split_inside_a_block_panics() {
    let mut s = start(600, [true, false, false], [true; 3], Data::Plain, 1);
    s.grad = vec![0.0; 600];
    let _ = s.buffers().split_at(300);
}

#[test]
fn the_check_names_what_is_wrong() {
    let mut s = start(300, [true, true, false], [true, false, false], Data::Plain, 1);
    s.grad = vec![0.0; 300];
    let adam = adam(Decay::None, false);
    assert_eq!(s.buffers().check_for::<AdamCoefficients<f32>>(), Ok(()));

    let mut short = s.clone();
    short.state[1].as_mut().unwrap().0.pop();
    let e = short.buffers().check_for::<AdamCoefficients<f32>>().unwrap_err();
    assert!(matches!(e, QuantizedError::Length(_)));
    assert_eq!(e.to_string(), "8-bit state step: `state[1].codes` has 299 elements, `param` has 300");

    let mut scales = s.clone();
    scales.state[0].as_mut().unwrap().1.push(0.0);
    let e = scales.buffers().check_for::<AdamCoefficients<f32>>().unwrap_err();
    assert_eq!(e, QuantizedError::Scales { slot: 0, len: 3, expected: 2 });
    assert!(e.to_string().contains("state[0] has 3 scales, expected 2"), "{e}");

    let mut missing = s.clone();
    missing.state[1] = None;
    let e = missing.buffers().check_for::<AdamCoefficients<f32>>().unwrap_err();
    assert_eq!(e.to_string(), "8-bit Adam step: state[1] (`exp_avg_sq`) is needed but not given");
    let before = missing.clone();
    let k = QuantizedCoefficients { algorithm: adam, grad_scale: 1.0, zero_grad: true };
    for tier in Tier::available() {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut m = missing.clone();
            let _ = quantized_on(tier, m.buffers(), &k);
            m
        }));
        assert!(r.is_err(), "{tier}: a missing slot panics");
    }
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut m = missing.clone();
        spec::quantized(m.buffers(), &k);
    }));
    assert!(r.is_err(), "the reference panics too");
    assert_eq!(missing.param, before.param, "nothing written");
}

/// One Adam step from a fresh state over one block whose gradient is `g`.
fn one_step(g: Vec<f32>) -> State {
    let n = g.len();
    let mut s = start(n, [true, true, false], [true, false, false], Data::Plain, 3);
    for (codes, scales) in s.state.iter_mut().flatten() {
        codes.fill(0);
        scales.fill(0.0);
    }
    s.grad = g;
    let c = QuantizedCoefficients { algorithm: adam(Decay::None, false), grad_scale: 1.0, zero_grad: false };
    let mut want = s.clone();
    spec::quantized(want.buffers(), &c);
    for tier in Tier::available() {
        let mut got = s.clone();
        quantized_on(tier, got.buffers(), &c).unwrap();
        assert_same(&got, &want, &format!("{tier}"));
    }
    want
}

#[test]
fn zero_nan_and_inf_blocks() {
    // An all-zero block: codes 0, scale 0, decoding to 0.
    let s = one_step(vec![0.0; 300]);
    for (codes, scales) in s.state.iter().flatten() {
        assert!(codes.iter().all(|&c| c == 0));
        assert_eq!(scales.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), [0, 0]);
    }
    // A NaN: its block's scale NaN, the other block untouched by it.
    let mut g = vec![1.0; 300];
    g[3] = f32::NAN;
    let s = one_step(g);
    for (codes, scales) in s.state.iter().flatten() {
        assert!(scales[0].is_nan() && scales[1].is_finite());
        assert!(codes[..256].iter().all(|&c| c == 0), "inv is NaN: every code of the block 0");
        assert!(codes[256..].iter().any(|&c| c != 0));
    }
    // An inf: scale inf, every code of the block 0 (or 0x80): decodes to NaN next step.
    let mut g = vec![1.0; 300];
    g[5] = f32::INFINITY;
    let s = one_step(g);
    let (m_codes, m_scales) = s.state[0].as_ref().unwrap();
    assert_eq!(m_scales[0], f32::INFINITY);
    assert!(m_codes[..256].iter().all(|&c| c & 0x7F == 0));
    assert!((spec::decode_signed(m_codes[0]) * m_scales[0]).is_nan());
    // A subnormal absmax: 1/absmax overflows, every nonzero element
    // saturates to the top code, zeros stay 0.
    let mut g = vec![0.0; 300];
    g[1] = 1e-38; // m = 0.1·g: about 1e-39, subnormal
    g[2] = -1e-39;
    let s = one_step(g);
    let (m_codes, m_scales) = s.state[0].as_ref().unwrap();
    assert!(m_scales[0] < f32::MIN_POSITIVE && m_scales[0] > 0.0);
    assert_eq!((m_codes[0], m_codes[1], m_codes[2]), (0, 0x7F, 0xFF));
    // The largest element of a block is stored as the top code, exactly.
    let s = one_step((0..300).map(|i| i as f32 - 100.0).collect());
    let (m_codes, m_scales) = s.state[0].as_ref().unwrap();
    assert_eq!(m_codes[255], 0x7F);
    assert_eq!(spec::decode_signed(m_codes[255]) * m_scales[0], m_scales[0]);
}

/// The 8-bit step stays close to the `f32` one: after a step from zero
/// state, each dequantized moment is within the code's relative error
/// (`2⁻⁴`) of the `f32` moment, or flushed below `1.1875·2⁻¹⁶` (m) resp.
/// `2⁻³²` (v) of the block's absmax.
#[test]
fn dequantized_moments_are_close_to_the_f32_ones() {
    let mut rng = Rng(99);
    let g: Vec<f32> = (0..1000).map(|_| rng.normal(1.0) * 2f32.powi((rng.next() % 20) as i32 - 10)).collect();
    let s = one_step(g.clone());
    for (k, (unit, beta)) in [(2f32.powi(-16), 0.1f32), (2f32.powi(-32), 0.001)].into_iter().enumerate() {
        let (codes, scales) = s.state[k].as_ref().unwrap();
        for (i, &gi) in g.iter().enumerate() {
            let exact = if k == 0 { beta * gi } else { beta * (gi * gi) };
            let scale = scales[i / QUANT_BLOCK];
            let got = spec::quantized::decode(k == 0, codes[i]) * scale;
            if exact.abs() >= 1.1875 * unit * scale {
                assert!(
                    (got - exact).abs() <= exact.abs() / 16.0 * 1.0001,
                    "slot {k}, {i}: {got} vs {exact}"
                );
            } else {
                assert!(got.abs() <= 1.25 * unit * scale);
            }
        }
    }
}
