//! Gradients of expansions: the request, the Jacobian blocks and the backward-pass result,
//! shared by every calculator.
//!
//! Conventions (docs/gradients.md):
//! - positions: `∂c_i/∂r_j` for every centre row `i` and atom `j` of the same structure (the
//!   centre included); forces of an energy are `F_j = −∂E/∂r_j`;
//! - strain: a homogeneous deformation `x → (1 + ε) x` of every position and cell vector,
//!   `∂c/∂ε_αβ` at `ε = 0`; the stress of an energy is `σ = (1/V) ∂E/∂ε` (ASE's sign). Only
//!   for periodic structures.
//!
//! Jacobian layout (featomic's): positions `values (n_samples, 3, n_species, n_max, n_lm)` with
//! `samples (n_samples, 3)` = `(row, structure, atom)`, sorted by row then atom; strain
//! `(n_rows, 3, 3, n_species, n_max, n_lm)`.

use ndarray::{Array2, Array5, Array6, ArrayView4};

pub use super::pair_gradients::PairFactors;
use crate::error::{Error, Result};
use crate::systems::{Mat3, System};

/// Default memory budget (bytes) of a Jacobian: 4 GiB.
pub const DEFAULT_JACOBIAN_MEMORY: f64 = 4.0 * 1024.0 * 1024.0 * 1024.0;

/// Which Jacobians to compute, and the memory they may take.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradientRequest {
    /// `∂c/∂r_j`.
    pub positions: bool,
    /// `∂c/∂ε` (periodic structures only).
    pub strain: bool,
    /// Largest size (bytes) of the Jacobian arrays together.
    pub max_memory: f64,
}

impl GradientRequest {
    /// The request for gradient `names` (`"positions"`, `"strain"`); errors
    /// (`InvalidParameter`) for an unknown or repeated name or a `max_memory` that is not a
    /// positive number.
    pub fn from_names<S: AsRef<str>>(names: &[S], max_memory: f64) -> Result<GradientRequest> {
        let mut request = GradientRequest {
            positions: false,
            strain: false,
            max_memory,
        };
        for name in names {
            let flag = match name.as_ref() {
                "positions" => &mut request.positions,
                "strain" => &mut request.strain,
                other => crate::bail_param!(
                    "unknown gradient {other:?}: the gradients are \"positions\" and \"strain\""
                ),
            };
            if *flag {
                crate::bail_param!("gradient {:?} requested twice", name.as_ref());
            }
            *flag = true;
        }
        if !(max_memory.is_finite() && max_memory > 0.0) {
            crate::bail_param!("max_memory must be a positive number of bytes, got {max_memory}");
        }
        Ok(request)
    }

    /// Error unless every structure is periodic when strain gradients are requested.
    pub(crate) fn check_systems(&self, systems: &[System]) -> Result<()> {
        if self.strain {
            check_periodic(systems)?;
        }
        Ok(())
    }

    /// Error (`InvalidParameter`) when `bytes` of Jacobian exceed the budget: says the size and
    /// points to the backward pass.
    pub(crate) fn check_memory(&self, bytes: f64) -> Result<()> {
        if bytes > self.max_memory {
            crate::bail_param!(
                "the requested Jacobian would take {:.2} GiB, above max_memory = {:.2} GiB: \
                 compute fewer structures at a time, raise max_memory, or get forces and \
                 stress of a scalar (e.g. an energy) from the backward pass instead, which \
                 never forms the Jacobian",
                bytes / 1073741824.0,
                self.max_memory / 1073741824.0
            );
        }
        Ok(())
    }
}

/// Error (`InvalidInput`) naming the first structure that is not periodic: strain gradients
/// need a cell.
pub(crate) fn check_periodic(systems: &[System]) -> Result<()> {
    if let Some(s) = systems.iter().position(|s| !s.cell().is_periodic()) {
        return Err(Error::InvalidInput(format!(
            "structure {s} is not periodic (pbc all False): strain gradients need a cell; ask \
             finite systems for \"positions\" gradients only"
        )));
    }
    Ok(())
}

