//! Derivatives of the pair sum, shared by every pair route (SOAP, the finite LODE pairs, the
//! Ewald short range): Jacobian rows and the backward pass (vector–Jacobian product).
//!
//! One pair `p` of centre `i` contributes `T_p[a_p, n, lm] = w(d) f_nl(d) Y_lm(r̂)` to `c_i`, with
//! `r = r_p = r_j + S·M − r_i`, `d = |r|`, `û = r/d`, a pair weight `w(d)` (a cutoff function, a
//! charge, …) and its derivative `w'(d)`. With `G_lm = d ∇Y_lm` (the `|r|`-scaled gradient of
//! [`SphericalHarmonics::compute_many_with_gradients`]),
//! $$ \frac{∂T_p}{∂r_α} = (w' f_{nl} + w f'_{nl})\, Y_{lm}\, û_α + \frac{w}{d} f_{nl}\, G_{lm,α}. $$
//! `r_p` moves with `r_j` (+) and with `r_i` (−), so a centre's row of the positions Jacobian is
//! `∂c_i/∂r_j = Σ_{p→j} ∂T_p/∂r_p` and `∂c_i/∂r_i = −Σ_p ∂T_p/∂r_p` (images of `i` itself cancel).
//! Under a homogeneous strain `x → (1 + ε) x` every pair vector moves as `δr_α = ε_αβ r_β`, so
//! `∂c_i/∂ε_αβ = Σ_p (∂T_p/∂r_α) r_β`.
//!
//! The backward pass contracts the centre's cotangent `g[a, n, lm]` first: with
//! `F_lm = Σ_n g[a_p, n, lm] f_nl` and `F'_lm = Σ_n g[a_p, n, lm] f'_nl`,
//! $$ v_p = \Big(\sum_{lm} (w' F_{lm} + w F'_{lm}) Y_{lm}\Big) û + \frac{w}{d} \sum_{lm} F_{lm} G_{lm}, $$
//! added to atom `j` and subtracted from atom `i` (so `Σ_atoms = 0` to rounding), and
//! `v_p ⊗ r_p` to the virial (the strain gradient). [`reduce_in_order`] runs the centres in
//! fixed tasks and adds the contributions in task order: bitwise independent of the threads.
//!
//! The facility is generic: the caller chooses the radial integral (anything implementing
//! [`RadialIntegral::compute_many_with_gradients`]) and supplies `w`, `w'` per pair.

use rayon::prelude::*;

use crate::error::Result;
use crate::math::simd::with_avx2;
use crate::math::spherical_harmonics::SphericalHarmonics;
use crate::radial::RadialIntegral;
use crate::systems::{Mat3, Vec3};

/// Pairs evaluated together.
const CHUNK: usize = 64;

/// The pairs of one centre with their targets, and buffers to differentiate them; reuse one
/// per thread.
pub(crate) struct PairGradients {
    n_max: usize,
    l_max: usize,
    distance: Vec<f64>,
    x: Vec<f64>,
    y: Vec<f64>,
    z: Vec<f64>,
    channel: Vec<usize>,
    target: Vec<usize>,
    weight: Vec<f64>,
    weight_derivative: Vec<f64>,
    /// `(CHUNK, n_max (l_max + 1))` values and derivatives of the radial integral.
    radial: Vec<f64>,
    radial_gradients: Vec<f64>,
    /// `((l_max + 1)², CHUNK)` and `(3, (l_max + 1)², CHUNK)`.
    harmonics: Vec<f64>,
    harmonic_gradients: Vec<f64>,
    /// `(2, (l_max+1)²)`: `F_lm`, `F'_lm` of one pair.
    contracted: Vec<f64>,
    /// Scratch of [`add_jacobian`](Self::add_jacobian).
    jacobian: JacobianScratch,
}

/// Scratch of [`PairGradients::add_jacobian`]: one pair's angular factors in `l`-major
/// order, and the sums over pairs of each `(target, channel)` slot.
#[derive(Default)]
struct JacobianScratch {
    /// `Y_lm û_α` and `G_lm,α` of one pair, `[l][α][m]` (`3 (l_max+1)²` each).
    yu: Vec<f64>,
    g: Vec<f64>,
    /// The same times `r_β`, `[l][β][α][m]` (`9 (l_max+1)²` each), for the strain.
    yur: Vec<f64>,
    gr: Vec<f64>,
    /// Slot of each `(target, channel)` (`usize::MAX`: none yet) and the slots' keys.
    slot_of: Vec<usize>,
    slots: Vec<(usize, usize)>,
    /// `Σ_p ∂T_p/∂r` of each slot, `[slot][l][n][α][m]` (`3 n_max (l_max+1)²` per slot).
    sums: Vec<f64>,
    /// `Σ_p (∂T_p/∂r_α) r_β` per channel, `[channel][l][n][β][α][m]`.
    strain: Vec<f64>,
}

