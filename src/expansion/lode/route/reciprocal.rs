//! The reciprocal route (`docs/math.md` §3b, §8.2; `k = 0` convention §6): for a fully periodic structure,
//!
//! `c^a_nlm(i) = (4π/V) Σ_{k half, 0<|k|<k_c} ĝ(k) Ĩ_nl(k) Y_lm(k̂) φ_l F^a_l(i, k)`,
//!
//! with `φ_l = (−1)^{l/2}` (even l), `(−1)^{(l+1)/2}` (odd l) and `F` the cos/sin sums of
//! [`crate::kspace::reciprocal_sum`], plus the `k = 0` term of
//! [`super::super::constant_terms::add_k0_term`]. `ĝ` is the Fourier transform of the smeared
//! power law (width σ here, η for the Ewald and mesh long range, which reuse [`KspaceSum`]).
//! The basis is [`LodeBasis`]; the engine is the dense contraction or the sum by shells,
//! whichever [`KspaceSum::cost_per_k`] says is cheaper for the cell.
//!
//! Gradients (positions and strain, `docs/math.md` §13): Jacobian rows by the dense engine
//! ([`crate::kspace::DenseJacobian`], whichever engine the values used), the backward pass by
//! the values' engine ([`crate::kspace::dense_backward`], [`crate::kspace::shell_backward`]:
//! [`KspaceSum::backward`]); the `k = 0` term (`∝ 1/V`) adds `−δ_ab` times itself to the
//! strain, the centre term (a constant) nothing.

use std::sync::{Arc, OnceLock};

use ndarray::{Array2, Array3, ArrayView3};

use super::super::calculator::Common;
use super::super::cell_cache::{CellCache, KspaceCell};
use super::super::constant_terms::{
    add_k0_term, add_volume_term_strain_backward, add_volume_term_strain_row, k0_term,
};
use super::super::kbasis::LodeBasis;
use super::super::real_space::AtomChannels;
use super::LodeRoute;
use crate::cost::{DENSE_PER_K, KSPACE_VECTOR_CENTRES, SHELL_MULTIPLY_ADD, SHELL_PER_K};
use crate::error::Result;
use crate::kspace::{
    dense_backward, dense_sum, k_vectors, shell_backward, shell_sum, symmetry_degeneracy,
    DenseJacobian, Sources,
};
use crate::math::power_law::PowerLaw;
use crate::math::spherical_harmonics::SphericalHarmonics;
use crate::radial::RadialIntegral;
use crate::systems::{Cell, Mat3, System, Vec3};

/// Bytes per stored k-vector besides its per-channel and angular values: indices, vector and
/// norm in the original and the sorted order, the permutation and the table offsets.
const BYTES_PER_K: f64 = 136.0;

/// The k-space sum of one kernel: everything it needs that does not depend on the structure.
pub(in crate::expansion::lode) struct KspaceSum<'a> {
    pub kernel: PowerLaw,
    /// `Ĩ_nl(k)`, valid at least up to the largest k_cutoff used.
    pub radial: &'a dyn RadialIntegral,
    pub harmonics: &'a SphericalHarmonics,
    pub n_max: usize,
    pub l_max: usize,
    /// The calculator's per-cell cache of k-vectors (`None`: built on every call).
    pub cells: Option<&'a CellCache>,
}

