//! Hyper-parameter structs from Python keyword arguments and back to a dict, for any struct
//! declared with [`crate::hypers!`]: the binding never lists a struct's fields.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyString};

use super::errors::to_py;
use crate::hypers::{FieldError, Hypers, Value};

/// Build `H` from keyword arguments: fields not given keep their default; unknown names, missing
/// required fields and values of the wrong type raise `TypeError`, unrepresentable values
/// (`n_max=-1`) `InvalidParameterError`. Each message names the parameter; `owner` names the
/// struct for them (`"LODE"`, `"SOAP"`).
pub fn from_kwargs<H: Hypers>(owner: &str, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<H> {
    let mut hypers = H::default();
    let mut given = Vec::new();
    for (key, object) in kwargs.into_iter().flatten() {
        let name: String = key.extract()?;
        let shown = || {
            format!(
                "{name}={}",
                object.repr().map_or("?".into(), |r| r.to_string())
            )
        };
        if object.is_instance_of::<PyInt>() && object.extract::<i64>().is_err() {
            // an int beyond 64 bits: out of every integer hyper-parameter's range, not a float
            return Err(to_py(crate::Error::InvalidParameter(format!(
                "{}: out of range (integer hyper-parameters fit in 64 bits)",
                shown()
            ))));
        }
        let result = match value_of(&object) {
            Some(value) => hypers.set(&name, &value),
            None if H::NAMES.contains(&name.as_str()) => Err(FieldError::WrongType("")),
            None => Err(FieldError::Unknown),
        };
        match result {
            Ok(()) => given.push(name),
            Err(FieldError::Unknown) => {
                return Err(PyTypeError::new_err(format!(
                "unknown {owner} hyper-parameter '{name}'; the {owner} hyper-parameters are: {}",
                H::NAMES.join(", ")
            )))
            }
            Err(FieldError::WrongType(expected)) => {
                let expected = if expected.is_empty() {
                    String::new()
                } else {
                    format!(": expected {expected}")
                };
                return Err(PyTypeError::new_err(format!(
                    "wrong type for the {owner} hyper-parameter {}{expected}",
                    shown()
                )));
            }
            Err(FieldError::Invalid(error)) => {
                let message = match error {
                    crate::Error::InvalidParameter(m) => {
                        crate::Error::InvalidParameter(format!("{}: {m}", shown()))
                    }
                    other => other,
                };
                return Err(to_py(message));
            }
        }
    }
    let missing: Vec<&str> = H::REQUIRED
        .iter()
        .copied()
        .filter(|r| !given.iter().any(|g| g == r))
        .collect();
    if !missing.is_empty() {
        return Err(PyTypeError::new_err(format!(
            "missing required {owner} hyper-parameter(s): {}",
            missing.join(", ")
        )));
    }
    Ok(hypers)
}

/// A Python object as a [`Value`] (`None` if it is none of None, bool, int, float, str).
fn value_of(object: &Bound<'_, PyAny>) -> Option<Value> {
    if object.is_none() {
        Some(Value::None)
    } else if let Ok(b) = object.cast::<PyBool>() {
        Some(Value::Bool(b.is_true()))
    } else if object.is_instance_of::<PyFloat>() {
        object.extract::<f64>().ok().map(Value::Float)
    } else if let Ok(s) = object.cast::<PyString>() {
        s.to_str().ok().map(|s| Value::Str(s.into()))
    } else if let Ok(i) = object.extract::<i64>() {
        // Python ints and anything with `__index__` (NumPy integers)
        Some(Value::Int(i))
    } else {
        // anything with `__float__` (NumPy floating scalars)
        object.extract::<f64>().ok().map(Value::Float)
    }
}

/// Every field of `hypers` as a dict (None, int, float or str values: JSON-serialisable).
pub fn to_dict<'py, H: Hypers>(py: Python<'py>, hypers: &H) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (name, value) in hypers.values() {
        match value {
            Value::None => dict.set_item(name, py.None())?,
            Value::Bool(b) => dict.set_item(name, b)?,
            Value::Int(i) => dict.set_item(name, i)?,
            Value::Float(x) => dict.set_item(name, x)?,
            Value::Str(s) => dict.set_item(name, s)?,
        }
    }
    Ok(dict)
}

/// One field: `(name, doc, default, required)`.
pub type FieldInfo = (String, String, Py<PyAny>, bool);

/// Every field as `(name, doc, default, required)`: the doc is the Rust doc comment on one line.
pub fn fields<H: Hypers>(py: Python<'_>) -> PyResult<Vec<FieldInfo>> {
    let defaults = to_dict(py, &H::default())?;
    H::NAMES
        .iter()
        .zip(H::DOCS)
        .map(|(name, doc)| {
            let text: Vec<&str> = doc.lines().map(str::trim).collect();
            let default = defaults
                .get_item(name)?
                .map_or_else(|| py.None(), Bound::unbind);
            Ok((
                name.to_string(),
                text.join(" ").trim().to_string(),
                default,
                H::REQUIRED.contains(name),
            ))
        })
        .collect()
}