impl PairGradients {
    pub fn new(n_max: usize, l_max: usize) -> PairGradients {
        let n_lm = (l_max + 1) * (l_max + 1);
        PairGradients {
            n_max,
            l_max,
            distance: Vec::new(),
            x: Vec::new(),
            y: Vec::new(),
            z: Vec::new(),
            channel: Vec::new(),
            target: Vec::new(),
            weight: Vec::new(),
            weight_derivative: Vec::new(),
            radial: vec![0.0; CHUNK * n_max * (l_max + 1)],
            radial_gradients: vec![0.0; CHUNK * n_max * (l_max + 1)],
            harmonics: vec![0.0; CHUNK * n_lm],
            harmonic_gradients: vec![0.0; 3 * CHUNK * n_lm],
            contracted: vec![0.0; 2 * n_lm],
            jacobian: JacobianScratch::default(),
        }
    }

    /// Forget the pairs pushed so far.
    pub fn clear(&mut self) {
        self.distance.clear();
        self.x.clear();
        self.y.clear();
        self.z.clear();
        self.channel.clear();
        self.target.clear();
        self.weight.clear();
        self.weight_derivative.clear();
    }

    /// Number of pairs pushed.
    pub fn len(&self) -> usize {
        self.distance.len()
    }

    /// One pair: `distance = |vector| > 0`, its channel, where its derivative goes (`target`:
    /// a row of the centre's Jacobian block, or an atom for the backward pass), the weight
    /// `w(d)` and `w'(d) = dw/dd`.
    #[inline]
    pub fn push(
        &mut self,
        distance: f64,
        vector: Vec3,
        channel: usize,
        target: usize,
        weight: f64,
        weight_derivative: f64,
    ) {
        self.distance.push(distance);
        self.x.push(vector[0]);
        self.y.push(vector[1]);
        self.z.push(vector[2]);
        self.channel.push(channel);
        self.target.push(target);
        self.weight.push(weight);
        self.weight_derivative.push(weight_derivative);
    }

    /// Evaluate radial integrals and harmonics (with gradients) of the pairs `start..end`.
    fn evaluate(
        &mut self,
        radial: &dyn RadialIntegral,
        harmonics: &SphericalHarmonics,
        start: usize,
        end: usize,
    ) {
        let count = end - start;
        let width = self.n_max * (self.l_max + 1);
        let n_lm = (self.l_max + 1) * (self.l_max + 1);
        radial.compute_many_with_gradients(
            &self.distance[start..end],
            &mut self.radial[..count * width],
            &mut self.radial_gradients[..count * width],
        );
        harmonics.compute_many_with_gradients(
            &self.x[start..end],
            &self.y[start..end],
            &self.z[start..end],
            &mut self.harmonics[..count * n_lm],
            &mut self.harmonic_gradients[..3 * count * n_lm],
        );
    }

    fn check(&self, radial: &dyn RadialIntegral, harmonics: &SphericalHarmonics) {
        assert_eq!((radial.n_max(), radial.l_max()), (self.n_max, self.l_max));
        assert_eq!(harmonics.l_max(), self.l_max);
    }

