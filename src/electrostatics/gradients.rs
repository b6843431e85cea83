//! Forces and stress of the Coulomb energy: positions and strain derivatives of the Ewald sum
//! (fully periodic cells), of a slab's (its vacuum cell's Ewald sum plus the dipole term:
//! [`super::slab::slab_gradients`]) and of the direct pair sum (finite systems).
//!
//! Conventions as for the expansions' gradients: `∂E/∂r_j` (forces are its negative) and
//! `∂E/∂ε_αβ` for the homogeneous deformation `x → (1 + ε) x` of positions and cell (the stress
//! is `σ = (1/V) ∂E/∂ε`, ASE's sign). With the terms of [`super::ewald`] (units of `k_e`):
//! - real space, `φ(d) = erfc(d/√2η)/d`, `φ'(d) = −φ/d − √(2/π)/η · e^{−d²/2η²}/d`: each ordered
//!   pair adds `½ q_i q_j φ'(d) r̂` to `j`, subtracts it from `i`, and `½ q_i q_j φ'(d) r r̂ᵀ` to
//!   the virial;
//! - reciprocal space, `E = (4π/V) Σ_{k half} ψ(k) |S(k)|²`, `ψ = e^{−k²η²/2}/k²`,
//!   `S = Σ_j q_j e^{ik·r_j} = C + iS'`: `∂E/∂r_j = (8π/V) Σ_k ψ q_j (S' cos k·r_j − C sin k·r_j) k`;
//!   under strain `k → (1 + ε)^{−T} k` (so `∂|k|/∂ε_αβ = −k_α k_β/|k|`, the set of k-vectors held
//!   fixed) and `V → V det(1 + ε)`, giving
//!   `∂E/∂ε_αβ = (4π/V) Σ_k ψ |S|² (−δ_αβ + (η² + 2/k²) k_α k_β)`;
//! - the background `−πη²Q²/V` contributes `+πη²Q²/V δ_αβ`; the self term is constant.
//! - finite systems, `E = Σ_{i<j} q_i q_j/d_ij`: `∂E/∂r_j = −q_i q_j r/d³` (`r = r_j − r_i`), and
//!   minus that to `i`.
//!
//! Exact checks (tests): central differences of the energy, the virial theorem for `1/r`
//! (`tr ∂E/∂ε = −E`), independence of `η`, and the virial of a brute-force sum over image cells.

use rayon::prelude::*;

use super::ewald::EwaldParameters;
use super::{check_accuracy, check_energy_periodicity, COULOMB_CONSTANT};
use crate::error::{Error, Result};
use crate::expansion::pair_gradients::{reduce_in_order, Contributions};
use crate::kspace::k_vectors;
use crate::math::special::erfc;
use crate::neighbors::{NeighborSearch, Pair};
use crate::systems::{check_charges, Mat3, System, Vec3, OVERLAP_DISTANCE};

/// k-vectors per parallel task of the reciprocal-space gradients.
const K_PER_TASK: usize = 64;

/// The Coulomb energy of one structure with its derivatives (eV, eV/Å).
#[derive(Debug, Clone)]
pub struct CoulombGradients {
    /// Energy (eV), the same number as [`super::coulomb_energy`].
    pub energy: f64,
    /// `∂E/∂r_j` (eV/Å) for every atom; the forces are `−positions`.
    pub positions: Vec<Vec3>,
    /// `∂E/∂ε` (eV) for periodic structures and slabs, `None` for finite ones; stress
    /// `= strain / V`.
    pub strain: Option<Mat3>,
}

/// Energy, positions and strain derivatives of one structure (see the module documentation);
/// errors as [`super::coulomb_energy`]. Runs in the current rayon pool, bitwise independent
/// of the number of threads.
pub fn coulomb_gradients(
    system: &System,
    charges: &[f64],
    accuracy: f64,
) -> Result<CoulombGradients> {
    let energy = super::coulomb_energy(system, charges, accuracy)?;
    let (mut positions, strain) = if system.cell().is_fully_periodic() {
        let parameters = EwaldParameters::for_accuracy(system, accuracy)?;
        let (p, s) = ewald_gradients(system, charges, &parameters)?;
        (p, Some(s))
    } else if system.cell().is_periodic() {
        let (p, s) = super::slab::slab_gradients(system, charges, accuracy)?;
        (p, Some(s))
    } else {
        (direct_gradients(system.positions(), charges)?, None)
    };
    for g in &mut positions {
        for x in g.iter_mut() {
            *x *= COULOMB_CONSTANT;
        }
    }
    let strain = strain.map(|s| s.map(|row| row.map(|x| x * COULOMB_CONSTANT)));
    Ok(CoulombGradients {
        energy,
        positions,
        strain,
    })
}

