//! The fuzz crate's shared code: the cases and the differential check.
pub mod cases;
