//! The tabulated LODE pair radial integral the calculator evaluates per pair (`docs/math.md` §3a,
//! §3c): a cubic Hermite spline of the exact [`LodePairRadialIntegral`] near the centre, continued
//! analytically (finite systems) or by zero (short-ranged kernels).
//!
//! - **Finite systems, power law `p ≥ 1`** ([`LodeRadialTable::finite`]): spline on `[0, d_tail]`,
//!   the [`MultipoleTail`] beyond. `d_tail` is the first distance of the sequence
//!   `r_c · 1.05^i` at which (a) the series terms have fallen below `accuracy/100` after `J`
//!   terms, and (b) the truncated series matches the exact integral, values and gradients (per Å),
//!   to `accuracy/2` at `d_tail × {1, 1.1, 1.25, 1.5, 2}` (all error sources — smearing, basis mass
//!   beyond `d`, truncation — decay with `d`). `d_tail` is set by the Gaussian tails of the GTOs
//!   (`r_c` is not a hard edge of the basis): for `r_c = 3 Å`, `n_max = 6`, `l_max = 4`, `σ = 1 Å`,
//!   accuracy `1e-8`, `d_tail = 10.7–11.2 Å` for `p = 1..6` (12–14 series terms for `p ≥ 2`).
//!   The ignored test `typical_sizes` reports these numbers.
//! - **Short-ranged kernels** (the Ewald short range, [`LodeRadialTable::ewald_short_range`], and the
//!   Gaussian `p = 0`): spline on `[0, d_reach]` and exactly 0 beyond. `d_reach` is found by scanning
//!   the exact integral inwards from `R + 10 w` (`R` the basis extent, `w` the widest kernel width) on
//!   a grid of step `min(σ, σ_0)/4`: one grid step beyond the last point where any `|f_nl|` or
//!   `|f'_nl|` (per Å) exceeds `accuracy`. Same basis as above, `σ = 1 Å`: `d_reach = 13.6–15.6 Å`
//!   for `η = 2 Å`, `16.7–20.8 Å` for `η = 3 Å` (`p = 6 … 1`).
//!   The scan's sizes (and the spline's below `d_reach`) are kept as a non-increasing envelope
//!   for [`LodeRadialTable::lattice_tail_bound`]: what a periodic pair sum loses to the images
//!   beyond `d_reach`, which adds up in cells small compared with the reach (`docs/math.md` §7).
//!
//! `accuracy` is absolute (in the units of `f`, like [`SplinedRadialIntegral`]): the spline's
//! midpoint error is below it, the tail within `accuracy/2` of the exact integral, and the jump at
//! `d_tail` (or `d_reach`) is below it. The exact integral itself is good to `1e-11` of the largest
//! `|f|`, so accuracies below about `1e-10 max|f|` are refused.
//!
//! The self term `f_n0(0) = 4π ∫ r² R̃_n φ dr` (the centre's own potential, `C_n = f_n0(0) Y_00` of
//! `docs/math.md` §6) is exposed by [`LodeRadialTable::self_term`].

use ndarray::{Array2, ArrayViewMut2};

use std::sync::atomic::{AtomicUsize, Ordering};

use super::lode_kernel::LodeKernel;
use super::lode_pair::{basis_extent, estimated_nodes, LodePairRadialIntegral};
use super::multipole_tail::{MultipoleTail, MAX_TAIL_TERMS};
use super::{GtoBasis, RadialIntegral, SplinedRadialIntegral};
use crate::bail_param;
use crate::error::{Error, Result};

/// Distances (relative to the candidate `d_tail`) where the tail is checked.
const TAIL_CHECKS: [f64; 5] = [1.0, 1.1, 1.25, 1.5, 2.0];
/// Growth factor of the candidate `d_tail`.
const TAIL_STEP: f64 = 1.05;
/// Basis extent tolerance (relative decay of `r² R_n`) used for the search ranges.
const EXTENT_TOLERANCE: f64 = 1e-16;
/// Scan range of the reach beyond the basis extent, in kernel widths.
const REACH_WIDTHS: f64 = 10.0;

/// Spline intervals per Å of a short-range table, per `σ_min⁻¹` and `accuracy^{-1/4}` (the
/// Hermite error falls as `h⁴`): measured 0.17–0.40 for `n_max` 4, `l_max` 3 and 0.09–0.19
/// for `n_max` 8, `l_max` 6 (`σ = 1 Å`, `η = 1.2–16 Å`, accuracies `2.5e-5 … 2.5e-11`;
/// ignored test `build_cost_sweep`).
const SPLINE_DENSITY: f64 = 0.3;

/// Tables built by this process (all kinds, failures included): a probe for tests of the
/// planner's caching ([`table_builds`]).
static TABLE_BUILDS: AtomicUsize = AtomicUsize::new(0);

/// Number of [`LodeRadialTable::new`] calls so far in this process.
pub fn table_builds() -> usize {
    TABLE_BUILDS.load(Ordering::Relaxed)
}

/// The splined LODE pair integral with its far-field continuation; see the module documentation.
#[derive(Debug, Clone)]
pub struct LodeRadialTable {
    kernel: LodeKernel,
    n_max: usize,
    l_max: usize,
    accuracy: f64,
    spline: SplinedRadialIntegral,
    tail: Option<MultipoleTail>,
    tail_start: f64,
    reach: f64,
    self_term: Vec<f64>,
    /// Short-ranged kernels: `F(t_i)`, `t_i = i · envelope_step`, a non-increasing envelope of
    /// every `|f_nl|`, `|f'_nl|` at `t ≥ t_i` (the running maximum of the scan, from the spline
    /// below `d_reach`, from the exact integral beyond); empty for power laws.
    envelope: Vec<f64>,
    envelope_step: f64,
    /// Short-ranged kernels: `G(t_i)`, a non-increasing envelope of the values alone weighted by
    /// their largest harmonic, `max_nl |f_nl| √((2l + 1)/4π)` at `t ≥ t_i` (same grid and running
    /// maximum as `envelope`): what one dropped image adds to any `c_nlm` of the values
    /// ([`LodeRadialTable::image_size`]).
    image_envelope: Vec<f64>,
}

