//! The planner: which route computes each structure, by estimated cost where the method leaves
//! a choice (`docs/math.md` §8.1; [`LodeCalculator::plan`]), and the dispatch to the chosen route's module
//! (`route/`).
//!
//! Costs are in units of one multiply-add of the k-space contraction ([`crate::cost`]): per
//! atom and k-vector the dense or shell cost (with the degeneracy expected from the cell's
//! symmetry); per pair `LODE_PAIR_COST_PER_COLUMN n_cols`; for the mesh, per transform
//! `MESH_FFT_COST M log₂M` (M mesh points) and per interpolation or spread
//! `MESH_STENCIL_COST N p³`, once per channel for the spread and forward transform and once
//! per (channel, column) for the inverse transform and interpolation.

use super::calculator::LodeCalculator;
use super::hypers::Method;
use super::image_tail::image_tail;
use super::plan::{EwaldSplit, Plan, Route};
use super::route::ewald::{eta, pair_cost, EwaldRoute, EWALD_SHARE, EWALD_STEPS};
use super::route::finite::FiniteRoute;
use super::route::mesh::MeshRoute;
use super::route::mesh_spacing::{mesh_dims, AUTO_ORDERS};
use super::route::pairs::PairsRoute;
use super::route::reciprocal::{estimated_k_count, kspace_cost, lattice_k_cutoff, ReciprocalRoute};
use super::route::slab::SlabRoute;
use super::route::{finite, mesh, pairs, reciprocal, slab, LodeRoute};
use crate::bail_param;
use crate::cost::{
    table_charge, LODE_JACOBIAN_MIN_SAVING, LODE_JACOBIAN_PAIR_COST_PER_COLUMN,
    LODE_JACOBIAN_PER_K, LODE_JACOBIAN_REPLAN_GAIN, LODE_JACOBIAN_SHELL_COST,
    LODE_PAIR_COST_PER_COLUMN, MESH_MIN_ATOMS,
};
use crate::error::Result;
use crate::kspace::{symmetry_degeneracy, JACOBIAN_SHELL_DEGENERACY};
use crate::radial::LodeRadialTable;
use crate::systems::{SlabGeometry, System};

/// Share of the accuracy for the images the `p = 0` pair route drops beyond its table's reach.
/// The envelope behind [`lattice_tail`] takes the largest `|f_nl|` or `|f'_nl|` at each
/// distance with unit harmonics and signs, so it overestimates the measured error 10× or more
/// (`docs/math.md` §7): a pair route is kept while the estimate is at most 4× the accuracy.
const PAIRS_TAIL_SHARE: f64 = 4.0;
/// Share of the accuracy for the images an Ewald or mesh short range drops beyond its reach,
/// bounded on the structure's own lattice ([`image_tail`], `docs/math.md` §7). The bound takes
/// every harmonic and sign aligned (the measured image errors are about half of it), so it gets
/// three quarters of the request beside the split's own bounds (a quarter each for the short
/// and the long range, and for the mesh's aliasing): at 1/2 (Ewald) or 1/4 (mesh) the dense
/// 12-atom cells of `tests/test_lode.py` (bounds up to 0.66× at `1e-10`) would be refused,
/// while their measured errors are below 0.8× in total.
const IMAGE_SHARE: f64 = 0.75;

/// Error per unit source of the `p = 0` pair route with `table` in `system`'s cell from the
/// images beyond the table's reach: the rigorous bound of [`LodeRadialTable::lattice_tail_bound`],
/// or, where smaller (always in practice: the envelope is steep over the `2ρ` the bound moves
/// inwards), its continuum estimate, the average over the lattice's shift (`docs/math.md` §7).
pub(super) fn lattice_tail(table: &LodeRadialTable, system: &System) -> f64 {
    let cell = system.cell();
    let volume = cell.volume();
    let bound = table.lattice_tail_bound(volume, cell.covering_radius());
    bound.min(table.lattice_tail_bound(volume, 0.0))
}

/// The planner's choice before its parameters are resolved.
enum Choice {
    Finite,
    Pairs,
    Reciprocal(f64),
    Ewald(i32),
    Mesh {
        step: i32,
        order: usize,
        spacing: f64,
    },
}

