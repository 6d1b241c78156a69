//! The buffer sets the kernels take: one struct per algorithm, declared once.
//!
//! Every algorithm's step reads and writes a set of equally long slices: the
//! parameter (read and written), the gradient (read only), the state buffers
//! (read and written) and, for some options, an optional state buffer.
//! [`kernel_buffers!`] declares such a struct and gives it the methods every
//! caller needs (length, the first mismatched length, `split_at` for the
//! threaded driver, `reborrow` for multi-tensor calls), so those are written
//! once for every algorithm. [`KernelBuffers`] is the same surface as a trait,
//! for code generic over the algorithm (the root crate's driver).

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

    /// Panics, naming the buffer, if the lengths differ.
    fn assert_lengths(&self) {
        if let Some((name, len)) = self.length_mismatch() {
            panic!("{}: `{name}` has {len} elements, `param` has {}", Self::ALGORITHM, self.len());
        }
    }
}

/// One field's handling, by kind: `rw` (`&mut [T]`), `ro` (`&[T]`) or `opt`
/// (`Option<&mut [T]>`, absent when the option that needs it is off).
macro_rules! buffer_part {
    (type rw, $a:lifetime, $t:ty) => { &$a mut [$t] };
    (type ro, $a:lifetime, $t:ty) => { &$a [$t] };
    (type opt, $a:lifetime, $t:ty) => { Option<&$a mut [$t]> };
    (len rw, $e:expr, $n:expr) => { $e.len() };
    (len ro, $e:expr, $n:expr) => { $e.len() };
    (len opt, $e:expr, $n:expr) => { $e.as_ref().map_or($n, |s| s.len()) };
    (split rw, $e:expr, $mid:expr) => { $e.split_at_mut($mid) };
    (split ro, $e:expr, $mid:expr) => { $e.split_at($mid) };
    (split opt, $e:expr, $mid:expr) => {
        match $e {
            Some(s) => {
                let (a, b) = s.split_at_mut($mid);
                (Some(a), Some(b))
            }
            None => (None, None),
        }
    };
    (reborrow rw, $e:expr) => { &mut *$e };
    (reborrow ro, $e:expr) => { $e };
    (reborrow opt, $e:expr) => { $e.as_deref_mut() };
}

/// Declares an algorithm's buffer struct: `param` (read and written) and
/// `grad` (read) first, then the state buffers, each `rw` or `opt`.
macro_rules! kernel_buffers {
    (
        $(#[$meta:meta])*
        pub struct $name:ident for $algorithm:literal {
            $( $(#[$field_meta:meta])* $field:ident: $kind:ident, )*
        }
    ) => {
        $(#[$meta])*
        pub struct $name<'a, T> {
            /// Parameters θ, updated in place.
            pub param: &'a mut [T],
            /// Gradient g, read only.
            pub grad: &'a [T],
            $( $(#[$field_meta])* pub $field: $crate::buffers::buffer_part!(type $kind, 'a, T), )*
        }

        impl<'a, T> $name<'a, T> {
            /// Number of elements (the parameter's length).
            pub fn len(&self) -> usize {
                self.param.len()
            }

            /// True when there are no elements.
            pub fn is_empty(&self) -> bool {
                self.param.is_empty()
            }

            /// The first buffer whose length differs from the parameter's, with that length.
            pub fn length_mismatch(&self) -> Option<(&'static str, usize)> {
                let n = self.param.len();
                [("grad", self.grad.len()), $( (stringify!($field), $crate::buffers::buffer_part!(len $kind, self.$field, n)), )*]
                    .into_iter()
                    .find(|&(_, len)| len != n)
            }

            /// Splits every buffer at `mid` (which must be `<= len`): `[0, mid)` and `[mid, len)`.
            ///
            /// # Panics
            /// If `mid > len` (as `slice::split_at`).
            pub fn split_at(self, mid: usize) -> (Self, Self) {
                let param = self.param.split_at_mut(mid);
                let grad = self.grad.split_at(mid);
                $( let $field = $crate::buffers::buffer_part!(split $kind, self.$field, mid); )*
                (
                    $name { param: param.0, grad: grad.0, $( $field: $field.0, )* },
                    $name { param: param.1, grad: grad.1, $( $field: $field.1, )* },
                )
            }

            /// A shorter-lived view of the same buffers.
            pub fn reborrow(&mut self) -> $name<'_, T> {
                $name {
                    param: &mut *self.param,
                    grad: self.grad,
                    $( $field: $crate::buffers::buffer_part!(reborrow $kind, self.$field), )*
                }
            }
        }

        impl<T: core::fmt::Debug> core::fmt::Debug for $name<'_, T> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("param", &self.param)
                    .field("grad", &self.grad)
                    $( .field(stringify!($field), &self.$field) )*
                    .finish()
            }
        }

        impl<T> $crate::buffers::KernelBuffers for $name<'_, T> {
            const ALGORITHM: &'static str = $algorithm;
            fn len(&self) -> usize {
                self.param.len()
            }
            fn length_mismatch(&self) -> Option<(&'static str, usize)> {
                $name::length_mismatch(self)
            }
            fn split_at(self, mid: usize) -> (Self, Self) {
                $name::split_at(self, mid)
            }
            fn anchor(&self) -> usize {
                self.param.as_ptr() as usize
            }
            fn anchor_element_bytes(&self) -> usize {
                core::mem::size_of::<T>()
            }
        }
    };
}

/// The two public entry points of an algorithm: the dispatched tier, and a
/// forced tier behind an availability check. Both check lengths first.
macro_rules! entry_points {
    (
        $(#[$doc:meta])*
        $name:literal, $entry:ident, $forced:ident, $table_field:ident, $buffers:ident, $coefficients:ident
    ) => {
        #[doc = concat!("One ", $name, " step on the dispatched tier (the best this CPU has).")]
        ///
        /// # Panics
        /// If the buffers' lengths differ (checked before anything is written).
        $(#[$doc])*
        pub fn $entry<T: $crate::Float>(buffers: $buffers<'_, T>, coefficients: &$coefficients<T>) {
            $crate::buffers::KernelBuffers::assert_lengths(&buffers);
            // SAFETY: the dispatched table belongs to an available tier; lengths are equal.
            unsafe { ($crate::dispatch::dispatched::<T>().$table_field)(buffers, coefficients) }
        }

        #[doc = concat!("One ", $name, " step on a forced tier, or an error (and nothing written) if the CPU lacks it.")]
        ///
        /// # Panics
        /// If the buffers' lengths differ (checked before anything is written).
        pub fn $forced<T: $crate::Float>(
            tier: $crate::Tier,
            buffers: $buffers<'_, T>,
            coefficients: &$coefficients<T>,
        ) -> Result<(), $crate::TierUnavailable> {
            $crate::buffers::KernelBuffers::assert_lengths(&buffers);
            let kernels = $crate::dispatch::forced::<T>(tier)?;
            // SAFETY: `forced` only returns the table of an available tier; lengths are equal.
            unsafe { (kernels.$table_field)(buffers, coefficients) };
            Ok(())
        }
    };
}

pub(crate) use {buffer_part, entry_points, kernel_buffers};
