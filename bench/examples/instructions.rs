//! One kernel's dispatched entry point, run `R` times on 4096 elements: the
//! program `bench/instructions.sh` counts under callgrind.
//!
//! Callgrind counts the instructions a run executes (`Ir`), which do not move
//! with machine noise. The script runs each kernel with `R = 1` and `R = 21`;
//! everything but the 20 extra calls (start-up, allocation, filling the
//! buffers, CPU detection, printing) is the same in both runs, so
//! `(Ir(21) − Ir(1)) / (20 · 4096)` is the instructions per element of one
//! call, the call's fixed cost (dispatch, length checks) spread over 4096
//! elements included.
//!
//! Every call goes through the public, dispatched entry point re-exported by
//! the root crate (`fused_optim::kernels::adam`, …), as a user's would. The
//! buffers are 64-byte aligned so that the count does not depend on where the
//! allocator puts them, and the coefficients and buffers pass through
//! `black_box` so nothing is folded away.
//!
//! ```text
//! instructions --list            # the kernel names, one a line
//! instructions adam-f32 21       # run adam-f32 21 times; prints the tier
//! ```

use fused_optim::kernels::{
    self, AdaDeltaBuffers, AdaDeltaCoefficients, AdaGradBuffers, AdaGradCoefficients, AdaMaxBuffers,
    AdaMaxCoefficients, AdamBuffers, AdamCoefficients, Decay, Float, LionBuffers, LionCoefficients,
    MixedAdamBuffers, MixedAdamCoefficients, MixedSlice, NormElement, ProbeBuffers, QUANT_BLOCK,
    QuantizedBuffers, QuantizedCoefficients, QuantizedSlot, RmsPropBuffers, RmsPropCoefficients, SgdBuffers,
    SgdCoefficients, Tier, bf16, f16,
};
use std::hint::black_box;

/// Elements per call.
const N: usize = 4096;

/// `N` elements at a 64-byte aligned address inside a `Vec`.
struct Aligned<T> {
    storage: Vec<T>,
    start: usize,
}

impl<T: Copy> Aligned<T> {
    fn new(value: impl Fn(usize) -> T) -> Self {
        let spare = 64 / size_of::<T>();
        let storage: Vec<T> = (0..N + spare).map(&value).collect();
        let start = storage.as_ptr().align_offset(64);
        assert!(start <= spare, "cannot align");
        Aligned { storage, start }
    }

    fn get(&mut self) -> &mut [T] {
        black_box(&mut self.storage[self.start..self.start + N])
    }

    fn read(&self) -> &[T] {
        black_box(&self.storage[self.start..self.start + N])
    }
}

/// Normal, non-zero values, the same in every run.
fn grad(i: usize) -> f64 {
    ((i % 97) as f64 - 48.0) * 0.01 + 0.003
}

fn param(i: usize) -> f64 {
    1.0 + (i % 1013) as f64 * 1e-4
}

fn filled<T: Float>(value: impl Fn(usize) -> f64) -> Aligned<T> {
    Aligned::new(|i| T::from_f64(value(i)))
}

fn constant<T: Float>(x: f64) -> Aligned<T> {
    filled(|_| x)
}

fn t<T: Float>(x: f64) -> T {
    T::from_f64(x)
}

fn adam_coefficients<T: Float>(decay: Decay<T>) -> AdamCoefficients<T> {
    AdamCoefficients {
        beta1: t(0.9),
        one_minus_beta1: t(0.1),
        beta2: t(0.999),
        one_minus_beta2: t(0.001),
        step_size: t(1e-3),
        eps_hat: t(1e-8),
        decay,
        grad_scale: t(1.0),
        maximize: false,
    }
}

fn adam<T: Float>(decay: Decay<T>, amsgrad: bool, repeats: usize) {
    let c = adam_coefficients(decay);
    let (mut p, g) = (filled::<T>(param), filled::<T>(grad));
    let (mut m, mut v, mut v_max) = (constant::<T>(0.01), constant::<T>(0.02), constant::<T>(0.02));
    for _ in 0..repeats {
        let buffers = AdamBuffers {
            param: p.get(),
            grad: g.read(),
            exp_avg: m.get(),
            exp_avg_sq: v.get(),
            max_exp_avg_sq: amsgrad.then(|| v_max.get()),
        };
        kernels::adam(buffers, black_box(&c));
    }
}