/// An expansion's Jacobian produced one centre row at a time, so that invariants can contract
/// it row by row without storing it (and the expansion's own Jacobian is assembled from the
/// same rows: `assemble`). Rows are the values' rows, structures in order.
pub trait RowJacobian: Sync {
    /// Number of rows (centres).
    fn n_rows(&self) -> usize;
    /// `(structure, atom)` of a row's centre.
    fn center(&self, row: usize) -> (usize, usize);
    /// `(n_species, n_max, n_lm)` of one row of values.
    fn block_shape(&self) -> [usize; 3];
    /// The atoms (of the row's structure, sorted, the centre included) whose displacement may
    /// change the row, into `atoms`.
    fn samples(&self, row: usize, atoms: &mut Vec<usize>) -> Result<()>;
    /// Add the row's Jacobian into zeroed buffers: `positions` `(atoms.len(), 3, block)` for
    /// `atoms`, a sorted superset of [`samples`](Self::samples), and `strain` `(3, 3, block)`.
    fn jacobian(
        &self,
        row: usize,
        atoms: &[usize],
        positions: Option<&mut [f64]>,
        strain: Option<&mut [f64]>,
    ) -> Result<()>;
    /// Bytes of the tables that [`prepare`](Self::prepare) keeps while one structure's rows
    /// are made (counted against `max_memory` with the Jacobian). Default: none.
    fn scratch_memory(&self, _request: &GradientRequest) -> f64 {
        0.0
    }
    /// Whether the rows of a structure share tables: then `for_each_structure` makes them
    /// ([`prepare`](Self::prepare)) before the structure's rows and frees them
    /// ([`release`](Self::release)) after. Default: no.
    fn shares_tables(&self, _request: &GradientRequest) -> bool {
        false
    }
    /// Make the tables that the rows of `structure` share (in parallel inside).
    fn prepare(&self, _structure: usize, _request: &GradientRequest) -> Result<()> {
        Ok(())
    }
    /// Free the tables of `structure`.
    fn release(&self, _structure: usize) {}
    /// The same rows as sums over pairs ([`PairRows`]) when they are (SOAP), so that an
    /// invariant can contract the pair derivatives without forming the coefficient Jacobian.
    /// Default: `None`.
    fn pair_rows(&self) -> Option<&dyn PairRows> {
        None
    }
}