impl LodeCalculator {
    /// The plan `compute` follows for `system` with `n_channels` channels: the route, its
    /// parameters, and its estimated cost and memory. Finite systems get the real-space route,
    /// slabs the slab route around the cheapest periodic route of their vacuum cell; wires are
    /// refused.
    pub fn plan(&self, system: &System, n_channels: usize) -> Result<Plan> {
        self.choose(system, n_channels)
    }

    /// The route of one structure and its parameters (see [`Self::plan`]), from the cell cache
    /// when this cell was planned before (`super::cell_cache`).
    pub(super) fn choose(&self, system: &System, n_channels: usize) -> Result<Plan> {
        self.common.cells.plan(system, n_channels, || {
            self.choose_uncached(system, n_channels)
        })
    }

    /// The plan, and whether it holds for every positions in this cell (false when a small-cell
    /// image bound summed over these atoms' pairs decided it: such a plan is not cached).
    fn choose_uncached(&self, system: &System, n_channels: usize) -> Result<(Plan, bool)> {
        let common = &self.common;
        let cell = system.cell();
        if cell.is_periodic() && !cell.is_fully_periodic() {
            return Ok((self.choose_slab(system, n_channels)?, false));
        }
        let n = system.size() as f64;
        let (choice, cost, cell_only) = if !cell.is_fully_periodic() {
            (Choice::Finite, finite::cost(common, n), false)
        } else {
            self.choose_periodic(system, n_channels)?
        };
        let (route, memory) = self.resolve(choice, system, n_channels)?;
        let plan = Plan {
            route,
            cost,
            memory,
        };
        Ok((plan, cell_only))
    }

    /// The plan of `system`'s Jacobian (and of the values returned with it): the values' plan
    /// (`Self::choose`), except that with `method` `"auto"` or `"ewald"` and `p ≥ 1` an Ewald
    /// split replaces the values' split or reciprocal route when that makes the Jacobian at
    /// least [`LODE_JACOBIAN_REPLAN_GAIN`] times and [`LODE_JACOBIAN_MIN_SAVING`] cheaper by
    /// estimate (`Self::jacobian_cost`; small structures keep the values' plan):
    /// a Jacobian row's k-space part costs `N N_k 3 n_cols` and its pairs a constant each, so
    /// the optimum is at more real space and fewer k-vectors than the values'. The split must
    /// pass the same small-cell image bound as the values' choice (`image_tail`), and its
    /// long-range cutoff is the values' (`Self::split`; `docs/gradients.md`, cost).
    pub fn plan_jacobian(&self, system: &System, n_channels: usize) -> Result<Plan> {
        let plan = self.choose(system, n_channels)?;
        let common = &self.common;
        let h = &common.hypers;
        let n = system.size() as f64;
        let volume = system.cell().volume();
        let current = match &plan.route {
            Route::Ewald(split) => self.jacobian_cost(system, split.step)?,
            Route::Reciprocal { k_cutoff } if h.method == Method::Auto && h.exponent > 0 => {
                n * n * estimated_k_count(volume, *k_cutoff) * self.jacobian_per_k(system)
            }
            _ => return Ok(plan),
        };
        let mut steps = (1..=EWALD_STEPS)
            .map(|step| Ok((self.jacobian_cost(system, step)?, step)))
            .collect::<Result<Vec<(f64, i32)>>>()?;
        steps.sort_by(|a, b| a.0.total_cmp(&b.0));
        // the cheapest few steps that clear the gain (with their table's charge, estimated only
        // here: it takes longer than the rest), until one passes the tail check
        for &(cost, step) in steps.iter().take(4) {
            let cost = cost + table_charge(self.ewald.table_cost(common, step)?);
            if cost * LODE_JACOBIAN_REPLAN_GAIN > current
                || current - cost < LODE_JACOBIAN_MIN_SAVING
                || matches!(&plan.route, Route::Ewald(split) if split.step == step)
            {
                break;
            }
            let part = self.ewald.part(common, step)?;
            let allowance = IMAGE_SHARE * h.accuracy;
            if image_tail(&part.short_range, system, allowance).0 <= allowance {
                let split = self.split(step, Some(system))?;
                let memory = reciprocal::memory(common, system, split.k_cutoff, n_channels).0;
                return Ok(Plan {
                    route: Route::Ewald(split),
                    cost,
                    memory,
                });
            }
        }
        Ok(plan)
    }