fn adamax<T: Float>(repeats: usize) {
    let c = AdaMaxCoefficients {
        beta1: t(0.9),
        one_minus_beta1: t(0.1),
        beta2: t(0.999),
        eps: t(1e-8),
        step_size: t(2e-2),
        weight_decay: None,
        grad_scale: t(1.0),
        maximize: false,
    };
    let (mut p, g) = (filled::<T>(param), filled::<T>(grad));
    let (mut m, mut u) = (constant::<T>(0.01), constant::<T>(0.02));
    for _ in 0..repeats {
        let buffers = AdaMaxBuffers { param: p.get(), grad: g.read(), exp_avg: m.get(), exp_inf: u.get() };
        kernels::adamax(buffers, black_box(&c));
    }
}

fn adagrad<T: Float>(repeats: usize) {
    let c = AdaGradCoefficients {
        step_size: t(1e-2),
        eps: t(1e-10),
        weight_decay: None,
        grad_scale: t(1.0),
        maximize: false,
    };
    let (mut p, g, mut s) = (filled::<T>(param), filled::<T>(grad), constant::<T>(0.02));
    for _ in 0..repeats {
        kernels::adagrad(AdaGradBuffers { param: p.get(), grad: g.read(), sum: s.get() }, black_box(&c));
    }
}

fn rmsprop<T: Float>(centered_momentum: bool, repeats: usize) {
    let c = RmsPropCoefficients {
        alpha: t(0.99),
        one_minus_alpha: t(0.01),
        eps: t(1e-8),
        lr: t(1e-2),
        momentum: t(if centered_momentum { 0.9 } else { 0.0 }),
        weight_decay: None,
        grad_scale: t(1.0),
        maximize: false,
    };
    let (mut p, g) = (filled::<T>(param), filled::<T>(grad));
    let (mut v, mut b, mut a) = (constant::<T>(0.02), constant::<T>(0.01), constant::<T>(0.001));
    for _ in 0..repeats {
        let buffers = RmsPropBuffers {
            param: p.get(),
            grad: g.read(),
            square_avg: v.get(),
            momentum_buffer: centered_momentum.then(|| b.get()),
            grad_avg: centered_momentum.then(|| a.get()),
        };
        kernels::rmsprop(buffers, black_box(&c));
    }
}

fn adadelta<T: Float>(repeats: usize) {
    let c = AdaDeltaCoefficients {
        rho: t(0.9),
        one_minus_rho: t(0.1),
        eps: t(1e-6),
        lr: t(1.0),
        weight_decay: None,
        grad_scale: t(1.0),
        maximize: false,
    };
    let (mut p, g) = (filled::<T>(param), filled::<T>(grad));
    let (mut s, mut x) = (constant::<T>(0.02), constant::<T>(0.01));
    for _ in 0..repeats {
        let buffers =
            AdaDeltaBuffers { param: p.get(), grad: g.read(), square_avg: s.get(), acc_delta: x.get() };
        kernels::adadelta(buffers, black_box(&c));
    }
}

/// SGD (PyTorch's defaults past the first step), with or without a momentum buffer (μ = 0.9).
fn sgd<T: Float>(momentum: bool, nesterov: bool, repeats: usize) {
    let c = SgdCoefficients {
        lr: t(1e-3),
        momentum: t(0.9),
        one_minus_dampening: t(1.0),
        nesterov,
        first: false,
        weight_decay: None,
        grad_scale: t(1.0),
        maximize: false,
    };
    let (mut p, g, mut b) = (filled::<T>(param), filled::<T>(grad), constant::<T>(0.01));
    for _ in 0..repeats {
        let buffers =
            SgdBuffers { param: p.get(), grad: g.read(), momentum_buffer: momentum.then(|| b.get()) };
        kernels::sgd(buffers, black_box(&c));
    }
}

