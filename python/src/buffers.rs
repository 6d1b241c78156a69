//! What a step's Python arguments are in memory: numpy arrays and CPU torch
//! tensors read as (address, element count, element type), checked before
//! any slice is made of them.
//!
//! A numpy array is read through numpy's C API (its fields, no Python call);
//! a torch tensor, which offers neither the buffer protocol nor
//! `__array_interface__`, through its own methods (`data_ptr()`, `numel()`,
//! `dtype`, `is_contiguous()`, `is_cpu`, `is_neg()`; `layout` and `device`
//! for the messages). Either must be
//! C-contiguous (a torch tensor: `is_contiguous()`), of a dtype the step
//! takes, and writeable where the step writes. `bf16` has no numpy type: a
//! `uint16` array (the bits, as `torch.Tensor.view(torch.uint16)` or
//! `ndarray.view(np.uint16)` gives them) or an `ml_dtypes.bfloat16` array.
//!
//! The references to the objects stay alive for the whole call (the
//! [`Buffer`] holds one), so no array is freed while the step runs without
//! the GIL; another Python thread that resizes a torch tensor's storage or
//! writes the same arrays during the step is outside the contract, as for
//! any extension that releases the GIL.

use fused_optim::foreign::{Span, SpanError};
use numpy::npyffi::{_PyArray_GET_ITEM_DATA, NPY_ARRAY_WRITEABLE, NPY_TYPES};
use numpy::{PyArrayDescrMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyList, PyTuple, PyType};

/// The element types a step stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Elem {
    F32,
    F64,
    Bf16,
    F16,
    /// The codes of 8-bit state (never a parameter or a gradient).
    U8,
}

impl Elem {
    /// Bytes of one element.
    pub(crate) fn bytes(self) -> usize {
        match self {
            Elem::F64 => 8,
            Elem::F32 => 4,
            Elem::Bf16 | Elem::F16 => 2,
            Elem::U8 => 1,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Elem::F32 => "float32",
            Elem::F64 => "float64",
            Elem::Bf16 => "bfloat16",
            Elem::F16 => "float16",
            Elem::U8 => "uint8",
        }
    }
}

/// One argument of a step: where its elements are, how many, which type.
pub(crate) struct Buffer<'py> {
    /// Keeps the array alive for the call.
    _object: Bound<'py, PyAny>,
    pub(crate) address: usize,
    pub(crate) len: usize,
    pub(crate) elem: Elem,
    pub(crate) writeable: bool,
}

impl Buffer<'_> {
    /// Its span, checked for an element of its type (`Span::of`).
    pub(crate) fn span(&self) -> Result<Span, SpanError> {
        match self.elem {
            Elem::F32 => Span::of(self.address as *const f32, self.len),
            Elem::F64 => Span::of(self.address as *const f64, self.len),
            Elem::Bf16 | Elem::F16 => Span::of(self.address as *const u16, self.len),
            Elem::U8 => Span::of(self.address as *const u8, self.len),
        }
    }
}

/// torch's types, looked up once torch is imported (never imported here:
/// an object can only be a tensor if the caller has imported torch).
struct Torch {
    /// `torch._C.TensorBase`, the base of every tensor type.
    tensor: Py<PyType>,
    strided: Py<PyAny>,
    dtypes: [(Py<PyAny>, Elem); 5],
}

static TORCH: PyOnceLock<Torch> = PyOnceLock::new();

