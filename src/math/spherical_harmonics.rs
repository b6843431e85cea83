//! Real spherical harmonics `Y_lm(r̂)` and their Cartesian gradients.
//!
//! Orthonormal on the unit sphere; `Y_{1,-1} ∝ y`, `Y_{1,0} ∝ z`, `Y_{1,1} ∝ x` (no Condon–Shortley
//! sign: `Y_11 = +√(3/4π) x/r`); stored at index `l² + l + m`.
//!
//! # Definition and algorithm
//!
//! For a unit vector `(x, y, z)` and `m ≥ 0`,
//!
//! ```text
//! Y_l0   = Q̄_l^0(z)
//! Y_lm   = Q̄_l^m(z) C_m(x, y),      C_m + i S_m = (x + i y)^m
//! Y_l,-m = Q̄_l^m(z) S_m(x, y)
//! ```
//!
//! where `Q̄_l^m(z) = N_lm d^m P_l(z)/dz^m` is the normalised *modified* associated Legendre
//! polynomial (the associated Legendre function without its `(1 − z²)^{m/2}` factor, which is
//! carried by `C_m`, `S_m`), `N_lm = √((2 − δ_m0)(2l + 1)/(4π) · (l − m)!/(l + m)!)`.
//! Everything is a polynomial in `x, y, z`: no trigonometric call and no division by `sin θ`,
//! so the poles need no special case.
//!
//! `Q̄` obeys the stable three-term recurrences (coefficients precomputed in [`SphericalHarmonics::new`])
//!
//! ```text
//! Q̄_0^0     = 1/√(4π),   Q̄_1^1 = √(3/4π),   Q̄_m^m = √((2m + 1)/(2m)) Q̄_{m-1}^{m-1}  (m ≥ 2)
//! Q̄_{m+1}^m = √(2m + 3) z Q̄_m^m
//! Q̄_l^m     = a_lm z Q̄_{l-1}^m − b_lm Q̄_{l-2}^m,
//!             a_lm = √((4l² − 1)/(l² − m²)),  b_lm = √(((l − 1)² − m²)(2l + 1)/((2l − 3)(l² − m²)))
//! ```
//!
//! and `C_m = x C_{m-1} − y S_{m-1}`, `S_m = x S_{m-1} + y C_{m-1}`.
//!
//! # Gradients
//!
//! With `f_lm(x, y, z)` the polynomial above, `Y_lm(r) = f_lm(r/|r|)` and
//! `∂Y_lm/∂r = (1 − r̂ r̂ᵀ) ∇f_lm(r̂) / |r|` (tangent to the sphere, scaling as `1/|r|`). The ambient
//! gradient uses `∂C_m/∂x = m C_{m-1}`, `∂C_m/∂y = −m S_{m-1}`, `∂S_m/∂x = m S_{m-1}`,
//! `∂S_m/∂y = m C_{m-1}`, and `dQ̄_l^m/dz = √((l − m)(l + m + 1)) · κ_m · Q̄_l^{m+1}` with
//! `κ_0 = 1/√2`, `κ_m = 1` otherwise (because `d/dz` of the `m`-th derivative of `P_l` is the
//! `(m+1)`-th; the `κ` undoes the `√2` of the `m > 0` normalisation).

use ndarray::{Array2, Array3, ArrayView2, Axis};

use crate::error::Result;
use crate::math::simd::with_avx2;
use crate::systems::Vec3;

/// Largest supported `l`.
pub const MAX_L: usize = 20;

/// Below this many vectors the batch methods stay on the calling thread.
const PARALLEL_BATCH: usize = 256;

/// Vectors handled together by [`SphericalHarmonics::compute_many`].
const LANES: usize = 16;

/// Evaluator for all `Y_lm` with `l ≤ l_max`.
#[derive(Debug, Clone)]
pub struct SphericalHarmonics {
    l_max: usize,
    /// `a_lm` at `lm_index(l, m)`, `m ≥ 0` part only (entries with `l ≤ m + 1` unused).
    a: Vec<f64>,
    /// `b_lm`, same layout as `a`.
    b: Vec<f64>,
    /// Diagonal factors `Q̄_m^m / Q̄_{m-1}^{m-1}` for `m = 1..=l_max` (index `m`).
    diagonal: Vec<f64>,
    /// `dQ̄_l^m/dz = d_lm Q̄_l^{m+1}`, same layout as `a`.
    derivative: Vec<f64>,
}

/// Index of `(l, m)` in the output arrays.
#[inline(always)]
pub fn lm_index(l: usize, m: isize) -> usize {
    (l * l + l).wrapping_add_signed(m)
}

/// `Y_00 = 1/√(4π) = 0.5/√π`, the constant spherical harmonic (the one home of this number).
pub const Y00: f64 = 0.282_094_791_773_878_14;

