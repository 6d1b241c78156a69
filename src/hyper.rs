//! Hyperparameter checks and the per-step scalars shared by every algorithm.
//!
//! Per-step scalars are computed in `f64` from the integer step `t`, once per
//! call, then rounded to the element type. Powers `β^t` use binary
//! exponentiation (only `×`, so the result is the same on every platform,
//! unlike `powf`, whose last bit depends on the libm).

use crate::{Error, Float};
use std::sync::atomic::{AtomicU64, Ordering};

/// `value` must be finite and `>= 0`.
pub(crate) fn non_negative(name: &'static str, value: f64) -> Result<(), Error> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidHyperparameter { name, value, expected: "finite and >= 0" })
    }
}

/// A decay rate β must lie in `[0, 1)`.
pub(crate) fn unit_interval(name: &'static str, value: f64) -> Result<(), Error> {
    if (0.0..1.0).contains(&value) {
        Ok(())
    } else {
        Err(Error::InvalidHyperparameter { name, value, expected: "in [0, 1)" })
    }
}

/// A multiplicative decay λ must lie in `(0, 1]` (1: no decay).
pub(crate) fn decay_factor(name: &'static str, value: f64) -> Result<(), Error> {
    if value > 0.0 && value <= 1.0 {
        Ok(())
    } else {
        Err(Error::InvalidHyperparameter { name, value, expected: "in (0, 1]" })
    }
}

/// `β1,t = β1·λ^(t−1)`: the paper's decaying first-moment coefficient (§4),
/// exactly `β1` when `λ = 1`.
pub(crate) fn beta1_at(beta1: f64, lambda: f64, t: u64) -> f64 {
    if lambda == 1.0 { beta1 } else { beta1 * powu(lambda, t - 1) }
}

/// A per-step scalar derived from the hyperparameter `name` (given as
/// `given`), rounded to `T`: an error naming `name` unless it is finite there.
///
/// Validation accepts any finite hyperparameter, but a derived scalar can
/// still overflow: `1 − lr·wd` for huge lr and wd, or `lr·√bc2/bc1` above
/// f32's range (about 3.4e38) for an f32 step. Refusing those keeps the rule
/// that a valid step never turns finite data infinite by its coefficients.
pub(crate) fn representable<T: Float>(name: &'static str, given: f64, derived: f64) -> Result<T, Error> {
    let x = T::from_f64(derived);
    if x.to_f64().is_finite() {
        Ok(x)
    } else {
        Err(Error::InvalidHyperparameter {
            name,
            value: given,
            expected: "small enough that the per-step scalars derived from it are finite in the element type",
        })
    }
}

/// An L2 weight decay coefficient for a kernel: `None` for 0 (no decay, as
/// PyTorch), else the coefficient, if it is finite in `T`.
pub(crate) fn optional_decay<T: Float>(weight_decay: f64) -> Result<Option<T>, Error> {
    match weight_decay {
        0.0 => Ok(None),
        wd => Ok(Some(representable("weight_decay", wd, wd)?)),
    }
}

/// The step number must be at least 1.
///
/// Every algorithm's `coefficients` checks it first, so this is also where
/// the computations of a step's coefficients are counted
/// ([`coefficient_computations`]).
pub(crate) fn step_number(t: u64) -> Result<(), Error> {
    COEFFICIENT_COMPUTATIONS.fetch_add(1, Ordering::Relaxed);
    if t == 0 { Err(Error::ZeroStep) } else { Ok(()) }
}

static COEFFICIENT_COMPUTATIONS: AtomicU64 = AtomicU64::new(0);

/// How many times this process has computed a step's coefficients, on any
/// thread (one relaxed atomic add per computation). The tests that hold
/// every Rust and C path to one computation per call read it, each in a
/// process of its own.
#[doc(hidden)]
pub fn coefficient_computations() -> u64 {
    COEFFICIENT_COMPUTATIONS.load(Ordering::Relaxed)
}

/// `base^t` by binary exponentiation: at most 2·64 correctly rounded
/// multiplications, the same bits on every platform.
pub(crate) fn powu(base: f64, mut t: u64) -> f64 {
    let mut result = 1.0;
    let mut square = base;
    while t > 0 {
        if t & 1 == 1 {
            result *= square;
        }
        square *= square;
        t >>= 1;
    }
    result
}

/// The bias correction `1 − β^t`, in `(0, 1]` for `β ∈ [0, 1)` and `t >= 1`.
pub(crate) fn bias_correction(beta: f64, t: u64) -> f64 {
    1.0 - powu(beta, t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powu_matches_repeated_multiplication_for_small_t() {
        let mut x = 1.0;
        for t in 0..20 {
            assert!((powu(0.9, t) - x).abs() <= 4.0 * f64::EPSILON * x, "t = {t}");
            x *= 0.9;
        }
        assert_eq!(powu(0.999, u64::MAX), 0.0);
        assert_eq!(powu(0.0, 1), 0.0);
        assert_eq!(powu(0.0, 0), 1.0);
    }

    #[test]
    fn bias_correction_is_positive() {
        for t in [1, 2, 10, 1_000_000, u64::MAX] {
            for beta in [0.0, 0.5, 0.9, 0.999, 1.0 - f64::EPSILON] {
                let bc = bias_correction(beta, t);
                assert!(bc > 0.0 && bc <= 1.0, "beta {beta} t {t}: {bc}");
            }
        }
    }

    #[test]
    fn checks_name_bad_values() {
        assert!(non_negative("lr", 0.0).is_ok());
        assert!(non_negative("lr", f64::NAN).is_err());
        assert!(non_negative("lr", f64::INFINITY).is_err());
        assert!(non_negative("lr", -1e-300).is_err());
        assert!(unit_interval("beta1", 0.0).is_ok());
        assert!(unit_interval("beta1", 1.0).is_err());
        assert!(unit_interval("beta1", f64::NAN).is_err());
        assert_eq!(step_number(0), Err(Error::ZeroStep));
    }
}