impl KspaceSum<'_> {
    pub fn n_lm(&self) -> usize {
        (self.l_max + 1) * (self.l_max + 1)
    }

    /// The basis of a cell of volume `volume` in the engines' shape.
    pub fn separable(&self, volume: f64) -> LodeBasis<'_> {
        LodeBasis::new(self.kernel, self.radial, self.harmonics, volume)
    }

    /// The k-vectors of `cell` below `k_cutoff` (and their shells), from the calculator's
    /// cell cache when there is one.
    pub fn kvectors(&self, cell: &Cell, k_cutoff: f64) -> Result<Arc<KspaceCell>> {
        match self.cells {
            Some(cells) => cells.kspace(cell, k_cutoff),
            None => CellCache::default().kspace(cell, k_cutoff),
        }
    }

    /// Estimated cost per (centre, k-vector) of the k-space sum with `n_channels` channels and
    /// `degeneracy` k-vectors per shell on average, in units of one multiply-add of the dense
    /// GEMM, and whether the shell route is the cheaper: dense `2 n_channels n_cols + 20`,
    /// shells `2 n_channels (n_lm + n_cols / degeneracy) · 2 + 60` ([`crate::cost`]).
    pub fn cost_per_k(&self, n_channels: usize, degeneracy: f64) -> (f64, bool) {
        let channels = n_channels as f64;
        let n_cols = (self.n_max * self.n_lm()) as f64;
        let dense = 2.0 * channels * n_cols + DENSE_PER_K;
        let shells = 2.0
            * channels
            * (self.n_lm() as f64 + n_cols / degeneracy.max(1.0))
            * SHELL_MULTIPLY_ADD
            + SHELL_PER_K;
        (dense.min(shells), shells < dense)
    }

    /// Coefficients `(n_centres, n_channels, n_max·n_lm)` of the reciprocal sum below
    /// `k_cutoff`, centres = all atoms of `system`, `k = 0` term included.
    ///
    /// The basis is separable (`Ĩ_nl(|k|)` times `Y_lm(k̂)`): when the k-vectors fall into shells
    /// of equal norm with enough vectors each on average that it is cheaper
    /// ([`Self::cost_per_k`]; cubic, tetragonal, orthorhombic cells), [`shell_sum`] applies the
    /// radial factor once per shell; otherwise [`dense_sum`] contracts the full basis as dense
    /// products.
    pub fn compute(
        &self,
        system: &System,
        sources: &Sources<'_>,
        k_cutoff: f64,
    ) -> Result<Array3<f64>> {
        let prepared = self.kvectors(system.cell(), k_cutoff)?;
        let (kv, shells) = (&prepared.kvectors, prepared.shells());
        let (_, use_shells) = self.cost_per_k(sources.n_channels(), shells.degeneracy());
        let basis = self.separable(system.cell().volume());
        let mut out = if use_shells {
            shell_sum(system.positions(), sources, shells, &basis)?
        } else {
            dense_sum(system.positions(), sources, kv, &basis)?
        };
        add_k0_term(
            &mut out,
            &self.kernel,
            self.radial,
            sources,
            system.cell().volume(),
        );
        Ok(out)
    }
}

impl KspaceSum<'_> {
    /// Backward pass of [`Self::compute`] (the same engine: shells or dense): for a cotangent
    /// `(N, n_channels, n_max·n_lm)`, `∂(Σ g·c)/∂r_j` of every atom and, when `strain`,
    /// `∂(Σ g·c)/∂ε`, the `k = 0` term's `−δ_ab` share included (`docs/math.md` §13).
    pub fn backward(
        &self,
        system: &System,
        sources: &Sources<'_>,
        k_cutoff: f64,
        cotangent: ArrayView3<f64>,
        strain: bool,
    ) -> Result<(Vec<Vec3>, Option<Mat3>)> {
        let prepared = self.kvectors(system.cell(), k_cutoff)?;
        let (kv, shells) = (&prepared.kvectors, prepared.shells());
        let (_, use_shells) = self.cost_per_k(sources.n_channels(), shells.degeneracy());
        let volume = system.cell().volume();
        let basis = self.separable(volume);
        let (forces, mut virial) = if use_shells {
            shell_backward(sources, shells, &basis, cotangent, strain)
        } else {
            dense_backward(sources, kv, &basis, cotangent, strain)
        };
        if let (Some(virial), Some(term)) = (
            virial.as_mut(),
            k0_term(&self.kernel, self.radial, sources, volume),
        ) {
            add_volume_term_strain_backward(virial, cotangent, &term, self.n_lm());
        }
        Ok((forces, virial))
    }
}