/// Largest absolute difference of values and gradients between two integrals at `d`.
fn difference_at(a: &dyn RadialIntegral, b: &dyn RadialIntegral, d: f64) -> f64 {
    let shape = (a.n_max(), a.l_max() + 1);
    let (mut va, mut ga) = (Array2::zeros(shape), Array2::zeros(shape));
    let (mut vb, mut gb) = (Array2::zeros(shape), Array2::zeros(shape));
    a.compute(d, va.view_mut(), Some(ga.view_mut()));
    b.compute(d, vb.view_mut(), Some(gb.view_mut()));
    va.iter()
        .zip(&vb)
        .chain(ga.iter().zip(&gb))
        .fold(0.0_f64, |m, (x, y)| m.max((x - y).abs()))
}

/// Largest `|f_nl(d)|` and `|f'_nl(d)|`.
fn size_at(integral: &dyn RadialIntegral, d: f64) -> f64 {
    sizes_at(integral, d).0
}

/// `(max_nl |f_nl(d)|, |f'_nl(d)|;  max_nl |f_nl(d)| √((2l + 1)/4π))`: the reach scan's size
/// and a dropped image's largest contribution to a value `f_nl Y_lm` (`√((2l + 1)/4π)` the
/// largest `|Y_lm|` of degree `l`).
fn sizes_at(integral: &dyn RadialIntegral, d: f64) -> (f64, f64) {
    let shape = (integral.n_max(), integral.l_max() + 1);
    let (mut v, mut g) = (Array2::zeros(shape), Array2::zeros(shape));
    integral.compute(d, v.view_mut(), Some(g.view_mut()));
    let size = v
        .iter()
        .chain(g.iter())
        .fold(0.0_f64, |m, x| m.max(x.abs()));
    let image = v
        .rows()
        .into_iter()
        .flat_map(|row| row.into_iter().enumerate())
        .map(|(l, x)| x.abs() * ((2 * l + 1) as f64 / (4.0 * std::f64::consts::PI)).sqrt())
        .fold(0.0_f64, f64::max);
    (size, image)
}

impl LodeRadialTable {
    /// The table for a finite (non-periodic) system: `φ = g_p` of width `sigma`, `p = 0..=6`.
    /// See [`LodeRadialTable::new`].
    pub fn finite(
        basis: &GtoBasis,
        l_max: usize,
        p: u32,
        sigma: f64,
        accuracy: f64,
    ) -> Result<Self> {
        Self::new(basis, l_max, LodeKernel::power_law(p, sigma)?, accuracy)
    }

    /// The table of the Ewald short-range kernel `g_p^σ − g_p^η`, `p = 1..=6`, `η > σ`.
    /// See [`LodeRadialTable::new`].
    pub fn ewald_short_range(
        basis: &GtoBasis,
        l_max: usize,
        p: u32,
        sigma: f64,
        eta: f64,
        accuracy: f64,
    ) -> Result<Self> {
        Self::new(
            basis,
            l_max,
            LodeKernel::ewald_short_range(p, sigma, eta)?,
            accuracy,
        )
    }

    /// The table for any kernel, to absolute `accuracy > 0`. Errors (`InvalidParameter`) for
    /// invalid parameters, an accuracy the exact integral or the spline cannot reach, or a kernel
    /// that does not decay within the scanned range.
    pub fn new(basis: &GtoBasis, l_max: usize, kernel: LodeKernel, accuracy: f64) -> Result<Self> {
        TABLE_BUILDS.fetch_add(1, Ordering::Relaxed);
        kernel.validate()?;
        if !(accuracy.is_finite() && accuracy > 0.0) {
            bail_param!("the LODE table accuracy must be positive and finite, got {accuracy}");
        }
        let (tail_start, reach, tail, scan) = if kernel.is_short_ranged() {
            let scan = find_reach(basis, l_max, kernel, accuracy)?;
            (scan.reach, scan.reach, None, Some(scan))
        } else {
            let (tail_start, tail) = find_tail_start(basis, l_max, kernel, accuracy)?;
            (tail_start, f64::INFINITY, Some(tail), None)
        };
        let exact = LodePairRadialIntegral::new(basis, l_max, kernel, tail_start)?;
        let spline =
            SplinedRadialIntegral::new(&exact, tail_start, accuracy).map_err(|e| match e {
                Error::InvalidParameter(m) => Error::InvalidParameter(format!(
                    "the real-space radial table of the p = {} potential with smearing {} Å on \
                     [0, {tail_start:.3}] Å at accuracy {accuracy:e}: {m}; ask for a looser \
                     `accuracy`, or use a larger `smearing`",
                    kernel.exponent(),
                    kernel.smearing()
                )),
                other => other,
            })?;
        let (envelope, image_envelope, envelope_step) = match scan {
            Some(scan) => {
                let (envelope, image_envelope) = scan.envelopes(&spline);
                (envelope, image_envelope, scan.step)
            }
            None => (Vec::new(), Vec::new(), 0.0),
        };
        let mut values = Array2::zeros((basis.n_max(), l_max + 1));
        exact.compute(0.0, values.view_mut(), None);
        let self_term = values.column(0).to_vec();
        Ok(LodeRadialTable {
            kernel,
            n_max: basis.n_max(),
            l_max,
            accuracy,
            spline,
            tail,
            tail_start,
            reach,
            self_term,
            envelope,
            envelope_step,
            image_envelope,
        })
    }

