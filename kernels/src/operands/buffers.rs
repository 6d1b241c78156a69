//! What every buffer set shares: the driver's view ([`KernelBuffers`]), the
//! parts a split cuts ([`Parts`], [`Piece`], [`Dense`]), and the check the
//! kernels rely on ([`Check`], [`Checked`], [`Reborrow`]).

use core::fmt;

/// A set of equally long buffers one kernel call runs over.
pub trait KernelBuffers: Sized {
    /// The algorithm's name, for messages.
    const ALGORITHM: &'static str;

    /// Number of elements (the parameter's length).
    fn len(&self) -> usize;

    /// True when there are no elements.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first buffer whose length differs from the parameter's, with that length.
    fn length_mismatch(&self) -> Option<(&'static str, usize)>;

    /// Every buffer cut at `mid`: `[0, mid)` and `[mid, len)`.
    ///
    /// # Panics
    /// If `mid > len` (as `slice::split_at`).
    fn split_at(self, mid: usize) -> (Self, Self);

    /// Address of element 0 of the buffer that split points are aligned to
    /// (the parameter: no two pieces then write one of its cache lines).
    fn anchor(&self) -> usize;

    /// Size in bytes of one element of the [`anchor`](KernelBuffers::anchor)
    /// buffer (tensors of one multi-tensor step may differ: f32 and bf16
    /// parameters).
    fn anchor_element_bytes(&self) -> usize;

    /// Elements a split point must be a multiple of, counted from element 0
    /// (1: any; the 8-bit state's blocks: [`QUANT_BLOCK`](crate::QUANT_BLOCK)).
    fn split_granule(&self) -> usize {
        1
    }

    /// The lengths as a [`LengthMismatch`] error, if they differ.
    fn check_lengths(&self) -> Result<(), LengthMismatch> {
        match self.length_mismatch() {
            Some((buffer, len)) => {
                Err(LengthMismatch { algorithm: Self::ALGORITHM, buffer, len, expected: self.len() })
            }
            None => Ok(()),
        }
    }

    /// Panics, naming the buffer, if the lengths differ.
    fn assert_lengths(&self) {
        if let Err(e) = self.check_lengths() {
            panic!("{e}");
        }
    }
}

/// One buffer, or a group of them, that a split cuts: a slice, an optional
/// slice, an array or a pair of them.
pub trait Piece: Sized {
    /// `[0, mid)` and `[mid, len)` (an absent optional buffer: absent twice).
    ///
    /// # Panics
    /// If `mid > len`.
    fn split_at(self, mid: usize) -> (Self, Self);
}

impl<T> Piece for &mut [T] {
    fn split_at(self, mid: usize) -> (Self, Self) {
        self.split_at_mut(mid)
    }
}

impl<T> Piece for &[T] {
    fn split_at(self, mid: usize) -> (Self, Self) {
        <[T]>::split_at(self, mid)
    }
}

impl<P: Piece> Piece for Option<P> {
    fn split_at(self, mid: usize) -> (Self, Self) {
        match self {
            Some(p) => {
                let (a, b) = p.split_at(mid);
                (Some(a), Some(b))
            }
            None => (None, None),
        }
    }
}

impl<P: Piece, const N: usize> Piece for [P; N] {
    fn split_at(self, mid: usize) -> (Self, Self) {
        let mut halves = self.map(|p| Some(p).split_at(mid));
        let left = core::array::from_fn(|i| halves[i].0.take());
        let right = core::array::from_fn(|i| halves[i].1.take());
        (left.map(Option::unwrap), right.map(Option::unwrap))
    }
}

impl<A: Piece, B: Piece> Piece for (A, B) {
    fn split_at(self, mid: usize) -> (Self, Self) {
        let (a, b) = (self.0.split_at(mid), self.1.split_at(mid));
        ((a.0, b.0), (a.1, b.1))
    }
}

/// Most buffers an algorithm's buffer set names after `param` (the gradient
/// and three state buffers).
pub const MAX_NAMED: usize = 4;

/// A buffer set as plain parts: the parameter, the gradient and the state
/// buffers (`S`: a slice, an array, an optional slice, or a pair of them).
#[derive(Debug)]
pub struct Parts<'a, T, S> {
    /// Parameters θ, updated in place.
    pub param: &'a mut [T],
    /// Gradient g, read only.
    pub grad: &'a [T],
    /// The state buffers, in the order of [`Dense::NAMES`].
    pub state: S,
}