    /// Evaluate the pairs in chunks of [`CHUNK`] and call `each` on every one, in order (the
    /// callers have checked `radial` and `harmonics` against the sizes).
    #[inline(always)]
    fn for_each_pair(
        &mut self,
        radial: &dyn RadialIntegral,
        harmonics: &SphericalHarmonics,
        mut each: impl FnMut(&Pair<'_>),
    ) {
        let width = self.n_max * (self.l_max + 1);
        let n_lm = (self.l_max + 1) * (self.l_max + 1);
        let mut start = 0;
        while start < self.len() {
            let end = (start + CHUNK).min(self.len());
            let count = end - start;
            self.evaluate(radial, harmonics, start, end);
            for q in 0..count {
                let p = start + q;
                each(&Pair {
                    distance: self.distance[p],
                    vector: [self.x[p], self.y[p], self.z[p]],
                    channel: self.channel[p],
                    target: self.target[p],
                    weight: self.weight[p],
                    weight_derivative: self.weight_derivative[p],
                    f: &self.radial[q * width..(q + 1) * width],
                    df: &self.radial_gradients[q * width..(q + 1) * width],
                    harmonics: &self.harmonics[..count * n_lm],
                    gradients: &self.harmonic_gradients[..3 * count * n_lm],
                    lane: q,
                    count,
                    n_lm,
                });
            }
            start = end;
        }
    }

    /// Add the pairs' derivatives to a centre's Jacobian blocks (`n_channels` channels):
    /// `positions`, when given, is `(n_targets, 3, n_channels, n_max, (l_max+1)²)`; each pair
    /// adds `∂T_p/∂r_p` to its target's rows and subtracts it from `center_target`'s. `strain`, when given, is
    /// `(3, 3, n_channels, n_max, (l_max+1)²)` and receives `(∂T_p/∂r_α) r_β` at `[α, β]`.
    pub fn add_jacobian(
        &mut self,
        radial: &dyn RadialIntegral,
        harmonics: &SphericalHarmonics,
        n_channels: usize,
        center_target: usize,
        positions: Option<&mut [f64]>,
        strain: Option<&mut [f64]>,
    ) {
        self.check(radial, harmonics);
        let (n_max, l_max) = (self.n_max, self.l_max);
        let n_lm = (l_max + 1) * (l_max + 1);
        let block = n_max * n_lm;
        let row = 3 * n_channels * block;
        if let Some(positions) = &positions {
            assert_eq!(positions.len() % row, 0, "positions: whole target rows");
            assert!(self.target.iter().all(|&t| t < positions.len() / row));
            assert!(center_target < positions.len() / row);
        }
        if let Some(strain) = &strain {
            assert_eq!(
                strain.len(),
                3 * row,
                "strain: (3, 3, n_channels, n_max, n_lm)"
            );
        }
        assert!(self.channel.iter().all(|&a| a < n_channels));
        let n_targets = positions.as_ref().map_or(0, |p| p.len() / row);
        let mut js = std::mem::take(&mut self.jacobian);
        js.yu.resize(3 * n_lm, 0.0);
        js.g.resize(3 * n_lm, 0.0);
        js.yur.resize(9 * n_lm, 0.0);
        js.gr.resize(9 * n_lm, 0.0);
        js.slot_of.clear();
        js.slot_of.resize(n_targets * n_channels, usize::MAX);
        js.slots.clear();
        js.sums.clear();
        js.strain.clear();
        if strain.is_some() {
            js.strain.resize(n_channels * 9 * block, 0.0);
        }
        // Per pair, the derivative `a[n, l] Y_lm û_α + b[n, l] G_lm,α` is added to the sums of
        // its (target, channel) slot in `[l][n][α][m]` order: for each `(l, n)`, one loop over
        // the `3 (2l + 1)` contiguous `(α, m)` (vectorised); the slots go to the blocks (and,
        // negated, to the centre) once, at the end.
        with_avx2(
            #[inline(always)]
            || {
                self.for_each_pair(radial, harmonics, |pair| {
                    let d = pair.distance;
                    let vector = pair.vector;
                    let u = [vector[0] / d, vector[1] / d, vector[2] / d];
                    let (w, dw) = (pair.weight, pair.weight_derivative);
                    let (f, df) = (pair.f, pair.df);
                    for l in 0..=l_max {
                        let m_len = 2 * l + 1;
                        for m in 0..m_len {
                            let lm = l * l + m;
                            let y = pair.harmonic(lm);
                            for (alpha, u) in u.iter().enumerate() {
                                let at = 3 * l * l + alpha * m_len + m;
                                js.yu[at] = y * u;
                                js.g[at] = pair.gradient(alpha, lm);
                            }
                        }
                    }
                    let channel = pair.channel;
                    if positions.is_some() {
                        let key = pair.target * n_channels + channel;
                        if js.slot_of[key] == usize::MAX {
                            js.slot_of[key] = js.slots.len();
                            js.slots.push((pair.target, channel));
                            js.sums.resize(js.sums.len() + 3 * block, 0.0);
                        }
                        let slot = js.slot_of[key];
                        let sums = &mut js.sums[slot * 3 * block..(slot + 1) * 3 * block];
                        add_pair(sums, 3, [&js.yu, &js.g], [w, dw, d], [f, df], n_max);
                    }
                    if strain.is_some() {
                        for l in 0..=l_max {
                            let len = 3 * (2 * l + 1);
                            for (beta, &r) in vector.iter().enumerate() {
                                for x in 0..len {
                                    js.yur[9 * l * l + beta * len + x] = js.yu[3 * l * l + x] * r;
                                    js.gr[9 * l * l + beta * len + x] = js.g[3 * l * l + x] * r;
                                }
                            }
                        }
                        let sums = &mut js.strain[channel * 9 * block..(channel + 1) * 9 * block];
                        add_pair(sums, 9, [&js.yur, &js.gr], [w, dw, d], [f, df], n_max);
                    }
                });
            },
        );
        // the slots' sums into the blocks `(target, α, channel, n, lm)`, and minus them into
        // the centre's
        if let Some(positions) = positions {
            for (slot, &(target, channel)) in js.slots.iter().enumerate() {
                let sums = &js.sums[slot * 3 * block..(slot + 1) * 3 * block];
                for l in 0..=l_max {
                    let m_len = 2 * l + 1;
                    for n in 0..n_max {
                        let from = 3 * n_max * l * l + n * 3 * m_len;
                        for alpha in 0..3 {
                            let offset =
                                alpha * n_channels * block + channel * block + n * n_lm + l * l;
                            let to = target * row + offset;
                            let centre = center_target * row + offset;
                            for m in 0..m_len {
                                let v = sums[from + alpha * m_len + m];
                                positions[to + m] += v;
                                positions[centre + m] -= v;
                            }
                        }
                    }
                }
            }
        }
        if let Some(strain) = strain {
            for channel in 0..n_channels {
                let sums = &js.strain[channel * 9 * block..(channel + 1) * 9 * block];
                for l in 0..=l_max {
                    let m_len = 2 * l + 1;
                    for n in 0..n_max {
                        let from = 9 * n_max * l * l + n * 9 * m_len;
                        for beta in 0..3 {
                            for alpha in 0..3 {
                                let to = (alpha * 3 + beta) * n_channels * block
                                    + channel * block
                                    + n * n_lm
                                    + l * l;
                                for m in 0..m_len {
                                    strain[to + m] += sums[from + (beta * 3 + alpha) * m_len + m];
                                }
                            }
                        }
                    }
                }
            }
        }
        self.jacobian = js;
    }

    /// The backward pass of the pairs for one centre's cotangent `cotangent`
    /// `(n_channels, n_max, (l_max+1)²)`: pushes `(target, v_p)` for every pair to `forces`,
    /// adds `v_p ⊗ r_p` to `virial` and returns `Σ_p v_p` (the caller subtracts it from the
    /// centre).
    pub fn backward(
        &mut self,
        radial: &dyn RadialIntegral,
        harmonics: &SphericalHarmonics,
        cotangent: &[f64],
        forces: &mut Vec<(usize, Vec3)>,
        virial: &mut Mat3,
    ) -> Vec3 {
        self.check(radial, harmonics);
        let (n_max, l_max) = (self.n_max, self.l_max);
        let n_lm = (l_max + 1) * (l_max + 1);
        let block = n_max * n_lm;
        assert_eq!(
            cotangent.len() % block,
            0,
            "cotangent: whole channel blocks"
        );
        let n_channels = cotangent.len() / block;
        assert!(self.channel.iter().all(|&a| a < n_channels));
        let mut total = [0.0; 3];
        let mut sum = *virial;
        let mut contracted = std::mem::take(&mut self.contracted);
        self.for_each_pair(radial, harmonics, |pair| {
            let d = pair.distance;
            let (w, dw) = (pair.weight, pair.weight_derivative);
            let (f, df) = (pair.f, pair.df);
            let g = &cotangent[pair.channel * block..(pair.channel + 1) * block];
            let (fs, dfs) = contracted.split_at_mut(n_lm);
            fs.fill(0.0);
            dfs.fill(0.0);
            for n in 0..n_max {
                let row = &g[n * n_lm..(n + 1) * n_lm];
                for l in 0..=l_max {
                    let (fv, dv) = (f[n * (l_max + 1) + l], df[n * (l_max + 1) + l]);
                    for lm in l * l..(l + 1) * (l + 1) {
                        fs[lm] += row[lm] * fv;
                        dfs[lm] += row[lm] * dv;
                    }
                }
            }
            let mut radial_part = 0.0;
            let mut angular = [0.0; 3];
            for lm in 0..n_lm {
                radial_part += (dw * fs[lm] + w * dfs[lm]) * pair.harmonic(lm);
                for (alpha, a) in angular.iter_mut().enumerate() {
                    *a += fs[lm] * pair.gradient(alpha, lm);
                }
            }
            let vector = pair.vector;
            let scale = radial_part / d;
            let mut v = [0.0; 3];
            for alpha in 0..3 {
                v[alpha] = scale * vector[alpha] + w / d * angular[alpha];
                total[alpha] += v[alpha];
                for beta in 0..3 {
                    sum[alpha][beta] += v[alpha] * vector[beta];
                }
            }
            forces.push((pair.target, v));
        });
        *virial = sum;
        self.contracted = contracted;
        total
    }
}

/// Add one pair's `a[n, l] x_l + b[n, l] y_l` to `sums` (`[l][n][width (2l + 1)]`), with
/// `a = w' f + w f'`, `b = (w/d) f` from `[w, w', d]` and the radial values `[f, f']`
/// (`(n_max, l_max + 1)`), and `x`, `y` the pair's angular factors (`[l][width (2l + 1)]`):
/// `width` 3 (`Y û_α`, `G_α`) for the positions, 9 (the same times `r_β`) for the strain. The
/// inner loops run over the contiguous `width (2l + 1)` values.
#[inline(always)]
fn add_pair(
    sums: &mut [f64],
    width: usize,
    [x, y]: [&[f64]; 2],
    [w, dw, d]: [f64; 3],
    [f, df]: [&[f64]; 2],
    n_max: usize,
) {
    let n_l = f.len() / n_max;
    for l in 0..n_l {
        let len = width * (2 * l + 1);
        let x = &x[width * l * l..width * l * l + len];
        let y = &y[width * l * l..width * l * l + len];
        for n in 0..n_max {
            let k = n * n_l + l;
            let (a, b) = (dw * f[k] + w * df[k], w / d * f[k]);
            let at = width * n_max * l * l + n * len;
            for (o, (x, y)) in sums[at..at + len].iter_mut().zip(x.iter().zip(y)) {
                *o += a * x + b * y;
            }
        }
    }
}

/// One pair after [`PairGradients::for_each_pair`] evaluated it: what it was pushed with, its
/// radial values and derivatives `(n_max, l_max + 1)`, and its lane of the chunk's harmonics.
struct Pair<'a> {
    distance: f64,
    vector: Vec3,
    channel: usize,
    target: usize,
    weight: f64,
    weight_derivative: f64,
    f: &'a [f64],
    df: &'a [f64],
    /// The chunk's `((l_max+1)², count)` harmonics and `(3, (l_max+1)², count)` gradients.
    harmonics: &'a [f64],
    gradients: &'a [f64],
    lane: usize,
    count: usize,
    n_lm: usize,
}