/// Rows of a Jacobian that are sums over pairs (docs/gradients.md):
/// `∂c_i/∂r_j = Σ_{p→j} ∂T_p/∂r_p` for every atom `j ≠ i` and `∂c_i/∂r_i = −Σ_p ∂T_p/∂r_p`,
/// `∂c_i/∂ε_αβ = Σ_p (∂T_p/∂r_α) r_β`, each `∂T_p/∂r` given in factored form
/// ([`PairFactors`]: one channel, radial factors times harmonics).
pub trait PairRows: Sync {
    /// Visit the pairs of `row` that have a gradient, sorted by atom (`target`: the atom
    /// index, as in [`RowJacobian::samples`], which holds exactly these atoms and the centre).
    fn visit_pairs(&self, row: usize, visit: &mut dyn FnMut(&PairFactors<'_>)) -> Result<()>;
}

/// Run `work` on every row: on `0..n_rows` at once, or, when one of `jacobians` (row
/// Jacobians of the same rows) shares tables between a structure's rows, structure by
/// structure (each structure's rows are consecutive), with the tables made before and freed
/// after.
pub(crate) fn for_each_structure(
    jacobians: &[&dyn RowJacobian],
    request: &GradientRequest,
    mut work: impl FnMut(std::ops::Range<usize>) -> Result<()>,
) -> Result<()> {
    let Some(first) = jacobians.first() else {
        return Ok(());
    };
    let n_rows = first.n_rows();
    if !jacobians.iter().any(|j| j.shares_tables(request)) {
        return work(0..n_rows);
    }
    let mut start = 0;
    while start < n_rows {
        let structure = first.center(start).0;
        let mut end = start + 1;
        while end < n_rows && first.center(end).0 == structure {
            end += 1;
        }
        for j in jacobians {
            j.prepare(structure, request)?;
        }
        let done = work(start..end);
        for j in jacobians {
            j.release(structure);
        }
        done?;
        start = end;
    }
    Ok(())
}

/// The `(n_samples, 3)` labels `(row, structure, atom)` of the positions Jacobian whose rows
/// have the atoms `samples[row]`, row by row; `structure(row)` is the row's structure.
pub(crate) fn sample_labels(
    samples: &[Vec<usize>],
    n_samples: usize,
    structure: impl Fn(usize) -> usize,
) -> Array2<i64> {
    let mut array = Array2::zeros((n_samples, 3));
    let mut k = 0;
    for (row, atoms) in samples.iter().enumerate() {
        let s = structure(row);
        for &atom in atoms {
            array[[k, 0]] = row as i64;
            array[[k, 1]] = s as i64;
            array[[k, 2]] = atom as i64;
            k += 1;
        }
    }
    array
}

/// The Jacobians of `rows` in the layout of [`ExpansionGradients`], rows in parallel (each row
/// written by one task: independent of the number of threads); the memory budget is checked
/// before anything large is allocated.
pub(crate) fn assemble(
    rows: &dyn RowJacobian,
    request: &GradientRequest,
) -> Result<ExpansionGradients> {
    use rayon::prelude::*;
    let n_rows = rows.n_rows();
    let [n_species, n_max, n_lm] = rows.block_shape();
    let block = n_species * n_max * n_lm;
    let samples: Vec<Vec<usize>> = (0..n_rows)
        .into_par_iter()
        .map(|row| {
            crate::threads::check_cancelled()?;
            let mut atoms = Vec::new();
            if request.positions {
                rows.samples(row, &mut atoms)?;
            }
            Ok(atoms)
        })
        .collect::<Result<_>>()?;
    let n_samples: usize = samples.iter().map(Vec::len).sum();
    let strain_rows = if request.strain { n_rows } else { 0 };
    request.check_memory(
        8.0 * block as f64 * (3.0 * n_samples as f64 + 9.0 * strain_rows as f64)
            + rows.scratch_memory(request),
    )?;

    // buffers of earlier outputs where there is one (fresh pages cost their first touch):
    // each row zeroes its own slice before adding into it
    let mut positions = Array5::from_shape_vec(
        (n_samples, 3, n_species, n_max, n_lm),
        crate::memory::reusable(n_samples * 3 * block),
    )
    .expect("sized for the shape");
    let mut strain = Array6::from_shape_vec(
        (strain_rows, 3, 3, n_species, n_max, n_lm),
        crate::memory::reusable(strain_rows * 9 * block),
    )
    .expect("sized for the shape");
    let mut rest = positions
        .as_slice_mut()
        .expect("fresh arrays are contiguous");
    let mut position_rows: Vec<&mut [f64]> = Vec::with_capacity(n_rows);
    for atoms in &samples {
        let (head, tail) = rest.split_at_mut(atoms.len() * 3 * block);
        position_rows.push(head);
        rest = tail;
    }
    let mut strain_slices: Vec<Option<&mut [f64]>> = if request.strain {
        strain
            .as_slice_mut()
            .expect("fresh arrays are contiguous")
            .chunks_exact_mut(9 * block)
            .map(Some)
            .collect()
    } else {
        (0..n_rows).map(|_| None).collect()
    };
    for_each_structure(&[rows], request, |range| {
        position_rows[range.clone()]
            .par_iter_mut()
            .zip(strain_slices[range.clone()].par_iter_mut())
            .enumerate()
            .try_for_each(|(k, (p, s))| {
                let row = range.start + k;
                // Ctrl-C between rows (SOAP rows do not check on their own)
                crate::threads::check_cancelled()?;
                p.fill(0.0);
                if let Some(s) = s.as_deref_mut() {
                    s.fill(0.0);
                }
                let p = request.positions.then_some(&mut **p);
                rows.jacobian(row, &samples[row], p, s.as_deref_mut())
            })
    })?;
    drop(position_rows);
    drop(strain_slices);
    let positions = request.positions.then(|| {
        let array = sample_labels(&samples, n_samples, |row| rows.center(row).0);
        PositionGradients {
            samples: array,
            values: positions,
        }
    });
    Ok(ExpansionGradients {
        positions,
        strain: request.strain.then_some(strain),
    })
}

/// The positions Jacobian of an expansion.
#[derive(Debug, Clone)]
pub struct PositionGradients {
    /// `(n_samples, 3)`: `(row, structure, atom)`, sorted by row then atom.
    pub samples: Array2<i64>,
    /// `(n_samples, 3, n_species, n_max, (l_max+1)²)`: `∂c_row/∂r_atom,α`.
    pub values: Array5<f64>,
}

/// Jacobians of an expansion, those requested.
#[derive(Debug, Clone, Default)]
pub struct ExpansionGradients {
    pub positions: Option<PositionGradients>,
    /// `(n_rows, 3, 3, n_species, n_max, (l_max+1)²)`: `∂c_row/∂ε_αβ`.
    pub strain: Option<Array6<f64>>,
}

/// The result of a backward pass (vector–Jacobian product) for a cotangent `g`:
/// `∂(Σ g·c)/∂r` per structure, and `∂(Σ g·c)/∂ε` for the periodic ones.
#[derive(Debug, Clone)]
pub struct Backward {
    /// One `(n_atoms, 3)` array per structure.
    pub positions: Vec<Array2<f64>>,
    /// One `3×3` matrix per structure, `None` for finite structures.
    pub strain: Vec<Option<Mat3>>,
}

impl Backward {
    /// Split flat per-atom gradients (all structures' atoms in order) and per-structure
    /// virials into a result.
    pub(crate) fn from_flat(systems: &[System], forces: &[[f64; 3]], virials: Vec<Mat3>) -> Self {
        let mut positions = Vec::with_capacity(systems.len());
        let mut start = 0;
        for system in systems {
            let n = system.size();
            let mut block = Array2::zeros((n, 3));
            for (i, f) in forces[start..start + n].iter().enumerate() {
                for alpha in 0..3 {
                    block[[i, alpha]] = f[alpha];
                }
            }
            positions.push(block);
            start += n;
        }
        let strain = systems
            .iter()
            .zip(virials)
            .map(|(system, v)| system.cell().is_periodic().then_some(v))
            .collect();
        Backward { positions, strain }
    }

    /// Add another result of the same structures (e.g. the two expansions of a mixed
    /// invariant).
    pub fn add(&mut self, other: &Backward) {
        for (a, b) in self.positions.iter_mut().zip(&other.positions) {
            *a += b;
        }
        for (a, b) in self.strain.iter_mut().zip(&other.strain) {
            if let (Some(a), Some(b)) = (a.as_mut(), b) {
                for alpha in 0..3 {
                    for beta in 0..3 {
                        a[alpha][beta] += b[alpha][beta];
                    }
                }
            }
        }
    }
}

/// Error (`InvalidInput`) unless `cotangent` has the shape of the values.
pub(crate) fn check_cotangent(cotangent: &ArrayView4<f64>, shape: [usize; 4]) -> Result<()> {
    if cotangent.shape() != shape {
        crate::bail_input!(
            "the cotangent must have the shape of the values {shape:?}, got {:?}",
            cotangent.shape()
        );
    }
    if cotangent.iter().any(|v| !v.is_finite()) {
        crate::bail_input!("the cotangent contains NaN or infinite values");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_from_names() {
        let r = GradientRequest::from_names(&["strain", "positions"], 1e9).unwrap();
        assert!(r.positions && r.strain);
        let r = GradientRequest::from_names::<&str>(&[], 1e9).unwrap();
        assert!(!r.positions && !r.strain);
        let e = GradientRequest::from_names(&["cell"], 1e9).unwrap_err();
        assert!(e.to_string().contains("unknown gradient \"cell\""), "{e}");
        assert!(GradientRequest::from_names(&["positions", "positions"], 1e9).is_err());
        assert!(GradientRequest::from_names(&["positions"], -1.0).is_err());
        let e = r.check_memory(2e9).unwrap_err().to_string();
        assert!(e.contains("backward pass") && e.contains("1.86 GiB"), "{e}");
    }
}