    /// Estimated cost of a Jacobian row's k-space part per (atom, k-vector) in `system`'s
    /// cell: half the `3 n_cols` multiply-adds of the pair table (one per pair of atoms,
    /// [`crate::kspace::DenseJacobian`]), or by shells `3 (n_ang + n_cols / degeneracy)` at
    /// [`LODE_JACOBIAN_SHELL_COST`] when the cell's symmetry makes them degenerate enough;
    /// and the rest.
    fn jacobian_per_k(&self, system: &System) -> f64 {
        let n_cols = self.common.n_cols() as f64;
        let degeneracy = symmetry_degeneracy(system.cell());
        let table = if degeneracy >= JACOBIAN_SHELL_DEGENERACY {
            let n_ang = ((self.common.hypers.l_max + 1) * (self.common.hypers.l_max + 1)) as f64;
            LODE_JACOBIAN_SHELL_COST * 1.5 * (n_ang + n_cols / degeneracy)
        } else {
            1.5 * n_cols
        };
        table + LODE_JACOBIAN_PER_K
    }

    /// Estimated cost of the positions Jacobian of `system` on Ewald step `step`, in the unit
    /// of [`crate::cost`]: `N² N_k` times [`Self::jacobian_per_k`] for the k-space rows and
    /// `LODE_JACOBIAN_PAIR_COST_PER_COLUMN n_cols` per short-range pair.
    fn jacobian_cost(&self, system: &System, step: i32) -> Result<f64> {
        let common = &self.common;
        let n = system.size() as f64;
        let volume = system.cell().volume();
        let k_cutoff = self.ewald.long_range_cutoff(common, step)?;
        let n_k = estimated_k_count(volume, k_cutoff);
        let kspace = n * n * n_k * self.jacobian_per_k(system);
        let pairs = pair_cost(common, n, n / volume, eta(common, step))
            * (LODE_JACOBIAN_PAIR_COST_PER_COLUMN / LODE_PAIR_COST_PER_COLUMN);
        Ok(kspace + pairs)
    }

    /// A slab (`docs/math.md` §15): the vacuum cell's height from the accuracy, the cheapest
    /// periodic route of that cell, and the line correction's cost on top.
    fn choose_slab(&self, system: &System, n_channels: usize) -> Result<Plan> {
        let geometry = SlabGeometry::new(system)?;
        let length = slab::vacuum_length(&self.common, &geometry)?;
        let vacuum = geometry.vacuum_system(system, length)?;
        let (choice, cost, _) = self.choose_periodic(&vacuum, n_channels)?;
        let (inner, memory) = self.resolve(choice, &vacuum, n_channels)?;
        let n = system.size() as f64;
        Ok(Plan {
            route: Route::Slab {
                length,
                inner: Box::new(inner),
            },
            cost: cost + slab::line_cost(&self.common, n, n_channels),
            memory,
        })
    }

    /// The route of a choice, its parameters resolved, and its estimated memory.
    fn resolve(&self, choice: Choice, system: &System, n_channels: usize) -> Result<(Route, f64)> {
        let common = &self.common;
        Ok(match choice {
            Choice::Finite => (Route::Finite, finite::memory(common, system, n_channels)),
            Choice::Pairs => (
                Route::Pairs,
                reciprocal::memory(common, system, 0.0, n_channels).0,
            ),
            Choice::Reciprocal(k_cutoff) => (
                Route::Reciprocal { k_cutoff },
                reciprocal::memory(common, system, k_cutoff, n_channels).0,
            ),
            Choice::Ewald(step) => {
                let split = self.split(step, Some(system))?;
                let memory = reciprocal::memory(common, system, split.k_cutoff, n_channels).0;
                (Route::Ewald(split), memory)
            }
            Choice::Mesh {
                step,
                order,
                spacing,
            } => {
                let split = self.split(step, None)?;
                let dims = mesh_dims(system, spacing);
                let memory =
                    mesh::memory(common, system, split.k_cutoff, dims, order, n_channels).0;
                let route = Route::Mesh {
                    split,
                    spline_order: order,
                    mesh_spacing: spacing,
                    mesh: dims,
                };
                (route, memory)
            }
        })
    }

