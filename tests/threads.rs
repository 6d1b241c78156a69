//! The driver at 1, 2, 3 and 7 threads (own pools), on the global pool,
//! serially, and (on the large steps) on every host executor (threads of a
//! host's own, a host that runs its workers one after another, one that runs
//! none, one that runs them on another thread, the OpenMP runtime at 3
//! threads and following `omp_get_max_threads`) gives the reference's bits: with the serial threshold at 0 (so
//! every step is split, down to pieces of no element) and at its default on
//! buffers large enough to be split.

use fused_optim::{
    AdaDeltaConfig, AdaGradConfig, AdaMaxConfig, AdamConfig, DEFAULT_SERIAL_BELOW_BYTES, LionConfig,
    Parallelism, RmsPropConfig, SgdConfig, set_serial_threshold,
};
use fused_optim_testkit::hosts::host_parallelisms;
use fused_optim_testkit::{
    Fill, Implementation, Tensor, TestAlgorithm, TestFloat, assert_matches_reference, by_profile, rng,
};
use std::sync::Arc;
use std::sync::Once;

fn drivers() -> Vec<Implementation> {
    let mut out =
        vec![Implementation::Driver(Parallelism::Serial), Implementation::Driver(Parallelism::Global)];
    for threads in [1, 2, 3, 7] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        out.push(Implementation::Driver(Parallelism::Pool(Arc::new(pool))));
    }
    out
}

/// [`drivers`] and every host executor. Only for the large steps: some hosts
/// start threads at every step, which the thousands of small steps below
/// would turn into minutes under an emulated CPU.
fn drivers_and_hosts() -> Vec<Implementation> {
    let mut out = drivers();
    out.extend(host_parallelisms().into_iter().map(Implementation::Driver));
    out
}

fn every_thread_count<A: TestAlgorithm, T: TestFloat>() {
    let drivers = drivers_and_hosts();
    // Past the default threshold even for the lightest step (f32 AdaGrad, 5 streams),
    // with odd lengths and misaligned starts so pieces end mid-vector.
    let above = DEFAULT_SERIAL_BELOW_BYTES / (5 * 4) + 1;
    let sizes = [(above, 0), (3 * above + 13, 3), (7 * above + 5, 1)];
    for &(len, offset) in by_profile(&sizes[..], &sizes[..1]) {
        for (i, config) in A::configs().into_iter().enumerate() {
            let fill = [Fill::Random, Fill::Special][i % 2];
            let start = Tensor::<A, T>::new(&config, &mut rng(len as u64 + i as u64), fill, len, offset);
            assert_matches_reference::<A, T>(
                &config,
                &start,
                &drivers,
                &format!("len={len} offset={offset}"),
            );
        }
    }
}

/// With the threshold at 0 every step is split, even of 0 or 1 elements:
/// pieces of every size and alignment, empty ones included. The threshold is
/// process-wide, so every test of this binary sets the same value.
fn split_everything() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| set_serial_threshold(0));
}

fn small_buffers_split_to_pieces<A: TestAlgorithm, T: TestFloat>() {
    split_everything();
    let drivers = drivers();
    for len in (0..40).chain([63, 64, 65, 129, 1000]) {
        for offset in [0, 1] {
            for (i, config) in A::configs().into_iter().enumerate() {
                let fill = [Fill::Random, Fill::Special][i % 2];
                let start = Tensor::<A, T>::new(
                    &config,
                    &mut rng(len as u64 * 7 + offset),
                    fill,
                    len,
                    offset as usize,
                );
                assert_matches_reference::<A, T>(
                    &config,
                    &start,
                    &drivers,
                    &format!("len={len} offset={offset}"),
                );
            }
        }
    }
}

/// Both tests of one algorithm and element type.
macro_rules! thread_tests {
    ($($small:ident, $large:ident: $algorithm:ty, $t:ty;)*) => {
        $(
            #[test]
            fn $small() {
                small_buffers_split_to_pieces::<$algorithm, $t>();
            }

            #[test]
            fn $large() {
                every_thread_count::<$algorithm, $t>();
            }
        )*
    };
}

thread_tests! {
    adam_f32_small_steps_split_everywhere, adam_f32_threads_match_reference: AdamConfig, f32;
    adam_f64_small_steps_split_everywhere, adam_f64_threads_match_reference: AdamConfig, f64;
    adamax_f32_small_steps_split_everywhere, adamax_f32_threads_match_reference: AdaMaxConfig, f32;
    adamax_f64_small_steps_split_everywhere, adamax_f64_threads_match_reference: AdaMaxConfig, f64;
    adagrad_f32_small_steps_split_everywhere, adagrad_f32_threads_match_reference: AdaGradConfig, f32;
    adagrad_f64_small_steps_split_everywhere, adagrad_f64_threads_match_reference: AdaGradConfig, f64;
    rmsprop_f32_small_steps_split_everywhere, rmsprop_f32_threads_match_reference: RmsPropConfig, f32;
    rmsprop_f64_small_steps_split_everywhere, rmsprop_f64_threads_match_reference: RmsPropConfig, f64;
    adadelta_f32_small_steps_split_everywhere, adadelta_f32_threads_match_reference: AdaDeltaConfig, f32;
    adadelta_f64_small_steps_split_everywhere, adadelta_f64_threads_match_reference: AdaDeltaConfig, f64;
    sgd_f32_small_steps_split_everywhere, sgd_f32_threads_match_reference: SgdConfig, f32;
    sgd_f64_small_steps_split_everywhere, sgd_f64_threads_match_reference: SgdConfig, f64;
    lion_f32_small_steps_split_everywhere, lion_f32_threads_match_reference: LionConfig, f32;
    lion_f64_small_steps_split_everywhere, lion_f64_threads_match_reference: LionConfig, f64;
}

#[test]
fn pools_report_their_threads() {
    assert_eq!(Parallelism::Serial.threads(), 1);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
    assert_eq!(Parallelism::Pool(Arc::new(pool)).threads(), 3);
}