/// An algorithm's buffer struct over one element type: it converts to and
/// from [`Parts`], and gets [`KernelBuffers`] and [`Check`] from them.
pub trait Dense<'a>: Sized {
    /// The element type.
    type Elem: 'a;
    /// The state buffers as a [`Piece`].
    type State: Piece;
    /// The algorithm's name, for messages.
    const ALGORITHM: &'static str;
    /// The buffers' names after `param`, in the order of [`Dense::lengths`].
    const NAMES: &'static [&'static str];

    /// The parameter.
    fn param(&self) -> &[Self::Elem];
    /// The lengths of the buffers after `param`, in the order of
    /// [`Dense::NAMES`] (`None`: an optional buffer not given, and the
    /// slots past the last name).
    fn lengths(&self) -> [Option<usize>; MAX_NAMED];
    /// The buffers as parts.
    fn into_parts(self) -> Parts<'a, Self::Elem, Self::State>;
    /// The buffers from parts.
    fn from_parts(parts: Parts<'a, Self::Elem, Self::State>) -> Self;
}

impl<'a, B: Dense<'a>> KernelBuffers for B {
    const ALGORITHM: &'static str = B::ALGORITHM;

    fn len(&self) -> usize {
        self.param().len()
    }

    fn length_mismatch(&self) -> Option<(&'static str, usize)> {
        const { assert!(B::NAMES.len() <= MAX_NAMED, "more named buffers than MAX_NAMED") };
        let (n, lengths) = (self.len(), self.lengths());
        // Every slot, named or not: a buffer is never left unchecked. A plain
        // loop over a fixed array: the check runs once per call, and this
        // keeps it to a few compares.
        for (i, length) in lengths.into_iter().enumerate() {
            match length {
                Some(len) if len != n => return Some((B::NAMES.get(i).copied().unwrap_or("state"), len)),
                _ => {}
            }
        }
        None
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        let Parts { param, grad, state } = self.into_parts();
        let ((p0, p1), (g0, g1), (s0, s1)) =
            (param.split_at_mut(mid), grad.split_at(mid), state.split_at(mid));
        (
            B::from_parts(Parts { param: p0, grad: g0, state: s0 }),
            B::from_parts(Parts { param: p1, grad: g1, state: s1 }),
        )
    }

    fn anchor(&self) -> usize {
        self.param().as_ptr() as usize
    }

    fn anchor_element_bytes(&self) -> usize {
        core::mem::size_of::<B::Elem>()
    }
}

impl<'a, B: Dense<'a>> Check for B {
    type Facts = ();
    type Error = LengthMismatch;

    fn check(&self) -> Result<(), LengthMismatch> {
        self.check_lengths()
    }
}

/// A shorter-lived view of the same buffers (for multi-tensor calls, which
/// keep the tensors and run pieces of them).
///
/// [`Checked::reborrow`] carries the proof over to the view, so the view
/// must be the same buffers: the trait is sealed, implemented only for this
/// crate's buffer sets. Outside the crate it cannot be implemented:
///
/// ```compile_fail,E0277
/// use fused_optim_kernels::{AdamBuffers, Check, KernelBuffers, LengthMismatch, Reborrow};
/// struct Evil<'a>(AdamBuffers<'a, f32>);
/// # impl KernelBuffers for Evil<'_> {
/// #     const ALGORITHM: &'static str = "evil";
/// #     fn len(&self) -> usize { 0 }
/// #     fn length_mismatch(&self) -> Option<(&'static str, usize)> { None }
/// #     fn split_at(self, _: usize) -> (Self, Self) { unimplemented!() }
/// #     fn anchor(&self) -> usize { 0 }
/// #     fn anchor_element_bytes(&self) -> usize { 4 }
/// # }
/// # impl Check for Evil<'_> {
/// #     type Facts = ();
/// #     type Error = LengthMismatch;
/// #     fn check(&self) -> Result<(), LengthMismatch> { Ok(()) }
/// # }
/// impl<'e> Reborrow for Evil<'e> {
///     type Short<'b> = AdamBuffers<'b, f32> where Self: 'b;
///     fn reborrow(&mut self) -> AdamBuffers<'_, f32> { self.0.reborrow() }
/// }
/// ```
pub trait Reborrow: Check + sealed::Sealed {
    /// The view's type.
    type Short<'b>: Check<Facts = Self::Facts>
    where
        Self: 'b;