/// Number of k-vectors of a cell below `k_cutoff` (the count `k_vectors` would produce,
/// estimated from the volume of the sphere).
pub(in crate::expansion::lode) fn estimated_k_count(volume: f64, k_cutoff: f64) -> f64 {
    volume * k_cutoff.powi(3) / (12.0 * std::f64::consts::PI.powi(2))
}

/// Estimated cost per (centre, k-vector) of the k-space sum for `system` with `n_channels`
/// channels, with the degeneracy expected from the cell's symmetry.
pub(in crate::expansion::lode) fn cost_per_k(
    common: &Common,
    system: &System,
    n_channels: usize,
) -> f64 {
    let degeneracy = symmetry_degeneracy(system.cell());
    common
        .kspace(&common.kernel)
        .cost_per_k(n_channels, degeneracy)
        .0
}

/// Estimated cost of the k-space sum below `k_cutoff` over `n` centres, `per_k` per (centre,
/// k-vector): `N_k · max(n, KSPACE_VECTOR_CENTRES) · per_k` (the work per k-vector that does
/// not depend on the centres, [`KSPACE_VECTOR_CENTRES`]).
pub(in crate::expansion::lode) fn kspace_cost(
    n: f64,
    volume: f64,
    k_cutoff: f64,
    per_k: f64,
) -> f64 {
    estimated_k_count(volume, k_cutoff) * n.max(KSPACE_VECTOR_CENTRES) * per_k
}

/// Estimated bytes of a k-space sum below `k_cutoff` (`0` for none) and of the coefficient
/// arrays: `(total, coefficients)`. Pairs are streamed centre by centre and never stored.
pub(in crate::expansion::lode) fn memory(
    common: &Common,
    system: &System,
    k_cutoff: f64,
    n_channels: usize,
) -> (f64, f64) {
    let volume = system.cell().volume();
    let n_k = estimated_k_count(volume, k_cutoff);
    // the reciprocal sum holds its accumulator and its result (twice by shells), the caller
    // one more copy
    let output = 4.0 * (system.size() * n_channels * common.n_cols()) as f64 * 8.0;
    // the shell route keeps the structure factors and angular factors of every k-vector,
    // and phase tables of every atom (at most 2 · (2 k_c L_d / 2π + 1) entries per direction)
    let n_lm = common.n_lm();
    let per_k = BYTES_PER_K + 8.0 * (2 * n_channels + n_lm) as f64;
    let table_len: f64 = system
        .cell()
        .matrix()
        .iter()
        .map(|a| {
            2.0 * k_cutoff * a.iter().map(|x| x * x).sum::<f64>().sqrt() / std::f64::consts::TAU
                + 3.0
        })
        .sum();
    let tables = 2.0 * 16.0 * system.size() as f64 * table_len;
    (n_k * per_k + tables + output, output)
}

/// Refuse work whose k-vectors and coefficient arrays ([`memory`]) would exceed the budget.
pub(in crate::expansion::lode) fn check_memory(
    common: &Common,
    system: &System,
    k_cutoff: f64,
    n_channels: usize,
) -> Result<()> {
    let (bytes, output) = memory(common, system, k_cutoff, n_channels);
    let max_memory = common.hypers.max_memory;
    if bytes > max_memory {
        let volume = system.cell().volume();
        let n_k = estimated_k_count(volume, k_cutoff);
        crate::bail_param!(
            "this structure ({} atoms, {volume:.0} Å³) would need about {:.2} GiB: {n_k:.2e} \
             k-vectors (k_cutoff {k_cutoff:.2} Å⁻¹) and {:.2} GiB of coefficients, above \
             max_memory = {:.2} GiB: use method='ewald' or 'auto', a larger smearing, a looser \
             accuracy, or raise max_memory",
            system.size(),
            bytes / 2f64.powi(30),
            output / 2f64.powi(30),
            max_memory / 2f64.powi(30)
        );
    }
    Ok(())
}