/// [`coulomb_gradients`] of many structures in a pool of `n_threads` threads (0: all cores);
/// inputs validated first, errors name the structure. With `stress`, a structure that is not
/// periodic is an error (`InvalidInput`: a finite system has no stress).
pub fn coulomb_gradients_many<C>(
    systems: &[System],
    charges: &[C],
    accuracy: f64,
    stress: bool,
    n_threads: usize,
) -> Result<Vec<CoulombGradients>>
where
    C: AsRef<[f64]> + Sync,
{
    check_accuracy(accuracy)?;
    if stress {
        crate::expansion::gradients::check_periodic(systems)?;
    }
    check_charges(systems, charges)?;
    let name = |s: usize, e: Error| match e {
        Error::InvalidInput(m) => Error::InvalidInput(format!("structure {s}: {m}")),
        Error::InvalidParameter(m) => Error::InvalidParameter(format!("structure {s}: {m}")),
        other => other,
    };
    for (s, system) in systems.iter().enumerate() {
        check_energy_periodicity(system).map_err(|e| name(s, e))?;
    }
    let results: Vec<Result<CoulombGradients>> = crate::threads::with_threads(n_threads, || {
        systems
            .par_iter()
            .zip(charges.par_iter())
            .map(|(system, q)| coulomb_gradients(system, q.as_ref(), accuracy))
            .collect()
    })?;
    results
        .into_iter()
        .enumerate()
        .map(|(s, r)| r.map_err(|e| name(s, e)))
        .collect()
}

/// Ewald `∂E/∂r` and `∂E/∂ε` in units of `k_e`.
pub(super) fn ewald_gradients(
    system: &System,
    charges: &[f64],
    parameters: &EwaldParameters,
) -> Result<(Vec<Vec3>, Mat3)> {
    let (mut positions, mut strain) = real_space_gradients(system, charges, parameters)?;
    let (recip, recip_strain) = reciprocal_gradients(system, charges, parameters)?;
    for (p, r) in positions.iter_mut().zip(&recip) {
        for alpha in 0..3 {
            p[alpha] += r[alpha];
        }
    }
    let pi = std::f64::consts::PI;
    let total: f64 = charges.iter().sum();
    let background = pi * parameters.eta * parameters.eta * total * total / system.cell().volume();
    for alpha in 0..3 {
        for beta in 0..3 {
            strain[alpha][beta] += recip_strain[alpha][beta];
        }
        strain[alpha][alpha] += background;
    }
    Ok((positions, strain))
}

fn real_space_gradients(
    system: &System,
    charges: &[f64],
    parameters: &EwaldParameters,
) -> Result<(Vec<Vec3>, Mat3)> {
    let search = NeighborSearch::new(system, parameters.real_cutoff)?;
    let eta = parameters.eta;
    let scale = 1.0 / (std::f64::consts::SQRT_2 * eta);
    let gauss = (2.0 / std::f64::consts::PI).sqrt() / eta;
    let (forces, virials) = reduce_in_order(
        system.size(),
        system.size(),
        1,
        Vec::<Pair>::new,
        |pairs, i, out: &mut Contributions| {
            let qi = charges[i];
            search.pairs_of(i, pairs);
            let mut total = [0.0; 3];
            let mut virial = [[0.0; 3]; 3];
            for pair in pairs.iter() {
                let qj = charges[pair.second];
                if qi * qj == 0.0 {
                    continue;
                }
                let d = pair.distance;
                if d < OVERLAP_DISTANCE {
                    crate::bail_input!(
                        "charged atoms {i} and {} are {d:.3e} Å apart: overlapping point \
                         charges have an infinite energy",
                        pair.second
                    );
                }
                let phi = erfc(d * scale) / d;
                let slope = -phi / d - gauss * (-0.5 * d * d / (eta * eta)).exp() / d;
                let factor = 0.5 * qi * qj * slope / d;
                let v = pair.vector.map(|x| factor * x);
                for (alpha, row) in virial.iter_mut().enumerate() {
                    total[alpha] += v[alpha];
                    for (w, r) in row.iter_mut().zip(&pair.vector) {
                        *w += v[alpha] * r;
                    }
                }
                out.forces.push((pair.second, v));
            }
            out.forces.push((i, total.map(|x| -x)));
            out.virials.push((0, virial));
            Ok(())
        },
    )?;
    Ok((forces, virials[0]))
}

