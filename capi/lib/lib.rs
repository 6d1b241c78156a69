//! The C library: `libfused_optim.so` and `libfused_optim.a`, holding every
//! `fo_*` entry point of [`fused_optim_capi`] (this package only links them;
//! the header is `capi/include/fused_optim.h`).

pub use fused_optim_capi::*;