    /// k-cutoff of the reciprocal route in `system`'s cell: the given `k_cutoff`, else the
    /// continuum estimate, raised in a small cell to the lattice sum's
    /// ([`lattice_k_cutoff`], `docs/math.md` §7) where that is larger.
    fn reciprocal_cutoff(&self, system: &System) -> Result<f64> {
        let common = &self.common;
        if common.hypers.k_cutoff.is_some() {
            return Ok(common.k_cutoff);
        }
        let lattice = lattice_k_cutoff(
            &common.kernel,
            &common.kspace_radial,
            system.cell(),
            common.hypers.accuracy,
        )?;
        Ok(lattice.map_or(common.k_cutoff, |k| k.max(common.k_cutoff)))
    }

    /// The Ewald split of width `η(step)`. Its long-range k-cutoff is the continuum estimate for
    /// a quarter of the accuracy, raised in a small cell (`system` given: the Ewald route) to
    /// the lattice sum's ([`lattice_k_cutoff`] with the kernel of width `η`, `docs/math.md` §7)
    /// where that is larger. (The mesh route keeps the continuum cutoff: its spacing, chosen
    /// per calculator for that cutoff, resolves no mode beyond it.)
    fn split(&self, step: i32, system: Option<&System>) -> Result<EwaldSplit> {
        let common = &self.common;
        let mut k_cutoff = self.ewald.long_range_cutoff(common, step)?;
        if let Some(system) = system {
            let long =
                crate::math::power_law::PowerLaw::new(common.hypers.exponent, eta(common, step))?;
            let lattice = lattice_k_cutoff(
                &long,
                &common.kspace_radial,
                system.cell(),
                EWALD_SHARE * common.hypers.accuracy,
            )?;
            k_cutoff = lattice.map_or(k_cutoff, |k| k.max(k_cutoff));
        }
        Ok(EwaldSplit {
            eta: eta(common, step),
            k_cutoff,
            step,
        })
    }

    /// Route and estimated cost for one fully periodic structure. A pair-based choice is kept
    /// only if the images its short-range table drops are within their share of the accuracy:
    /// for the `p = 0` pairs the continuum estimate ([`lattice_tail`]), for an Ewald or mesh step
    /// the bound on the structure's lattice ([`image_tail`]); a failing Ewald step excludes it
    /// and every wider one (their tails are mostly longer) and the choice is repeated.
    /// `auto` falls back to the reciprocal route (always within the request); an explicit
    /// `ewald` or `mesh` with no step left is refused. The flag: whether the choice holds for
    /// any positions in this cell (false when an image bound over these atoms' pairs was used).
    fn choose_periodic(&self, system: &System, n_channels: usize) -> Result<(Choice, f64, bool)> {
        let common = &self.common;
        let h = &common.hypers;
        let volume = system.cell().volume();
        let n = system.size() as f64;
        let per_k = reciprocal::cost_per_k(common, system, n_channels);
        let k_rec = self.reciprocal_cutoff(system)?;
        let reciprocal_cost = kspace_cost(n, volume, k_rec, per_k);
        if h.k_cutoff.is_some() || h.method == Method::Reciprocal {
            return Ok((Choice::Reciprocal(k_rec), reciprocal_cost, true));
        }
        if h.exponent == 0 {
            // the Gaussian density is short ranged: real space over images is exact and cheap,
            // unless the cell is so small that the images beyond the reach add up (then the
            // reciprocal route, k = 0 term included; p = 0 has no Ewald split to choose)
            let table = self.finite.table(common)?;
            if lattice_tail(&table, system) <= PAIRS_TAIL_SHARE * h.accuracy {
                let density = n / volume;
                return Ok((Choice::Pairs, pairs::cost(common, n, density), true));
            }
            return Ok((Choice::Reciprocal(k_rec), reciprocal_cost, true));
        }
        let mut max_step = EWALD_STEPS;
        let mut narrowest = (0.0_f64, 0.0_f64);
        let mut cell_only = true;
        while max_step > 0 {
            let (choice, cost) = self.cheapest_periodic(system, n_channels, max_step, k_rec)?;
            let step = match choice {
                Choice::Ewald(step) | Choice::Mesh { step, .. } => step,
                Choice::Reciprocal(_) => return Ok((choice, cost, cell_only)),
                Choice::Finite | Choice::Pairs => unreachable!("not a p ≥ 1 periodic choice"),
            };
            let allowance = IMAGE_SHARE * h.accuracy;
            let part = self.ewald.part(common, step)?;
            let (tail, from_positions) = image_tail(&part.short_range, system, allowance);
            cell_only &= !from_positions;
            if tail <= allowance {
                return Ok((choice, cost, cell_only));
            }
            narrowest = (tail, allowance);
            max_step = step - 1;
        }
        if h.method == Method::Auto {
            return Ok((Choice::Reciprocal(k_rec), reciprocal_cost, cell_only));
        }
        let cell = system.cell();
        bail_param!(
            "method=\"{}\" cannot reach accuracy {:e} in this cell (volume {:.3} Å³, covering \
             radius {:.3} Å, smearing {} Å): the periodic images beyond the short-range reach of \
             the narrowest Ewald width may add up to {:.2e} per unit source (allowed: {:.2e}); use \
             method=\"reciprocal\" or \"auto\" for cells this small",
            h.method.name(),
            h.accuracy,
            volume,
            cell.covering_radius(),
            h.smearing,
            narrowest.0,
            narrowest.1
        )
    }

