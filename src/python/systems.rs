//! Converting Python-side structures into validated [`System`]s.
//!
//! The Python package hands every structure over as a tuple
//! `(positions: float64 (n, 3), numbers: int32 (n,), cell: float64 (3, 3), pbc: bool (3,))`.

use numpy::{PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

use super::errors::to_py;
use crate::error::{Error, Result};
use crate::systems::System;

/// The raw arrays of one structure, copied out of Python while the GIL is held.
pub struct RawSystem {
    positions: Vec<[f64; 3]>,
    numbers: Vec<i32>,
    cell: [[f64; 3]; 3],
    pbc: [bool; 3],
}

impl RawSystem {
    pub fn validate(self) -> Result<System> {
        System::new(self.positions, self.numbers, self.cell, self.pbc)
    }
}

type SystemTuple<'py> = (
    PyReadonlyArray2<'py, f64>,
    PyReadonlyArray1<'py, i32>,
    PyReadonlyArray2<'py, f64>,
    PyReadonlyArray1<'py, bool>,
);

/// Extract one `(positions, numbers, cell, pbc)` tuple.
pub fn extract_system(obj: &Bound<'_, PyAny>) -> PyResult<RawSystem> {
    let (positions, numbers, cell, pbc): SystemTuple = obj.extract()?;
    let positions = positions.as_array();
    let cell = cell.as_array();
    let pbc = pbc.as_array();
    if positions.ncols() != 3 || cell.shape() != [3, 3] || pbc.len() != 3 {
        return Err(super::errors::to_py(Error::InvalidInput(format!(
            "expected positions (n, 3), cell (3, 3), pbc (3,); got {:?}, {:?}, {:?}",
            positions.shape(),
            cell.shape(),
            pbc.shape()
        ))));
    }
    Ok(RawSystem {
        positions: positions
            .rows()
            .into_iter()
            .map(|r| [r[0], r[1], r[2]])
            .collect(),
        numbers: numbers.as_array().to_vec(),
        cell: [
            [cell[[0, 0]], cell[[0, 1]], cell[[0, 2]]],
            [cell[[1, 0]], cell[[1, 1]], cell[[1, 2]]],
            [cell[[2, 0]], cell[[2, 1]], cell[[2, 2]]],
        ],
        pbc: [pbc[0], pbc[1], pbc[2]],
    })
}

/// Extract a list of structure tuples.
pub fn extract_systems(list: &Bound<'_, PyAny>) -> PyResult<Vec<RawSystem>> {
    list.try_iter()?
        .map(|item| extract_system(&item?))
        .collect()
}

/// Validate raw systems (in parallel is not worth it: validation is O(N)).
pub fn validate_all(raw: Vec<RawSystem>) -> Result<Vec<System>> {
    raw.into_iter()
        .enumerate()
        .map(|(i, r)| {
            r.validate().map_err(|e| match e {
                Error::InvalidInput(m) => Error::InvalidInput(format!("structure {i}: {m}")),
                other => other,
            })
        })
        .collect()
}

/// One charge array per structure, copied out of Python: any float64 array whose elements are
/// the per-atom charges (a non-1D array is refused, naming the structure). Counts and values
/// are checked by the core ([`crate::systems::check_charges`]), not here.
pub fn extract_charges(list: Vec<PyReadonlyArrayDyn<'_, f64>>) -> PyResult<Vec<Vec<f64>>> {
    list.iter()
        .enumerate()
        .map(|(s, q)| {
            if q.ndim() != 1 {
                return Err(to_py(Error::InvalidInput(format!(
                    "structure {s}: charges must be a 1D array (one per atom), got shape {:?}",
                    q.shape()
                ))));
            }
            Ok(q.as_array().iter().copied().collect())
        })
        .collect()
}
