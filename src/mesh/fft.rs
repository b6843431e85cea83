//! Three-dimensional real FFTs on a `K0 × K1 × K2` mesh (row-major, `K2` fastest), pruned to
//! the modes a band-limited spectrum occupies.
//!
//! The spectrum is the half-complex array `[K0][K1][H]`, `H = K2/2 + 1` (modes `m2 ≥ 0` along
//! the last axis, realfft's layout). Forward: `X(m) = Σ_g x(g) e^{−2πi m·g/K}`; inverse:
//! `x(g) = Σ_m X(m) e^{+2πi m·g/K}` over the full Hermitian spectrum (no `1/M`).
//!
//! Pruning: only the lines that can hold a non-zero mode are transformed along the first two
//! axes — `m2 ≤ m2_max` (index along the half axis) and, along axis 0, only the `m1` lines that
//! [`Fft3::new`] is told to keep. For a spectrum confined to a sphere well inside the Nyquist
//! box this skips about a third of the complex work; modes outside the kept lines are treated
//! as zero by [`Fft3::inverse`] and are not computed by [`Fft3::forward`].

use std::sync::Arc;

use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

/// Pruned 3D real FFT plans for one mesh.
pub struct Fft3 {
    dims: [usize; 3],
    half: usize,
    m2_max: usize,
    keep1: Vec<bool>,
    r2c: Arc<dyn RealToComplex<f64>>,
    c2r: Arc<dyn ComplexToReal<f64>>,
    forward: [Arc<dyn Fft<f64>>; 2],
    inverse: [Arc<dyn Fft<f64>>; 2],
}

/// Scratch buffers of one thread (allocated once per task, reused for every transform).
pub struct Fft3Work {
    lines: Vec<Complex<f64>>,
    scratch: Vec<Complex<f64>>,
}

impl Fft3 {
    /// Plans for a `dims` mesh whose spectra only use `m2 ≤ m2_max` (half-axis index) and,
    /// along axis 1, the indices `i1` with `keep1[i1]`.
    pub fn new(dims: [usize; 3], m2_max: usize, keep1: Vec<bool>) -> Fft3 {
        assert!(
            dims.iter().all(|&k| k > 0),
            "mesh dimensions must be positive"
        );
        assert_eq!(keep1.len(), dims[1]);
        let half = dims[2] / 2 + 1;
        let mut real = RealFftPlanner::<f64>::new();
        let mut complex = FftPlanner::<f64>::new();
        Fft3 {
            dims,
            half,
            m2_max: m2_max.min(half - 1),
            keep1,
            r2c: real.plan_fft_forward(dims[2]),
            c2r: real.plan_fft_inverse(dims[2]),
            forward: [
                complex.plan_fft_forward(dims[0]),
                complex.plan_fft_forward(dims[1]),
            ],
            inverse: [
                complex.plan_fft_inverse(dims[0]),
                complex.plan_fft_inverse(dims[1]),
            ],
        }
    }

    /// Number of real mesh points `K0 K1 K2`.
    pub fn real_len(&self) -> usize {
        self.dims.iter().product()
    }

    /// Number of half-spectrum entries `K0 K1 (K2/2 + 1)`.
    pub fn complex_len(&self) -> usize {
        self.dims[0] * self.dims[1] * self.half
    }

