//! The Coulomb energy of a finite system by the direct pair sum.

use rayon::prelude::*;

use crate::error::Result;
use crate::systems::Vec3;
use crate::systems::OVERLAP_DISTANCE;

/// Centres per parallel task.
const CENTERS_PER_TASK: usize = 64;

/// `Σ_{i<j} q_i q_j / |r_i − r_j|` (units of `k_e`: e²/Å), over all pairs, `O(N²)`.
///
/// Runs over fixed chunks of `i` in the current rayon pool, partial sums added in order:
/// bitwise identical for any number of threads. Errors: `InvalidInput` when the lengths differ
/// or two charged atoms are closer than [`OVERLAP_DISTANCE`].
pub fn direct_energy(positions: &[Vec3], charges: &[f64]) -> Result<f64> {
    if charges.len() != positions.len() {
        crate::bail_input!("{} charges for {} atoms", charges.len(), positions.len());
    }
    let n = positions.len();
    let partials: Vec<Result<f64>> = (0..n.div_ceil(CENTERS_PER_TASK))
        .into_par_iter()
        .map(|task| {
            crate::threads::check_cancelled()?;
            let begin = task * CENTERS_PER_TASK;
            let mut sum = 0.0;
            for i in begin..(begin + CENTERS_PER_TASK).min(n) {
                let (ri, qi) = (positions[i], charges[i]);
                let mut potential = 0.0;
                for j in i + 1..n {
                    let rj = positions[j];
                    let d = [rj[0] - ri[0], rj[1] - ri[1], rj[2] - ri[2]];
                    let r = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
                    let qj = charges[j];
                    if qi * qj == 0.0 {
                        continue;
                    }
                    if r < OVERLAP_DISTANCE {
                        crate::bail_input!(
                            "charged atoms {i} and {j} are {r:.3e} Å apart: overlapping point \
                             charges have an infinite energy"
                        );
                    }
                    potential += qj / r;
                }
                sum += qi * potential;
            }
            Ok(sum)
        })
        .collect();
    let mut total = 0.0;
    for partial in partials {
        total += partial?;
    }
    Ok(total)
}
