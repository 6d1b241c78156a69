//! The driver at 1, 2, 3 and 7 threads (own pools), on the global pool and
//! serially gives the reference's bits, on buffers large enough to be split.

mod common;

use common::algos::{AdaMax, Adam, Algorithm, Implementation, assert_matches_reference};
use common::{Fill, TestFloat, rng};
use fused_optim::{Parallelism, SERIAL_BELOW_BYTES};
use std::sync::Arc;

fn drivers() -> Vec<Implementation> {
    let mut out =
        vec![Implementation::Driver(Parallelism::Serial), Implementation::Driver(Parallelism::Global)];
    for threads in [1, 2, 3, 7] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        out.push(Implementation::Driver(Parallelism::Pool(Arc::new(pool))));
    }
    out
}

fn every_thread_count<A: Algorithm, T: TestFloat>() {
    let drivers = drivers();
    // Past the serial threshold even for the lightest step (f32, 7 streams),
    // with odd lengths and misaligned starts so pieces end mid-vector.
    let above = SERIAL_BELOW_BYTES / (7 * 4) + 1;
    for (len, offset) in [(above, 0), (3 * above + 13, 3), (7 * above + 5, 1)] {
        for (i, config) in A::configs().into_iter().enumerate() {
            let fill = [Fill::Random, Fill::Special][i % 2];
            let start = A::state::<T>(&config, &mut rng(len as u64 + i as u64), fill, len, offset);
            assert_matches_reference::<A, T>(
                &config,
                &start,
                &drivers,
                &format!("len={len} offset={offset}"),
            );
        }
    }
}

#[test]
fn adam_f32_threads_match_reference() {
    every_thread_count::<Adam, f32>();
}

#[test]
fn adam_f64_threads_match_reference() {
    every_thread_count::<Adam, f64>();
}

#[test]
fn adamax_f32_threads_match_reference() {
    every_thread_count::<AdaMax, f32>();
}

#[test]
fn adamax_f64_threads_match_reference() {
    every_thread_count::<AdaMax, f64>();
}

#[test]
fn pools_report_their_threads() {
    assert_eq!(Parallelism::Serial.threads(), 1);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
    assert_eq!(Parallelism::Pool(Arc::new(pool)).threads(), 3);
}