impl Pair<'_> {
    /// `Y_lm(r̂)`.
    #[inline(always)]
    fn harmonic(&self, lm: usize) -> f64 {
        self.harmonics[lm * self.count + self.lane]
    }

    /// `G_lm,α = |r| ∂_α Y_lm`.
    #[inline(always)]
    fn gradient(&self, alpha: usize, lm: usize) -> f64 {
        self.gradients[(alpha * self.n_lm + lm) * self.count + self.lane]
    }
}

/// One pair's derivative in factored form (as the pair sums of SOAP hand it to invariants):
/// `∂T_p/∂r_α [n, lm] = a[n, l] Y_lm û_α + b[n, l] G_lm,α`, with `a = w' f_nl + w f'_nl` and
/// `b = (w/d) f_nl` (`(n_max, l_max + 1)` each), `Y` the harmonics `((l_max+1)²)` and `G` their
/// `|r|`-scaled gradients `(3, (l_max+1)²)`.
pub struct PairFactors<'a> {
    pub channel: usize,
    pub target: usize,
    /// `r_p` and `û = r_p/|r_p|`.
    pub vector: Vec3,
    pub unit: Vec3,
    pub a: &'a [f64],
    pub b: &'a [f64],
    pub harmonics: &'a [f64],
    pub gradients: &'a [f64],
}

