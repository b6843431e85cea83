//! The slab route (`docs/math.md` §15): a structure periodic along two lattice vectors and open
//! along the third is computed exactly as
//!
//! `c_slab = c_3D(vacuum cell of height L) + [k_∥ = 0 line: exact − vacuum cell's]`,
//!
//! where the 3D coefficients come from any periodic route (reciprocal, Ewald, mesh, `p = 0`
//! pairs: the planner chooses by cost for the vacuum cell) and the line correction is
//! [`super::slab_line`]. The only approximation left is the vacuum cell's images of the
//! `k_∥ ≠ 0` terms, which decay like `e^(−|k_∥| (L − T))`: `L = T + D` with the gap `D` the
//! smallest at which their bound ([`image_bound`]) is below a tenth of the accuracy, and `L`
//! rounded up to a whole number of [`LENGTH_STEP`] (so the vacuum cell, and the inner route
//! planned for it, stay the same while the atoms move a little: smooth finite differences,
//! reusable tables).
//!
//! Gradients (`docs/math.md` §15.4): the inner route's positions and strain gradients on the
//! vacuum cell (strain deforms its third vector `L n̂` with the rest) plus the line
//! correction's ([`super::slab_gradients`]).

use std::sync::{Arc, Mutex};

use super::super::calculator::Common;
use super::super::real_space::AtomChannels;
use super::slab_gradients::LineGradients;
use super::slab_line::{add_line_correction, LineKernel};
use super::LodeRoute;
use crate::error::Result;
use crate::math::special::gamma;
use crate::systems::{Mat3, SlabGeometry, System, Vec3};
use ndarray::{Array3, ArrayView3};

/// Share of the accuracy for the vacuum cell's `k_∥ ≠ 0` images.
pub(in crate::expansion::lode) const IMAGE_SHARE: f64 = 0.1;
/// Share of the accuracy for the Chebyshev interpolation of the line correction.
const LINE_SHARE: f64 = 0.1;
/// The vacuum cell's height is a whole number of these (Å).
pub(in crate::expansion::lode) const LENGTH_STEP: f64 = 1.0;

/// Upper bound of the in-plane Fourier component `|ĝ_p^{2D}(k, d)|` of the kernel at height
/// `d` from its source (`docs/math.md` §15.2): `2π (k/2)^ν d^(−ν) K_ν(kd)/Γ(p/2)` with
/// `ν = p/2 − 1` for the power law (`p = 1`: `2π e^(−kd)/k`), bounding `K_ν(x)` by
/// `√(π/2x) e^(−x) (1 + (ν² + 1)/x)`; `p = 0`: the Gaussian's
/// `(πσ²)^(−3/4) 2πσ² e^(−k²σ²/2) e^(−d²/2σ²)`.
fn in_plane_component(p: u32, sigma: f64, k: f64, d: f64) -> f64 {
    let pi = std::f64::consts::PI;
    if p == 0 {
        let s2 = sigma * sigma;
        return (pi * s2).powf(-0.75)
            * 2.0
            * pi
            * s2
            * (-0.5 * k * k * s2 - 0.5 * d * d / s2).exp();
    }
    let nu = 0.5 * p as f64 - 1.0;
    let x = k * d;
    let bessel = (pi / (2.0 * x)).sqrt() * (-x).exp() * (1.0 + (nu * nu + 1.0) / x);
    2.0 * pi * (0.5 * k).powf(nu) * d.powf(-nu) * bessel / gamma(0.5 * p as f64)
}

/// Bound of the error per unit source from the vacuum cell's images of the `k_∥ ≠ 0` terms,
/// gap `gap` between the slab's faces: the two nearest images (`2.5`: with the farther ones) of
/// every in-plane mode at distance `gap − R` from the basis (`R` its extent), times the largest
/// projection of a unit-bounded potential on an `L²`-normalised `R̃_n Y_lm`, `√(4πR³/3)`.
pub(in crate::expansion::lode) fn image_bound(
    common: &Common,
    slab: &SlabGeometry,
    gap: f64,
    stop: f64,
) -> f64 {
    let h = &common.hypers;
    let extent = common.basis_extent;
    let d = gap - extent;
    let projection = (4.0 * std::f64::consts::PI * extent.powi(3) / 3.0).sqrt();
    let scale = 2.5 * projection / slab.area;
    scale
        * slab.in_plane_sum(
            |k| in_plane_component(h.exponent, h.smearing, k, d),
            stop / scale,
        )
}

/// Height `L = T + D` of the vacuum cell of `slab`: the gap `D` starts at `2R + 6σ` (the line
/// correction's images then lie beyond the basis and the smearing) and grows by 5 % steps
/// until [`image_bound`] is below `IMAGE_SHARE · accuracy`; `T + D` rounded up to a whole
/// number of [`LENGTH_STEP`].
pub(in crate::expansion::lode) fn vacuum_length(
    common: &Common,
    slab: &SlabGeometry,
) -> Result<f64> {
    let h = &common.hypers;
    let target = IMAGE_SHARE * h.accuracy;
    let mut gap = 2.0 * common.basis_extent + 6.0 * h.smearing;
    while image_bound(common, slab, gap, target) > target {
        gap *= 1.05;
        if gap > 1e6 {
            crate::bail_param!(
                "slab route: no vacuum gap below 1e6 Å reaches accuracy {:e} (in-plane cell area \
                 {:.3e} Å²): loosen the accuracy",
                h.accuracy,
                slab.area
            );
        }
    }
    Ok(((slab.thickness() + gap) / LENGTH_STEP).ceil() * LENGTH_STEP)
}

