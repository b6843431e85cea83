//! Direct enumeration of the periodic images of one atom within the cutoff, for cells so small
//! (relative to the cutoff) that a cell list would visit every atom several times anyway.
//!
//! For `d(S) = d_0 + s_a a + s_b b + s_c c` (`d_0 = r_j − r_i`, rows `a, b, c` of the cell
//! matrix), the shifts with `|d(S)| < R` are found level by level (Fincke–Pohst), each level's
//! range from a lower bound of `|d|` that does not depend on the shifts still free:
//!
//! - `s_a`: the component of `d` along the unit normal `n_a` of the `(b, c)` plane,
//!   `n_a · d = n_a · d_0 + s_a h_a`, so `|n_a · d_0 + s_a h_a| < R`;
//! - `s_b` (given `s_a`, `e = d_0 + s_a a`): the part of `d` orthogonal to `c`,
//!   `|P e + s_b P b| < R` with `P = 1 − ĉ ĉᵀ`, a quadratic in `s_b`;
//! - `s_c` (given both, `e' = e + s_b b`): `|e' + s_c c| < R`, a quadratic in `s_c`.
//!
//! Loops run `s_a`, then `s_b`, then `s_c` in increasing order, so the images of one atom come
//! out sorted by shift. The ranges are only a filter, widened by a margin for round-off: the
//! caller applies the exact test to every candidate.

use crate::systems::{Cell, Vec3};

/// The cell geometry the enumeration needs, computed once per structure.
pub(super) struct Lattice {
    vectors: [Vec3; 3],
    pbc: [bool; 3],
    /// Unit normal of the `(b, c)` plane divided by `a · n_a` (signed): `n_a · d / h_a`.
    normal_a: Vec3,
    /// `1/|h_a|`.
    inv_height_a: f64,
    /// `ĉ`, and `P b = b − (b · ĉ) ĉ`.
    c_hat: Vec3,
    b_perp: Vec3,
    /// `1/|P b|²`, `1/|P b|`, `1/|c|²` and `1/|c|`.
    inv_b_perp2: f64,
    inv_b_perp: f64,
    inv_c2: f64,
    inv_c: f64,
}

fn dot(a: Vec3, b: Vec3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn axpy(x: Vec3, s: f64, v: Vec3) -> Vec3 {
    [x[0] + s * v[0], x[1] + s * v[1], x[2] + s * v[2]]
}

/// `⌈v⌉` and `⌊v⌋` for `|v| < 2³¹`, without a call to the C library (`f64::ceil` is one on
/// x86-64 without SSE4.1).
#[inline(always)]
fn ceil(v: f64) -> i32 {
    let t = v as i32;
    t + ((t as f64) < v) as i32
}

#[inline(always)]
fn floor(v: f64) -> i32 {
    let t = v as i32;
    t - ((t as f64) > v) as i32
}

/// Integers `s` with `|center − s| ≤ half`.
#[inline(always)]
fn around(center: f64, half: f64) -> std::ops::RangeInclusive<i32> {
    ceil(center - half)..=floor(center + half)
}

/// Integers `s` with `|center − s| ≤ √half2 · inv_scale`; empty for a negative `half2`.
#[inline(always)]
fn range(center: f64, half2: f64, inv_scale: f64) -> std::ops::RangeInclusive<i32> {
    if half2.is_nan() || half2 < 0.0 {
        return std::ops::RangeInclusive::new(1, 0);
    }
    around(center, half2.sqrt() * inv_scale)
}

impl Lattice {
    pub fn new(cell: &Cell) -> Lattice {
        let [a, b, c] = *cell.matrix();
        let n = [
            b[1] * c[2] - b[2] * c[1],
            b[2] * c[0] - b[0] * c[2],
            b[0] * c[1] - b[1] * c[0],
        ];
        let n_norm = dot(n, n).sqrt();
        let normal_a = n.map(|x| x / n_norm);
        let height_a = dot(a, normal_a);
        let c2 = dot(c, c);
        let c_hat = c.map(|x| x / c2.sqrt());
        let b_perp = axpy(b, -dot(b, c_hat), c_hat);
        let b_perp2 = dot(b_perp, b_perp);
        Lattice {
            vectors: [a, b, c],
            pbc: cell.pbc(),
            normal_a: normal_a.map(|x| x / height_a),
            inv_height_a: 1.0 / height_a.abs(),
            c_hat,
            b_perp,
            inv_b_perp2: 1.0 / b_perp2,
            inv_b_perp: 1.0 / b_perp2.sqrt(),
            inv_c2: 1.0 / c2,
            inv_c: 1.0 / c2.sqrt(),
        }
    }

    /// Call `visit(shift)` for every shift `S` (zero along non-periodic directions) with
    /// `|d_0 + S · M| < reach` (and possibly a few more just outside: `reach` should include a
    /// margin for round-off), in increasing `(s_a, s_b, s_c)` order.
    #[inline]
    pub fn images(&self, d0: Vec3, reach: f64, mut visit: impl FnMut([i32; 3])) {
        debug_assert!(reach.is_finite());
        let [a, b, c] = self.vectors;
        let reach2 = reach * reach;
        let range_a = if self.pbc[0] {
            // n_a · d / h_a = along + s_a, and |n_a · d| < reach
            let along = dot(self.normal_a, d0);
            around(-along, reach * self.inv_height_a)
        } else {
            0..=0
        };
        for sa in range_a {
            let e = axpy(d0, sa as f64, a);
            let range_b = if self.pbc[1] {
                let u = axpy(e, -dot(e, self.c_hat), self.c_hat);
                let uw = dot(u, self.b_perp);
                let perp2 = dot(u, u) - uw * uw * self.inv_b_perp2;
                range(-uw * self.inv_b_perp2, reach2 - perp2, self.inv_b_perp)
            } else {
                0..=0
            };
            for sb in range_b {
                let e = axpy(e, sb as f64, b);
                let range_c = if self.pbc[2] {
                    let ec = dot(e, c);
                    let perp2 = dot(e, e) - ec * ec * self.inv_c2;
                    range(-ec * self.inv_c2, reach2 - perp2, self.inv_c)
                } else {
                    0..=0
                };
                for sc in range_c {
                    visit([sa, sb, sc]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_ceil_and_floor() {
        for v in [
            -3.0, -2.5, -2.0, -1e-300, -0.0, 0.0, 1e-300, 0.5, 1.0, 7.999, 1e9,
        ] {
            assert_eq!(ceil(v), v.ceil() as i32, "{v}");
            assert_eq!(floor(v), v.floor() as i32, "{v}");
        }
    }
}