    /// Estimated work of [`LodeRadialTable::new`] for a short-ranged `kernel` (without building
    /// it), in k-quadrature node-columns (one node of the exact integral for one `(n, l)`): the
    /// reach scan, `(d_scan − d_reach) / step` evaluations with `d_scan = R + 10 w`, `step =
    /// min(σ, σ_0)/4` and `d_reach ≈ R_acc + w √(2 ln(1/accuracy))`, plus the spline's `≈ 2 N`
    /// evaluations for `N ≈ 0.3 d_reach / min(σ, σ_0) · accuracy^{-1/4}` intervals, each
    /// evaluation `estimated_nodes` × `n_max (l_max + 1)`. Proportional to the measured time
    /// within a factor of about 3 (ignored test `build_cost_sweep`); planners weigh it against
    /// run costs.
    pub fn estimated_work(
        basis: &GtoBasis,
        l_max: usize,
        kernel: &LodeKernel,
        accuracy: f64,
    ) -> f64 {
        let width = (basis.n_max() * (l_max + 1)) as f64;
        let extent = basis_extent(basis, EXTENT_TOLERANCE);
        let w = kernel.widest();
        let d_scan = extent + REACH_WIDTHS * w;
        let reach =
            (basis_extent(basis, accuracy) + w * (2.0 * (1.0 / accuracy).ln()).sqrt()).min(d_scan);
        let sigma_min = kernel.smearing().min(basis.sigmas()[0]);
        let scan = (d_scan - reach) / (0.25 * sigma_min);
        let spline = 2.0 * SPLINE_DENSITY * reach / sigma_min * accuracy.powf(-0.25);
        width
            * (scan * estimated_nodes(basis, kernel, d_scan)
                + spline * estimated_nodes(basis, kernel, reach))
    }

    /// Bound on the error per unit source of a pair sum over the periodic images of a lattice
    /// with cell volume `volume` and covering radius `rho` (half the longest diagonal of the
    /// cell) that drops every image beyond [`Self::reach`] (`docs/math.md` §7): each image `x`
    /// owns a cell of volume `V` within `ρ` of it, so with `F` the non-increasing envelope of
    /// `|f_nl|` and `Y = √((2 l_max + 1)/4π)` the largest `|Y_lm|`,
    ///
    /// ```text
    /// Σ_{|x| > R} |f(|x|)| |Y| ≤ (4π Y / V) ∫_{R−2ρ}^∞ (t + ρ)² F(t) dt.
    /// ```
    ///
    /// With `rho = 0` it is the continuum estimate `(4π Y / V) ∫_R^∞ t² F(t) dt` (the average
    /// over the shift of the lattice). `F` is a step function on the scan grid (its value at
    /// the left end of each step), continued beyond the scan by `F(d_scan) e^{−(t − d_scan)/w}`
    /// (`w` the kernel's widest width). Zero for power laws (no reach).
    pub fn lattice_tail_bound(&self, volume: f64, rho: f64) -> f64 {
        let y_max = ((2 * self.l_max + 1) as f64 / (4.0 * std::f64::consts::PI)).sqrt();
        y_max * self.tail_integral(&self.envelope, volume, rho)
    }

    /// [`Self::lattice_tail_bound`] for the values alone, with each `l`'s own largest harmonic:
    /// `(4π / V) ∫_{R−2ρ}^∞ (t + ρ)² G(t) dt` with `G` the envelope of
    /// [`Self::image_size`] (rigorous for `rho` the covering radius, the shift-averaged
    /// continuum estimate for `rho = 0`). Zero for power laws.
    pub fn image_tail_bound(&self, volume: f64, rho: f64) -> f64 {
        self.tail_integral(&self.image_envelope, volume, rho)
    }

    /// `(4π / V) ∫_{R−2ρ}^∞ (t + ρ)² E(t) dt` for the step envelope `E` on the scan grid,
    /// continued beyond the scan by `E(d_scan) e^{−(t − d_scan)/w}`.
    fn tail_integral(&self, envelope: &[f64], volume: f64, rho: f64) -> f64 {
        let Some(&last) = envelope.last() else {
            return 0.0;
        };
        let h = self.envelope_step;
        let start = (self.reach - 2.0 * rho).max(0.0);
        // ∫_a^b (t + ρ)² dt
        let moment = |a: f64, b: f64| ((b + rho).powi(3) - (a + rho).powi(3)) / 3.0;
        let mut sum = 0.0;
        for (i, &f) in envelope.iter().enumerate() {
            let (a, b) = (i as f64 * h, (i + 1) as f64 * h);
            if b > start && i + 1 < envelope.len() {
                sum += f * moment(a.max(start), b);
            }
        }
        let d_scan = (envelope.len() - 1) as f64 * h;
        let w = self.kernel.widest();
        let u = d_scan.max(start) + rho;
        sum += last * w * (u * u + 2.0 * w * u + 2.0 * w * w);
        4.0 * std::f64::consts::PI * sum / volume
    }

    /// Upper bound of `max_nlm |f_nl(d) Y_lm|` over every `d' ≥ d` beyond [`Self::reach`] (zero
    /// within it, and for power laws): the step envelope `G` of the reach scan (the value at
    /// each step's left end, a running maximum from the outside), continued beyond the scan
    /// range `d_scan` by `G(d_scan) e^{−(d − d_scan)/w}` (`w` the kernel's widest width; the
    /// Gaussian tails there fall faster). One dropped image at distance `d` changes no
    /// coefficient of the values by more than this per unit source.
    pub fn image_size(&self, d: f64) -> f64 {
        let Some(&last) = self.image_envelope.last() else {
            return 0.0;
        };
        if d <= self.reach || d.is_nan() {
            return 0.0;
        }
        let i = (d / self.envelope_step).floor() as usize;
        match self.image_envelope.get(i) {
            Some(&g) if i + 1 < self.image_envelope.len() => g,
            _ => {
                let d_scan = self.image_scan_end();
                last * (-(d - d_scan).max(0.0) / self.kernel.widest()).exp()
            }
        }
    }