impl PairGradients {
    /// Visit every pair pushed, in order, with its derivative in factored form
    /// ([`PairFactors`]): for kernels that contract `∂T_p/∂r` with other arrays instead of
    /// forming it (`a`, `b`: `2 n_max (l_max+1)` products per pair instead of
    /// `3 n_max (l_max+1)²`).
    pub fn visit_factors(
        &mut self,
        radial: &dyn RadialIntegral,
        harmonics: &SphericalHarmonics,
        mut visit: impl FnMut(&PairFactors<'_>),
    ) {
        self.check(radial, harmonics);
        let (n_max, l_max) = (self.n_max, self.l_max);
        let n_lm = (l_max + 1) * (l_max + 1);
        let width = n_max * (l_max + 1);
        let mut a = vec![0.0; width];
        let mut b = vec![0.0; width];
        let mut y = vec![0.0; n_lm];
        let mut g = vec![0.0; 3 * n_lm];
        self.for_each_pair(radial, harmonics, |pair| {
            let d = pair.distance;
            let (w, dw) = (pair.weight, pair.weight_derivative);
            for k in 0..width {
                a[k] = dw * pair.f[k] + w * pair.df[k];
                b[k] = w / d * pair.f[k];
            }
            for lm in 0..n_lm {
                y[lm] = pair.harmonic(lm);
                for alpha in 0..3 {
                    g[alpha * n_lm + lm] = pair.gradient(alpha, lm);
                }
            }
            let vector = pair.vector;
            visit(&PairFactors {
                channel: pair.channel,
                target: pair.target,
                vector,
                unit: [vector[0] / d, vector[1] / d, vector[2] / d],
                a: &a,
                b: &b,
                harmonics: &y,
                gradients: &g,
            });
        });
    }

    /// [`backward`](Self::backward) of centre `center` (an atom index) of structure
    /// `structure`, recorded in `out`: every pair's share to its target, minus their sum to
    /// the centre (Newton's third law), and the pairs' virial to the structure.
    pub fn backward_into(
        &mut self,
        radial: &dyn RadialIntegral,
        harmonics: &SphericalHarmonics,
        cotangent: &[f64],
        center: usize,
        structure: usize,
        out: &mut Contributions,
    ) {
        let mut virial = [[0.0; 3]; 3];
        let total = self.backward(radial, harmonics, cotangent, &mut out.forces, &mut virial);
        out.forces.push((center, [-total[0], -total[1], -total[2]]));
        out.virials.push((structure, virial));
    }
}

/// Contributions of a group of centres to the backward pass: `(atom, vector)` to add to the
/// positions gradient, `(structure, matrix)` to add to the strain gradient, in order.
#[derive(Default)]
pub(crate) struct Contributions {
    pub forces: Vec<(usize, Vec3)>,
    pub virials: Vec<(usize, Mat3)>,
}

/// Centres per task of [`reduce_in_order`].
const ROWS_PER_TASK: usize = 16;
/// Tasks whose contributions are held in memory at once.
const TASKS_PER_WAVE: usize = 256;

/// Run `row(scratch, r, contributions)` for every row `r < n_rows`, in parallel over fixed
/// tasks of [`ROWS_PER_TASK`] rows (each task with its own scratch from `init`), and add the
/// contributions into `n_atoms` positions gradients and `n_structures` strain gradients
/// task by task, in order: bitwise independent of the number of threads. Memory is bounded
/// by handling [`TASKS_PER_WAVE`] tasks at a time.
pub(crate) fn reduce_in_order<S, I, F>(
    n_rows: usize,
    n_atoms: usize,
    n_structures: usize,
    init: I,
    row: F,
) -> Result<(Vec<Vec3>, Vec<Mat3>)>
where
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut S, usize, &mut Contributions) -> Result<()> + Sync + Send,
{
    let mut forces = vec![[0.0; 3]; n_atoms];
    let mut virials = vec![[[0.0; 3]; 3]; n_structures];
    let n_tasks = n_rows.div_ceil(ROWS_PER_TASK);
    let mut first = 0;
    while first < n_tasks {
        let last = (first + TASKS_PER_WAVE).min(n_tasks);
        let parts: Vec<Result<Contributions>> = (first..last)
            .into_par_iter()
            .map_init(&init, |scratch, task| {
                crate::threads::check_cancelled()?;
                let mut out = Contributions::default();
                let begin = task * ROWS_PER_TASK;
                for r in begin..(begin + ROWS_PER_TASK).min(n_rows) {
                    row(scratch, r, &mut out)?;
                }
                Ok(out)
            })
            .collect();
        for part in parts {
            let part = part?;
            for (atom, v) in part.forces {
                for alpha in 0..3 {
                    forces[atom][alpha] += v[alpha];
                }
            }
            for (s, m) in part.virials {
                for alpha in 0..3 {
                    for beta in 0..3 {
                        virials[s][alpha][beta] += m[alpha][beta];
                    }
                }
            }
        }
        first = last;
    }
    Ok((forces, virials))
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)] // index notation, as in the formulas
mod tests {
    use super::*;
    use crate::expansion::pairs::PairSum;
    use crate::radial::{GtoBasis, SoapRadialIntegral, SplinedRadialIntegral};