fn reciprocal_gradients(
    system: &System,
    charges: &[f64],
    parameters: &EwaldParameters,
) -> Result<(Vec<Vec3>, Mat3)> {
    let kvectors = k_vectors(system.cell(), parameters.k_cutoff)?;
    let positions = system.positions();
    let n = positions.len();
    let eta2 = parameters.eta * parameters.eta;
    let prefactor = 4.0 * std::f64::consts::PI / kvectors.volume();
    let n_k = kvectors.len();
    let parts: Vec<(Vec<Vec3>, Mat3)> = (0..n_k.div_ceil(K_PER_TASK))
        .into_par_iter()
        .map(|task| {
            let range = task * K_PER_TASK..((task + 1) * K_PER_TASK).min(n_k);
            let mut gradient = vec![[0.0; 3]; n];
            let mut virial = [[0.0; 3]; 3];
            let mut phases = vec![(0.0, 0.0); n];
            for (k, &norm) in kvectors.vectors()[range.clone()]
                .iter()
                .zip(&kvectors.norms()[range])
            {
                let (mut c, mut s) = (0.0, 0.0);
                for (j, r) in positions.iter().enumerate() {
                    let (sin, cos) = (k[0] * r[0] + k[1] * r[1] + k[2] * r[2]).sin_cos();
                    phases[j] = (sin, cos);
                    c += charges[j] * cos;
                    s += charges[j] * sin;
                }
                let k2 = norm * norm;
                let psi = (-0.5 * eta2 * k2).exp() / k2;
                for (j, &(sin, cos)) in phases.iter().enumerate() {
                    let f = 2.0 * prefactor * psi * charges[j] * (s * cos - c * sin);
                    for alpha in 0..3 {
                        gradient[j][alpha] += f * k[alpha];
                    }
                }
                let weight = prefactor * psi * (c * c + s * s);
                let anisotropic = eta2 + 2.0 / k2;
                for (alpha, row) in virial.iter_mut().enumerate() {
                    row[alpha] -= weight;
                    for (beta, v) in row.iter_mut().enumerate() {
                        *v += weight * anisotropic * k[alpha] * k[beta];
                    }
                }
            }
            (gradient, virial)
        })
        .collect();
    let mut gradient = vec![[0.0; 3]; n];
    let mut virial = [[0.0; 3]; 3];
    for (g, v) in parts {
        for (a, b) in gradient.iter_mut().zip(&g) {
            for alpha in 0..3 {
                a[alpha] += b[alpha];
            }
        }
        for alpha in 0..3 {
            for beta in 0..3 {
                virial[alpha][beta] += v[alpha][beta];
            }
        }
    }
    Ok((gradient, virial))
}

/// `∂/∂r_j Σ_{i<j} q_i q_j/d_ij` (units of `k_e`).
pub(super) fn direct_gradients(positions: &[Vec3], charges: &[f64]) -> Result<Vec<Vec3>> {
    let n = positions.len();
    let (forces, _) = reduce_in_order(
        n,
        n,
        1,
        || (),
        |_, i, out: &mut Contributions| {
            let (ri, qi) = (positions[i], charges[i]);
            let mut total = [0.0; 3];
            for j in i + 1..n {
                let qj = charges[j];
                if qi * qj == 0.0 {
                    continue;
                }
                let rj = positions[j];
                let v = [rj[0] - ri[0], rj[1] - ri[1], rj[2] - ri[2]];
                let d = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
                if d < OVERLAP_DISTANCE {
                    crate::bail_input!(
                        "charged atoms {i} and {j} are {d:.3e} Å apart: overlapping point charges \
                     have an infinite energy"
                    );
                }
                let factor = -qi * qj / (d * d * d);
                let g = v.map(|x| factor * x);
                for alpha in 0..3 {
                    total[alpha] += g[alpha];
                }
                out.forces.push((j, g));
            }
            out.forces.push((i, total.map(|x| -x)));
            Ok(())
        },
    )?;
    Ok(forces)
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)] // index notation, as in the formulas
mod tests {
    use super::*;
    use crate::electrostatics::ewald::ewald_energy;