    /// A shorter-lived view of the same buffers.
    fn reborrow(&mut self) -> Self::Short<'_>;
}

/// What a kernel needs of its buffers before it runs, and how to check it.
pub trait Check: KernelBuffers {
    /// What the check finds out and the kernel uses (a mixed-precision
    /// step's layout; nothing for the others).
    type Facts: Copy + fmt::Debug;
    /// Why the buffers are not fit for the kernel.
    type Error: fmt::Debug + fmt::Display;

    /// Checks the buffers: equal lengths, and whatever else the kernel needs.
    fn check(&self) -> Result<Self::Facts, Self::Error>;
}

/// Buffers whose [`Check`] has passed, with what it found: the kernels take
/// this value and check nothing again.
///
/// The buffers are reachable only by shared reference or by giving the value
/// up ([`Checked::into_inner`]), so the proof cannot go stale; cutting it
/// ([`Checked::split_at`], [`Checked::reborrow`]) keeps it.
#[derive(Debug)]
pub struct Checked<B: Check> {
    buffers: B,
    facts: B::Facts,
}

impl<B: Check> Checked<B> {
    /// Checks `buffers` once.
    pub fn new(buffers: B) -> Result<Self, B::Error> {
        let facts = buffers.check()?;
        Ok(Checked { buffers, facts })
    }

    /// Checks `buffers`, panicking with the error's message (the form the
    /// unchecked-by-caller entry points use).
    ///
    /// # Panics
    /// If the check fails.
    #[track_caller]
    pub fn or_panic(buffers: B) -> Self {
        Checked::new(buffers).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The buffers.
    pub fn get(&self) -> &B {
        &self.buffers
    }

    /// What the check found.
    pub fn facts(&self) -> B::Facts {
        self.facts
    }

    /// The buffers, giving up the proof.
    pub fn into_inner(self) -> B {
        self.buffers
    }

    /// The buffers and what the check found (crate-internal: the kernels'
    /// way in; the proof is spent).
    pub(crate) fn into_parts(self) -> (B, B::Facts) {
        (self.buffers, self.facts)
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.buffers.len()
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.buffers.is_empty()
    }

    /// Every buffer cut at `mid`; both halves stay checked (equal lengths cut
    /// at one point stay equal).
    ///
    /// # Panics
    /// If `mid > len`.
    pub fn split_at(self, mid: usize) -> (Self, Self) {
        let (a, b) = self.buffers.split_at(mid);
        (Checked { buffers: a, facts: self.facts }, Checked { buffers: b, facts: self.facts })
    }
}

/// Checked buffers are buffers a driver can cut: every cut stays checked,
/// so pieces reach the kernel without another check.
impl<B: Check> KernelBuffers for Checked<B> {
    const ALGORITHM: &'static str = B::ALGORITHM;

    fn len(&self) -> usize {
        self.buffers.len()
    }

    fn length_mismatch(&self) -> Option<(&'static str, usize)> {
        None
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        Checked::split_at(self, mid)
    }

    fn anchor(&self) -> usize {
        self.buffers.anchor()
    }

    fn anchor_element_bytes(&self) -> usize {
        self.buffers.anchor_element_bytes()
    }

    fn split_granule(&self) -> usize {
        self.buffers.split_granule()
    }
}

impl<B: Reborrow> Checked<B> {
    /// A shorter-lived view of the same buffers, still checked.
    pub fn reborrow(&mut self) -> Checked<B::Short<'_>> {
        Checked { buffers: self.buffers.reborrow(), facts: self.facts }
    }
}

/// Buffers of unequal lengths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LengthMismatch {
    /// The algorithm's name.
    pub algorithm: &'static str,
    /// The first buffer whose length differs from the parameter's.
    pub buffer: &'static str,
    /// Its length.
    pub len: usize,
    /// The parameter's length.
    pub expected: usize,
}

impl fmt::Display for LengthMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let LengthMismatch { algorithm, buffer, len, expected } = self;
        write!(f, "{algorithm}: `{buffer}` has {len} elements, `param` has {expected}")
    }
}

impl std::error::Error for LengthMismatch {}

/// The seal of [`Reborrow`]: implemented, in `operands/mod.rs`, for this
/// crate's buffer sets only.
pub(crate) mod sealed {
    /// Only this crate's buffer sets.
    pub trait Sealed {}
}