    /// The cheapest route for `p ≥ 1` among the reciprocal route (`auto` only) and the Ewald
    /// and mesh steps `1..=max_step` the method allows, by estimated cost. A step's cost
    /// includes the charge for building its short-range table ([`super::route::ewald::table_cost`],
    /// [`table_charge`]: amortised over many structures when cheap, in full when large).
    fn cheapest_periodic(
        &self,
        system: &System,
        n_channels: usize,
        max_step: i32,
        k_rec: f64,
    ) -> Result<(Choice, f64)> {
        let common = &self.common;
        let h = &common.hypers;
        let volume = system.cell().volume();
        let n = system.size() as f64;
        let density = n / volume;
        let per_k = reciprocal::cost_per_k(common, system, n_channels);
        let reciprocal_cost = kspace_cost(n, volume, k_rec, per_k);
        let log_acc = (1.0 / h.accuracy).ln();
        let mut ewald: Option<(f64, i32)> = None;
        let mut best_mesh: Option<(f64, Choice)> = None;
        let try_mesh = match h.method {
            Method::Mesh => true,
            Method::Auto => n >= MESH_MIN_ATOMS,
            _ => false,
        };
        let try_ewald = matches!(h.method, Method::Ewald | Method::Auto);
        // the charge for each step's table
        let tables = (1..=max_step)
            .map(|step| Ok(table_charge(self.ewald.table_cost(common, step)?)))
            .collect::<Result<Vec<f64>>>()?;
        let table = |step: i32| tables[step as usize - 1];
        if try_ewald {
            for step in 1..=max_step {
                let table = table(step);
                let eta = eta(common, step);
                let k_cut = ((2.0 * log_acc).sqrt() / eta).min(common.k_cutoff);
                let cost = pair_cost(common, n, density, eta)
                    + kspace_cost(n, volume, k_cut, per_k)
                    + table;
                if ewald.is_none_or(|(c, _)| cost < c) {
                    ewald = Some((cost, step));
                }
            }
        }
        // the cheapest route so far: a mesh step whose pairs alone cost more cannot win, so its
        // error model (the expensive part of the choice) is not evaluated
        let mut bound = ewald.map_or(f64::INFINITY, |(c, _)| c);
        if h.method == Method::Auto {
            bound = bound.min(reciprocal_cost);
        }
        for step in 1..=max_step {
            let pairs = pair_cost(common, n, density, eta(common, step)) + table(step);
            if try_mesh && pairs < bound {
                let orders: &[usize] = match h.spline_order {
                    Some(ref p) => std::slice::from_ref(p),
                    None => &AUTO_ORDERS,
                };
                for &order in orders {
                    let spacing = self.mesh.spacing(common, &self.ewald, step, order)?;
                    let dims = mesh_dims(system, spacing);
                    let cost = mesh::cost(common, n, n_channels, pairs, dims, order);
                    if best_mesh.as_ref().is_none_or(|(c, _)| cost < *c) {
                        bound = bound.min(cost);
                        best_mesh = Some((
                            cost,
                            Choice::Mesh {
                                step,
                                order,
                                spacing,
                            },
                        ));
                    }
                }
            }
        }
        let mut best = (reciprocal_cost, Choice::Reciprocal(k_rec));
        if h.method != Method::Auto {
            best.0 = f64::INFINITY;
        }
        if let Some((cost, step)) = ewald {
            if cost < best.0 {
                best = (cost, Choice::Ewald(step));
            }
        }
        if let Some((cost, choice)) = best_mesh {
            if cost < best.0 {
                best = (cost, choice);
            }
        }
        Ok((best.1, best.0))
    }

