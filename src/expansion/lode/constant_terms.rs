//! The terms of LODE that are not sums over pairs or k-vectors, in one place (`docs/math.md`
//! §3b, §3c, §6): the finite `k = 0` term (`p = 0` and `p ≥ 4`), the neutralising background
//! (`p = 1, 2, 3`: the `k = 0` term is dropped), the Ewald split's `k = 0` correction of the
//! short range, and the centre's own potential (`center_weight`).
//!
//! All but the centre term are the same for every centre, proportional to the channel totals
//! `W_a = Σ_{j∈a} w_j` and to `1/V`; the centre term sits on `l = 0` of each atom's own channel.
//! None depends on the positions: the `k = 0` terms depend on the cell through `1/V` only (under
//! strain each contributes `−δ_ab` times itself), the centre term on nothing; a strain gradient
//! or backward pass adds their part here.

use ndarray::{Array2, Array3, ArrayView3, Axis};

use super::real_space::AtomChannels;
use crate::kspace::Sources;
use crate::math::power_law::PowerLaw;
use crate::math::spherical_harmonics::Y00;
use crate::radial::{GtoBasis, RadialIntegral};

/// For `p = 0` and `p ≥ 4` (a kernel with a finite `ĝ(0)`), the `k = 0` term
/// `(4π/V) W_a ĝ(0) Y_00 Ĩ_n0(0)` on `l = 0` of every centre, as `(n_channels, n_max)`;
/// `None` for `p = 1, 2, 3` (a uniform neutralising background per channel).
pub(super) fn k0_term(
    kernel: &PowerLaw,
    radial: &dyn RadialIntegral,
    sources: &Sources<'_>,
    volume: f64,
) -> Option<Array2<f64>> {
    let g0 = kernel.fourier_at_zero()?;
    // k = 0 term, l = 0 only (Y_00 Ĩ_n0(0), φ_0 = 1); identical for every centre
    let (n_max, l_max) = (radial.n_max(), radial.l_max());
    let mut values = Array2::zeros((n_max, l_max + 1));
    radial.compute(0.0, values.view_mut(), None);
    let prefactor = 4.0 * std::f64::consts::PI / volume * g0 * Y00;
    let mut totals = vec![0.0; sources.n_channels()];
    for j in 0..sources.len() {
        totals[sources.channels()[j]] += sources.weight(j);
    }
    Some(Array2::from_shape_fn(
        (sources.n_channels(), n_max),
        |(a, n)| prefactor * totals[a] * values[[n, 0]],
    ))
}

/// Add [`k0_term`] to `l = 0` of every centre (`out` is `(centres, channels, n_max · n_lm)`).
pub(super) fn add_k0_term(
    out: &mut Array3<f64>,
    kernel: &PowerLaw,
    radial: &dyn RadialIntegral,
    sources: &Sources<'_>,
    volume: f64,
) {
    if let Some(term) = k0_term(kernel, radial, sources, volume) {
        let n_lm = (radial.l_max() + 1) * (radial.l_max() + 1);
        for mut centre in out.outer_iter_mut() {
            for ((a, n), t) in term.indexed_iter() {
                centre[[a, n * n_lm]] += t;
            }
        }
    }
}

/// Strain derivative of a term `term` `(n_channels, n_max)` on `l = 0` of every centre that is
/// proportional to `1/V` (the `k = 0` term, the Ewald `k = 0` correction): `−δ_ab` times
/// itself, added into one Jacobian row's strain block `(3, 3, n_channels, n_max · n_lm)`.
pub(super) fn add_volume_term_strain_row(strain: &mut [f64], term: &Array2<f64>, n_lm: usize) {
    let (n_channels, n_max) = term.dim();
    let block = n_channels * n_max * n_lm;
    assert_eq!(strain.len(), 9 * block, "(3, 3, n_channels, n_max · n_lm)");
    for a in 0..3 {
        let diagonal = &mut strain[(4 * a) * block..(4 * a + 1) * block];
        for ((c, n), t) in term.indexed_iter() {
            diagonal[(c * n_max + n) * n_lm] -= t;
        }
    }
}

/// The same for the backward pass: `∂(Σ g·term)/∂ε_ab = −δ_ab Σ_{i,a,n} g_i[a, n·n_lm] term[a, n]`,
/// added into `virial`; `cotangent` is `(centres, n_channels, n_max · n_lm)`.
pub(super) fn add_volume_term_strain_backward(
    virial: &mut crate::systems::Mat3,
    cotangent: ArrayView3<f64>,
    term: &Array2<f64>,
    n_lm: usize,
) {
    let mut total = 0.0;
    for g in cotangent.outer_iter() {
        for ((a, n), t) in term.indexed_iter() {
            total += g[[a, n * n_lm]] * t;
        }
    }
    for (a, row) in virial.iter_mut().enumerate() {
        row[a] -= total;
    }
}

