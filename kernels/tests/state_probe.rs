//! The lean-state probe ([`probe_state_on`]) on every available tier: it
//! leaves finite data as it was, over lengths around the vector widths and
//! the 8-bit state's blocks, split or not at a block boundary; and its checks.

use fused_optim_kernels::{
    ALL_TIERS, Checked, ProbeState, QUANT_BLOCK, QuantizedSlot, StateProbeBuffers, bf16, probe_state,
    probe_state_checked, probe_state_on, quant_blocks,
};

const LENGTHS: [usize; 9] = [0, 1, 15, 17, 255, 256, 257, 1000, 4097];

/// Reproducible finite values, none of them `−0` (`−0 + 0` is `+0`).
fn values(n: usize, seed: u32) -> Vec<f32> {
    (0..n as u32)
        .map(|i| ((i.wrapping_mul(2_654_435_761) ^ seed) % 2001) as f32 / 100.0 - 10.0 + 0.005)
        .collect()
}

/// Bytes `0..=255`, reproducible.
fn codes(n: usize, seed: u32) -> Vec<u8> {
    (0..n as u32).map(|i| (i.wrapping_mul(40_503) ^ seed) as u8).collect()
}

/// Owned buffers of both layouts.
#[derive(Clone, Debug, PartialEq)]
struct Owned {
    p: Vec<f32>,
    g: Vec<f32>,
    words: [Vec<bf16>; 2],
    codes: [Vec<u8>; 2],
    scales: [Vec<f32>; 2],
}

impl Owned {
    fn new(n: usize) -> Owned {
        let word = |seed| values(n, seed).into_iter().map(bf16::from_f32).collect();
        Owned {
            p: values(n, 1),
            g: values(n, 2),
            words: [word(3), word(4)],
            codes: [codes(n, 5), codes(n, 6)],
            scales: [values(quant_blocks(n), 7), values(quant_blocks(n), 8)],
        }
    }

    fn bf16(&mut self) -> StateProbeBuffers<'_> {
        let [m, v] = &mut self.words;
        StateProbeBuffers { param: &mut self.p, grad: &self.g, state: ProbeState::Bf16([m, v]) }
    }

    fn codes(&mut self) -> StateProbeBuffers<'_> {
        let ([mc, vc], [ms, vs]) = (&mut self.codes, &mut self.scales);
        let slots = [QuantizedSlot { codes: mc, scales: ms }, QuantizedSlot { codes: vc, scales: vs }];
        StateProbeBuffers { param: &mut self.p, grad: &self.g, state: ProbeState::Codes(slots) }
    }

    /// Every buffer as bits.
    fn bits(&self) -> Vec<u32> {
        let f = |x: &[f32]| x.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let mut out = f(&self.p);
        out.extend(f(&self.g));
        for k in 0..2 {
            out.extend(self.words[k].iter().map(|w| u32::from(w.to_bits())));
            out.extend(self.codes[k].iter().map(|&c| u32::from(c)));
            out.extend(f(&self.scales[k]));
        }
        out
    }
}

#[test]
fn every_tier_leaves_finite_data_unchanged() {
    let mut ran = 0;
    for tier in ALL_TIERS.into_iter().filter(|t| t.is_available()) {
        for n in LENGTHS {
            let mut x = Owned::new(n);
            let before = x.bits();
            probe_state_on(tier, x.bf16()).expect("available");
            assert_eq!(x.bits(), before, "bf16 state, {tier}, n = {n}");
            probe_state_on(tier, x.codes()).expect("available");
            assert_eq!(x.bits(), before, "8-bit state, {tier}, n = {n}");
            ran += 1;
        }
    }
    assert!(ran >= LENGTHS.len());
}

#[test]
fn dispatched_and_split_at_a_block_boundary() {
    for n in LENGTHS {
        let mut x = Owned::new(n);
        let before = x.bits();
        probe_state(x.bf16());
        probe_state(x.codes());
        assert_eq!(x.bits(), before, "n = {n}");
        // 8-bit state cut at every block boundary and at the end; bf16 state
        // (no blocks) one element before.
        for mid in (0..=n).step_by(QUANT_BLOCK).chain([n]) {
            let (a, b) = Checked::new(x.codes()).expect("checked").split_at(mid);
            probe_state_checked(a);
            probe_state_checked(b);
            let (a, b) = Checked::new(x.bf16()).expect("checked").split_at(mid.saturating_sub(1));
            probe_state_checked(a);
            probe_state_checked(b);
            assert_eq!(x.bits(), before, "n = {n}, split at {mid}");
        }
    }
}

#[test]
fn the_split_granule_keeps_blocks_whole() {
    use fused_optim_kernels::KernelBuffers;
    let mut x = Owned::new(1000);
    assert_eq!(x.codes().split_granule(), QUANT_BLOCK);
    assert_eq!(x.bf16().split_granule(), 1);
    let (a, b) = x.codes().split_at(512);
    let ProbeState::Codes(slots) = &b.state else { unreachable!() };
    assert_eq!((a.len(), b.len(), slots[1].scales.len()), (512, 488, 2));
}

#[test]
#[should_panic(expected = "neither a multiple of 256")]
fn a_cut_inside_a_block_panics() {
    use fused_optim_kernels::KernelBuffers;
    let mut x = Owned::new(1000);
    let _ = x.codes().split_at(300);
}

#[test]
fn the_check_names_the_buffer() {
    let mut x = Owned::new(1000);
    x.scales[1].pop();
    let err = Checked::new(x.codes()).unwrap_err();
    assert_eq!((err.buffer, err.len, err.expected), ("state[1].scales", 3, 4));
    x.words[0].pop();
    let err = Checked::new(x.bf16()).unwrap_err();
    assert_eq!((err.buffer, err.len, err.expected), ("state[0]", 999, 1000));
}