/// The plain reciprocal route with kernel width σ and cutoff `k_cutoff` (or the long range of
/// the Ewald split: kernel width η, [`ReciprocalRoute::with_kernel`]).
pub(in crate::expansion::lode) struct ReciprocalRoute<'a> {
    pub common: &'a Common,
    pub kernel: PowerLaw,
    pub k_cutoff: f64,
    /// The basis tabulated for the Jacobian rows of this structure, without and with strain
    /// (built by the first row that needs it).
    jacobian: [OnceLock<DenseJacobian>; 2],
}

impl<'a> ReciprocalRoute<'a> {
    pub fn new(common: &'a Common, k_cutoff: f64) -> Self {
        Self::with_kernel(common, common.kernel, k_cutoff)
    }

    /// The k-space sum of `kernel` below `k_cutoff`, `k = 0` term included.
    pub fn with_kernel(common: &'a Common, kernel: PowerLaw, k_cutoff: f64) -> Self {
        ReciprocalRoute {
            common,
            kernel,
            k_cutoff,
            jacobian: [OnceLock::new(), OnceLock::new()],
        }
    }
}

impl ReciprocalRoute<'_> {
    /// The basis tabulated for the Jacobian rows of `system` (with the strain derivatives
    /// when `with_strain`), made once.
    fn dense_jacobian(&self, system: &System, with_strain: bool) -> &DenseJacobian {
        self.jacobian[usize::from(with_strain)].get_or_init(|| {
            let sum = self.common.kspace(&self.kernel);
            // k_vectors succeeded for the values of this structure: it succeeds here
            let kv = sum
                .kvectors(system.cell(), self.k_cutoff)
                .expect("k-vectors of the values");
            DenseJacobian::new(
                &kv.kvectors,
                &sum.separable(system.cell().volume()),
                with_strain,
            )
        })
    }
}

impl LodeRoute for ReciprocalRoute<'_> {
    fn check_memory(&self, system: &System, n_channels: usize) -> Result<()> {
        check_memory(self.common, system, self.k_cutoff, n_channels)
    }

    fn values(&self, system: &System, atoms: &AtomChannels<'_>) -> Result<Array3<f64>> {
        let common = self.common;
        common
            .kspace(&self.kernel)
            .compute(system, &atoms.sources(system)?, self.k_cutoff)
    }

    /// The k-space sum by the dense engine whichever engine the values used (same sum); the
    /// `k = 0` term (`∝ 1/V`) adds `−δ_ab` times itself to the strain block, the centre term
    /// nothing.
    fn jacobian_row(
        &self,
        system: &System,
        atoms: &AtomChannels<'_>,
        i: usize,
        positions: Option<&mut [f64]>,
        mut strain: Option<&mut [f64]>,
    ) -> Result<()> {
        let sum = self.common.kspace(&self.kernel);
        let volume = system.cell().volume();
        let table = self.dense_jacobian(system, strain.is_some());
        let sources = atoms.sources(system)?;
        table.row(&sources, i, positions, strain.as_deref_mut());
        if let (Some(out), Some(term)) =
            (strain, k0_term(&sum.kernel, sum.radial, &sources, volume))
        {
            add_volume_term_strain_row(out, &term, sum.n_lm());
        }
        Ok(())
    }

    /// The k-space sums of every pair of atoms, shared by the positions rows.
    fn prepare_jacobian(
        &self,
        system: &System,
        atoms: &AtomChannels<'_>,
        positions: bool,
        strain: bool,
    ) -> Result<()> {
        if positions {
            let sources = atoms.sources(system)?;
            self.dense_jacobian(system, strain).prepare_pairs(&sources);
        }
        Ok(())
    }

    fn release_jacobian(&self) {
        for table in self.jacobian.iter().filter_map(OnceLock::get) {
            table.release_pairs();
        }
    }

    fn backward(
        &self,
        system: &System,
        atoms: &AtomChannels<'_>,
        cotangent: ArrayView3<f64>,
    ) -> Result<(Vec<Vec3>, Option<Mat3>)> {
        let common = self.common;
        common.kspace(&self.kernel).backward(
            system,
            &atoms.sources(system)?,
            self.k_cutoff,
            cotangent,
            true,
        )
    }
}

