//! The Adam paper's kind of toy problem, run with the crate's optimizers:
//! minimise `f(x) = x₀² + 5·x₁²` from `(10, 10)`.
//!
//! By default: Adam with α = 0.4 and the default β1, β2, ε for 100 steps; it
//! prints the trajectory and the loss at every step and draws two panels to a
//! PNG, the trajectory over the contours of `f` in the `(x₀, x₁)` plane, and
//! the loss against the iteration (log scale).
//!
//! With `--all`, every optimizer of the crate runs the same problem on one
//! chart, each at the learning rate that makes its first step move each
//! coordinate by 0.4, as Adam's α = 0.4 does (`--lr` sets that distance):
//! Adam, AdamW, AMSGrad, AdaMax, AdaGrad and Lion (a sign step) first move
//! by `lr`, RMSprop by about `lr/√(1−α)` = 10·lr, AdaDelta by about
//! `lr·√(ε/(1−ρ))` = 0.00316·lr. SGD's step is the gradient's size, which
//! differs per coordinate (20 and 100 at the start): SGD with momentum 0.9
//! gets the rate that moves x₀ by the distance, `lr/20` (x₁ then moves 5
//! times as far). It prints each final loss.
//!
//! ```text
//! cargo run --release -p fused-optim-bench --example quadratic  # writes quadratic.png
//! cargo run --release -p fused-optim-bench --example quadratic -- --all --png docs/quadratic-all.png
//! cargo run --release -p fused-optim-bench --example quadratic -- --steps 300 --lr 0.1
//! ```

use fused_optim::{
    AdaDeltaConfig, AdaGradConfig, AdaMaxConfig, AdamConfig, Algorithm, EpsForm, Error, LionConfig,
    LrSchedule, Optimizer, Parallelism, RmsPropConfig, SgdConfig,
};

const START: [f64; 2] = [10.0, 10.0];

fn loss(x: [f64; 2]) -> f64 {
    x[0] * x[0] + 5.0 * x[1] * x[1]
}

fn gradient(x: [f64; 2]) -> [f64; 2] {
    [2.0 * x[0], 10.0 * x[1]]
}

/// The iterates `x₀ … x_steps` of one optimizer from `START`.
fn trajectory<A: Algorithm>(config: A, schedule: LrSchedule, steps: usize) -> Result<Vec<[f64; 2]>, Error> {
    let mut opt =
        Optimizer::<A, f64>::new(config, 2)?.with_parallelism(Parallelism::Serial).with_lr_schedule(schedule);
    let mut x = START;
    let mut out = vec![x];
    for _ in 0..steps {
        let g = gradient(x);
        opt.step(&mut x, &g)?;
        out.push(x);
    }
    Ok(out)
}

/// The iterates of one optimizer at a learning rate, for a number of steps.
type Run = fn(f64, usize) -> Result<Vec<[f64; 2]>, Error>;

/// One optimizer of the comparison: a name, how far its first step moves per
/// unit of learning rate, and its trajectory at a learning rate.
struct Contender {
    name: &'static str,
    first_step_per_lr: f64,
    run: Run,
}

fn adam(lr: f64) -> AdamConfig {
    AdamConfig { lr, ..AdamConfig::default() }
}

