//! Against the mathematics: every algorithm's f32 kernel against an f64
//! oracle of its formula, within a bound the test states; hand-worked first
//! steps; NaN propagation; the paper's schedules.
//!
//! Two ways to bound the kernel's distance from the oracle, by how the
//! kernel evaluates its formula:
//!
//! - [`closed_form`]: Adam (ε in PyTorch's place) and AdaMax. The kernels
//!   compute a rearranged form of the update (one division, bias corrections
//!   folded into the per-step scalars), so the oracle is the formula as
//!   PyTorch writes it, independent of the kernels' op order, and the bound
//!   is a closed form per buffer, derived by hand from the roundings on each
//!   path.
//! - [`running_error`]: AdaGrad, RMSprop, AdaDelta, SGD, Lion, and Adam's ε̂ form
//!   and β1 decay. These kernels evaluate their formula in the order it is written,
//!   so the oracle evaluates the same expression tree in f64 and carries a
//!   rigorous error bound through every operation (running error analysis):
//!   no derivation per formula, and tighter.
//!
//! [`schedule`]: the learning-rate schedule and β1's decay as the paper
//! defines them, on the owning optimizer and the stateless steps.

mod closed_form;
mod running_error;
mod schedule;