/// Smallest `k_c` such that the tail bound `(2/π) ∫_{k_c}^∞ k² |ĝ(k)| max_nl |Ĩ_nl(k)| dk`
/// — the largest contribution one unit source can make to a coefficient from `|k| > k_c` —
/// is below `accuracy`.
pub(in crate::expansion::lode) fn k_cutoff_for(
    kernel: &PowerLaw,
    radial: &dyn RadialIntegral,
    accuracy: f64,
) -> f64 {
    let (n_max, l_max) = (radial.n_max(), radial.l_max());
    let mut values = Array2::zeros((n_max, l_max + 1));
    // the integrand decays at least like exp(-k²σ²/2) < 1e-31 beyond 12/σ
    let k_top = 12.0 / kernel.smearing();
    let steps = 4000;
    let h = k_top / steps as f64;
    let integrand = |k: f64, values: &mut Array2<f64>| {
        radial.compute(k, values.view_mut(), None);
        let largest = values
            .iter()
            .filter(|v| v.is_finite())
            .fold(0.0_f64, |m, v| m.max(v.abs()));
        2.0 / std::f64::consts::PI * k * k * kernel.fourier(k).abs() * largest
    };
    let mut tail = 0.0;
    let mut previous = integrand(k_top, &mut values);
    for step in (0..steps).rev() {
        let k = step as f64 * h;
        if k == 0.0 {
            return h;
        }
        let current = integrand(k, &mut values);
        tail += 0.5 * h * (current + previous);
        if tail > accuracy {
            return k + h;
        }
        previous = current;
    }
    h
}

/// Cells with at most this many (half-space) k-vectors below `12/σ` are small: the planner
/// bounds their truncation by the lattice sum ([`lattice_k_cutoff`]) instead of only the
/// continuum estimate.
pub(in crate::expansion::lode) const SMALL_CELL_K_VECTORS: f64 = 4000.0;

