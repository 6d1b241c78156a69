//! Trains a 2-layer MLP (candle_nn `Linear` layers, a `VarMap`) on generated
//! classification data with `fused_optim_candle::AdamW`, printing the loss
//! curve and the optimizer's share of the step time (time in `opt.step`
//! against the whole iteration: forward, backward, step), then the same
//! training (same initial weights) with `candle_nn::AdamW` for comparison.
//!
//! ```text
//! cargo run --release -p fused-optim-candle --example mlp            # 300 steps
//! cargo run --release -p fused-optim-candle --example mlp -- 50      # 50 steps
//! ```

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{Linear, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const SAMPLES: usize = 512;
const INPUTS: usize = 256;
const HIDDEN: usize = 2048;
const CLASSES: usize = 16;

/// Inputs and labels: the class is the largest of a fixed random linear map
/// of the input.
fn data(device: &Device) -> Result<(Tensor, Tensor)> {
    let x = Tensor::randn(0f32, 1.0, (SAMPLES, INPUTS), device)?;
    let map = Tensor::randn(0f32, 1.0, (INPUTS, CLASSES), device)?;
    let labels = x.matmul(&map)?.argmax(1)?;
    Ok((x, labels))
}

struct Mlp {
    hidden: Linear,
    out: Linear,
}

impl Mlp {
    fn new(vb: VarBuilder) -> Result<Self> {
        Ok(Mlp {
            hidden: candle_nn::linear(INPUTS, HIDDEN, vb.pp("hidden"))?,
            out: candle_nn::linear(HIDDEN, CLASSES, vb.pp("out"))?,
        })
    }
}

impl Module for Mlp {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.out.forward(&self.hidden.forward(x)?.relu()?)
    }
}

/// Trains a fresh model for `steps` steps with `O`, printing the loss every
/// `steps / 10` steps; returns the time in `opt.step` and in all. The
/// model's initial weights are `init`'s, or recorded there if it is empty
/// (candle's CPU generator takes no seed), so both runs start alike.
fn train<O: Optimizer<Config = ParamsAdamW>>(
    name: &str,
    steps: usize,
    (x, labels): (&Tensor, &Tensor),
    init: &mut HashMap<String, Tensor>,
) -> Result<(Duration, Duration)> {
    let device = Device::Cpu;
    let varmap = VarMap::new();
    let model = Mlp::new(VarBuilder::from_varmap(&varmap, DType::F32, &device))?;
    for (name, var) in varmap.data().lock().map_err(candle_core::Error::msg)?.iter() {
        match init.get(name) {
            Some(t) => var.set(t)?,
            None => drop(init.insert(name.clone(), var.as_tensor().copy()?)),
        }
    }
    let params = ParamsAdamW { lr: 1e-3, weight_decay: 0.01, ..ParamsAdamW::default() };
    let mut opt = O::new(varmap.all_vars(), params)?;
    let parameters: usize = varmap.all_vars().iter().map(|v| v.elem_count()).sum();
    println!("{name}: {parameters} parameters in {} tensors, {steps} steps", varmap.all_vars().len());
    let (mut in_step, mut total) = (Duration::ZERO, Duration::ZERO);
    for step in 1..=steps {
        let start = Instant::now();
        let loss = candle_nn::loss::cross_entropy(&model.forward(x)?, labels)?;
        let grads = loss.backward()?;
        let before_step = Instant::now();
        opt.step(&grads)?;
        in_step += before_step.elapsed();
        total += start.elapsed();
        if step == 1 || step % (steps / 10).max(1) == 0 {
            let accuracy = model.forward(x)?.argmax(1)?.eq(labels)?.to_dtype(DType::F32)?.mean_all()?;
            println!(
                "  step {step:4}  loss {:.4}  accuracy {:.3}",
                loss.to_scalar::<f32>()?,
                accuracy.to_scalar::<f32>()?
            );
        }
    }
    let share = in_step.as_secs_f64() / total.as_secs_f64();
    println!(
        "  {name}: optimizer step {:.2} ms of {:.2} ms per iteration ({:.1}% of the step time)",
        in_step.as_secs_f64() * 1e3 / steps as f64,
        total.as_secs_f64() * 1e3 / steps as f64,
        100.0 * share
    );
    Ok((in_step, total))
}

fn main() -> Result<()> {
    let steps: usize = match std::env::args().nth(1) {
        Some(s) => s.parse().map_err(|e| candle_core::Error::msg(format!("steps: {e}")))?,
        None => 300,
    };
    let (x, labels) = data(&Device::Cpu)?;
    println!(
        "candle matmul threads: {}, rayon threads: {}",
        candle_core::utils::get_num_threads(),
        rayon_threads()
    );
    let mut init = HashMap::new();
    let (fused, _) =
        train::<fused_optim_candle::AdamW>("fused_optim_candle::AdamW", steps, (&x, &labels), &mut init)?;
    let (candle, _) = train::<candle_nn::AdamW>("candle_nn::AdamW", steps, (&x, &labels), &mut init)?;
    println!(
        "optimizer step: fused {:.1}x faster than candle_nn::AdamW",
        candle.as_secs_f64() / fused.as_secs_f64()
    );
    Ok(())
}

/// The threads of rayon's global pool (the fused step's, by default).
fn rayon_threads() -> usize {
    fused_optim_candle::Parallelism::Global.threads()
}