/// The Ewald split's `k = 0` correction (`p = 1, 2, 3`): the short-range pair sum over all
/// images contains its own `k = 0` component `ĝ_SR(0) = g0`, which the reciprocal convention
/// drops; subtract `(W_a/V) ĝ_SR(0) √(4π) ∫ r² R̃_n dr` from `l = 0` of every centre.
pub(super) fn subtract_ewald_k0(
    out: &mut Array3<f64>,
    basis: &GtoBasis,
    atoms: &AtomChannels<'_>,
    volume: f64,
    g0: f64,
) {
    let term = ewald_k0(basis, atoms, volume, g0);
    let n_lm = out.shape()[2] / term.ncols().max(1);
    for mut centre in out.outer_iter_mut() {
        for ((a, n), t) in term.indexed_iter() {
            centre[[a, n * n_lm]] -= t;
        }
    }
}

/// The correction of [`subtract_ewald_k0`] before its sign, `(n_channels, n_max)`.
pub(super) fn ewald_k0(
    basis: &GtoBasis,
    atoms: &AtomChannels<'_>,
    volume: f64,
    g0: f64,
) -> Array2<f64> {
    let moments = basis.moments(2.0).expect("q = 2 moments exist");
    let mut totals = vec![0.0; atoms.n_channels];
    for j in 0..atoms.channel.len() {
        totals[atoms.channel[j]] += atoms.weight.map_or(1.0, |w| w[j]);
    }
    let four_pi_sqrt = (4.0 * std::f64::consts::PI).sqrt();
    Array2::from_shape_fn((atoms.n_channels, moments.len()), |(a, n)| {
        totals[a] / volume * g0 * four_pi_sqrt * moments[n]
    })
}

/// `f_n0(0) → f_n0(0) Y_00`: the `c_n00` coefficient of a potential centred on the centre.
pub(super) fn coefficient_of_self(f_at_zero: &[f64]) -> Vec<f64> {
    f_at_zero.iter().map(|f| f * Y00).collect()
}

/// `out[i, a_i, n·n_lm] += factor · w_i · term[n]` (l = 0 of each atom's own channel): the
/// centre's own potential `term = C_n`, with `factor = 1` (every periodic route's own centre
/// term), `center_weight` (finite systems) or `center_weight − 1` (to reweight a periodic
/// route's full centre term).
pub(super) fn add_self(
    out: &mut Array3<f64>,
    atoms: &AtomChannels<'_>,
    term: &[f64],
    factor: f64,
    n_lm: usize,
) {
    for (i, mut centre) in out.axis_iter_mut(Axis(0)).enumerate() {
        let w = factor * atoms.weight.map_or(1.0, |w| w[i]);
        for (n, t) in term.iter().enumerate() {
            centre[[atoms.channel[i], n * n_lm]] += w * t;
        }
    }
}

/// `C_n = √(4π) ∫ r² R̃_n(r) g(r) dr` (the centre's own potential on `R̃_n Y_00`), by
/// Gauss–Legendre quadrature on `[0, 12 σ_max]` with 400 nodes (the integrand is smooth).
pub(super) fn self_projection(basis: &GtoBasis, kernel: &PowerLaw) -> Vec<f64> {
    let sigma_max = basis.sigmas().iter().fold(0.0_f64, |m, &s| m.max(s));
    let r_max = 14.0 * sigma_max + 10.0 * kernel.smearing();
    let (nodes, weights) = crate::math::quadrature::gauss_legendre(400);
    let mut out = vec![0.0; basis.n_max()];
    let mut radial = vec![0.0; basis.n_max()];
    for (x, w) in nodes.iter().zip(&weights) {
        let r = 0.5 * r_max * (x + 1.0);
        basis.evaluate(r, &mut radial);
        let f = 0.5 * r_max * w * r * r * kernel.value(r);
        for (o, rn) in out.iter_mut().zip(&radial) {
            *o += f * rn;
        }
    }
    let factor = (4.0 * std::f64::consts::PI).sqrt();
    out.iter().map(|c| factor * c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::radial::LodeRadialTable;

    /// Two routes to the centre's own potential on `R̃_n Y_00`: the direct radial quadrature
    /// here and the k-space quadrature of the pair table (`f_n0(0) Y_00`), for every exponent.
    #[test]
    fn self_term_matches_the_pair_table() {
        let basis = GtoBasis::new(5, 3.0).unwrap();
        for p in 0..=6 {
            let sigma = 0.8;
            let direct = self_projection(&basis, &PowerLaw::new(p, sigma).unwrap());
            let table = LodeRadialTable::finite(&basis, 2, p, sigma, 1e-8).unwrap();
            let from_table = coefficient_of_self(table.self_term());
            for (a, b) in direct.iter().zip(&from_table) {
                assert!(
                    (a - b).abs() < 1e-10 * b.abs().max(1.0),
                    "p = {p}: {a} vs {b}"
                );
            }
        }
    }
}