    /// A dipole-free triclinic cell (atoms in ± pairs about the cell centre), neutral.
    fn triclinic(
        strain: Option<(usize, usize, f64)>,
        moved: Option<(usize, usize, f64)>,
    ) -> (System, Vec<f64>) {
        let cell = [[4.0, 0.3, 0.2], [0.5, 4.4, -0.3], [0.1, 0.4, 3.8]];
        let half = [[0.3, 0.4, 0.2], [1.1, 0.2, 0.9], [0.5, 1.3, 1.6]];
        let centre = [2.3, 2.55, 1.85];
        let mut positions: Vec<Vec3> = half
            .iter()
            .map(|h| [centre[0] + h[0], centre[1] + h[1], centre[2] + h[2]])
            .chain(
                half.iter()
                    .map(|h| [centre[0] - h[0], centre[1] - h[1], centre[2] - h[2]]),
            )
            .collect();
        if let Some((atom, alpha, h)) = moved {
            positions[atom][alpha] += h;
        }
        let deform = |r: Vec3| -> Vec3 {
            let mut out = r;
            if let Some((a, b, e)) = strain {
                out[a] += e * r[b];
            }
            out
        };
        let positions = positions.into_iter().map(deform).collect();
        let system = System::new(positions, vec![1; 6], cell.map(deform), [true; 3]).unwrap();
        (system, vec![1.0, -0.7, -0.3, 1.0, -0.7, -0.3])
    }

    fn energy(system: &System, q: &[f64]) -> f64 {
        crate::electrostatics::coulomb_energy(system, q, 1e-12).unwrap()
    }

    /// Forces and strain derivatives = central differences of the energy (step 1e-5 Å / 1e-5,
    /// tolerance 1e-6 relative to the largest component: the difference error is ~1e-9), and
    /// the virial theorem `tr ∂E/∂ε = −E` of a 1/r energy to 1e-9.
    #[test]
    fn ewald_gradients_match_finite_differences() {
        let (system, q) = triclinic(None, None);
        let g = coulomb_gradients(&system, &q, 1e-12).unwrap();
        let strain = g.strain.unwrap();
        let h = 1e-5;
        let scale = g
            .positions
            .iter()
            .flatten()
            .fold(0.0f64, |m, x| m.max(x.abs()));
        for atom in 0..6 {
            for alpha in 0..3 {
                let (sp, _) = triclinic(None, Some((atom, alpha, h)));
                let (sm, _) = triclinic(None, Some((atom, alpha, -h)));
                let fd = (energy(&sp, &q) - energy(&sm, &q)) / (2.0 * h);
                assert!(
                    (fd - g.positions[atom][alpha]).abs() < 1e-6 * scale,
                    "{fd} vs {}",
                    g.positions[atom][alpha]
                );
            }
        }
        let sum: Vec3 = (0..3)
            .map(|a| g.positions.iter().map(|p| p[a]).sum())
            .collect::<Vec<f64>>()
            .try_into()
            .unwrap();
        assert!(sum.iter().all(|s| s.abs() < 1e-10 * scale), "{sum:?}");
        let strain_scale = strain.iter().flatten().fold(0.0f64, |m, x| m.max(x.abs()));
        for a in 0..3 {
            for b in 0..3 {
                let (sp, _) = triclinic(Some((a, b, h)), None);
                let (sm, _) = triclinic(Some((a, b, -h)), None);
                let fd = (energy(&sp, &q) - energy(&sm, &q)) / (2.0 * h);
                assert!(
                    (fd - strain[a][b]).abs() < 1e-6 * strain_scale,
                    "ε_{a}{b}: {fd} vs {}",
                    strain[a][b]
                );
            }
        }
        let trace = strain[0][0] + strain[1][1] + strain[2][2];
        assert!(
            (trace + g.energy).abs() < 1e-9 * g.energy.abs(),
            "{trace} vs {}",
            -g.energy
        );
    }

    /// The strain derivative does not depend on the Ewald width η (to 1e-9 relative), for a
    /// charged cell (background term) too.
    #[test]
    fn ewald_gradients_do_not_depend_on_eta() {
        let (system, mut q) = triclinic(None, None);
        q[0] = 1.5;
        let mut results = Vec::new();
        for eta in [0.8, 1.2, 1.7] {
            let parameters = EwaldParameters::new(eta, 1e-13).unwrap();
            let (p, s) = ewald_gradients(&system, &q, &parameters).unwrap();
            let e = ewald_energy(&system, &q, &parameters).unwrap();
            results.push((p, s, e));
        }
        let (p0, s0, e0) = &results[0];
        for (p, s, e) in &results[1..] {
            assert!((e - e0).abs() < 1e-10 * e0.abs());
            for (a, b) in p.iter().flatten().zip(p0.iter().flatten()) {
                assert!((a - b).abs() < 1e-9, "{a} vs {b}");
            }
            for (a, b) in s.iter().flatten().zip(s0.iter().flatten()) {
                assert!((a - b).abs() < 1e-9 * e0.abs(), "{a} vs {b}");
            }
        }
        // the virial theorem holds with the background too
        let (_, s, e) = &results[1];
        assert!((s[0][0] + s[1][1] + s[2][2] + e).abs() < 1e-9 * e.abs());
    }

