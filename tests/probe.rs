//! The bandwidth probe reads and writes every element and changes no finite
//! value, on every tier, serially and through the driver.

use fused_optim::kernels::{ALL_TIERS, probe_on};
use fused_optim::{
    DEFAULT_SERIAL_BELOW_BYTES, Error, Parallelism, ProbeBuffers, probe_bytes_per_element, probe_step,
};

fn values(n: usize, k: usize) -> Vec<f32> {
    (0..n).map(|i| ((i * 31 + k) % 97) as f32 - 48.5).collect()
}

#[test]
fn probe_leaves_finite_values_unchanged_on_every_tier() {
    for tier in ALL_TIERS {
        if !tier.is_available() {
            eprintln!("SKIPPED: tier {tier} is not available on this CPU");
            continue;
        }
        for n in 0..70 {
            let g = values(n, 1);
            let (mut a, mut b, mut c, mut d) = (values(n, 2), values(n, 3), values(n, 4), values(n, 5));
            probe_on(tier, ProbeBuffers { written: [&mut a, &mut b, &mut c, &mut d], read: &g }).unwrap();
            assert_eq!(
                (a, b, c, d),
                (values(n, 2), values(n, 3), values(n, 4), values(n, 5)),
                "{tier} n={n}"
            );
            let (mut a, mut b) = (values(n, 2), values(n, 3));
            probe_on(tier, ProbeBuffers { written: [&mut a, &mut b], read: &g }).unwrap();
            assert_eq!((a, b), (values(n, 2), values(n, 3)));
        }
    }
}

#[test]
fn probe_through_the_driver() {
    let n = DEFAULT_SERIAL_BELOW_BYTES / probe_bytes_per_element::<f64, 3>() * 3 + 7;
    let g: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let (mut a, mut b, mut c) = (g.clone(), g.clone(), vec![f64::NAN; n]);
    probe_step(ProbeBuffers { written: [&mut a, &mut b, &mut c], read: &g }, &Parallelism::Global).unwrap();
    assert_eq!((&a, &b), (&g, &g));
    assert!(c.iter().all(|x| x.is_nan()));
    let mut short = vec![0.0; n - 1];
    let got =
        probe_step(ProbeBuffers { written: [&mut a, &mut b, &mut short], read: &g }, &Parallelism::Serial);
    assert_eq!(got, Err(Error::LengthMismatch { buffer: "written", len: n - 1, expected: n }));
    assert_eq!(probe_bytes_per_element::<f32, 3>(), 28);
    assert_eq!(probe_bytes_per_element::<f64, 4>(), 72);
}
