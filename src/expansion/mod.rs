//! Density and potential expansions producing coefficient arrays.
//!
//! Every calculator returns an [`Expansion`]: coefficients `c^a_nlm(i)` for every centre `i`
//! of every structure, as one array `(n_centres, n_species, n_max, (l_max+1)²)` with `lm`
//! stored at `l² + l + m`, plus the structure and atom index of each row.

pub(crate) mod gradients;
mod lode;
pub(crate) mod pair_gradients;
mod pairs;
mod soap;
mod species;

pub use gradients::{
    Backward, ExpansionGradients, GradientRequest, PairFactors, PairRows, PositionGradients,
    RowJacobian, DEFAULT_JACOBIAN_MEMORY,
};
pub use lode::cell_cache;
pub use lode::{Channels, EwaldSplit, LodeCalculator, LodeHypers, LodeRows, Method, Plan, Route};
pub use soap::{SoapCalculator, SoapHypers};
pub use species::SpeciesMap;

use ndarray::Array4;
#[cfg(test)]
use ndarray::{ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::neighbors::{NeighborList, Pair};
use crate::systems::{System, OVERLAP_DISTANCE};

/// Expansion coefficients of many centres in many structures.
#[derive(Debug, Clone)]
pub struct Expansion {
    /// `(n_centres, n_species, n_max, (l_max+1)²)`.
    pub values: Array4<f64>,
    /// Structure index of each centre.
    pub structure: Vec<i64>,
    /// Atom index (inside its structure) of each centre.
    pub center: Vec<i64>,
    /// Atomic number of each centre.
    pub center_species: Vec<i32>,
}

impl Expansion {
    /// An expansion of `systems` from its `values` and the rows made by [`centers_of`]; the
    /// species of every centre is read off its system.
    pub(crate) fn new(
        systems: &[System],
        values: Array4<f64>,
        structure: Vec<i64>,
        center: Vec<i64>,
    ) -> Expansion {
        let center_species = structure
            .iter()
            .zip(&center)
            .map(|(&s, &i)| systems[s as usize].numbers()[i as usize])
            .collect();
        Expansion {
            values,
            structure,
            center,
            center_species,
        }
    }
}

/// The rows of an expansion: (structure, atom) of every centre, structures in order.
pub(crate) fn centers_of(sizes: &[usize]) -> (Vec<i64>, Vec<i64>) {
    let total = sizes.iter().sum();
    let mut structure = Vec::with_capacity(total);
    let mut center = Vec::with_capacity(total);
    for (s, &n) in sizes.iter().enumerate() {
        for i in 0..n {
            structure.push(s as i64);
            center.push(i as i64);
        }
    }
    (structure, center)
}

/// The error for two atoms of a structure on top of each other (or an atom on its image).
pub(crate) fn overlap_error(p: &Pair, structure: usize) -> Error {
    if p.first == p.second {
        return Error::InvalidInput(format!(
            "structure {structure}: atom {} overlaps its own periodic image (shift {:?}, \
             distance {:.2e} Å < {OVERLAP_DISTANCE} Å): the cell is too small",
            p.first, p.shift, p.distance
        ));
    }
    Error::InvalidInput(format!(
        "structure {structure}: atoms {} and {} overlap (distance {:.2e} Å < {OVERLAP_DISTANCE} Å)",
        p.first, p.second, p.distance
    ))
}

/// Error when two atoms of a structure sit on top of each other (or an atom on its own image).
pub(crate) fn check_overlaps(list: &NeighborList, structure: usize) -> Result<()> {
    match list.pairs.iter().find(|p| p.distance < OVERLAP_DISTANCE) {
        Some(p) => Err(overlap_error(p, structure)),
        None => Ok(()),
    }
}

/// Validate the basis hyper-parameters shared by every expansion.
pub(crate) fn check_basis(cutoff: f64, smearing: f64, n_max: usize, l_max: usize) -> Result<()> {
    if !(cutoff.is_finite() && cutoff > 0.0) {
        crate::bail_param!("cutoff must be a positive finite number of Å, got {cutoff}");
    }
    if !(smearing.is_finite() && smearing > 0.0) {
        crate::bail_param!("smearing must be a positive finite number of Å, got {smearing}");
    }
    if n_max < 1 {
        crate::bail_param!("n_max must be at least 1, got {n_max}");
    }
    if n_max > MAX_N_MAX {
        crate::bail_param!("n_max = {n_max} is above the supported {MAX_N_MAX}");
    }
    if l_max > crate::math::spherical_harmonics::MAX_L {
        crate::bail_param!(
            "l_max = {l_max} is above the supported {}",
            crate::math::spherical_harmonics::MAX_L
        );
    }
    Ok(())
}

/// Largest number of radial functions (the GTO overlap becomes ill-conditioned beyond).
pub const MAX_N_MAX: usize = 16;

/// Default memory budget of an expansion (bytes): 4 GiB.
pub const DEFAULT_MAX_MEMORY: f64 = 4.0 * 1024.0 * 1024.0 * 1024.0;

/// Largest accepted `|center_weight|`: larger weights only drown the neighbours' density, and
/// invariants built from them (squares, products) would overflow.
pub const MAX_CENTER_WEIGHT: f64 = 1e6;

/// Validate a centre weight: finite and `|w| ≤` [`MAX_CENTER_WEIGHT`].
pub(crate) fn check_center_weight(weight: f64) -> Result<()> {
    if !(weight.is_finite() && weight.abs() <= MAX_CENTER_WEIGHT) {
        crate::bail_param!(
            "center_weight must be a finite number with |center_weight| <= {MAX_CENTER_WEIGHT:e}, \
             got {weight}"
        );
    }
    Ok(())
}

/// Bytes of an `(n_centres, n_channels, n_max, (l_max+1)²)` coefficient array (`inf` when the
/// element count overflows).
pub(crate) fn coefficient_bytes(shape: (usize, usize, usize, usize)) -> f64 {
    (shape.0 as f64) * (shape.1 as f64) * (shape.2 as f64) * (shape.3 as f64) * 8.0
}

/// A zero-filled `(n_centres, …)` coefficient array, zeroed by the worker threads.
///
/// The first touch of each page then happens in parallel (a serial `memset` of a large output
/// was a visible share of a batch's time), and the values are bitwise the same as `zeros`.
/// The memory is reserved with `try_reserve`: a failed allocation is an `InvalidParameter`
/// error (naming the size), never an abort.
pub(crate) fn parallel_zeros(shape: (usize, usize, usize, usize)) -> Result<Array4<f64>> {
    let too_large = || {
        Error::InvalidParameter(format!(
            "could not allocate the {:.2} GiB coefficient array of shape {shape:?}: compute \
             fewer structures at a time, or use a smaller basis (n_max, l_max) or fewer species",
            coefficient_bytes(shape) / 2f64.powi(30)
        ))
    };
    let len = [shape.1, shape.2, shape.3]
        .iter()
        .try_fold(shape.0, |n, &k| n.checked_mul(k))
        .filter(|&n| n <= isize::MAX as usize / 8)
        .ok_or_else(too_large)?;
    let mut data: Vec<f64> = Vec::new();
    data.try_reserve_exact(len).map_err(|_| too_large())?;
    data.spare_capacity_mut()[..len]
        .par_chunks_mut(1 << 14)
        .for_each(|chunk| {
            for x in chunk {
                x.write(0.0);
            }
        });
    // SAFETY: the first `len` elements were written just above, within the reserved capacity
    unsafe { data.set_len(len) };
    Ok(Array4::from_shape_vec(shape, data).expect("the length is the product of the shape"))
}

/// Add one source's contribution `factor · f_nl(d) · Y_lm(d̂)` to a centre's block of one
/// channel, `out` of shape `(n_max, (l_max+1)²)`; `radial` is `(n_max, l_max+1)`.
///
/// The one-pair-at-a-time form of the pair sum: the tests' reference for the batched
/// [`pairs::PairSum`], which reproduces it bitwise.
#[cfg(test)]
pub(crate) fn accumulate_pair(
    mut out: ArrayViewMut2<f64>,
    radial: ArrayView2<f64>,
    harmonics: &[f64],
    factor: f64,
) {
    let l_max = radial.ncols() - 1;
    for (n, mut row) in out.outer_iter_mut().enumerate() {
        let row = row.as_slice_mut().expect("coefficient rows are contiguous");
        for l in 0..=l_max {
            let f = factor * radial[[n, l]];
            let range = l * l..(l + 1) * (l + 1);
            for (c, y) in row[range.clone()].iter_mut().zip(&harmonics[range]) {
                *c += f * y;
            }
        }
    }
}