fn contenders() -> Vec<Contender> {
    let rmsprop = 1.0 / (1.0 - RmsPropConfig::default().alpha).sqrt();
    let d = AdaDeltaConfig::default();
    let adadelta = (d.eps / (1.0 - d.rho)).sqrt();
    vec![
        Contender {
            name: "Adam",
            first_step_per_lr: 1.0,
            run: |lr, n| trajectory(adam(lr), LrSchedule::Constant, n),
        },
        Contender {
            name: "AdamW (wd 0.01)",
            first_step_per_lr: 1.0,
            run: |lr, n| trajectory(AdamConfig { lr, ..AdamConfig::adamw() }, LrSchedule::Constant, n),
        },
        Contender {
            name: "AMSGrad",
            first_step_per_lr: 1.0,
            run: |lr, n| trajectory(AdamConfig { amsgrad: true, ..adam(lr) }, LrSchedule::Constant, n),
        },
        Contender {
            name: "Adam, eps-hat form",
            first_step_per_lr: 1.0,
            run: |lr, n| {
                trajectory(AdamConfig { eps_form: EpsForm::Hat, ..adam(lr) }, LrSchedule::Constant, n)
            },
        },
        Contender {
            name: "Adam, α/√t, λ = 1 − 1e-8",
            first_step_per_lr: 1.0,
            run: |lr, n| {
                trajectory(AdamConfig { beta1_decay: 1.0 - 1e-8, ..adam(lr) }, LrSchedule::InverseSqrt, n)
            },
        },
        Contender {
            name: "AdaMax",
            first_step_per_lr: 1.0,
            run: |lr, n| trajectory(AdaMaxConfig { lr, ..AdaMaxConfig::default() }, LrSchedule::Constant, n),
        },
        Contender {
            name: "AdaGrad",
            first_step_per_lr: 1.0,
            run: |lr, n| {
                trajectory(AdaGradConfig { lr, ..AdaGradConfig::default() }, LrSchedule::Constant, n)
            },
        },
        Contender {
            name: "RMSprop",
            first_step_per_lr: rmsprop,
            run: |lr, n| {
                trajectory(RmsPropConfig { lr, ..RmsPropConfig::default() }, LrSchedule::Constant, n)
            },
        },
        Contender {
            name: "RMSprop, centered, momentum 0.9",
            first_step_per_lr: rmsprop,
            run: |lr, n| {
                let c = RmsPropConfig { lr, centered: true, momentum: 0.9, ..RmsPropConfig::default() };
                trajectory(c, LrSchedule::Constant, n)
            },
        },
        Contender {
            name: "AdaDelta",
            first_step_per_lr: adadelta,
            run: |lr, n| {
                trajectory(AdaDeltaConfig { lr, ..AdaDeltaConfig::default() }, LrSchedule::Constant, n)
            },
        },
        Contender {
            name: "Lion",
            first_step_per_lr: 1.0,
            run: |lr, n| trajectory(LionConfig { lr, ..LionConfig::default() }, LrSchedule::Constant, n),
        },
        Contender {
            name: "SGD, momentum 0.9",
            first_step_per_lr: gradient(START)[0].abs(),
            run: |lr, n| {
                trajectory(SgdConfig { lr, momentum: 0.9, ..SgdConfig::default() }, LrSchedule::Constant, n)
            },
        },
    ]
}

struct Options {
    all: bool,
    steps: usize,
    lr: f64,
    png: String,
}

fn parse_options() -> Options {
    let mut o = Options { all: false, steps: 100, lr: 0.4, png: "quadratic.png".into() };
    let usage = "usage: quadratic [--all] [--steps 100] [--lr 0.4] [--png quadratic.png]";
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} takes a value; {usage}"));
        match arg.as_str() {
            "--all" => o.all = true,
            "--steps" => o.steps = value().parse().expect("--steps N"),
            "--lr" => o.lr = value().parse().expect("--lr X"),
            "--png" => o.png = value(),
            "--help" | "-h" => {
                println!("{usage}");
                std::process::exit(0);
            }
            other => panic!("unknown argument {other}; {usage}"),
        }
    }
    o
}