    /// The route of `plan`, its tables built or taken from the cache; `structure` names the
    /// structure in error messages.
    pub(super) fn prepare(&self, plan: &Plan, structure: usize) -> Result<Box<dyn LodeRoute + '_>> {
        self.prepare_route(&plan.route, structure)
    }

    fn prepare_route(&self, route: &Route, structure: usize) -> Result<Box<dyn LodeRoute + '_>> {
        let common = &self.common;
        Ok(match route {
            Route::Finite => Box::new(FiniteRoute {
                common,
                table: self.finite.table(common)?,
                structure,
            }),
            Route::Pairs => Box::new(PairsRoute {
                common,
                table: self.finite.table(common)?,
            }),
            Route::Reciprocal { k_cutoff } => Box::new(ReciprocalRoute::new(common, *k_cutoff)),
            Route::Ewald(split) => Box::new(EwaldRoute::new(
                common,
                self.ewald.part(common, split.step)?,
            )?),
            Route::Mesh {
                split,
                spline_order,
                mesh,
                ..
            } => Box::new(MeshRoute::new(
                common,
                self.ewald.part(common, split.step)?,
                *mesh,
                *spline_order,
            )?),
            Route::Slab { length, inner } => Box::new(SlabRoute::new(
                common,
                self.prepare_route(inner, structure)?,
                *length,
            )),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expansion::LodeHypers;

    fn calculator(method: Method, exponent: u32) -> LodeCalculator {
        LodeCalculator::new(LodeHypers {
            cutoff: 3.0,
            smearing: 1.0,
            n_max: 3,
            l_max: 2,
            exponent,
            method,
            accuracy: 1e-5,
            ..LodeHypers::default()
        })
        .unwrap()
    }

    /// 24 atoms in a 12 Å cubic cell (a skewed copy below), deterministic.
    fn gas(skew: f64) -> System {
        let length = 12.0;
        let positions = (0..24)
            .map(|i| {
                let f = [
                    ((i * 37 + 3) % 101) as f64 / 101.0,
                    ((i * 59 + 11) % 103) as f64 / 103.0,
                    ((i * 71 + 5) % 107) as f64 / 107.0,
                ];
                [length * (f[0] + skew * f[1]), length * f[1], length * f[2]]
            })
            .collect();
        let cell = [
            [length, 0.0, 0.0],
            [skew * length, length, 0.0],
            [0.0, 0.0, length],
        ];
        System::new(positions, vec![1; 24], cell, [true; 3]).unwrap()
    }

    /// Each method gets its route; `auto` costs no more than any route it chooses among (it
    /// minimises over the same candidates); the plan's parameters are the ones its route uses.
    #[test]
    fn plans_follow_the_method_and_auto_is_the_cheapest() {
        for system in [gas(0.0), gas(0.3)] {
            let reciprocal = calculator(Method::Reciprocal, 1).plan(&system, 2).unwrap();
            let ewald = calculator(Method::Ewald, 1).plan(&system, 2).unwrap();
            let auto = calculator(Method::Auto, 1).plan(&system, 2).unwrap();
            let mesh = calculator(Method::Mesh, 1).plan(&system, 2).unwrap();
            assert!(matches!(reciprocal.route, Route::Reciprocal { .. }));
            let Route::Ewald(split) = ewald.route else {
                panic!("{ewald:?}")
            };
            assert!(split.eta > 1.0 && split.k_cutoff > 0.0);
            assert!(
                (split.eta - 2f64.powf(split.step as f64 / 4.0)).abs() < 1e-12,
                "{split:?}"
            );
            let Route::Mesh { mesh: dims, .. } = mesh.route else {
                panic!("{mesh:?}")
            };
            assert!(dims.iter().all(|&d| d > 0));
            assert!(
                auto.cost <= reciprocal.cost && auto.cost <= ewald.cost,
                "{auto:?}"
            );
            assert!(auto.cost == reciprocal.cost || auto.cost == ewald.cost);
            for plan in [&reciprocal, &ewald, &auto, &mesh] {
                assert!(plan.cost > 0.0 && plan.memory > 0.0, "{plan:?}");
            }
        }
        let p0 = calculator(Method::Auto, 0).plan(&gas(0.0), 1).unwrap();
        assert_eq!(p0.route, Route::Pairs);
        let finite = System::new(
            vec![[0.0; 3], [1.5, 0.0, 0.0]],
            vec![1, 1],
            [[0.0; 3]; 3],
            [false; 3],
        )
        .unwrap();
        let plan = calculator(Method::Ewald, 1).plan(&finite, 1).unwrap();
        assert_eq!(plan.route, Route::Finite);
    }

    /// A slab gets the slab route around the method's periodic route for its vacuum cell,
    /// taller than the slab; a wire is refused.
    #[test]
    fn slabs_plan_a_vacuum_cell_and_wires_are_refused() {
        let cell = gas(0.2).cell().matrix().to_owned();
        let positions = gas(0.2).positions().to_vec();
        let slab = System::new(positions.clone(), vec![1; 24], cell, [true, true, false]).unwrap();
        for method in [Method::Reciprocal, Method::Ewald, Method::Auto] {
            let plan = calculator(method, 1).plan(&slab, 1).unwrap();
            let Route::Slab { length, inner } = &plan.route else {
                panic!("{plan:?}")
            };
            assert!(*length > 12.0, "{plan:?}");
            if method == Method::Reciprocal {
                assert!(matches!(**inner, Route::Reciprocal { .. }), "{plan:?}");
            }
            if method == Method::Ewald {
                assert!(matches!(**inner, Route::Ewald(_)), "{plan:?}");
            }
            assert_eq!(plan.route.name(), "slab");
        }
        let wire = System::new(positions, vec![1; 24], cell, [false, true, false]).unwrap();
        assert!(calculator(Method::Auto, 1).plan(&wire, 1).is_err());
    }

    /// In a 2 Å cube with σ = 1 Å the images beyond the pair tables' reach add up: `auto`
    /// takes the reciprocal route for p = 0 and p = 1, an explicit `ewald` or `mesh` is refused
    /// with an error naming the cell and the fix; in the 12 Å cell the pair routes stay.
    #[test]
    fn small_cells_leave_the_pair_routes() {
        let positions = vec![[0.1, 0.2, 0.3], [1.1, 0.9, 1.4]];
        let cell = [[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]];
        let small = System::new(positions, vec![1, 1], cell, [true; 3]).unwrap();
        for p in [0, 1] {
            let plan = calculator(Method::Auto, p).plan(&small, 1).unwrap();
            assert!(matches!(plan.route, Route::Reciprocal { .. }), "{plan:?}");
        }
        for method in [Method::Ewald, Method::Mesh] {
            let error = calculator(method, 1)
                .plan(&small, 1)
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("covering radius") && error.contains("method=\"reciprocal\""),
                "{error}"
            );
        }
        let large = calculator(Method::Ewald, 1).plan(&gas(0.0), 1).unwrap();
        assert!(matches!(large.route, Route::Ewald(_)), "{large:?}");
    }
}