impl SphericalHarmonics {
    /// Prepare coefficients up to `l_max` (error above [`MAX_L`]).
    pub fn new(l_max: usize) -> Result<Self> {
        if l_max > MAX_L {
            crate::bail_param!("spherical harmonics: l_max = {l_max} is above the maximum {MAX_L}");
        }
        let n = (l_max + 1) * (l_max + 1);
        let mut a = vec![0.0; n];
        let mut b = vec![0.0; n];
        let mut derivative = vec![0.0; n];
        let mut diagonal = vec![0.0; l_max + 1];
        for (m, factor) in diagonal.iter_mut().enumerate().skip(1) {
            *factor = if m == 1 {
                // includes the √2 of the m > 0 normalisation
                3.0_f64.sqrt()
            } else {
                ((2 * m + 1) as f64 / (2 * m) as f64).sqrt()
            };
        }
        for l in 0..=l_max {
            for m in 0..=l {
                let idx = lm_index(l, m as isize);
                let (lf, mf) = (l as f64, m as f64);
                if l == m + 1 {
                    a[idx] = (2.0 * mf + 3.0).sqrt();
                } else if l >= m + 2 {
                    let den = lf * lf - mf * mf;
                    a[idx] = ((4.0 * lf * lf - 1.0) / den).sqrt();
                    b[idx] = (((lf - 1.0) * (lf - 1.0) - mf * mf) * (2.0 * lf + 1.0)
                        / ((2.0 * lf - 3.0) * den))
                        .sqrt();
                }
                if m < l {
                    let kappa = if m == 0 {
                        std::f64::consts::FRAC_1_SQRT_2
                    } else {
                        1.0
                    };
                    derivative[idx] = kappa * ((lf - mf) * (lf + mf + 1.0)).sqrt();
                }
            }
        }
        Ok(SphericalHarmonics {
            l_max,
            a,
            b,
            diagonal,
            derivative,
        })
    }

    /// `l_max` this evaluator was built for.
    pub fn l_max(&self) -> usize {
        self.l_max
    }

    /// Number of `(l, m)` pairs, `(l_max + 1)²`.
    pub fn len(&self) -> usize {
        (self.l_max + 1) * (self.l_max + 1)
    }

    /// Always false (there is at least `Y_00`).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Fill `q[lm_index(l, m)]` (`m ≥ 0`) with `Q̄_l^m(z)`, `C[m]`, `S[m]` with `(x + iy)^m`,
    /// for a unit vector.
    #[inline(always)]
    fn legendre_and_phases(&self, u: Vec3, q: &mut [f64], c: &mut [f64], s: &mut [f64]) {
        let [x, y, z] = u;
        let l_max = self.l_max;
        c[0] = 1.0;
        s[0] = 0.0;
        for m in 1..=l_max {
            c[m] = x * c[m - 1] - y * s[m - 1];
            s[m] = x * s[m - 1] + y * c[m - 1];
        }
        let mut diag = Y00;
        for m in 0..=l_max {
            if m > 0 {
                diag *= self.diagonal[m];
            }
            let i0 = lm_index(m, m as isize);
            q[i0] = diag;
            if m < l_max {
                let i1 = lm_index(m + 1, m as isize);
                q[i1] = self.a[i1] * z * diag;
                let (mut prev2, mut prev1) = (diag, q[i1]);
                for l in (m + 2)..=l_max {
                    let idx = lm_index(l, m as isize);
                    let v = self.a[idx] * z * prev1 - self.b[idx] * prev2;
                    q[idx] = v;
                    prev2 = prev1;
                    prev1 = v;
                }
            }
        }
    }

