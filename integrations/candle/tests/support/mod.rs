//! What the tests and the bench share: deterministic data.

/// `n` deterministic values in `[-scale, scale)` (xorshift64), different per `seed`.
pub fn values(seed: u64, n: usize, scale: f64) -> Vec<f64> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * scale
        })
        .collect()
}