    /// A smooth weight and its derivative, so that `w'` enters.
    fn weight(d: f64) -> (f64, f64) {
        ((-0.1 * d * d).exp(), -0.2 * d * (-0.1 * d * d).exp())
    }

    struct Setup {
        radial: SplinedRadialIntegral,
        harmonics: SphericalHarmonics,
        n_max: usize,
        l_max: usize,
    }

    fn setup() -> Setup {
        let (n_max, l_max) = (4, 3);
        let basis = GtoBasis::new(n_max, 4.0).unwrap();
        let exact = SoapRadialIntegral::new(&basis, l_max, 0.5).unwrap();
        Setup {
            radial: SplinedRadialIntegral::new(&exact, 4.0, 1e-10).unwrap(),
            harmonics: SphericalHarmonics::new(l_max).unwrap(),
            n_max,
            l_max,
        }
    }

    /// Values of one centre (at the origin) with neighbours at `points`, channels `p % 2`.
    fn values(s: &Setup, points: &[Vec3]) -> Vec<f64> {
        let n_lm = (s.l_max + 1) * (s.l_max + 1);
        let mut out = vec![0.0; 2 * s.n_max * n_lm];
        let mut sum = PairSum::new(s.n_max, s.l_max);
        for (p, r) in points.iter().enumerate() {
            let d = (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]).sqrt();
            sum.push(d, *r, p % 2, weight(d).0);
        }
        sum.add_to(&s.radial, &s.harmonics, &mut out);
        out
    }

    fn points() -> Vec<Vec3> {
        (0..70)
            .map(|p| {
                let t = p as f64;
                [
                    3.0 * (0.7 * t + 0.1).sin(),
                    3.0 * (1.3 * t + 0.2).cos(),
                    2.5 * (0.37 * t).sin() + 0.1,
                ]
            })
            .collect()
    }

    /// The Jacobian of one centre equals central differences of the pair sum for every
    /// neighbour, the centre row is minus their sum, and the strain block equals central
    /// differences under a homogeneous deformation (step 1e-5 Å / 1e-5: truncation error
    /// ~1e-10 relative, far below a factor or sign error).
    #[test]
    fn jacobian_matches_finite_differences() {
        let s = setup();
        let points = points();
        let n_lm = (s.l_max + 1) * (s.l_max + 1);
        let block = 2 * s.n_max * n_lm;
        let mut pg = PairGradients::new(s.n_max, s.l_max);
        for (p, r) in points.iter().enumerate() {
            let d = (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]).sqrt();
            let (w, dw) = weight(d);
            pg.push(d, *r, p % 2, p + 1, w, dw);
        }
        let n_targets = points.len() + 1;
        let mut positions = vec![0.0; n_targets * 3 * block];
        let mut strain = vec![0.0; 9 * block];
        pg.add_jacobian(
            &s.radial,
            &s.harmonics,
            2,
            0,
            Some(&mut positions),
            Some(&mut strain),
        );
        let scale = values(&s, &points)
            .iter()
            .fold(0.0f64, |m, v| m.max(v.abs()));
        let h = 1e-5;
        let mut centre = vec![0.0; 3 * block];
        for (p, _) in points.iter().enumerate().step_by(7) {
            for alpha in 0..3 {
                let (mut plus, mut minus) = (points.clone(), points.clone());
                plus[p][alpha] += h;
                minus[p][alpha] -= h;
                let (vp, vm) = (values(&s, &plus), values(&s, &minus));
                for k in 0..block {
                    let fd = (vp[k] - vm[k]) / (2.0 * h);
                    let jac = positions[(p + 1) * 3 * block + alpha * block + k];
                    assert!(
                        (fd - jac).abs() < 1e-7 * scale,
                        "pair {p} α {alpha}: {fd} vs {jac}"
                    );
                }
            }
        }
        // moving the centre by h moves every pair vector by −h
        for alpha in 0..3 {
            let shifted = |sign: f64| {
                let moved: Vec<Vec3> = points
                    .iter()
                    .map(|r| {
                        let mut r = *r;
                        r[alpha] -= sign * h;
                        r
                    })
                    .collect();
                values(&s, &moved)
            };
            let (vp, vm) = (shifted(1.0), shifted(-1.0));
            for k in 0..block {
                centre[alpha * block + k] = (vp[k] - vm[k]) / (2.0 * h);
                let jac = positions[alpha * block + k];
                assert!((centre[alpha * block + k] - jac).abs() < 1e-7 * scale);
            }
        }
        for alpha in 0..3 {
            for beta in 0..3 {
                let deformed = |e: f64| {
                    let moved: Vec<Vec3> = points
                        .iter()
                        .map(|r| {
                            let mut r = *r;
                            r[alpha] += e * points_component(r, beta);
                            r
                        })
                        .collect();
                    values(&s, &moved)
                };
                let (vp, vm) = (deformed(h), deformed(-h));
                for k in 0..block {
                    let fd = (vp[k] - vm[k]) / (2.0 * h);
                    let jac = strain[(alpha * 3 + beta) * block + k];
                    assert!(
                        (fd - jac).abs() < 1e-6 * scale,
                        "strain {alpha}{beta}: {fd} vs {jac}"
                    );
                }
            }
        }
    }

    /// The factored derivatives handed out by `visit_factors` rebuild the Jacobian that
    /// `add_jacobian` accumulates (`a Y û_α + b G_α` per pair, summed per target, minus their
    /// sum at the centre), to rounding; pairs come in the order pushed.
    #[test]
    fn factors_rebuild_the_jacobian() {
        let s = setup();
        let points = points();
        let n_lm = (s.l_max + 1) * (s.l_max + 1);
        let (big_l, block) = (s.l_max + 1, s.n_max * n_lm);
        let mut pg = PairGradients::new(s.n_max, s.l_max);
        for (p, r) in points.iter().enumerate() {
            let d = (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]).sqrt();
            let (w, dw) = weight(d);
            // several pairs per target, as images of one atom in a small cell
            pg.push(d, *r, p % 2, 1 + p / 3, w, dw);
        }
        let n_targets = 1 + points.len().div_ceil(3);
        let mut expected = vec![0.0; n_targets * 3 * 2 * block];
        pg.add_jacobian(&s.radial, &s.harmonics, 2, 0, Some(&mut expected), None);
        let mut rebuilt = vec![0.0; expected.len()];
        let mut seen = Vec::new();
        pg.visit_factors(&s.radial, &s.harmonics, |f| {
            seen.push(f.target);
            for alpha in 0..3 {
                for n in 0..s.n_max {
                    for l in 0..big_l {
                        let (a, b) = (f.a[n * big_l + l], f.b[n * big_l + l]);
                        for lm in l * l..(l + 1) * (l + 1) {
                            let y = f.harmonics[lm];
                            let g = f.gradients[alpha * n_lm + lm];
                            let x = a * y * f.unit[alpha] + b * g;
                            let k = (alpha * 2 + f.channel) * block + n * n_lm + lm;
                            rebuilt[f.target * 3 * 2 * block + k] += x;
                            rebuilt[k] -= x;
                        }
                    }
                }
            }
        });
        assert_eq!(
            seen,
            (0..points.len()).map(|p| 1 + p / 3).collect::<Vec<_>>()
        );
        let scale = expected.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        assert!(scale > 0.1);
        for (x, y) in rebuilt.iter().zip(&expected) {
            assert!((x - y).abs() <= 1e-13 * scale, "{x} vs {y}");
        }
    }

    fn points_component(r: Vec3, beta: usize) -> f64 {
        r[beta]
    }

    /// The backward pass equals the Jacobian contracted with the cotangent, to rounding, and
    /// its forces sum to zero with the centre's share.
    #[test]
    fn backward_is_the_transposed_jacobian() {
        let s = setup();
        let points = points();
        let n_lm = (s.l_max + 1) * (s.l_max + 1);
        let block = 2 * s.n_max * n_lm;
        let mut pg = PairGradients::new(s.n_max, s.l_max);
        for (p, r) in points.iter().enumerate() {
            let d = (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]).sqrt();
            let (w, dw) = weight(d);
            pg.push(d, *r, p % 2, p + 1, w, dw);
        }
        let n_targets = points.len() + 1;
        let mut positions = vec![0.0; n_targets * 3 * block];
        let mut strain = vec![0.0; 9 * block];
        pg.add_jacobian(
            &s.radial,
            &s.harmonics,
            2,
            0,
            Some(&mut positions),
            Some(&mut strain),
        );
        let cotangent: Vec<f64> = (0..block).map(|k| (k as f64 * 0.91).sin()).collect();
        let mut forces = Vec::new();
        let mut virial = [[0.0; 3]; 3];
        let total = pg.backward(
            &s.radial,
            &s.harmonics,
            &cotangent,
            &mut forces,
            &mut virial,
        );
        let dot = |row: &[f64]| row.iter().zip(&cotangent).map(|(a, b)| a * b).sum::<f64>();
        let mut magnitude = 0.0f64;
        for (target, v) in &forces {
            for alpha in 0..3 {
                let start = target * 3 * block + alpha * block;
                let expected = dot(&positions[start..start + block]);
                magnitude = magnitude.max(expected.abs());
                assert!((v[alpha] - expected).abs() < 1e-12 * magnitude.max(1.0));
            }
        }
        for alpha in 0..3 {
            let expected = dot(&positions[alpha * block..(alpha + 1) * block]);
            assert!((-total[alpha] - expected).abs() < 1e-11 * magnitude.max(1.0));
            for beta in 0..3 {
                let at = (alpha * 3 + beta) * block;
                let expected = dot(&strain[at..at + block]);
                assert!((virial[alpha][beta] - expected).abs() < 1e-11 * magnitude.max(1.0));
            }
        }
    }
}