    /// Scratch buffers for [`Fft3::forward`] and [`Fft3::inverse`].
    pub fn work(&self) -> Fft3Work {
        let [k0, k1, k2] = self.dims;
        let lines = (self.m2_max + 1) * k0.max(k1);
        let scratch = [
            self.forward[0].get_inplace_scratch_len(),
            self.forward[1].get_inplace_scratch_len(),
            self.inverse[0].get_inplace_scratch_len(),
            self.inverse[1].get_inplace_scratch_len(),
            self.r2c.get_scratch_len(),
            self.c2r.get_scratch_len(),
            k2,
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        Fft3Work {
            lines: vec![Complex::default(); lines],
            scratch: vec![Complex::default(); scratch],
        }
    }

    /// Transform the kept lines along axis 0 or 1 of `spectrum` in place.
    fn complex_pass(
        &self,
        axis: usize,
        spectrum: &mut [Complex<f64>],
        work: &mut Fft3Work,
        forward: bool,
    ) {
        let [k0, k1, _] = self.dims;
        let h = self.half;
        let width = self.m2_max + 1;
        let plan = if forward {
            &self.forward[axis]
        } else {
            &self.inverse[axis]
        };
        let len = self.dims[axis];
        let lines = &mut work.lines[..width * len];
        let scratch = &mut work.scratch[..plan.get_inplace_scratch_len()];
        let outer = if axis == 0 { k1 } else { k0 };
        for o in 0..outer {
            if axis == 0 && !self.keep1[o] {
                continue;
            }
            // element (line i2, position t) of the gathered block
            let offset = |t: usize| {
                if axis == 0 {
                    (t * k1 + o) * h
                } else {
                    (o * k1 + t) * h
                }
            };
            for t in 0..len {
                let row = &spectrum[offset(t)..offset(t) + width];
                for (i2, value) in row.iter().enumerate() {
                    lines[i2 * len + t] = *value;
                }
            }
            plan.process_with_scratch(lines, scratch);
            for t in 0..len {
                let start = offset(t);
                let row = &mut spectrum[start..start + width];
                for (i2, value) in row.iter_mut().enumerate() {
                    *value = lines[i2 * len + t];
                }
            }
        }
    }

    /// `spectrum ← FFT(input)` on the kept lines; `input` is overwritten (used as scratch).
    /// Entries outside the kept lines are left unspecified.
    pub fn forward(&self, input: &mut [f64], spectrum: &mut [Complex<f64>], work: &mut Fft3Work) {
        let k2 = self.dims[2];
        let h = self.half;
        assert_eq!(input.len(), self.real_len());
        assert_eq!(spectrum.len(), self.complex_len());
        let scratch_len = self.r2c.get_scratch_len();
        for (row_in, row_out) in input.chunks_exact_mut(k2).zip(spectrum.chunks_exact_mut(h)) {
            self.r2c
                .process_with_scratch(row_in, row_out, &mut work.scratch[..scratch_len])
                .expect("buffer lengths match the plan");
        }
        self.complex_pass(1, spectrum, work, true);
        self.complex_pass(0, spectrum, work, true);
    }

    /// `output ← inverse FFT(spectrum)` (unnormalised) for a Hermitian spectrum held in the
    /// kept lines (every other entry must be zero); `spectrum` is overwritten.
    pub fn inverse(&self, spectrum: &mut [Complex<f64>], output: &mut [f64], work: &mut Fft3Work) {
        let k2 = self.dims[2];
        let h = self.half;
        assert_eq!(output.len(), self.real_len());
        assert_eq!(spectrum.len(), self.complex_len());
        self.complex_pass(0, spectrum, work, false);
        self.complex_pass(1, spectrum, work, false);
        let scratch_len = self.c2r.get_scratch_len();
        for (row_in, row_out) in spectrum
            .chunks_exact_mut(h)
            .zip(output.chunks_exact_mut(k2))
        {
            // the m2 = 0 (and Nyquist) entries of a Hermitian spectrum are real after the
            // first two passes, up to rounding: drop the rounding
            row_in[0].im = 0.0;
            if k2.is_multiple_of(2) {
                row_in[h - 1].im = 0.0;
            }
            self.c2r
                .process_with_scratch(row_in, row_out, &mut work.scratch[..scratch_len])
                .expect("buffer lengths match the plan");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(input: &[f64], dims: [usize; 3], m: [i64; 3]) -> Complex<f64> {
        let mut sum = Complex::default();
        for i0 in 0..dims[0] {
            for i1 in 0..dims[1] {
                for i2 in 0..dims[2] {
                    let phase = -2.0
                        * std::f64::consts::PI
                        * (m[0] as f64 * i0 as f64 / dims[0] as f64
                            + m[1] as f64 * i1 as f64 / dims[1] as f64
                            + m[2] as f64 * i2 as f64 / dims[2] as f64);
                    let x = input[(i0 * dims[1] + i1) * dims[2] + i2];
                    sum += Complex::new(x * phase.cos(), x * phase.sin());
                }
            }
        }
        sum
    }

    #[test]
    fn forward_matches_the_naive_transform_and_inverse_round_trips() {
        for dims in [[5, 6, 7], [4, 3, 8], [1, 2, 3]] {
            let n: usize = dims.iter().product();
            let data: Vec<f64> = (0..n)
                .map(|i| ((i * 7919) % 101) as f64 / 101.0 - 0.4)
                .collect();
            let fft = Fft3::new(dims, usize::MAX, vec![true; dims[1]]);
            let mut work = fft.work();
            let mut input = data.clone();
            let mut spectrum = vec![Complex::default(); fft.complex_len()];
            fft.forward(&mut input, &mut spectrum, &mut work);
            let h = dims[2] / 2 + 1;
            for i0 in 0..dims[0] {
                for i1 in 0..dims[1] {
                    for i2 in 0..h {
                        let exact = naive(&data, dims, [i0 as i64, i1 as i64, i2 as i64]);
                        let got = spectrum[(i0 * dims[1] + i1) * h + i2];
                        assert!((got - exact).norm() < 1e-10, "{dims:?} {i0} {i1} {i2}");
                    }
                }
            }
            let mut back = vec![0.0; n];
            fft.inverse(&mut spectrum, &mut back, &mut work);
            for (b, d) in back.iter().zip(&data) {
                assert!((b / n as f64 - d).abs() < 1e-12);
            }
        }
    }

    /// A spectrum confined to the kept lines is inverted exactly by the pruned transform.
    #[test]
    fn pruned_inverse_equals_the_full_one() {
        let dims = [8, 9, 10];
        let n: usize = dims.iter().product();
        let full = Fft3::new(dims, usize::MAX, vec![true; 9]);
        let keep1: Vec<bool> = (0..9).map(|i| i <= 2 || i >= 7).collect();
        let pruned = Fft3::new(dims, 2, keep1.clone());
        // a Hermitian spectrum: the transform of real data, masked to |m1| ≤ 2, m2 ≤ 2
        let data: Vec<f64> = (0..n).map(|i| ((i * 31) % 17) as f64 - 8.0).collect();
        let mut input = data.clone();
        let mut spectrum = vec![Complex::default(); full.complex_len()];
        let mut work = full.work();
        full.forward(&mut input, &mut spectrum, &mut work);
        let h = 6;
        for i0 in 0..8 {
            for (i1, keep) in keep1.iter().enumerate() {
                for i2 in 0..h {
                    if !keep || i2 > 2 {
                        spectrum[(i0 * 9 + i1) * h + i2] = Complex::default();
                    }
                }
            }
        }
        let mut a = vec![0.0; n];
        let mut b = vec![0.0; n];
        full.inverse(&mut spectrum.clone(), &mut a, &mut work);
        let mut work2 = pruned.work();
        pruned.inverse(&mut spectrum.clone(), &mut b, &mut work2);
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-9);
        }
        // and the pruned forward transform gives the kept modes
        let mut input = data.clone();
        let mut s2 = vec![Complex::default(); full.complex_len()];
        pruned.forward(&mut input, &mut s2, &mut work2);
        let mut input = data;
        let mut s1 = vec![Complex::default(); full.complex_len()];
        full.forward(&mut input, &mut s1, &mut work);
        for i0 in 0..8 {
            for (i1, keep) in keep1.iter().enumerate() {
                for i2 in 0..=2 {
                    if *keep {
                        let idx = (i0 * 9 + i1) * h + i2;
                        assert!((s1[idx] - s2[idx]).norm() < 1e-9);
                    }
                }
            }
        }
    }
}