fn torch(py: Python<'_>) -> PyResult<Option<&'static Torch>> {
    if let Some(t) = TORCH.get(py) {
        return Ok(Some(t));
    }
    let modules = py.import(intern!(py, "sys"))?.getattr(intern!(py, "modules"))?;
    let Ok(torch) = modules.get_item(intern!(py, "torch")) else { return Ok(None) };
    let get = |name: &str| torch.getattr(name).map(Bound::unbind);
    let t = Torch {
        tensor: torch.getattr("_C")?.getattr("TensorBase")?.cast_into::<PyType>()?.unbind(),
        strided: get("strided")?,
        dtypes: [
            (get("float32")?, Elem::F32),
            (get("float64")?, Elem::F64),
            (get("bfloat16")?, Elem::Bf16),
            (get("float16")?, Elem::F16),
            (get("uint8")?, Elem::U8),
        ],
    };
    let torch = TORCH.get_or_init(py, || t);
    // torch is here: with the automatic backend, steps move to its OpenMP team.
    crate::threads::follow_host();
    Ok(Some(torch))
}

/// `name`, or `name[i]` inside a list.
pub(crate) fn label(name: &str, index: Option<usize>) -> String {
    match index {
        Some(i) => format!("{name}[{i}]"),
        None => name.to_owned(),
    }
}

/// Reads one argument. `TypeError` for what is not a numpy array or a
/// tensor, for another dtype, for a CUDA, sparse or otherwise non-CPU
/// tensor; `ValueError` for a non-contiguous one.
pub(crate) fn buffer<'py>(
    object: &Bound<'py, PyAny>,
    name: &str,
    index: Option<usize>,
) -> PyResult<Buffer<'py>> {
    if let Ok(array) = object.cast::<PyUntypedArray>() {
        return numpy_buffer(array, name, index);
    }
    let py = object.py();
    if let Some(torch) = torch(py)? {
        // A subtype check on the type's MRO, not isinstance(): tensor
        // metaclasses answer __instancecheck__ in Python, which costs more
        // than the rest of the checks of a buffer.
        // SAFETY: both are live type objects (the object's own, held by it,
        // and TensorBase, held by `TORCH`); PyType_IsSubtype only reads them.
        let is_tensor = unsafe {
            pyo3::ffi::PyType_IsSubtype(pyo3::ffi::Py_TYPE(object.as_ptr()), torch.tensor.as_ptr().cast())
                != 0
        };
        if is_tensor {
            return tensor_buffer(object, torch, name, index);
        }
    }
    Err(PyTypeError::new_err(format!(
        "{}: expected a numpy array or a CPU torch tensor, got {}",
        label(name, index),
        object.get_type().name()?
    )))
}

fn numpy_buffer<'py>(
    array: &Bound<'py, PyUntypedArray>,
    name: &str,
    index: Option<usize>,
) -> PyResult<Buffer<'py>> {
    let dtype = array.dtype();
    let num = dtype.num();
    let elem = if num == NPY_TYPES::NPY_FLOAT as i32 {
        Some(Elem::F32)
    } else if num == NPY_TYPES::NPY_DOUBLE as i32 {
        Some(Elem::F64)
    } else if num == NPY_TYPES::NPY_HALF as i32 {
        Some(Elem::F16)
    } else if num == NPY_TYPES::NPY_USHORT as i32 {
        Some(Elem::Bf16)
    } else if num == NPY_TYPES::NPY_UBYTE as i32 {
        Some(Elem::U8)
    } else if num >= NPY_TYPES::NPY_USERDEF as i32 && dtype.itemsize() == 2 {
        // ml_dtypes registers bfloat16 as a user type.
        let type_name = dtype.typeobj().name()?;
        (type_name == "bfloat16").then_some(Elem::Bf16)
    } else {
        None
    };
    let Some(elem) = elem else {
        return Err(PyTypeError::new_err(format!(
            "{}: numpy dtype {} is not float32, float64, float16, bfloat16 (uint16 bits or ml_dtypes.bfloat16) or uint8 (8-bit state's codes)",
            label(name, index),
            dtype.str()?
        )));
    };
    if dtype.is_native_byteorder() == Some(false) {
        return Err(PyTypeError::new_err(format!(
            "{}: the array's byte order is not native",
            label(name, index)
        )));
    }
    if !array.is_c_contiguous() {
        return Err(PyValueError::new_err(format!("{}: the array is not C-contiguous", label(name, index))));
    }
    // SAFETY: `array` is a live numpy array (the cast above checked its type),
    // so numpy's accessor returns its field block; only `data` and `flags`
    // are read, under the GIL.
    let (data, flags) = unsafe {
        let fields = _PyArray_GET_ITEM_DATA(array.as_array_ptr().cast_const());
        ((*fields).data as usize, (*fields).flags)
    };
    Ok(Buffer {
        _object: array.clone().into_any(),
        address: data,
        len: array.len(),
        elem,
        writeable: flags & NPY_ARRAY_WRITEABLE != 0,
    })
}