    /// The strain derivative equals the virial `−½ Σ_{i, j, n}' q_i q_j r rᵀ/r³` of a brute-force
    /// sum over cubes of (2N+1)³ image cells of the neutral, dipole-free cell, which converges
    /// as 1/N²: Richardson-extrapolated from N = 10 and 20, it agrees to 2e-5 relative (the
    /// raw N = 20 sum is 1e-4 away: a wrong term of the Ewald virial would be far above).
    #[test]
    fn ewald_virial_matches_brute_force_image_sum() {
        let (system, q) = triclinic(None, None);
        let g = coulomb_gradients(&system, &q, 1e-12).unwrap();
        let strain = g.strain.unwrap();
        let cell = system.cell().matrix();
        let positions = system.positions();
        let brute = |n: i32| {
            let mut w = [[0.0; 3]; 3];
            for a in -n..=n {
                for b in -n..=n {
                    for c in -n..=n {
                        let shift: Vec3 = [0, 1, 2].map(|k| {
                            a as f64 * cell[0][k] + b as f64 * cell[1][k] + c as f64 * cell[2][k]
                        });
                        for (i, ri) in positions.iter().enumerate() {
                            for (j, rj) in positions.iter().enumerate() {
                                let r: Vec3 = [0, 1, 2].map(|k| rj[k] - ri[k] + shift[k]);
                                let d2 = r[0] * r[0] + r[1] * r[1] + r[2] * r[2];
                                if d2 < 1e-12 {
                                    continue;
                                }
                                let f = -0.5 * q[i] * q[j] / (d2 * d2.sqrt());
                                for x in 0..3 {
                                    for y in 0..3 {
                                        w[x][y] += f * r[x] * r[y];
                                    }
                                }
                            }
                        }
                    }
                }
            }
            w.map(|row| row.map(|x| x * COULOMB_CONSTANT))
        };
        let (w10, w20) = (brute(10), brute(20));
        let scale = strain.iter().flatten().fold(0.0f64, |m, x| m.max(x.abs()));
        for a in 0..3 {
            for b in 0..3 {
                let extrapolated = w20[a][b] + (w20[a][b] - w10[a][b]) / 3.0;
                assert!(
                    (extrapolated - strain[a][b]).abs() < 2e-5 * scale,
                    "{a}{b}: {extrapolated} vs {}",
                    strain[a][b]
                );
            }
        }
    }

    /// Finite systems: forces = central differences of the direct sum; no strain.
    #[test]
    fn direct_gradients_match_finite_differences() {
        let positions: Vec<Vec3> = vec![
            [0.0, 0.0, 0.0],
            [1.2, 0.3, -0.4],
            [-0.5, 1.1, 0.7],
            [0.4, -0.8, 1.5],
        ];
        let q = [0.8, -0.5, 0.3, -0.6];
        let open = |p: Vec<Vec3>| System::new(p, vec![1; 4], [[0.0; 3]; 3], [false; 3]).unwrap();
        let g = coulomb_gradients(&open(positions.clone()), &q, 1e-10).unwrap();
        assert!(g.strain.is_none());
        let h = 1e-5;
        for atom in 0..4 {
            for alpha in 0..3 {
                let (mut p, mut m) = (positions.clone(), positions.clone());
                p[atom][alpha] += h;
                m[atom][alpha] -= h;
                let fd = (energy(&open(p), &q) - energy(&open(m), &q)) / (2.0 * h);
                assert!((fd - g.positions[atom][alpha]).abs() < 1e-6 * fd.abs().max(1.0));
            }
        }
    }

    #[test]
    fn one_and_two_threads_are_bitwise_equal() {
        let (system, q) = triclinic(None, None);
        let run = |t| {
            crate::threads::with_threads(t, || coulomb_gradients(&system, &q, 1e-10).unwrap())
                .unwrap()
        };
        let (a, b) = (run(1), run(2));
        assert!(a
            .positions
            .iter()
            .flatten()
            .zip(b.positions.iter().flatten())
            .all(|(x, y)| x.to_bits() == y.to_bits()));
        assert!(a
            .strain
            .unwrap()
            .iter()
            .flatten()
            .zip(b.strain.unwrap().iter().flatten())
            .all(|(x, y)| x.to_bits() == y.to_bits()));
    }
}