    /// `Y_lm(r/|r|)` for all `l ≤ l_max` into `values` (length `(l_max+1)²`). `r` need not be
    /// normalised; at `r = 0` only `Y_00` is non-zero.
    pub fn compute(&self, r: Vec3, values: &mut [f64]) {
        let n = self.len();
        assert!(
            values.len() >= n,
            "values: need {n} entries, got {}",
            values.len()
        );
        let norm = (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]).sqrt();
        if norm == 0.0 {
            values[..n].fill(0.0);
            values[0] = Y00;
            return;
        }
        let inv = 1.0 / norm;
        let u = [r[0] * inv, r[1] * inv, r[2] * inv];
        let mut c = [0.0; MAX_L + 1];
        let mut s = [0.0; MAX_L + 1];
        // Q̄ goes straight into the m ≥ 0 slots, then gets multiplied by the phases.
        self.legendre_and_phases(u, values, &mut c, &mut s);
        for l in 1..=self.l_max {
            let center = l * l + l;
            for m in 1..=l {
                let q = values[center + m];
                values[center - m] = q * s[m];
                values[center + m] = q * c[m];
            }
        }
    }

    /// `Y_lm` of many vectors given by their components, vectorised over the vectors:
    /// `values[lm · count + p]` (layout `((l_max+1)², count)`) for the vector
    /// `(x[p], y[p], z[p])`, `count = x.len()`. Bitwise equal to [`compute`](Self::compute) of
    /// each vector (the same operations in the same order, lane by lane).
    pub fn compute_many(&self, x: &[f64], y: &[f64], z: &[f64], values: &mut [f64]) {
        let count = x.len();
        assert!(
            y.len() == count && z.len() == count,
            "x, y, z differ in length"
        );
        assert_eq!(
            values.len(),
            self.len() * count,
            "values: need (l_max+1)² · count entries"
        );
        with_avx2(
            #[inline(always)]
            || {
                for start in (0..count).step_by(LANES) {
                    let end = (start + LANES).min(count);
                    let r = [&x[start..end], &y[start..end], &z[start..end]];
                    self.compute_lanes(r, values, count, start);
                }
            },
        )
    }

    /// [`compute_many`](Self::compute_many) for at most [`LANES`] vectors starting at `offset`.
    #[inline(always)]
    fn compute_lanes(&self, r: [&[f64]; 3], values: &mut [f64], count: usize, offset: usize) {
        let lanes = r[0].len();
        let mut u = [[0.0; LANES]; 3];
        let mut norms = [0.0; LANES];
        for p in 0..lanes {
            let (x, y, z) = (r[0][p], r[1][p], r[2][p]);
            let norm = (x * x + y * y + z * z).sqrt();
            norms[p] = norm;
            let inv = 1.0 / norm;
            u[0][p] = x * inv;
            u[1][p] = y * inv;
            u[2][p] = z * inv;
        }
        let l_max = self.l_max;
        let mut c = [[0.0; LANES]; MAX_L + 1];
        let mut s = [[0.0; LANES]; MAX_L + 1];
        c[0] = [1.0; LANES];
        for m in 1..=l_max {
            let (previous, current) = c.split_at_mut(m);
            let (previous_s, current_s) = s.split_at_mut(m);
            let (cp, sp) = (&previous[m - 1], &previous_s[m - 1]);
            for p in 0..lanes {
                current[0][p] = u[0][p] * cp[p] - u[1][p] * sp[p];
                current_s[0][p] = u[0][p] * sp[p] + u[1][p] * cp[p];
            }
        }
        let row = |lm: usize| lm * count + offset..lm * count + offset + lanes;
        let mut diag = Y00;
        for m in 0..=l_max {
            if m > 0 {
                diag *= self.diagonal[m];
            }
            let i0 = lm_index(m, m as isize);
            values[row(i0)].fill(diag);
            if m < l_max {
                let i1 = lm_index(m + 1, m as isize);
                let a = self.a[i1];
                let mut prev2 = [diag; LANES];
                let mut prev1 = [0.0; LANES];
                for p in 0..lanes {
                    prev1[p] = a * u[2][p] * diag;
                }
                values[row(i1)].copy_from_slice(&prev1[..lanes]);
                for l in (m + 2)..=l_max {
                    let idx = lm_index(l, m as isize);
                    let (a, b) = (self.a[idx], self.b[idx]);
                    let out = &mut values[row(idx)];
                    for p in 0..lanes {
                        let v = a * u[2][p] * prev1[p] - b * prev2[p];
                        out[p] = v;
                        prev2[p] = prev1[p];
                        prev1[p] = v;
                    }
                }
            }
        }
        for l in 1..=l_max {
            let center = l * l + l;
            for m in 1..=l {
                let (below, above) = values.split_at_mut(row(center + m).start);
                let plus = &mut above[..lanes];
                let minus = &mut below[row(center - m)];
                for p in 0..lanes {
                    let q = plus[p];
                    minus[p] = q * s[m][p];
                    plus[p] = q * c[m][p];
                }
            }
        }
        if norms[..lanes].contains(&0.0) {
            // at r = 0 only Y_00 is non-zero, as in `compute`
            for p in (0..lanes).filter(|&p| norms[p] == 0.0) {
                for lm in 1..self.len() {
                    values[lm * count + offset + p] = 0.0;
                }
                values[offset + p] = Y00;
            }
        }
    }

    /// [`compute_many`](Self::compute_many) plus the `|r|`-scaled Cartesian gradients:
    /// `gradients[(α · (l_max+1)² + lm) · count + p] = |r_p| ∂Y_lm/∂r_α` at `r_p` (layout
    /// `(3, (l_max+1)², count)`), i.e. `(1 − r̂ r̂ᵀ) ∇f_lm(r̂)`, the gradient on the unit sphere,
    /// which does not depend on `|r|`; the pair loops divide by the distance themselves. The
    /// values are bitwise those of `compute_many`; at `r = 0` the gradients are zero.
    pub fn compute_many_with_gradients(
        &self,
        x: &[f64],
        y: &[f64],
        z: &[f64],
        values: &mut [f64],
        gradients: &mut [f64],
    ) {
        let count = x.len();
        assert!(
            y.len() == count && z.len() == count,
            "x, y, z differ in length"
        );
        assert_eq!(
            values.len(),
            self.len() * count,
            "values: need (l_max+1)² · count entries"
        );
        assert_eq!(
            gradients.len(),
            3 * self.len() * count,
            "gradients: need 3 (l_max+1)² · count entries"
        );
        with_avx2(
            #[inline(always)]
            || {
                for start in (0..count).step_by(LANES) {
                    let end = (start + LANES).min(count);
                    let r = [&x[start..end], &y[start..end], &z[start..end]];
                    self.compute_lanes_with_gradients(r, values, gradients, count, start);
                }
            },
        )
    }

    /// [`compute_many_with_gradients`](Self::compute_many_with_gradients) for at most
    /// [`LANES`] vectors starting at `offset`: the values as in [`compute_lanes`](Self::compute_lanes)
    /// (whose `Q̄` rows are read for the gradients before they are multiplied by the phases).
    #[inline(always)]
    fn compute_lanes_with_gradients(
        &self,
        r: [&[f64]; 3],
        values: &mut [f64],
        gradients: &mut [f64],
        count: usize,
        offset: usize,
    ) {
        let lanes = r[0].len();
        let n_lm = self.len();
        let mut u = [[0.0; LANES]; 3];
        let mut norms = [0.0; LANES];
        for p in 0..lanes {
            let (x, y, z) = (r[0][p], r[1][p], r[2][p]);
            let norm = (x * x + y * y + z * z).sqrt();
            norms[p] = norm;
            let inv = 1.0 / norm;
            u[0][p] = x * inv;
            u[1][p] = y * inv;
            u[2][p] = z * inv;
        }
        let l_max = self.l_max;
        let mut c = [[0.0; LANES]; MAX_L + 1];
        let mut s = [[0.0; LANES]; MAX_L + 1];
        c[0] = [1.0; LANES];
        for m in 1..=l_max {
            let (previous, current) = c.split_at_mut(m);
            let (previous_s, current_s) = s.split_at_mut(m);
            let (cp, sp) = (&previous[m - 1], &previous_s[m - 1]);
            for p in 0..lanes {
                current[0][p] = u[0][p] * cp[p] - u[1][p] * sp[p];
                current_s[0][p] = u[0][p] * sp[p] + u[1][p] * cp[p];
            }
        }
        let row = |lm: usize| lm * count + offset..lm * count + offset + lanes;
        // Q̄_l^m (m ≥ 0) into the m ≥ 0 slots of the values, as in `compute_lanes`
        let mut diag = Y00;
        for m in 0..=l_max {
            if m > 0 {
                diag *= self.diagonal[m];
            }
            let i0 = lm_index(m, m as isize);
            values[row(i0)].fill(diag);
            if m < l_max {
                let i1 = lm_index(m + 1, m as isize);
                let a = self.a[i1];
                let mut prev2 = [diag; LANES];
                let mut prev1 = [0.0; LANES];
                for p in 0..lanes {
                    prev1[p] = a * u[2][p] * diag;
                }
                values[row(i1)].copy_from_slice(&prev1[..lanes]);
                for l in (m + 2)..=l_max {
                    let idx = lm_index(l, m as isize);
                    let (a, b) = (self.a[idx], self.b[idx]);
                    let out = &mut values[row(idx)];
                    for p in 0..lanes {
                        let v = a * u[2][p] * prev1[p] - b * prev2[p];
                        out[p] = v;
                        prev2[p] = prev1[p];
                        prev1[p] = v;
                    }
                }
            }
        }
        // gradients from Q̄ (still unmultiplied) and the phases: the ambient gradient of the
        // polynomial, projected on the tangent plane
        let grow = |alpha: usize, lm: usize| {
            let start = (alpha * n_lm + lm) * count + offset;
            start..start + lanes
        };
        let write = |gradients: &mut [f64], lm: usize, g: [[f64; LANES]; 3]| {
            let mut dot = [0.0; LANES];
            for p in 0..lanes {
                dot[p] = g[0][p] * u[0][p] + g[1][p] * u[1][p] + g[2][p] * u[2][p];
            }
            for alpha in 0..3 {
                let out = &mut gradients[grow(alpha, lm)];
                for p in 0..lanes {
                    out[p] = g[alpha][p] - dot[p] * u[alpha][p];
                }
            }
        };
        for l in 0..=l_max {
            let center = l * l + l;
            let mut g = [[0.0; LANES]; 3];
            if l > 0 {
                let d = self.derivative[center];
                let q1 = &values[row(center + 1)];
                for p in 0..lanes {
                    g[2][p] = d * q1[p];
                }
            }
            write(gradients, center, g);
            for m in 1..=l {
                let mf = m as f64;
                let q = &values[row(center + m)];
                let mut dq = [0.0; LANES];
                if m < l {
                    let d = self.derivative[center + m];
                    let q1 = &values[row(center + m + 1)];
                    for p in 0..lanes {
                        dq[p] = d * q1[p];
                    }
                }
                let (cm, sm, cm1, sm1) = (&c[m], &s[m], &c[m - 1], &s[m - 1]);
                let mut plus = [[0.0; LANES]; 3];
                let mut minus = [[0.0; LANES]; 3];
                for p in 0..lanes {
                    let qm = q[p] * mf;
                    plus[0][p] = qm * cm1[p];
                    plus[1][p] = -qm * sm1[p];
                    plus[2][p] = dq[p] * cm[p];
                    minus[0][p] = qm * sm1[p];
                    minus[1][p] = qm * cm1[p];
                    minus[2][p] = dq[p] * sm[p];
                }
                write(gradients, center + m, plus);
                write(gradients, center - m, minus);
            }
        }
        for l in 1..=l_max {
            let center = l * l + l;
            for m in 1..=l {
                let (below, above) = values.split_at_mut(row(center + m).start);
                let plus = &mut above[..lanes];
                let minus = &mut below[row(center - m)];
                for p in 0..lanes {
                    let q = plus[p];
                    minus[p] = q * s[m][p];
                    plus[p] = q * c[m][p];
                }
            }
        }
        if norms[..lanes].contains(&0.0) {
            for p in (0..lanes).filter(|&p| norms[p] == 0.0) {
                for lm in 0..n_lm {
                    values[lm * count + offset + p] = if lm == 0 { Y00 } else { 0.0 };
                    for alpha in 0..3 {
                        gradients[(alpha * n_lm + lm) * count + offset + p] = 0.0;
                    }
                }
            }
        }
    }

    /// As [`compute`](Self::compute), plus `gradients[lm] = ∂Y_lm(r/|r|)/∂r` (Cartesian).
    ///
    /// The gradients are tangent to the sphere (`r · ∂Y/∂r = 0`) and scale as `1/|r|`; at `r = 0`
    /// (where they are undefined) they are set to zero.
    pub fn compute_with_gradients(&self, r: Vec3, values: &mut [f64], gradients: &mut [Vec3]) {
        let n = self.len();
        assert!(
            values.len() >= n,
            "values: need {n} entries, got {}",
            values.len()
        );
        assert!(
            gradients.len() >= n,
            "gradients: need {n} entries, got {}",
            gradients.len()
        );
        let norm = (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]).sqrt();
        if norm == 0.0 {
            values[..n].fill(0.0);
            values[0] = Y00;
            gradients[..n].fill([0.0; 3]);
            return;
        }
        let inv = 1.0 / norm;
        let u = [r[0] * inv, r[1] * inv, r[2] * inv];
        let mut c = [0.0; MAX_L + 1];
        let mut s = [0.0; MAX_L + 1];
        let mut q = [0.0; (MAX_L + 1) * (MAX_L + 1)];
        self.legendre_and_phases(u, &mut q, &mut c, &mut s);

        // ambient gradient ∇f, then projection (1 − u uᵀ)/|r|
        let project = |g: Vec3| -> Vec3 {
            let dot = g[0] * u[0] + g[1] * u[1] + g[2] * u[2];
            [
                (g[0] - dot * u[0]) * inv,
                (g[1] - dot * u[1]) * inv,
                (g[2] - dot * u[2]) * inv,
            ]
        };
        for l in 0..=self.l_max {
            let center = l * l + l;
            // m = 0
            let dq0 = if l > 0 {
                self.derivative[center] * q[center + 1]
            } else {
                0.0
            };
            values[center] = q[center];
            gradients[center] = project([0.0, 0.0, dq0]);
            for m in 1..=l {
                let qlm = q[center + m];
                let dq = if m < l {
                    self.derivative[center + m] * q[center + m + 1]
                } else {
                    0.0
                };
                let mf = m as f64;
                let (cm, sm, cm1, sm1) = (c[m], s[m], c[m - 1], s[m - 1]);
                values[center + m] = qlm * cm;
                values[center - m] = qlm * sm;
                gradients[center + m] = project([qlm * mf * cm1, -qlm * mf * sm1, dq * cm]);
                gradients[center - m] = project([qlm * mf * sm1, qlm * mf * cm1, dq * sm]);
            }
        }
    }

    /// `Y_lm` for many vectors: `vectors` has shape `(n, 3)`, the result `(n, (l_max+1)²)`.
    ///
    /// Rows are independent; above a few hundred vectors they are spread over the current rayon
    /// pool (run inside [`crate::threads::with_threads`] to choose its size). Results do not
    /// depend on the number of threads.
    pub fn compute_batch(&self, vectors: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        check_vectors(&vectors)?;
        let mut out = Array2::zeros((vectors.nrows(), self.len()));
        let work = |(mut row, v): (ndarray::ArrayViewMut1<f64>, ndarray::ArrayView1<f64>)| {
            let values = row.as_slice_mut().expect("rows of a standard-layout array");
            self.compute([v[0], v[1], v[2]], values);
        };
        if vectors.nrows() >= PARALLEL_BATCH {
            use ndarray::parallel::prelude::*;
            out.axis_iter_mut(Axis(0))
                .into_par_iter()
                .zip(vectors.axis_iter(Axis(0)).into_par_iter())
                .for_each(work);
        } else {
            out.axis_iter_mut(Axis(0))
                .zip(vectors.axis_iter(Axis(0)))
                .for_each(work);
        }
        Ok(out)
    }

    /// `Y_lm` and gradients for many vectors: `vectors` `(n, 3)` gives values
    /// `(n, (l_max+1)²)` and gradients `(n, 3, (l_max+1)²)` with
    /// `gradients[[i, α, lm]] = ∂Y_lm/∂r_α` at `vectors[i]`. Parallel as
    /// [`compute_batch`](Self::compute_batch).
    pub fn compute_batch_with_gradients(
        &self,
        vectors: ArrayView2<'_, f64>,
    ) -> Result<(Array2<f64>, Array3<f64>)> {
        check_vectors(&vectors)?;
        let n = vectors.nrows();
        let n_lm = self.len();
        let mut values = Array2::zeros((n, n_lm));
        let mut gradients = Array3::zeros((n, 3, n_lm));
        let work = |((mut vrow, mut grow), v): (
            (ndarray::ArrayViewMut1<f64>, ndarray::ArrayViewMut2<f64>),
            ndarray::ArrayView1<f64>,
        )| {
            let vals = vrow
                .as_slice_mut()
                .expect("rows of a standard-layout array");
            let mut scratch = [[0.0; 3]; (MAX_L + 1) * (MAX_L + 1)];
            self.compute_with_gradients([v[0], v[1], v[2]], vals, &mut scratch);
            for (lm, g) in scratch[..n_lm].iter().enumerate() {
                grow[[0, lm]] = g[0];
                grow[[1, lm]] = g[1];
                grow[[2, lm]] = g[2];
            }
        };
        if n >= PARALLEL_BATCH {
            use ndarray::parallel::prelude::*;
            values
                .axis_iter_mut(Axis(0))
                .into_par_iter()
                .zip(gradients.axis_iter_mut(Axis(0)).into_par_iter())
                .zip(vectors.axis_iter(Axis(0)).into_par_iter())
                .for_each(work);
        } else {
            values
                .axis_iter_mut(Axis(0))
                .zip(gradients.axis_iter_mut(Axis(0)))
                .zip(vectors.axis_iter(Axis(0)))
                .for_each(work);
        }
        Ok((values, gradients))
    }
}

