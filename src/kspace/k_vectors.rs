//! Reciprocal lattice vectors inside a sphere, one of each `±k` pair.

use crate::error::Result;
use crate::systems::{Cell, Mat3, Vec3};

/// Largest number of k-vectors [`k_vectors`] agrees to enumerate (estimated before enumerating).
///
/// Every k-vector costs `O(N)` work per structure and `O(n_cols)` basis values per block; above
/// this count the reciprocal route is the wrong tool (an Ewald split is much cheaper).
pub const MAX_K_VECTORS: f64 = 5e7;

/// Largest integer index along any reciprocal direction (guards degenerate-looking cells).
const MAX_INDEX: f64 = 1e7;

/// The reciprocal lattice vectors `k = h b₁ + k b₂ + l b₃` with `0 < |k| < k_c`, one of each
/// `±k` pair.
///
/// Half-space rule on the integer indices `(h, k, l)`: the first non-zero index is positive,
/// i.e. `h > 0`, or `h = 0, k > 0`, or `h = k = 0, l > 0`. In particular `h ≥ 0` always.
///
/// Order: lexicographic in `(h, k, l)`. For a fixed `(h, k)` the valid `l` form one run of
/// consecutive integers (`|k|²` is convex in `l`), so consecutive vectors mostly differ by `b₃`:
/// the phase factors of a run are one complex product per entry from a table of `e^{ilθ₃}`
/// (see [`super::phases_into`]), and a block of consecutive vectors spans few values of `h`.
/// Norms are not sorted ([`super::Shells`] sorts and groups them).
///
/// The Cartesian vector of indices `n` is computed as `n₁ b₁ + n₂ b₂ + n₃ b₃` (that expression,
/// in that order), with `b_i` the rows of [`Cell::reciprocal`] (`a_i · b_j = 2π δ_ij`).
#[derive(Debug, Clone, PartialEq)]
pub struct KVectors {
    indices: Vec<[i32; 3]>,
    vectors: Vec<Vec3>,
    norms: Vec<f64>,
    reciprocal: Mat3,
    k_cutoff: f64,
    volume: f64,
}

impl KVectors {
    /// Number of k-vectors (half of the full sphere's, `k = 0` excluded).
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// True when no reciprocal lattice vector lies inside the cutoff.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// Integer indices `(h, k, l)`, shape `(len, 3)`.
    pub fn indices(&self) -> &[[i32; 3]] {
        &self.indices
    }

    /// Cartesian vectors (Å⁻¹), shape `(len, 3)`.
    pub fn vectors(&self) -> &[Vec3] {
        &self.vectors
    }

    /// Norms `|k|` (Å⁻¹).
    pub fn norms(&self) -> &[f64] {
        &self.norms
    }

    /// Reciprocal basis vectors `b_i` as rows (Å⁻¹).
    pub fn reciprocal(&self) -> &Mat3 {
        &self.reciprocal
    }

    /// The cutoff the vectors were enumerated for (Å⁻¹).
    pub fn k_cutoff(&self) -> f64 {
        self.k_cutoff
    }

    /// Volume of the cell (Å³), for the `4π/V` prefactors of the callers.
    pub fn volume(&self) -> f64 {
        self.volume
    }

    /// The same vectors in the order `order` (a permutation of `0..len`).
    pub(crate) fn permuted(&self, order: &[usize]) -> KVectors {
        debug_assert_eq!(order.len(), self.len());
        KVectors {
            indices: order.iter().map(|&k| self.indices[k]).collect(),
            vectors: order.iter().map(|&k| self.vectors[k]).collect(),
            norms: order.iter().map(|&k| self.norms[k]).collect(),
            reciprocal: self.reciprocal,
            k_cutoff: self.k_cutoff,
            volume: self.volume,
        }
    }

    /// The same integer indices in another fully periodic `cell` (vectors, norms, reciprocal
    /// basis and volume recomputed; the cutoff is kept as a label). Under a strain `ε` the
    /// vectors move as `k → (1 + ε)^{−T} k` while the set stays fixed (`docs/math.md` §13):
    /// this is that set in the strained cell, for finite differences of strain gradients.
    pub fn in_cell(&self, cell: &Cell) -> Result<KVectors> {
        cell.require_fully_periodic("k-vectors")?;
        let b = cell.reciprocal();
        let vectors: Vec<Vec3> = self.indices.iter().map(|&n| cartesian(&b, n)).collect();
        Ok(KVectors {
            indices: self.indices.clone(),
            norms: vectors.iter().map(|&v| norm(v)).collect(),
            vectors,
            reciprocal: b,
            k_cutoff: self.k_cutoff,
            volume: cell.volume(),
        })
    }

