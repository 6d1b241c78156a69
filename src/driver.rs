//! The rayon driver: one kernel call per thread, on cache-line-aligned pieces.
//!
//! The step is element-wise, so any split gives the serial bits; what the
//! driver decides is only *when* to split and *where*:
//!
//! - **When.** Below [`SERIAL_BELOW_BYTES`] of memory traffic per call the
//!   step runs on the calling thread: a fork-join costs microseconds (and on
//!   an oversubscribed VM, where two workers can share a core, milliseconds),
//!   which is more than a small step takes.
//! - **Where.** Into one piece per thread of the chosen pool, by recursive
//!   halving with `rayon::join`. Every split point is moved to a 64-byte
//!   boundary of the parameter buffer (one AVX-512 vector, one cache line), so
//!   no two threads write the same parameter cache line and every piece but
//!   the last runs whole vectors.
//! - **On which pool.** [`Parallelism`]: the calling thread only, rayon's
//!   global pool, or a pool the caller owns.

use fused_optim_kernels::{AdaMaxBuffers, AdamBuffers, MAX_VECTOR_BYTES, ProbeBuffers};
use rayon::ThreadPool;
use std::sync::Arc;

/// Memory traffic (bytes read + written) below which a step stays serial: 4 MiB.
///
/// Chosen by measurement (`cargo run --release --example roofline -- --crossover`)
/// on the development machine, a 2-core AVX-512 VM: a two-way `rayon::join`
/// costs 8 to 17 µs there before any work is done, so splitting only pays once
/// the serial step takes well over twice that. Serial ÷ split crossed 1 between
/// 1 and 4 MiB of traffic for every kernel (f32 Adam: 1.9 at 448 KiB, 0.86 at
/// 3.5 MiB, 0.73 at 28 MiB; f64 Adam: 1.33 at 1.75 MiB, 0.71 at 3.5 MiB).
pub const SERIAL_BELOW_BYTES: usize = 4 << 20;

/// Which threads a step may use.
#[derive(Clone, Debug, Default)]
pub enum Parallelism {
    /// The calling thread only.
    Serial,
    /// Rayon's global pool, for steps of at least [`SERIAL_BELOW_BYTES`] of traffic.
    #[default]
    Global,
    /// The caller's pool, for steps of at least [`SERIAL_BELOW_BYTES`] of traffic.
    Pool(Arc<ThreadPool>),
}

impl Parallelism {
    /// The number of threads a large step is split across.
    pub fn threads(&self) -> usize {
        match self {
            Parallelism::Serial => 1,
            Parallelism::Global => rayon::current_num_threads(),
            Parallelism::Pool(pool) => pool.current_num_threads(),
        }
    }
}

/// A set of equally long buffers that can be cut into two at an index.
pub(crate) trait Split: Sized + Send {
    /// Common length.
    fn len(&self) -> usize;
    /// `[0, mid)` and `[mid, len)`.
    fn split_at(self, mid: usize) -> (Self, Self);
    /// Address of element 0 of the buffer whose cache lines split points align to.
    fn anchor(&self) -> usize;
}

impl<T: Send + Sync> Split for AdamBuffers<'_, T> {
    fn len(&self) -> usize {
        AdamBuffers::len(self)
    }
    fn split_at(self, mid: usize) -> (Self, Self) {
        AdamBuffers::split_at(self, mid)
    }
    fn anchor(&self) -> usize {
        self.param.as_ptr() as usize
    }
}

impl<T: Send + Sync> Split for AdaMaxBuffers<'_, T> {
    fn len(&self) -> usize {
        AdaMaxBuffers::len(self)
    }
    fn split_at(self, mid: usize) -> (Self, Self) {
        AdaMaxBuffers::split_at(self, mid)
    }
    fn anchor(&self) -> usize {
        self.param.as_ptr() as usize
    }
}

impl<T: Send + Sync, const W: usize> Split for ProbeBuffers<'_, T, W> {
    fn len(&self) -> usize {
        ProbeBuffers::len(self)
    }
    fn split_at(self, mid: usize) -> (Self, Self) {
        ProbeBuffers::split_at(self, mid)
    }
    fn anchor(&self) -> usize {
        self.written.first().map_or(self.read.as_ptr() as usize, |s| s.as_ptr() as usize)
    }
}

/// Runs `kernel` over `buffers`, split across the threads `parallelism`
/// allows when the step moves at least [`SERIAL_BELOW_BYTES`]
/// (`bytes_per_element` is the traffic of one element: reads plus writes).
pub(crate) fn drive<B: Split>(
    buffers: B,
    element_bytes: usize,
    bytes_per_element: usize,
    parallelism: &Parallelism,
    kernel: impl Fn(B) + Sync,
) {
    let traffic = buffers.len().saturating_mul(bytes_per_element);
    let threads = parallelism.threads();
    if threads <= 1 || traffic < SERIAL_BELOW_BYTES {
        return kernel(buffers);
    }
    let split = || split_run(buffers, threads, element_bytes, &kernel);
    match parallelism {
        Parallelism::Pool(pool) => pool.install(split),
        _ => split(),
    }
}

fn split_run<B: Split>(buffers: B, pieces: usize, element_bytes: usize, kernel: &(impl Fn(B) + Sync)) {
    if pieces <= 1 {
        return kernel(buffers);
    }
    let left_pieces = pieces / 2;
    let n = buffers.len();
    let mid = aligned_split(buffers.anchor(), n, n / pieces * left_pieces, element_bytes);
    let (left, right) = buffers.split_at(mid);
    rayon::join(
        || split_run(left, left_pieces, element_bytes, kernel),
        || split_run(right, pieces - left_pieces, element_bytes, kernel),
    );
}

/// Moves the split index `mid` down to the nearest index whose address
/// (`anchor + index·element_bytes`) is a multiple of 64 bytes, within `0..=n`.
fn aligned_split(anchor: usize, n: usize, mid: usize, element_bytes: usize) -> usize {
    let address = anchor + mid * element_bytes;
    let back = (address % MAX_VECTOR_BYTES) / element_bytes;
    mid.saturating_sub(back).min(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_points_land_on_cache_lines() {
        for anchor in (0..256).step_by(4) {
            for mid in 0..100 {
                let s = aligned_split(anchor, 100, mid, 4);
                assert!(s <= mid && mid - s < 16);
                if s > 0 {
                    assert_eq!((anchor + s * 4) % 64, 0, "anchor {anchor} mid {mid}");
                }
            }
        }
        assert_eq!(aligned_split(8, 10, 7, 8), 7);
        assert_eq!(aligned_split(8, 10, 8, 8), 7);
    }
}