/// A named trajectory, as drawn.
struct Curve {
    label: String,
    points: Vec<[f64; 2]>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let o = parse_options();
    let curves = if o.all {
        println!(
            "f(x) = x0² + 5·x1² from (10, 10), {} steps, each first step moving {} per coordinate",
            o.steps, o.lr
        );
        println!("{:<34} {:>10} {:>14}", "optimizer", "lr", "final loss");
        let mut curves = Vec::new();
        for c in contenders() {
            let lr = o.lr / c.first_step_per_lr;
            let points = (c.run)(lr, o.steps)?;
            println!("{:<34} {:>10.4} {:>14.6e}", c.name, lr, loss(*points.last().expect("the start")));
            curves.push(Curve { label: format!("{} (lr {lr:.3})", c.name), points });
        }
        curves
    } else {
        let points =
            trajectory(AdamConfig { lr: o.lr, ..AdamConfig::default() }, LrSchedule::Constant, o.steps)?;
        println!("Adam, α = {}, β = (0.9, 0.999), ε = 1e-8 on f(x) = x0² + 5·x1² from (10, 10)", o.lr);
        println!("{:>5} {:>14} {:>14} {:>14}", "step", "x0", "x1", "loss");
        for (t, x) in points.iter().enumerate() {
            println!("{t:>5} {:>14.6e} {:>14.6e} {:>14.6e}", x[0], x[1], loss(*x));
        }
        println!("final loss after {} steps: {:.6e}", o.steps, loss(*points.last().expect("the start")));
        vec![Curve { label: format!("Adam (lr {})", o.lr), points }]
    };
    draw(&o.png, &curves)?;
    println!("wrote {}", o.png);
    Ok(())
}

/// Two panels: the trajectories over the contours of `f`, and loss against iteration.
fn draw(path: &str, curves: &[Curve]) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    use plotters::style::{FontStyle, register_font};
    register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
        .map_err(|_| "the embedded DejaVu font did not load")?;
    let root = BitMapBackend::new(path, (1600, 720)).into_drawing_area();
    root.fill(&WHITE)?;
    let (title, body) = root.split_vertically(50);
    title.titled("f(x) = x₀² + 5·x₁², from (10, 10)", ("sans-serif", 26))?;
    let (left, right) = body.split_horizontally(800);
    let colour = |i: usize| Palette99::pick(i).to_rgba();

    // A square window around every iterate and the start.
    let reach =
        curves.iter().flat_map(|c| &c.points).flat_map(|x| x.iter()).fold(0.0f64, |a, &b| a.max(b.abs()));
    let (lo, hi) = (-(reach.min(100.0) + 1.0), reach.min(100.0) + 1.0);
    let mut plane = ChartBuilder::on(&left)
        .caption("trajectory", ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(lo..hi, lo..hi)?;
    plane.configure_mesh().x_desc("x₀").y_desc("x₁").label_style(("sans-serif", 14)).draw()?;
    for level in [1.0, 10.0, 50.0, 150.0, 300.0, 600.0] {
        let (a, b) = (f64::sqrt(level), f64::sqrt(level / 5.0));
        let ellipse = (0..=200).map(|i| {
            let th = i as f64 / 200.0 * std::f64::consts::TAU;
            (a * th.cos(), b * th.sin())
        });
        plane.draw_series(LineSeries::new(ellipse, RGBColor(200, 200, 200)))?;
    }
    for (i, c) in curves.iter().enumerate() {
        let points = c.points.iter().map(|x| (x[0], x[1]));
        plane.draw_series(points.clone().map(|p| Circle::new(p, 2, colour(i).filled())))?;
        plane
            .draw_series(LineSeries::new(points, colour(i).stroke_width(2)))?
            .label(c.label.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour(i).stroke_width(2)));
    }
    plane.draw_series([Circle::new((START[0], START[1]), 5, BLACK.filled())])?;
    plane
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()?;

    let steps = curves.iter().map(|c| c.points.len()).max().unwrap_or(1) - 1;
    let smallest = curves.iter().flat_map(|c| &c.points).map(|x| loss(*x)).fold(f64::INFINITY, f64::min);
    let floor = (smallest / 10.0).max(1e-30);
    let mut losses = ChartBuilder::on(&right)
        .caption("loss", ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0..steps.max(1), (floor..loss(START) * 2.0).log_scale())?;
    losses
        .configure_mesh()
        .x_desc("iteration")
        .y_desc("f(x) (log scale)")
        .y_label_formatter(&|y| format!("{y:.0e}"))
        .label_style(("sans-serif", 14))
        .draw()?;
    for (i, c) in curves.iter().enumerate() {
        let points = c.points.iter().enumerate().map(|(t, x)| (t, loss(*x).max(floor)));
        losses.draw_series(LineSeries::new(points, colour(i).stroke_width(2)))?;
    }
    root.present()?;
    Ok(())
}