    /// End `d_scan` of the reach scan behind [`Self::image_size`] (0 for power laws).
    pub fn image_scan_end(&self) -> f64 {
        self.image_envelope.len().saturating_sub(1) as f64 * self.envelope_step
    }

    /// Bound on `Σ image_size(|y|)` over the images `y` of a lattice (cell volume `volume`,
    /// covering radius `rho`) with `|y| > d`, `d ≥` [`Self::image_scan_end`]: in shells
    /// `t_k = d + k w ≤ |y| < t_{k+1}` (`w` the kernel's widest width) every image owns a cell
    /// within `ρ` of it, so a shell holds at most `(4π/3V) ((t_{k+1} + ρ)³ − (t_k − ρ)³)` images,
    /// each at most `G(d_scan) e^{−(t_k − d_scan)/w}`; summed until the terms are `1e-30` of the
    /// first.
    pub fn image_continuation_bound(&self, volume: f64, rho: f64, d: f64) -> f64 {
        let Some(&last) = self.image_envelope.last() else {
            return 0.0;
        };
        let w = self.kernel.widest();
        let d_scan = self.image_scan_end();
        let shell = |k: f64| {
            let (t0, t1) = (d + k * w, d + (k + 1.0) * w);
            let count = 4.0 * std::f64::consts::PI / 3.0
                * ((t1 + rho).powi(3) - (t0 - rho).max(0.0).powi(3))
                / volume;
            count * last * (-(t0 - d_scan).max(0.0) / w).exp()
        };
        let first = shell(0.0);
        let mut sum = first;
        let mut k = 1.0;
        loop {
            let term = shell(k);
            sum += term;
            if term <= 1e-30 * first || k > 1e4 {
                return sum;
            }
            k += 1.0;
        }
    }

    /// The kernel `φ`.
    pub fn kernel(&self) -> &LodeKernel {
        &self.kernel
    }

    /// The absolute accuracy the table was built for.
    pub fn accuracy(&self) -> f64 {
        self.accuracy
    }

    /// Distance beyond which every `f_nl` is exactly zero: `d_reach` for short-ranged kernels,
    /// `+∞` for the power laws `p ≥ 1` (pairs at any distance contribute).
    pub fn reach(&self) -> f64 {
        self.reach
    }

    /// End of the splined range: `d_tail` (the multipole tail takes over beyond) for power laws
    /// `p ≥ 1`, `d_reach` for short-ranged kernels.
    pub fn tail_start(&self) -> f64 {
        self.tail_start
    }

    /// The multipole tail used beyond [`LodeRadialTable::tail_start`] (power laws `p ≥ 1`).
    pub fn tail(&self) -> Option<&MultipoleTail> {
        self.tail.as_ref()
    }

    /// The spline on `[0, tail_start]`.
    pub fn spline(&self) -> &SplinedRadialIntegral {
        &self.spline
    }

    /// `f_n0(0) = 4π ∫ r² R̃_n φ dr` for `n < n_max` (from the exact integral): the centre's own
    /// smeared potential projected on `l = 0`; its coefficient is `f_n0(0) Y_00 = f_n0(0)/√(4π)`.
    pub fn self_term(&self) -> &[f64] {
        &self.self_term
    }

    /// Values (and gradients) into flat slices of length `n_max (l_max + 1)`, index
    /// `n (l_max + 1) + l`: the allocation-free hot path. NaN for negative or NaN `d`.
    #[inline]
    pub fn compute_flat(&self, d: f64, values: &mut [f64], mut gradients: Option<&mut [f64]>) {
        if d.is_nan() || d < 0.0 {
            values.fill(f64::NAN);
            if let Some(g) = gradients.as_mut() {
                g.fill(f64::NAN);
            }
        } else if d <= self.tail_start {
            self.spline.compute_flat(d, values, gradients);
        } else if let Some(tail) = &self.tail {
            tail.compute_flat(d, values, gradients);
        } else {
            values.fill(0.0);
            if let Some(g) = gradients.as_mut() {
                g.fill(0.0);
            }
        }
    }
}

/// `d_tail` and the truncated tail (module documentation).
fn find_tail_start(
    basis: &GtoBasis,
    l_max: usize,
    kernel: LodeKernel,
    accuracy: f64,
) -> Result<(f64, MultipoleTail)> {
    let p = kernel.exponent();
    let extent = basis_extent(basis, EXTENT_TOLERANCE);
    let d_cap = 1.5 * (extent + 10.0 * kernel.widest());
    let last_check = TAIL_CHECKS[TAIL_CHECKS.len() - 1];
    let probe = LodePairRadialIntegral::new(basis, l_max, kernel, last_check * d_cap)?;
    let full = MultipoleTail::new(basis, l_max, p, MAX_TAIL_TERMS)?;
    let mut d = basis.cutoff();
    while d <= d_cap {
        crate::threads::check_cancelled()?;
        // keep terms 0..j where term j is negligible (p = 1: the single term is complete)
        let n_terms = if p == 1 {
            Some(1)
        } else {
            (1..full.n_terms()).find(|&j| full.term_size(j, d) <= 0.01 * accuracy)
        };
        if let Some(n_terms) = n_terms {
            let tail = full.truncated(n_terms);
            if TAIL_CHECKS
                .iter()
                .all(|&f| difference_at(&tail, &probe, f * d) <= 0.5 * accuracy)
            {
                return Ok((d, tail));
            }
        }
        d *= TAIL_STEP;
    }
    bail_param!(
        "no multipole tail reaches accuracy {accuracy:e} within {d_cap:.1} Å for {kernel:?}; \
         ask for a looser accuracy"
    )
}

