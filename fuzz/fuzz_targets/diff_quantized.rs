//! Differential fuzz target: the 8-bit-state step (Adam / AdamW / AMSGrad, Lion, SGD chosen by the
//! input; codes and scales from raw bits, chained steps), every tier and the dispatched kernel cut
//! at a block boundary against the scalar reference.
//! `cargo +nightly fuzz run diff_quantized`; the comparison is the test kit's `check_quantized`.
#![no_main]

fused_optim_fuzz::libfuzzer_sys::fuzz_target!(|case: fused_optim_fuzz::cases::QuantizedCase| {
    fused_optim_fuzz::cases::check_quantized(&case);
});