/// Estimated cost of the line correction: the kernel's `k` nodes at `K²` height differences
/// (taken as `K = 32`) and `O(N K)` spreading and interpolation, per column.
pub(in crate::expansion::lode) fn line_cost(common: &Common, n: f64, n_channels: usize) -> f64 {
    let h = &common.hypers;
    let n_cols = (h.n_max * (h.l_max + 1)) as f64;
    let nodes = 32.0;
    let k_nodes = 20.0 * (common.k_max * h.smearing).max(1.0) * 10.0;
    (nodes * nodes * k_nodes + n * nodes * n_channels as f64) * n_cols
}

/// The slab route: the inner 3D route on the vacuum cell of height `length`, plus the line
/// correction. Prepared for one structure: its gradients' tables are built at the first
/// gradient call and kept for the others (Jacobian rows).
pub(in crate::expansion::lode) struct SlabRoute<'a> {
    pub common: &'a Common,
    pub inner: Box<dyn LodeRoute + 'a>,
    pub length: f64,
    pub gradients: Mutex<Option<Arc<Prepared>>>,
}

/// The vacuum cell and the line correction's gradient tables of one structure.
pub(in crate::expansion::lode) struct Prepared {
    vacuum: System,
    line: LineGradients,
}

impl SlabRoute<'_> {
    /// The route of `inner` on a vacuum cell of height `length`.
    pub fn new<'a>(
        common: &'a Common,
        inner: Box<dyn LodeRoute + 'a>,
        length: f64,
    ) -> SlabRoute<'a> {
        SlabRoute {
            common,
            inner,
            length,
            gradients: Mutex::new(None),
        }
    }

    /// The gradient tables of `system`, built once.
    fn prepared(&self, system: &System, atoms: &AtomChannels<'_>) -> Result<Arc<Prepared>> {
        let mut cache = self.gradients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(prepared) = cache.as_ref() {
            return Ok(prepared.clone());
        }
        let slab = SlabGeometry::new(system)?;
        let prepared = Arc::new(Prepared {
            vacuum: slab.vacuum_system(system, self.length)?,
            line: LineGradients::new(
                self.common,
                system,
                atoms,
                self.length,
                LINE_SHARE * self.common.hypers.accuracy,
            )?,
        });
        *cache = Some(prepared.clone());
        Ok(prepared)
    }
}

impl LodeRoute for SlabRoute<'_> {
    fn check_memory(&self, system: &System, n_channels: usize) -> Result<()> {
        let slab = SlabGeometry::new(system)?;
        let vacuum = slab.vacuum_system(system, self.length)?;
        self.inner.check_memory(&vacuum, n_channels)
    }

    fn values(&self, system: &System, atoms: &AtomChannels<'_>) -> Result<Array3<f64>> {
        let common = self.common;
        let slab = SlabGeometry::new(system)?;
        let vacuum = slab.vacuum_system(system, self.length)?;
        let mut out = self.inner.values(&vacuum, atoms)?;
        let kernel = LineKernel::new(common, self.length, slab.thickness())?;
        let mut harmonics = vec![0.0; common.n_lm()];
        common.harmonics.compute(slab.normal, &mut harmonics);
        add_line_correction(
            &mut out,
            &kernel,
            &slab,
            atoms,
            &harmonics,
            LINE_SHARE * common.hypers.accuracy,
        )?;
        Ok(out)
    }

    fn jacobian_row(
        &self,
        system: &System,
        atoms: &AtomChannels<'_>,
        i: usize,
        mut positions: Option<&mut [f64]>,
        mut strain: Option<&mut [f64]>,
    ) -> Result<()> {
        let prepared = self.prepared(system, atoms)?;
        self.inner.jacobian_row(
            &prepared.vacuum,
            atoms,
            i,
            positions.as_deref_mut(),
            strain.as_deref_mut(),
        )?;
        prepared.line.add_row(atoms, i, positions, strain);
        Ok(())
    }

    fn backward(
        &self,
        system: &System,
        atoms: &AtomChannels<'_>,
        cotangent: ArrayView3<f64>,
    ) -> Result<(Vec<Vec3>, Option<Mat3>)> {
        let prepared = self.prepared(system, atoms)?;
        let (mut positions, strain) = self.inner.backward(&prepared.vacuum, atoms, cotangent)?;
        let line = prepared.line.backward(atoms, cotangent, &mut positions)?;
        let strain = strain.map(|mut s| {
            for (row, extra) in s.iter_mut().zip(&line) {
                for (x, e) in row.iter_mut().zip(extra) {
                    *x += e;
                }
            }
            s
        });
        Ok((positions, strain))
    }
}