/// Lion at its defaults (β = (0.9, 0.99), no weight decay).
fn lion<T: Float>(repeats: usize) {
    let c = LionCoefficients {
        beta1: t(0.9),
        one_minus_beta1: t(0.1),
        beta2: t(0.99),
        one_minus_beta2: t(0.01),
        lr: t(1e-4),
        decay_factor: None,
        grad_scale: t(1.0),
        maximize: false,
    };
    let (mut p, g, mut m) = (filled::<T>(param), filled::<T>(grad), constant::<T>(0.01));
    for _ in 0..repeats {
        kernels::lion(LionBuffers { param: p.get(), grad: g.read(), exp_avg: m.get() }, black_box(&c));
    }
}

/// The gradient-norm pass of clipping: the sum of squares of one gradient (read only).
fn grad_norm<T: Float + NormElement>(repeats: usize) {
    let g = filled::<T>(grad);
    for _ in 0..repeats {
        black_box(kernels::grad_norm(&[g.read()]));
    }
}

/// The storage of a mixed-precision buffer.
#[derive(Clone, Copy)]
enum Store {
    F32,
    Bf16,
    F16,
}

enum MixedBuffer {
    F32(Aligned<f32>),
    Bf16(Aligned<bf16>),
    F16(Aligned<f16>),
}

impl MixedBuffer {
    fn new(store: Store, value: impl Fn(usize) -> f64) -> Self {
        match store {
            Store::F32 => MixedBuffer::F32(Aligned::new(|i| value(i) as f32)),
            Store::Bf16 => MixedBuffer::Bf16(Aligned::new(|i| bf16::from_f64(value(i)))),
            Store::F16 => MixedBuffer::F16(Aligned::new(|i| f16::from_f64(value(i)))),
        }
    }

    fn get(&mut self) -> MixedSlice<'_> {
        match self {
            MixedBuffer::F32(b) => MixedSlice::F32(b.get()),
            MixedBuffer::Bf16(b) => MixedSlice::Bf16(b.get()),
            MixedBuffer::F16(b) => MixedSlice::F16(b.get()),
        }
    }
}

/// Mixed-precision Adam (AdamW decay, round to nearest) with `param` and
/// `grad` stored as given, f32 state, and an optional copy of the parameters.
fn adam_mixed(
    param_store: Store,
    grad_store: Store,
    state_store: Store,
    copy: Option<Store>,
    repeats: usize,
) {
    let c = MixedAdamCoefficients {
        algorithm: adam_coefficients(Decay::Decoupled(0.99999)),
        grad_scale: 1.0,
        zero_grad: false,
        stochastic: None,
    };
    let mut p = MixedBuffer::new(param_store, param);
    let mut g = MixedBuffer::new(grad_store, grad);
    let mut m = MixedBuffer::new(state_store, |_| 0.01);
    let mut v = MixedBuffer::new(state_store, |_| 0.02);
    let mut p_copy = copy.map(|store| MixedBuffer::new(store, |_| 0.0));
    for _ in 0..repeats {
        let buffers = MixedAdamBuffers {
            param: p.get(),
            grad: g.get(),
            exp_avg: m.get(),
            exp_avg_sq: v.get(),
            max_exp_avg_sq: None,
            param_copy: p_copy.as_mut().map(MixedBuffer::get),
            position: 0,
        };
        kernels::mixed(buffers.into(), black_box(&c));
    }
}

/// AdamW with 8-bit blockwise state (codes and one scale per block).
fn adam_8bit(repeats: usize) {
    let c = QuantizedCoefficients {
        algorithm: adam_coefficients(Decay::Decoupled(0.99999)),
        grad_scale: 1.0,
        zero_grad: false,
    };
    let (mut p, mut g) = (filled::<f32>(param), filled::<f32>(grad));
    let scales = N.div_ceil(QUANT_BLOCK);
    // Codes of moderate values (every code of both maps occurs), scales of a
    // typical magnitude.
    let mut m_codes = Aligned::new(|i| (i * 37 % 256) as u8);
    let mut v_codes = Aligned::new(|i| (i * 53 % 255 + 1) as u8);
    let (mut m_scales, mut v_scales) = (vec![0.05f32; scales], vec![0.01f32; scales]);
    for _ in 0..repeats {
        let buffers = QuantizedBuffers {
            param: p.get(),
            grad: g.get(),
            state: [
                Some(QuantizedSlot { codes: m_codes.get(), scales: black_box(&mut m_scales[..]) }),
                Some(QuantizedSlot { codes: v_codes.get(), scales: black_box(&mut v_scales[..]) }),
                None,
            ],
        };
        kernels::quantized(buffers, black_box(&c));
    }
}

