//! The test kit of fused-optim: what the tests (`tests/`, `capi/tests/`),
//! the fuzz targets (`fuzz/`) and the benches (`bench/`) share, so that each
//! algorithm and each implementation is named once.
//!
//! - [`values`](mod@values): special values and random draws per element type, fills,
//!   buffers at offsets with guard elements, bit-exact comparison.
//! - [`harness`]: [`TestAlgorithm`] (per algorithm: its option combinations,
//!   its scalar reference, its forced tier, its dispatched entry point),
//!   [`Implementation`] and [`Tensor`] (one tensor's buffers, owned, built
//!   and stepped through the root's descriptor), and the differential check
//!   against the reference.
//! - [`fuzz`] and [`fuzz_capi`]: the differential fuzz cases (Rust API and C
//!   ABI) and their checks; [`replay`] replays a committed corpus through them.
//! - [`c_steps`]: the C ABI's f32/f64 entry points as one table per element type.
//! - [`hosts`]: hosts' parallel-fors (well-behaved and awkward) and the OpenMP runtime, for the executor tests.
//! - [`bench`](mod@bench): what the benches and the roofline report time.

pub mod bench;
pub mod c_steps;
pub mod fuzz;
pub mod fuzz_capi;
pub mod harness;
pub mod hosts;
pub mod replay;
pub mod values;

pub use harness::{
    Implementation, STEPS, Tensor, TestAlgorithm, assert_matches_reference, kernel_implementations,
};
pub use values::{
    FILLS, Fill, Offset, TestFloat, assert_same_bits, by_profile, gradient, on_small_stack, rng, values,
};