/// The reach scan of a short-ranged kernel: `d_reach` and the sizes met beyond it.
struct ReachScan {
    reach: f64,
    step: f64,
    /// `max |f_nl|, |f'_nl|` of the exact integral at `i · step` for `i ≥ first`, up to `d_scan`.
    first: usize,
    sizes: Vec<f64>,
    /// The values' sizes of [`sizes_at`] at the same points.
    image_sizes: Vec<f64>,
}

impl ReachScan {
    /// The non-increasing envelopes on the whole grid `0, step, …, d_scan` (of the sizes, and of
    /// the values' image sizes): the scanned sizes beyond `d_reach`, the spline's below,
    /// running maximum from the outside.
    fn envelopes(&self, spline: &SplinedRadialIntegral) -> (Vec<f64>, Vec<f64>) {
        let below: Vec<(f64, f64)> = (0..self.first)
            .map(|i| sizes_at(spline, i as f64 * self.step))
            .collect();
        let mut sizes: Vec<f64> = below.iter().map(|s| s.0).collect();
        let mut images: Vec<f64> = below.iter().map(|s| s.1).collect();
        sizes.extend_from_slice(&self.sizes);
        images.extend_from_slice(&self.image_sizes);
        for envelope in [&mut sizes, &mut images] {
            let mut running = 0.0_f64;
            for s in envelope.iter_mut().rev() {
                running = running.max(*s);
                *s = running;
            }
        }
        (sizes, images)
    }
}

/// `d_reach` of a short-ranged kernel (module documentation).
fn find_reach(
    basis: &GtoBasis,
    l_max: usize,
    kernel: LodeKernel,
    accuracy: f64,
) -> Result<ReachScan> {
    let extent = basis_extent(basis, EXTENT_TOLERANCE);
    let d_scan = extent + REACH_WIDTHS * kernel.widest();
    let probe = LodePairRadialIntegral::new(basis, l_max, kernel, d_scan)?;
    let step = 0.25 * kernel.smearing().min(basis.sigmas()[0]);
    let n_steps = (d_scan / step).ceil() as usize;
    let step = d_scan / n_steps as f64;
    if size_at(&probe, d_scan) > accuracy {
        bail_param!(
            "the pair integral of {kernel:?} is still above accuracy {accuracy:e} at {d_scan:.1} Å; \
             ask for a looser accuracy"
        );
    }
    let (size, image) = sizes_at(&probe, d_scan);
    let (mut sizes, mut image_sizes) = (vec![size], vec![image]);
    for i in (0..n_steps).rev() {
        if i % 64 == 0 {
            crate::threads::check_cancelled()?;
        }
        let (size, image) = sizes_at(&probe, i as f64 * step);
        sizes.push(size);
        image_sizes.push(image);
        if size > accuracy {
            sizes.reverse();
            image_sizes.reverse();
            return Ok(ReachScan {
                reach: (i + 1) as f64 * step,
                step,
                first: i,
                sizes,
                image_sizes,
            });
        }
    }
    sizes.reverse();
    image_sizes.reverse();
    Ok(ReachScan {
        reach: step,
        step,
        first: 0,
        sizes,
        image_sizes,
    })
}

impl RadialIntegral for LodeRadialTable {
    fn n_max(&self) -> usize {
        self.n_max
    }

    fn l_max(&self) -> usize {
        self.l_max
    }

    /// `x = d ≥ 0` (Å): spline up to `tail_start`, tail (or zero) beyond; NaN for negative `d`.
    fn compute(&self, d: f64, values: ArrayViewMut2<f64>, gradients: Option<ArrayViewMut2<f64>>) {
        super::check_shapes(&values, &gradients, self.n_max, self.l_max);
        super::compute_with_flat(values, gradients, |v, g| self.compute_flat(d, v, g));
    }

    fn compute_many(&self, ds: &[f64], values: &mut [f64]) {
        let width = self.n_max * (self.l_max + 1);
        assert_eq!(values.len(), ds.len() * width, "values: wrong length");
        if ds.iter().all(|&d| (0.0..=self.tail_start).contains(&d)) {
            // all on the spline (the Ewald short range, near pairs of finite systems)
            self.spline.compute_many(ds, values);
        } else {
            for (&d, row) in ds.iter().zip(values.chunks_exact_mut(width)) {
                self.compute_flat(d, row, None);
            }
        }
    }