/// The truncation bound of [`k_cutoff_for`] on the lattice of `cell` instead of its continuum
/// limit (`docs/math.md` §7): the smallest k-cutoff, placed between two shells of lattice
/// norms, with
///
/// `(4π/V) Σ_{k ∈ L*, |k| > k_c} |ĝ(|k|)| max_nl |Ĩ_nl(|k|)| ≤ accuracy`
///
/// over the whole lattice (`±k`) up to `12/σ` (beyond, the integrand is below `e^{−72}`).
/// `None` in cells that are not small ([`SMALL_CELL_K_VECTORS`]): there the lattice has many
/// vectors near `k_c` and the continuum estimate holds. `radial` must be valid up to `12/σ`.
pub(in crate::expansion::lode) fn lattice_k_cutoff(
    kernel: &PowerLaw,
    radial: &dyn RadialIntegral,
    cell: &crate::systems::Cell,
    accuracy: f64,
) -> Result<Option<f64>> {
    let k_top = 12.0 / kernel.smearing();
    let volume = cell.volume();
    if estimated_k_count(volume, k_top) > SMALL_CELL_K_VECTORS {
        return Ok(None);
    }
    let kv = k_vectors(cell, k_top)?;
    let mut norms = kv.norms().to_vec();
    norms.sort_by(f64::total_cmp);
    let mut values = Array2::zeros((radial.n_max(), radial.l_max() + 1));
    let mut term = |k: f64| {
        radial.compute(k, values.view_mut(), None);
        let largest = values.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
        // ±k: two lattice vectors per half-space vector
        2.0 * 4.0 * std::f64::consts::PI / volume * kernel.fourier(k).abs() * largest
    };
    // from the top down: the tail beyond each shell boundary
    let mut tail = 0.0;
    let mut i = norms.len();
    while i > 0 {
        let shell = norms[i - 1];
        let mut j = i;
        while j > 0 && norms[j - 1] >= shell * (1.0 - 1e-12) {
            j -= 1;
        }
        let with_shell = tail + (i - j) as f64 * term(shell);
        if with_shell > accuracy {
            // the shell must be kept: cut between it and the next one up
            return Ok(Some(match norms.get(i) {
                Some(&next) => 0.5 * (shell + next),
                None => k_top,
            }));
        }
        tail = with_shell;
        i = j;
    }
    Ok(Some(0.5 * norms.first().copied().unwrap_or(k_top)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::radial::{GtoBasis, KspaceRadialIntegral};

    /// In a 3 Å cube with σ = 2 Å the lattice tail beyond the continuum k-cutoff exceeds the
    /// accuracy (the continuum estimate misses the first shells' discreteness): the lattice
    /// cutoff is larger, and its own tail, summed by brute force, is within the accuracy while
    /// the next shell down is not; in a 12 Å cube with σ = 1 Å the cell is not small.
    #[test]
    fn lattice_cutoff_in_a_small_cell() {
        let basis = GtoBasis::new(4, 3.0).unwrap();
        let radial = KspaceRadialIntegral::new(&basis, 3).unwrap();
        let kernel = PowerLaw::new(1, 2.0).unwrap();
        let cube = |a: f64| {
            crate::systems::Cell::new([[a, 0.0, 0.0], [0.0, a, 0.0], [0.0, 0.0, a]], [true; 3])
                .unwrap()
        };
        let cell = cube(3.0);
        let accuracy = 1e-4;
        let continuum = k_cutoff_for(&kernel, &radial, accuracy);
        let lattice = lattice_k_cutoff(&kernel, &radial, &cell, accuracy)
            .unwrap()
            .unwrap();
        let tail = |k_c: f64| -> f64 {
            let kv = k_vectors(&cell, 6.0).unwrap();
            let mut values = Array2::zeros((4, 4));
            kv.norms()
                .iter()
                .filter(|&&k| k > k_c)
                .map(|&k| {
                    radial.compute(k, values.view_mut(), None);
                    let largest = values.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
                    2.0 * 4.0 * std::f64::consts::PI / 27.0 * kernel.fourier(k).abs() * largest
                })
                .sum()
        };
        assert!(
            tail(continuum) > accuracy,
            "{continuum}: {}",
            tail(continuum)
        );
        assert!(
            lattice > continuum && tail(lattice) <= accuracy,
            "{lattice}"
        );
        // minimal: cutting below the last shell kept breaks the bound
        let kept = k_vectors(&cell, lattice).unwrap();
        let last = kept.norms().iter().fold(0.0_f64, |m, &k| m.max(k));
        assert!(tail(last * (1.0 - 1e-9)) > accuracy);
        assert_eq!(
            lattice_k_cutoff(&PowerLaw::new(1, 1.0).unwrap(), &radial, &cube(12.0), 1e-6).unwrap(),
            None
        );
    }

    /// The tail bound decreases with k_c, and tighter accuracy needs a larger k_c.
    #[test]
    fn k_cutoff_grows_with_accuracy() {
        let basis = GtoBasis::new(4, 3.0).unwrap();
        let radial = KspaceRadialIntegral::new(&basis, 3).unwrap();
        let kernel = PowerLaw::new(1, 1.0).unwrap();
        let loose = k_cutoff_for(&kernel, &radial, 1e-4);
        let tight = k_cutoff_for(&kernel, &radial, 1e-10);
        assert!(loose < tight && tight < 12.0, "{loose} {tight}");
    }
}