fn check_vectors(vectors: &ArrayView2<'_, f64>) -> Result<()> {
    if vectors.ncols() != 3 {
        crate::bail_input!(
            "spherical harmonics: vectors must have shape (n, 3), got {:?}",
            vectors.shape()
        );
    }
    if vectors.iter().any(|v| !v.is_finite()) {
        crate::bail_input!("spherical harmonics: vectors contain NaN or infinite values");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::quadrature::gauss_legendre;
    use std::f64::consts::PI;

    fn legendre(l: usize, x: f64) -> f64 {
        let (mut p0, mut p1) = (1.0, x);
        if l == 0 {
            return 1.0;
        }
        for k in 2..=l {
            let p2 = ((2 * k - 1) as f64 * x * p1 - (k - 1) as f64 * p0) / k as f64;
            p0 = p1;
            p1 = p2;
        }
        p1
    }

    #[test]
    fn rejects_large_l_max() {
        assert!(matches!(
            SphericalHarmonics::new(MAX_L + 1),
            Err(crate::Error::InvalidParameter(_))
        ));
        assert!(SphericalHarmonics::new(MAX_L).is_ok());
    }

    #[test]
    fn low_orders_explicit() {
        let sh = SphericalHarmonics::new(2).unwrap();
        let mut v = vec![0.0; 9];
        let r = [0.3, -1.2, 0.7];
        sh.compute(r, &mut v);
        let n = (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]).sqrt();
        let (x, y, z) = (r[0] / n, r[1] / n, r[2] / n);
        let c1 = (3.0 / (4.0 * PI)).sqrt();
        let c2 = (15.0 / (4.0 * PI)).sqrt();
        let expected = [
            Y00,
            c1 * y,
            c1 * z,
            c1 * x,
            c2 * x * y,
            c2 * y * z,
            (5.0 / (16.0 * PI)).sqrt() * (3.0 * z * z - 1.0),
            c2 * x * z,
            c2 / 2.0 * (x * x - y * y),
        ];
        for (a, b) in v.iter().zip(expected) {
            assert!((a - b).abs() < 1e-15, "{a} vs {b}");
        }
    }

    #[test]
    fn orthonormal() {
        let l_max = MAX_L;
        let sh = SphericalHarmonics::new(l_max).unwrap();
        let n_lm = sh.len();
        // exact for polynomials of degree ≤ 2·l_max in cos θ and trigonometric degree ≤ 2·l_max
        let (nodes, weights) = gauss_legendre(l_max + 2);
        let n_phi = 2 * l_max + 2;
        let mut gram = vec![0.0; n_lm * n_lm];
        let mut v = vec![0.0; n_lm];
        for (&z, &w) in nodes.iter().zip(&weights) {
            let rho = (1.0 - z * z).sqrt();
            for j in 0..n_phi {
                let phi = 2.0 * PI * j as f64 / n_phi as f64;
                sh.compute([rho * phi.cos(), rho * phi.sin(), z], &mut v);
                let wt = w * 2.0 * PI / n_phi as f64;
                for i in 0..n_lm {
                    for k in 0..n_lm {
                        gram[i * n_lm + k] += wt * v[i] * v[k];
                    }
                }
            }
        }
        let mut worst: f64 = 0.0;
        for i in 0..n_lm {
            for k in 0..n_lm {
                let expected = if i == k { 1.0 } else { 0.0 };
                worst = worst.max((gram[i * n_lm + k] - expected).abs());
            }
        }
        assert!(worst < 1e-12, "orthonormality error {worst}");
    }

    #[test]
    fn addition_theorem() {
        let sh = SphericalHarmonics::new(MAX_L).unwrap();
        let mut va = vec![0.0; sh.len()];
        let mut vb = vec![0.0; sh.len()];
        let pairs = [
            ([0.3, -0.2, 0.9], [-0.5, 0.1, 0.4]),
            ([0.0, 0.0, 1.0], [0.0, 1.0, 0.0]),
            ([1.0, 2.0, -3.0], [1.0, 2.0, -3.1]),
            ([0.0, 0.0, -2.0], [1e-9, 0.0, 1.0]),
        ];
        for (a, b) in pairs {
            sh.compute(a, &mut va);
            sh.compute(b, &mut vb);
            let na = (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt();
            let nb = (b[0] * b[0] + b[1] * b[1] + b[2] * b[2]).sqrt();
            let cos = (a[0] * b[0] + a[1] * b[1] + a[2] * b[2]) / (na * nb);
            for l in 0..=MAX_L {
                let sum: f64 = (0..2 * l + 1).map(|i| va[l * l + i] * vb[l * l + i]).sum();
                let expected = (2 * l + 1) as f64 / (4.0 * PI) * legendre(l, cos);
                assert!(
                    (sum - expected).abs() < 1e-12,
                    "l = {l}: {sum} vs {expected}"
                );
            }
        }
    }

    #[test]
    fn origin_and_poles() {
        let sh = SphericalHarmonics::new(6).unwrap();
        let mut v = vec![1.0; sh.len()];
        let mut g = vec![[1.0; 3]; sh.len()];
        sh.compute_with_gradients([0.0; 3], &mut v, &mut g);
        assert_eq!(v[0], Y00);
        assert!(v[1..].iter().all(|&x| x == 0.0));
        assert!(g.iter().all(|x| *x == [0.0; 3]));
        // at the north pole only m = 0 survives, Y_l0 = √((2l+1)/4π)
        sh.compute([0.0, 0.0, 3.0], &mut v);
        for l in 0..=6 {
            for m in -(l as isize)..=(l as isize) {
                let expected = if m == 0 {
                    ((2 * l + 1) as f64 / (4.0 * PI)).sqrt()
                } else {
                    0.0
                };
                assert!((v[lm_index(l, m)] - expected).abs() < 1e-14);
            }
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let sh = SphericalHarmonics::new(MAX_L).unwrap();
        let n = sh.len();
        let mut v = vec![0.0; n];
        let mut g = vec![[0.0; 3]; n];
        let (mut vp, mut vm) = (vec![0.0; n], vec![0.0; n]);
        let h = 1e-6;
        for r in [
            [0.3, -0.2, 0.9],
            [1.5, 0.1, -0.4],
            [0.0, 0.0, 0.7],
            [0.0, -2.0, 0.0],
            [1e-3, 2e-3, -1.0],
        ] {
            sh.compute_with_gradients(r, &mut v, &mut g);
            let mut values = vec![0.0; n];
            sh.compute(r, &mut values);
            assert_eq!(values, v);
            let norm = (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]).sqrt();
            for alpha in 0..3 {
                let mut rp = r;
                let mut rm = r;
                rp[alpha] += h;
                rm[alpha] -= h;
                sh.compute(rp, &mut vp);
                sh.compute(rm, &mut vm);
                for lm in 0..n {
                    let fd = (vp[lm] - vm[lm]) / (2.0 * h);
                    // central differences: O(h²·|∂³Y|) ≈ h² l³/|r|³ plus rounding 1e-16/h
                    let tol = 1e-6 * (1.0 + fd.abs()) / norm.powi(3);
                    assert!(
                        (fd - g[lm][alpha]).abs() < tol,
                        "r = {r:?}, lm = {lm}, α = {alpha}: {fd} vs {}",
                        g[lm][alpha]
                    );
                }
            }
            for gr in &g {
                let radial = gr[0] * r[0] + gr[1] * r[1] + gr[2] * r[2];
                assert!(radial.abs() < 1e-12);
            }
        }
    }

    #[test]
    fn batch_matches_single() {
        let sh = SphericalHarmonics::new(5).unwrap();
        let n = 300;
        let vectors = Array2::from_shape_fn((n, 3), |(i, j)| ((i * 3 + j) as f64 * 0.731).sin());
        let values = sh.compute_batch(vectors.view()).unwrap();
        let (values2, grads) = sh.compute_batch_with_gradients(vectors.view()).unwrap();
        let mut v = vec![0.0; sh.len()];
        let mut g = vec![[0.0; 3]; sh.len()];
        for i in [0, 17, 299] {
            let r = [vectors[[i, 0]], vectors[[i, 1]], vectors[[i, 2]]];
            sh.compute_with_gradients(r, &mut v, &mut g);
            for lm in 0..sh.len() {
                assert_eq!(values[[i, lm]], v[lm]);
                assert_eq!(values2[[i, lm]], v[lm]);
                for a in 0..3 {
                    assert_eq!(grads[[i, a, lm]], g[lm][a]);
                }
            }
        }
        assert!(sh.compute_batch(Array2::zeros((2, 2)).view()).is_err());
    }

    #[test]
    fn many_match_single_bitwise() {
        for l_max in [0, 1, 4, 7, MAX_L] {
            let sh = SphericalHarmonics::new(l_max).unwrap();
            for count in [0, 1, 15, 16, 17, 40] {
                let component = |k: usize| -> Vec<f64> {
                    (0..count)
                        .map(|p| ((p * 3 + k) as f64 * 0.731 + 0.2).sin() * 3.0)
                        .collect()
                };
                let (mut x, mut y, mut z) = (component(0), component(1), component(2));
                if count > 3 {
                    // the origin and the poles
                    (x[1], y[1], z[1]) = (0.0, 0.0, 0.0);
                    (x[2], y[2], z[2]) = (0.0, 0.0, -2.0);
                    (x[3], y[3], z[3]) = (0.0, 0.0, 1e-300);
                }
                let mut values = vec![f64::NAN; sh.len() * count];
                sh.compute_many(&x, &y, &z, &mut values);
                let mut v = vec![0.0; sh.len()];
                for p in 0..count {
                    sh.compute([x[p], y[p], z[p]], &mut v);
                    for (lm, expected) in v.iter().enumerate() {
                        assert_eq!(
                            values[lm * count + p].to_bits(),
                            expected.to_bits(),
                            "l_max {l_max}, vector {p}, lm {lm}"
                        );
                    }
                }
            }
        }
    }

    /// The batched, `|r|`-scaled gradients equal `|r|` times the one-vector gradients (to
    /// rounding: 1e-13 of the gradient scale, which grows like l), the values are bitwise those
    /// of `compute_many`, and the gradients match central differences of `Y_lm` (step 1e-6 on
    /// vectors of length ~3: error ~1e-10, far below a sign or factor slip).
    #[test]
    fn many_gradients_match_single_and_finite_differences() {
        for l_max in [0, 1, 4, 7, MAX_L] {
            let sh = SphericalHarmonics::new(l_max).unwrap();
            let n_lm = sh.len();
            for count in [0, 1, 15, 16, 17, 40] {
                let component = |k: usize| -> Vec<f64> {
                    (0..count)
                        .map(|p| ((p * 3 + k) as f64 * 0.731 + 0.2).sin() * 3.0)
                        .collect()
                };
                let (mut x, mut y, mut z) = (component(0), component(1), component(2));
                if count > 3 {
                    (x[1], y[1], z[1]) = (0.0, 0.0, 0.0);
                    (x[2], y[2], z[2]) = (0.0, 0.0, -2.0);
                }
                let mut plain = vec![f64::NAN; n_lm * count];
                sh.compute_many(&x, &y, &z, &mut plain);
                let mut values = vec![f64::NAN; n_lm * count];
                let mut gradients = vec![f64::NAN; 3 * n_lm * count];
                sh.compute_many_with_gradients(&x, &y, &z, &mut values, &mut gradients);
                let mut v = vec![0.0; n_lm];
                let mut g = vec![[0.0; 3]; n_lm];
                let (mut plus, mut minus) = (vec![0.0; n_lm], vec![0.0; n_lm]);
                for p in 0..count {
                    let r = [x[p], y[p], z[p]];
                    let norm = (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]).sqrt();
                    sh.compute_with_gradients(r, &mut v, &mut g);
                    let scale = (l_max + 1) as f64;
                    for lm in 0..n_lm {
                        assert_eq!(
                            values[lm * count + p].to_bits(),
                            plain[lm * count + p].to_bits()
                        );
                        for alpha in 0..3 {
                            let batched = gradients[(alpha * n_lm + lm) * count + p];
                            let single = norm * g[lm][alpha];
                            assert!(
                                (batched - single).abs() < 1e-13 * scale,
                                "l_max {l_max}, vector {p}, lm {lm}: {batched} vs {single}"
                            );
                        }
                    }
                    if norm == 0.0 || l_max > 7 {
                        continue;
                    }
                    let h = 1e-6;
                    for alpha in 0..3 {
                        let (mut rp, mut rm) = (r, r);
                        rp[alpha] += h;
                        rm[alpha] -= h;
                        sh.compute(rp, &mut plus);
                        sh.compute(rm, &mut minus);
                        for lm in 0..n_lm {
                            let fd = norm * (plus[lm] - minus[lm]) / (2.0 * h);
                            let batched = gradients[(alpha * n_lm + lm) * count + p];
                            assert!(
                                (fd - batched).abs() < 1e-7,
                                "l_max {l_max}, vector {p}, lm {lm}, α {alpha}: {fd} vs {batched}"
                            );
                        }
                    }
                }
            }
        }
    }
}