    /// Values and `d f/dd` of both pieces: the spline's derivative up to `tail_start`, the
    /// tail's analytic derivative beyond (zero beyond the reach of a short-ranged kernel).
    fn compute_many_with_gradients(&self, ds: &[f64], values: &mut [f64], gradients: &mut [f64]) {
        let width = self.n_max * (self.l_max + 1);
        assert_eq!(values.len(), ds.len() * width, "values: wrong length");
        assert_eq!(gradients.len(), ds.len() * width, "gradients: wrong length");
        if ds.iter().all(|&d| (0.0..=self.tail_start).contains(&d)) {
            self.spline
                .compute_many_with_gradients(ds, values, gradients);
        } else {
            let rows = values
                .chunks_exact_mut(width)
                .zip(gradients.chunks_exact_mut(width));
            for (&d, (row, slope)) in ds.iter().zip(rows) {
                self.compute_flat(d, row, Some(slope));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::f64::consts::PI;
    use std::time::Instant;

    use super::*;
    use crate::radial::lode_pair::tests::{evaluate, max_abs, max_difference};
    use crate::radial::tests::gauss_legendre;
    use crate::radial::SoapRadialIntegral;

    /// Largest |table − exact| (values) on a grid of `n` points over `[0, d_end]`.
    fn worst_error(
        table: &LodeRadialTable,
        exact: &dyn RadialIntegral,
        d_end: f64,
        n: usize,
    ) -> f64 {
        (0..=n)
            .map(|i| {
                let d = d_end * (i as f64 + 0.37) / (n as f64 + 0.37);
                max_difference(&evaluate(table, d).0, &evaluate(exact, d).0)
            })
            .fold(0.0, f64::max)
    }

    /// Finite power law: the table (spline + tail) follows the exact integral within the accuracy
    /// over [0, 3 d_tail], the jump at d_tail is below the accuracy, and the p = 1 tail is the
    /// multipole formula with its single term.
    fn check_finite_table(exponents: &[u32]) {
        let basis = GtoBasis::new(4, 3.0).unwrap();
        let accuracy = 1e-8;
        for &p in exponents {
            let table = LodeRadialTable::finite(&basis, 3, p, 0.8, accuracy).unwrap();
            let d_tail = table.tail_start();
            assert_eq!(table.reach(), f64::INFINITY);
            let exact = LodePairRadialIntegral::new(
                &basis,
                3,
                LodeKernel::power_law(p, 0.8).unwrap(),
                3.0 * d_tail,
            )
            .unwrap();
            let worst = worst_error(&table, &exact, 3.0 * d_tail, 150);
            let below = evaluate(&table, d_tail * (1.0 - 1e-12));
            let above = evaluate(&table, d_tail * (1.0 + 1e-12));
            let jump = max_difference(&below.0, &above.0);
            let tail = table.tail().unwrap();
            println!(
                "p={p}: d_tail {d_tail:.2} Å, {} terms, {} intervals, worst {worst:.1e}, jump {jump:.1e}",
                tail.n_terms(),
                table.spline().n_intervals()
            );
            assert!(worst <= accuracy && jump <= accuracy, "p={p}");
            if p == 1 {
                assert_eq!(tail.n_terms(), 1);
                for l in 0..=3 {
                    let moments = basis.moments((l + 2) as f64).unwrap();
                    for (n, m) in moments.iter().enumerate() {
                        let expected = 4.0 * PI / (2 * l + 1) as f64 * m;
                        assert!((tail.coefficient(n, l, 0) - expected).abs() < 1e-14 * m.abs());
                    }
                }
            }
        }
    }

    #[test]
    fn finite_table_matches_exact() {
        check_finite_table(&[1, 3, 6]);
    }

    /// Short-range kernels: exactly zero beyond the reach; the exact integral's values and
    /// gradients stay below the accuracy beyond it (grid of 0.05 Å to twice the reach) and some
    /// exceed it one scan step (σ_0/4) inside; the table follows the exact integral on [0, reach].
    /// Also the table equals the difference of the two finite power-law tables within 3 accuracies.
    fn check_short_range_table(exponents: &[u32]) {
        let basis = GtoBasis::new(4, 3.0).unwrap();
        let accuracy = 1e-8;
        for &p in exponents {
            let (sigma, eta) = (0.8, 1.6);
            let table =
                LodeRadialTable::ewald_short_range(&basis, 3, p, sigma, eta, accuracy).unwrap();
            let reach = table.reach();
            assert_eq!(reach, table.tail_start());
            assert!(table.tail().is_none());
            let kernel = LodeKernel::ewald_short_range(p, sigma, eta).unwrap();
            let exact = LodePairRadialIntegral::new(&basis, 3, kernel, 2.0 * reach).unwrap();
            let worst = worst_error(&table, &exact, reach, 100);
            assert!(worst <= accuracy, "p={p}: {worst:e}");
            let mut d = reach * (1.0 + 1e-12);
            while d < 2.0 * reach {
                let (values, gradients) = evaluate(&table, d);
                assert!(values.iter().chain(gradients.iter()).all(|&v| v == 0.0));
                let (values, gradients) = evaluate(&exact, d);
                assert!(
                    max_abs(&values).max(max_abs(&gradients)) <= accuracy,
                    "p={p} d={d}"
                );
                d += 0.05;
            }
            let inside = reach - 0.25 * basis.sigmas()[0].min(sigma) * 1.01;
            let (values, gradients) = evaluate(&exact, inside);
            assert!(
                max_abs(&values).max(max_abs(&gradients)) > accuracy,
                "p={p}"
            );
            println!(
                "short range p={p} σ={sigma} η={eta}: reach {reach:.2} Å, {} intervals",
                table.spline().n_intervals()
            );

            // f^SR = f^σ − f^η, from two independent finite tables
            let near = LodeRadialTable::finite(&basis, 3, p, sigma, accuracy).unwrap();
            let far = LodeRadialTable::finite(&basis, 3, p, eta, accuracy).unwrap();
            for &d in &[0.0, 0.5, 2.2, 4.0, 0.9 * reach] {
                let expected = evaluate(&near, d).0 - evaluate(&far, d).0;
                let error = max_difference(&evaluate(&table, d).0, &expected);
                assert!(error <= 3.0 * accuracy, "p={p} d={d}: {error:e}");
            }
        }
    }

    #[test]
    fn short_range_table_vanishes_beyond_reach() {
        check_short_range_table(&[1, 3]);
    }

    /// All exponents (slow in debug mode).
    #[test]
    #[ignore]
    fn tables_all_exponents() {
        check_finite_table(&[1, 2, 3, 4, 5, 6]);
        check_short_range_table(&[1, 2, 3, 4, 5, 6]);
    }

    /// p = 0 (finite): the Gaussian density, against the closed-form SOAP integral; zero beyond
    /// its reach.
    #[test]
    fn gaussian_table_matches_soap() {
        let basis = GtoBasis::new(5, 3.0).unwrap();
        let accuracy = 1e-8;
        let table = LodeRadialTable::finite(&basis, 4, 0, 0.5, accuracy).unwrap();
        let soap = SoapRadialIntegral::new(&basis, 4, 0.5).unwrap();
        assert!(table.tail().is_none() && table.reach().is_finite());
        let worst = worst_error(&table, &soap, 1.5 * table.reach(), 200);
        assert!(worst <= accuracy, "{worst:e}");
    }

    /// The self term against an independent radial quadrature of 4π ∫ r² R̃_n φ dr (1e-12
    /// relative to the largest), for a power law and a short-range kernel.
    #[test]
    fn self_term_matches_radial_quadrature() {
        let basis = GtoBasis::new(4, 3.0).unwrap();
        let (nodes, weights) = gauss_legendre(16);
        for kernel in [
            LodeKernel::power_law(1, 0.7).unwrap(),
            LodeKernel::power_law(4, 0.7).unwrap(),
            LodeKernel::ewald_short_range(3, 0.7, 2.0).unwrap(),
        ] {
            let table = LodeRadialTable::new(&basis, 2, kernel, 1e-6).unwrap();
            let mut expected = [0.0; 4];
            let mut radial = [0.0; 4];
            for panel in 0..600 {
                for (x, w) in nodes.iter().zip(&weights) {
                    let r = 0.05 * (panel as f64 + 0.5 * (x + 1.0));
                    basis.evaluate(r, &mut radial);
                    let weight = 0.025 * w * 4.0 * PI * r * r * kernel.value(r);
                    for (e, radial) in expected.iter_mut().zip(&radial) {
                        *e += weight * radial;
                    }
                }
            }
            let scale = expected.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
            for (n, (value, e)) in table.self_term().iter().zip(&expected).enumerate() {
                assert!((value - e).abs() < 1e-12 * scale, "{kernel:?} n={n}");
            }
        }
    }

    /// Gradients of the table against central differences (step 1e-5 Å) in the spline and tail
    /// regions: 1e-6 of max|f| per Å (the spline's derivative is that of its cubic, itself within
    /// ~accuracy/h of the exact one).
    #[test]
    fn table_gradients_match_finite_differences() {
        let basis = GtoBasis::new(4, 3.0).unwrap();
        let table = LodeRadialTable::finite(&basis, 3, 2, 0.8, 1e-9).unwrap();
        let scale = max_abs(&evaluate(&table, 0.0).0);
        let h = 1e-5;
        for &d in &[
            0.3,
            2.0,
            0.99 * table.tail_start(),
            1.3 * table.tail_start(),
        ] {
            let (_, gradients) = evaluate(&table, d);
            let fd = (evaluate(&table, d + h).0 - evaluate(&table, d - h).0) / (2.0 * h);
            let error = max_difference(&fd, &gradients);
            assert!(error < 1e-6 * scale, "d={d}: {error:e}");
        }
    }

    #[test]
    fn invalid_parameters() {
        let basis = GtoBasis::new(3, 3.0).unwrap();
        assert!(LodeRadialTable::finite(&basis, 2, 1, 0.5, 0.0).is_err());
        assert!(LodeRadialTable::finite(&basis, 2, 7, 0.5, 1e-8).is_err());
        assert!(LodeRadialTable::ewald_short_range(&basis, 2, 1, 0.5, 0.4, 1e-8).is_err());
        // below what the exact integral can certify
        assert!(LodeRadialTable::finite(&basis, 2, 1, 0.5, 1e-16).is_err());
        let table = LodeRadialTable::finite(&basis, 2, 1, 0.5, 1e-6).unwrap();
        let (values, _) = evaluate(&table, -1.0);
        assert!(values.iter().all(|v| v.is_nan()));
    }

    /// The sizes the calculator will see (r_c 3 Å, σ 1 Å, n_max 6, l_max 4, accuracy 1e-8);
    /// run with `--ignored --nocapture` (timings are meaningful in release mode).
    #[test]
    #[ignore]
    /// Build time of short-range tables against [`LodeRadialTable::estimated_work`] (one
    /// thread; `n_max` 4 and 8, `σ = 1 Å`, `η = 1.2–64 Å`, accuracies `2.5e-5 … 2.5e-11`), and
    /// the spline intervals per Å behind `SPLINE_DENSITY`:
    /// `cargo test --release build_cost_sweep -- --ignored --nocapture`.
    fn build_cost_sweep() {
        crate::threads::with_threads(1, || {
            for (n_max, l_max) in [(4, 3), (8, 6)] {
                let basis = GtoBasis::new(n_max, 3.0).unwrap();
                let sigma_min = basis.sigmas()[0].min(1.0);
                for accuracy in [2.5e-5, 2.5e-7, 2.5e-9, 2.5e-11] {
                    for m in [1, 4, 8, 12, 16] {
                        let eta = 2f64.powf(m as f64 / 4.0);
                        let kernel = LodeKernel::ewald_short_range(1, 1.0, eta).unwrap();
                        let work =
                            LodeRadialTable::estimated_work(&basis, l_max, &kernel, accuracy);
                        let start = Instant::now();
                        let table = LodeRadialTable::new(&basis, l_max, kernel, accuracy);
                        let elapsed = start.elapsed().as_secs_f64();
                        let Ok(table) = table else {
                            println!("n_max {n_max} accuracy {accuracy:e} η {eta:.2}: refused");
                            continue;
                        };
                        let density = table.spline().n_intervals() as f64 * sigma_min
                            / table.reach()
                            * accuracy.powf(0.25);
                        println!(
                            "n_max {n_max} accuracy {accuracy:e} η {eta:6.2}: reach {:6.1} Å, \
                             {:5} intervals (density {density:.2}), {elapsed:.3} s, estimate \
                             {work:.2e}, {:.2} ns per node-column",
                            table.reach(),
                            table.spline().n_intervals(),
                            elapsed * 1e9 / work
                        );
                    }
                }
            }
        })
        .unwrap();
    }

    #[test]
    #[ignore]
    fn typical_sizes() {
        let basis = GtoBasis::new(6, 3.0).unwrap();
        let accuracy = 1e-8;
        for p in 1..=6 {
            let start = Instant::now();
            let table = LodeRadialTable::finite(&basis, 4, p, 1.0, accuracy).unwrap();
            let elapsed = start.elapsed().as_secs_f64() * 1e3;
            let d_end = 3.0 * table.tail_start();
            let kernel = LodeKernel::power_law(p, 1.0).unwrap();
            let exact = LodePairRadialIntegral::new(&basis, 4, kernel, d_end).unwrap();
            let worst = worst_error(&table, &exact, d_end, 2000);
            println!(
                "finite p={p}: d_tail {:.2} Å, {} tail terms, {} intervals, self term[0] {:.6}, \
                 {elapsed:.1} ms, max error on [0, 3 d_tail] {worst:.1e}",
                table.tail_start(),
                table.tail().unwrap().n_terms(),
                table.spline().n_intervals(),
                table.self_term()[0],
            );
            assert!(worst <= accuracy);
        }
        for p in [1, 2, 3, 6] {
            for eta in [2.0, 3.0] {
                let start = Instant::now();
                let table =
                    LodeRadialTable::ewald_short_range(&basis, 4, p, 1.0, eta, accuracy).unwrap();
                let elapsed = start.elapsed().as_secs_f64() * 1e3;
                let d_end = 1.5 * table.reach();
                let kernel = LodeKernel::ewald_short_range(p, 1.0, eta).unwrap();
                let exact = LodePairRadialIntegral::new(&basis, 4, kernel, d_end).unwrap();
                let worst = worst_error(&table, &exact, d_end, 2000);
                println!(
                    "short range p={p} η={eta}: d_reach {:.2} Å, {} intervals, {elapsed:.1} ms, \
                     max error on [0, 1.5 d_reach] {worst:.1e}",
                    table.reach(),
                    table.spline().n_intervals(),
                );
                assert!(worst <= accuracy);
            }
        }
    }

    /// The lattice-tail bound against a brute-force sum over the images of one pair of the
    /// Gaussian (`p = 0`) table: in a 1.7 Å cube and a skewed 2.3 Å cell, for 6 shifts of the
    /// pair, `Y Σ_{|x| > d_reach} max_nl |f_nl|, |f'_nl|` (exact integral, images to
    /// `d_scan + 1 Å`) never exceeds the bound; the continuum estimate (`ρ = 0`) lies between the
    /// shift-averaged sum and twice it, and four times it covers every shift (the sum over
    /// shifts fluctuates little where images are many). (The bound itself is loose by orders of magnitude here: `F` rises steeply over
    /// the `2ρ` it is moved inwards.)
    #[test]
    fn lattice_tail_bound_holds_against_image_sums() {
        let basis = GtoBasis::new(3, 2.0).unwrap();
        let (l_max, sigma, accuracy) = (2, 0.7, 1e-7);
        let table = LodeRadialTable::finite(&basis, l_max, 0, sigma, accuracy).unwrap();
        let reach = table.reach();
        let d_end = (table.envelope.len() - 1) as f64 * table.envelope_step + 1.0;
        let exact = LodePairRadialIntegral::new(&basis, l_max, *table.kernel(), d_end).unwrap();
        let y_max = ((2 * l_max + 1) as f64 / (4.0 * PI)).sqrt();
        let cells = [
            [[1.7, 0.0, 0.0], [0.0, 1.7, 0.0], [0.0, 0.0, 1.7]],
            [[2.3, 0.0, 0.0], [0.9, 2.1, 0.0], [-0.4, 0.6, 2.4]],
        ];
        for m in cells {
            let cell = crate::systems::Cell::new(m, [true; 3]).unwrap();
            let (volume, rho) = (cell.volume(), cell.covering_radius());
            let bound = table.lattice_tail_bound(volume, rho);
            let estimate = table.lattice_tail_bound(volume, 0.0);
            let n = (d_end
                / cell
                    .face_distances()
                    .iter()
                    .fold(f64::INFINITY, |a, &b| a.min(b)))
            .ceil() as i32
                + 1;
            let mut sums = Vec::new();
            for k in 0..6 {
                let f = [
                    0.13 * k as f64 % 1.0,
                    0.37 * k as f64 % 1.0,
                    0.71 * k as f64 % 1.0,
                ];
                let mut sum = 0.0;
                for i in -n..=n {
                    for j in -n..=n {
                        for l in -n..=n {
                            let c = [i as f64 + f[0], j as f64 + f[1], l as f64 + f[2]];
                            let x = cell.to_cartesian(c);
                            let d = (x[0] * x[0] + x[1] * x[1] + x[2] * x[2]).sqrt();
                            if d > reach && d < d_end {
                                sum += y_max * size_at(&exact, d);
                            }
                        }
                    }
                }
                sums.push(sum);
            }
            let largest = sums.iter().fold(0.0_f64, |a, &b| a.max(b));
            let mean = sums.iter().sum::<f64>() / sums.len() as f64;
            assert!(largest <= bound, "{largest:e} > bound {bound:e}");
            assert!(largest <= 4.0 * estimate, "{largest:e} > 4 × {estimate:e}");
            // the step envelope takes each step's left (larger) end: the estimate is above the
            // shift average, by less than 2× on this grid
            assert!(
                mean <= estimate && estimate <= 2.0 * mean,
                "estimate {estimate:e}, mean {mean:e}"
            );
            // the images really exceed the single-pair accuracy here (the case the bound is for)
            assert!(mean > 3.0 * accuracy, "{mean:e}");
        }
    }
}