/// The bandwidth probe of Adam's shape: three streams written, one read.
fn probe<T: Float>(repeats: usize) {
    let (mut p, g) = (filled::<T>(param), filled::<T>(grad));
    let (mut m, mut v) = (constant::<T>(0.01), constant::<T>(0.02));
    for _ in 0..repeats {
        kernels::probe(ProbeBuffers { written: [p.get(), m.get(), v.get()], read: g.read() });
    }
}

/// A kernel run `R` times.
type Run = fn(usize);

/// Every kernel this program runs, by name.
const KERNELS: &[(&str, Run)] = &[
    ("adam-f32", |r| adam::<f32>(Decay::None, false, r)),
    ("adam-f64", |r| adam::<f64>(Decay::None, false, r)),
    ("adamw-f32", |r| adam::<f32>(Decay::Decoupled(0.99999), false, r)),
    ("adamw-f64", |r| adam::<f64>(Decay::Decoupled(0.99999), false, r)),
    ("adam-l2-f32", |r| adam::<f32>(Decay::L2(1e-2), false, r)),
    ("adam-l2-f64", |r| adam::<f64>(Decay::L2(1e-2), false, r)),
    ("amsgrad-f32", |r| adam::<f32>(Decay::None, true, r)),
    ("amsgrad-f64", |r| adam::<f64>(Decay::None, true, r)),
    ("adamax-f32", adamax::<f32>),
    ("adamax-f64", adamax::<f64>),
    ("adagrad-f32", adagrad::<f32>),
    ("adagrad-f64", adagrad::<f64>),
    ("rmsprop-f32", |r| rmsprop::<f32>(false, r)),
    ("rmsprop-f64", |r| rmsprop::<f64>(false, r)),
    ("rmsprop-centered-momentum-f32", |r| rmsprop::<f32>(true, r)),
    ("rmsprop-centered-momentum-f64", |r| rmsprop::<f64>(true, r)),
    ("adadelta-f32", adadelta::<f32>),
    ("adadelta-f64", adadelta::<f64>),
    ("sgd-f32", |r| sgd::<f32>(false, false, r)),
    ("sgd-f64", |r| sgd::<f64>(false, false, r)),
    ("sgd-momentum-f32", |r| sgd::<f32>(true, false, r)),
    ("sgd-momentum-f64", |r| sgd::<f64>(true, false, r)),
    ("sgd-nesterov-f32", |r| sgd::<f32>(true, true, r)),
    ("sgd-nesterov-f64", |r| sgd::<f64>(true, true, r)),
    ("lion-f32", lion::<f32>),
    ("lion-f64", lion::<f64>),
    ("grad-norm-f32", grad_norm::<f32>),
    ("grad-norm-f64", grad_norm::<f64>),
    ("adam-mixed-bf16-param-f32-state", |r| adam_mixed(Store::Bf16, Store::Bf16, Store::F32, None, r)),
    ("adam-mixed-f16-param-f32-state", |r| adam_mixed(Store::F16, Store::F16, Store::F32, None, r)),
    ("adam-mixed-f32-param-bf16-grad-bf16-copy", |r| {
        adam_mixed(Store::F32, Store::Bf16, Store::F32, Some(Store::Bf16), r)
    }),
    ("adamw-f32-param-bf16-state", |r| adam_mixed(Store::F32, Store::F32, Store::Bf16, None, r)),
    ("adamw-f32-param-8bit-state", adam_8bit),
    ("probe-adam-shape-f32", probe::<f32>),
    ("probe-adam-shape-f64", probe::<f64>),
];

fn main() {
    let usage = "usage: instructions KERNEL REPEATS | instructions --list";
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [list] if list == "--list" => {
            for (name, _) in KERNELS {
                println!("{name}");
            }
        }
        [name, repeats] => {
            let Some(&(_, run)) = KERNELS.iter().find(|(n, _)| n == name) else {
                panic!("unknown kernel {name:?} (see --list); {usage}");
            };
            let repeats: usize = repeats.parse().unwrap_or_else(|_| panic!("REPEATS is a count; {usage}"));
            run(black_box(repeats));
            println!("tier {}", Tier::dispatched());
        }
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    }
}