    /// Largest `|index|` along each reciprocal direction over the whole set (0 when empty).
    pub fn max_indices(&self) -> [i32; 3] {
        let mut max = [0; 3];
        for n in &self.indices {
            for d in 0..3 {
                max[d] = max[d].max(n[d].abs());
            }
        }
        max
    }
}

pub(crate) fn dot(a: Vec3, b: Vec3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

pub(crate) fn norm(a: Vec3) -> f64 {
    dot(a, a).sqrt()
}

/// Cartesian vector of integer indices `n` in the reciprocal basis `b` (the one expression used
/// everywhere, so that enumeration and tests agree to the last bit).
pub(crate) fn cartesian(b: &Mat3, n: [i32; 3]) -> Vec3 {
    let (h, k, l) = (n[0] as f64, n[1] as f64, n[2] as f64);
    [
        h * b[0][0] + k * b[1][0] + l * b[2][0],
        h * b[0][1] + k * b[1][1] + l * b[2][1],
        h * b[0][2] + k * b[1][2] + l * b[2][2],
    ]
}

/// True when `n` is the representative of the pair `±n` (first non-zero index positive).
pub(crate) fn in_half_space(n: [i32; 3]) -> bool {
    n[0] > 0 || (n[0] == 0 && (n[1] > 0 || (n[1] == 0 && n[2] > 0)))
}

/// Integer range `[lo, hi]` containing every integer `x` with `a x² + 2 b x + c < 0` (`a > 0`),
/// widened by one on each side against rounding; `None` when the quadratic has no real root.
fn quadratic_range(a: f64, b: f64, c: f64) -> Option<(i64, i64)> {
    let disc = b * b - a * c;
    if disc < 0.0 {
        return None;
    }
    let root = disc.sqrt();
    let lo = ((-b - root) / a).ceil() as i64 - 1;
    let hi = ((-b + root) / a).floor() as i64 + 1;
    Some((lo, hi))
}

/// All reciprocal lattice vectors of a fully periodic `cell` with `0 < |k| < k_cutoff`, one of
/// each `±k` pair (see [`KVectors`] for the half-space rule and the order).
///
/// Enumeration, for any triclinic cell: the index along `b_i` is `n_i = k · a_i / 2π`, so
/// `|n_i| ≤ |k| |a_i| / 2π < k_c |a_i| / 2π` (Cauchy–Schwarz) bounds `h`. For each `h`, the
/// `k` for which some real `l` reaches the sphere are those where the component of
/// `h b₁ + k b₂` perpendicular to `b₃` is shorter than `k_c` (a quadratic in `k`); for each
/// `(h, k)`, `|h b₁ + k b₂ + l b₃|² < k_c²` is a quadratic in `l`. Each range is solved exactly
/// and widened by one index against rounding, then every candidate is tested with its computed
/// norm, so the loop visits `O(N_k)` candidates even for strongly skewed cells and misses none.
///
/// Errors: `InvalidInput` when the cell is not periodic in all three directions;
/// `InvalidParameter` when `k_cutoff` is not finite and positive, or when the expected count
/// `V k_c³ / 12π²` exceeds [`MAX_K_VECTORS`].
pub fn k_vectors(cell: &Cell, k_cutoff: f64) -> Result<KVectors> {
    cell.require_fully_periodic("k-vectors")?;
    if !k_cutoff.is_finite() || k_cutoff <= 0.0 {
        crate::bail_param!("k_cutoff must be finite and positive, got {k_cutoff}");
    }
    let volume = cell.volume();
    let pi = std::f64::consts::PI;
    let expected = volume * k_cutoff.powi(3) / (12.0 * pi * pi);
    if expected > MAX_K_VECTORS {
        crate::bail_param!(
            "k_cutoff = {k_cutoff} Å⁻¹ in a cell of volume {volume:.4e} Å³ needs about {expected:.3e} \
             k-vectors (more than the limit of {MAX_K_VECTORS:.1e}); use a larger smearing or a \
             looser accuracy (smaller k_cutoff), or the Ewald-split method for large cells"
        );
    }

    let a = cell.matrix();
    let b = cell.reciprocal();
    let bound = |d: usize| k_cutoff * norm(a[d]) / (2.0 * pi);
    for d in 0..3 {
        if bound(d) > MAX_INDEX {
            crate::bail_param!(
                "k_cutoff = {k_cutoff} Å⁻¹ reaches index {:.3e} along reciprocal vector {d} \
                 (limit {MAX_INDEX:.0e}): the cell is too elongated or skewed for the reciprocal \
                 route; reduce the cell to a less skewed one or use the Ewald-split method",
                bound(d)
            );
        }
    }
    // rigorous bounds |n_i| < k_c |a_i| / 2π, plus one against rounding
    let max = [0, 1, 2].map(|d| bound(d).floor() as i64 + 1);

    // components of b₁, b₂ perpendicular to b₃
    let b3 = b[2];
    let b3_sq = dot(b3, b3);
    let perp = |v: Vec3| {
        let t = dot(v, b3) / b3_sq;
        [v[0] - t * b3[0], v[1] - t * b3[1], v[2] - t * b3[2]]
    };
    let (p1, p2) = (perp(b[0]), perp(b[1]));
    let (p11, p12, p22) = (dot(p1, p1), dot(p1, p2), dot(p2, p2));
    let kc_sq = k_cutoff * k_cutoff;

    let mut found: Vec<([i32; 3], Vec3, f64)> = Vec::with_capacity(expected.ceil() as usize + 16);
    for h in 0..=max[0] {
        let hf = h as f64;
        let Some((k_lo, k_hi)) = quadratic_range(p22, hf * p12, hf * hf * p11 - kc_sq) else {
            continue;
        };
        let k_lo = if h == 0 { 0 } else { k_lo.max(-max[1]) };
        for k in k_lo..=k_hi.min(max[1]) {
            let v = cartesian(&b, [h as i32, k as i32, 0]);
            let Some((l_lo, l_hi)) = quadratic_range(b3_sq, dot(v, b3), dot(v, v) - kc_sq) else {
                continue;
            };
            for l in l_lo.max(-max[2])..=l_hi.min(max[2]) {
                let n = [h as i32, k as i32, l as i32];
                if !in_half_space(n) {
                    continue;
                }
                let vector = cartesian(&b, n);
                let kn = norm(vector);
                if kn < k_cutoff {
                    found.push((n, vector, kn));
                }
            }
        }
    }
    // the loops above visit (h, k, l) in lexicographic order already
    debug_assert!(found.windows(2).all(|w| w[0].0 < w[1].0));

    Ok(KVectors {
        indices: found.iter().map(|f| f.0).collect(),
        vectors: found.iter().map(|f| f.1).collect(),
        norms: found.iter().map(|f| f.2).collect(),
        reciprocal: b,
        k_cutoff,
        volume,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::collections::HashSet;

    /// Every k-vector inside the cutoff found by scanning a box `margin` times wider than the
    /// rigorous index bounds.
    fn brute_force(cell: &Cell, k_cutoff: f64, margin: i32) -> HashSet<[i32; 3]> {
        let b = cell.reciprocal();
        let a = cell.matrix();
        let m: Vec<i32> = (0..3)
            .map(|d| margin * ((k_cutoff * norm(a[d]) / (2.0 * std::f64::consts::PI)) as i32 + 2))
            .collect();
        let mut set = HashSet::new();
        for h in -m[0]..=m[0] {
            for k in -m[1]..=m[1] {
                for l in -m[2]..=m[2] {
                    let n = [h, k, l];
                    if in_half_space(n) && norm(cartesian(&b, n)) < k_cutoff {
                        set.insert(n);
                    }
                }
            }
        }
        set
    }

    fn random_skewed_cell(rng: &mut StdRng, skew: f64) -> Cell {
        loop {
            let mut m = [[0.0; 3]; 3];
            for (d, row) in m.iter_mut().enumerate() {
                for (e, x) in row.iter_mut().enumerate() {
                    *x = if d == e {
                        rng.random_range(2.0..6.0)
                    } else {
                        rng.random_range(-skew..skew)
                    };
                }
            }
            if let Ok(cell) = Cell::new(m, [true; 3]) {
                if cell.face_distances().iter().all(|&h| h > 0.5) {
                    return cell;
                }
            }
        }
    }

    #[test]
    fn complete_and_unique_on_skewed_cells() {
        let mut rng = StdRng::seed_from_u64(17);
        for trial in 0..24 {
            let skew = if trial < 8 { 1.0 } else { 6.0 };
            let cell = random_skewed_cell(&mut rng, skew);
            let k_cutoff = rng.random_range(1.0..4.0);
            let kv = k_vectors(&cell, k_cutoff).unwrap();
            let expected = brute_force(&cell, k_cutoff, 3);
            let got: HashSet<[i32; 3]> = kv.indices().iter().copied().collect();
            assert_eq!(got.len(), kv.len(), "duplicates in trial {trial}");
            assert_eq!(got, expected, "trial {trial}: {:?}", cell.matrix());
            // ±k never both present, k = 0 absent
            for n in kv.indices() {
                assert!(!got.contains(&[-n[0], -n[1], -n[2]]));
                assert_ne!(*n, [0, 0, 0]);
            }
            // lexicographic order, consistent vectors and norms
            for w in kv.indices().windows(2) {
                assert!(w[0] < w[1]);
            }
            for ((n, v), &kn) in kv.indices().iter().zip(kv.vectors()).zip(kv.norms()) {
                assert_eq!(cartesian(kv.reciprocal(), *n), *v);
                assert_eq!(norm(*v), kn);
                assert!(kn > 0.0 && kn < k_cutoff);
            }
        }
    }

    #[test]
    fn very_skewed_cell_and_count_estimate() {
        // a cell with a 80° shear: index ranges are much wider than the sphere
        let cell = Cell::new(
            [[3.0, 0.0, 0.0], [17.0, 3.0, 0.0], [-11.0, 13.0, 3.0]],
            [true; 3],
        )
        .unwrap();
        let k_cutoff = 5.0;
        let kv = k_vectors(&cell, k_cutoff).unwrap();
        let expected = brute_force(&cell, k_cutoff, 2);
        let got: HashSet<[i32; 3]> = kv.indices().iter().copied().collect();
        assert_eq!(got, expected);
        // the count approaches V k_c³ / 12π²
        let pi = std::f64::consts::PI;
        let estimate = cell.volume() * k_cutoff.powi(3) / (12.0 * pi * pi);
        let ratio = kv.len() as f64 / estimate;
        assert!((ratio - 1.0).abs() < 0.1, "ratio {ratio}");
    }

    #[test]
    fn cubic_cell_counts() {
        // cubic cell of side 2π: k-vectors are the integer points, |n| < 1.5 gives the 6 + 12
        // neighbours of the origin, half of them kept
        let s = 2.0 * std::f64::consts::PI;
        let cell = Cell::new([[s, 0.0, 0.0], [0.0, s, 0.0], [0.0, 0.0, s]], [true; 3]).unwrap();
        let kv = k_vectors(&cell, 1.5).unwrap();
        assert_eq!(kv.len(), 9);
        assert_eq!(kv.indices()[0], [0, 0, 1]);
        assert_eq!(kv.max_indices(), [1, 1, 1]);
        assert!(k_vectors(&cell, 0.5).unwrap().is_empty());
    }

    #[test]
    fn errors() {
        let cube = Cell::new(
            [[10.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, 0.0, 10.0]],
            [true; 3],
        )
        .unwrap();
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                k_vectors(&cube, bad),
                Err(Error::InvalidParameter(_))
            ));
        }
        let slab = Cell::new(
            [[10.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, 0.0, 0.0]],
            [true, true, false],
        )
        .unwrap();
        assert!(matches!(k_vectors(&slab, 1.0), Err(Error::InvalidInput(_))));
        // memory guard: a 1000 Å cube at k_c = 20 Å⁻¹ would need ~7e9 vectors
        let big = Cell::new(
            [[1000.0, 0.0, 0.0], [0.0, 1000.0, 0.0], [0.0, 0.0, 1000.0]],
            [true; 3],
        )
        .unwrap();
        match k_vectors(&big, 20.0) {
            Err(Error::InvalidParameter(msg)) => {
                assert!(msg.contains("1.0000e9"), "{msg}");
                assert!(msg.contains("k-vectors"), "{msg}");
                assert!(msg.contains("smearing"), "{msg}");
            }
            other => panic!("expected the memory guard, got {other:?}"),
        }
    }
}
