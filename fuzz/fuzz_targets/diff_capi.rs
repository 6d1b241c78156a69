//! Differential fuzz target through the C ABI: any `fo_*` step (every algorithm, f32/f64 and mixed
//! precision, one tensor or many) with raw flag bytes, null, misaligned, aliased and overlapping
//! pointers, absurd lengths and counts; a refusal must have the documented status and write nothing,
//! an accepted call must give the reference's bits. `cargo +nightly fuzz run diff_capi`; the check
//! is in `src/capi.rs`. Every input is kept (the refusals are this target's point).
#![no_main]

fused_optim_fuzz::libfuzzer_sys::fuzz_target!(
    |case: fused_optim_fuzz::capi::CapiCase| -> fused_optim_fuzz::libfuzzer_sys::Corpus {
        fused_optim_fuzz::capi::check(&case);
        fused_optim_fuzz::libfuzzer_sys::Corpus::Keep
    }
);