fn tensor_buffer<'py>(
    tensor: &Bound<'py, PyAny>,
    torch: &Torch,
    name: &str,
    index: Option<usize>,
) -> PyResult<Buffer<'py>> {
    let py = tensor.py();
    let what = || label(name, index);
    let dtype = tensor.getattr(intern!(py, "dtype"))?;
    let Some(elem) = torch.dtypes.iter().find(|(d, _)| d.bind(py).is(&dtype)).map(|(_, e)| *e) else {
        return Err(PyTypeError::new_err(format!(
            "{}: tensor dtype {} is not torch.float32, float64, bfloat16, float16 or uint8 (8-bit state's codes)",
            what(),
            dtype.str()?
        )));
    };
    if !tensor.getattr(intern!(py, "is_cpu"))?.is_truthy()? {
        let device = tensor.getattr(intern!(py, "device"))?.str()?;
        return Err(PyTypeError::new_err(format!(
            "{}: the tensor is on {device}; fused_optim steps CPU tensors",
            what()
        )));
    }
    // A strided tensor answers is_contiguous(); a sparse one answers False
    // or raises: only then is the layout read (for the message).
    let contiguous = tensor.call_method0(intern!(py, "is_contiguous")).and_then(|c| c.is_truthy());
    if !matches!(contiguous, Ok(true)) {
        if !tensor.getattr(intern!(py, "layout"))?.is(torch.strided.bind(py)) {
            return Err(PyTypeError::new_err(format!(
                "{}: sparse tensors are not supported (the layout is not torch.strided)",
                what()
            )));
        }
        contiguous?;
        return Err(PyValueError::new_err(format!(
            "{}: the tensor is not contiguous (call .contiguous() on it)",
            what()
        )));
    }
    // A negative view (`_neg_view()`, what `imag` of a conjugate gives) has
    // its sign in a flag torch applies when it reads: its memory is not its
    // value. (A conjugate flag needs a complex dtype, refused above.)
    if tensor.call_method0(intern!(py, "is_neg"))?.is_truthy()? {
        return Err(PyValueError::new_err(format!(
            "{}: the tensor is a negative view (is_neg()): call .resolve_neg() on it",
            what()
        )));
    }
    Ok(Buffer {
        _object: tensor.clone(),
        address: tensor.call_method0(intern!(py, "data_ptr"))?.extract()?,
        len: tensor.call_method0(intern!(py, "numel"))?.extract()?,
        elem,
        writeable: true,
    })
}

/// One role's argument: a single array, or a list or tuple of them (the
/// multi-tensor form).
pub(crate) enum Arg<'py> {
    One(Bound<'py, PyAny>),
    Many(Vec<Bound<'py, PyAny>>),
}

impl<'py> Arg<'py> {
    pub(crate) fn new(object: &Bound<'py, PyAny>) -> Arg<'py> {
        if let Ok(list) = object.cast::<PyList>() {
            Arg::Many(list.iter().collect())
        } else if let Ok(tuple) = object.cast::<PyTuple>() {
            Arg::Many(tuple.iter().collect())
        } else {
            Arg::One(object.clone())
        }
    }

    fn count(&self) -> Option<usize> {
        match self {
            Arg::One(_) => None,
            Arg::Many(v) => Some(v.len()),
        }
    }

    /// The buffers of this role, checked against the parameter's form:
    /// a list where the parameter is a list, of the same length.
    pub(crate) fn buffers(&self, name: &str, form: Option<usize>) -> PyResult<Vec<Buffer<'py>>> {
        if self.count() != form {
            return Err(match (form, self.count()) {
                (Some(n), Some(m)) => {
                    PyValueError::new_err(format!("{name}: a list of {m}, but param is a list of {n}"))
                }
                (Some(_), None) => PyTypeError::new_err(format!("{name}: one array, but param is a list")),
                _ => PyTypeError::new_err(format!("{name}: a list, but param is one array")),
            });
        }
        match self {
            Arg::One(o) => Ok(vec![buffer(o, name, None)?]),
            Arg::Many(v) => v.iter().enumerate().map(|(i, o)| buffer(o, name, Some(i))).collect(),
        }
    }

    /// The multi-tensor form's length, or `None` for one array.
    pub(crate) fn form(&self) -> Option<usize> {
        self.count()
    }
}
