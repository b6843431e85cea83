//! The pair sum shared by SOAP and LODE, batched per centre:
//! `out[a, n, lm] += Σ_{p ∈ a} (w_p f_nl(d_p)) · Y_lm(r̂_p)`, the pairs `p` of one centre taken
//! in the order they were pushed.
//!
//! The pairs are stored as columns; in chunks of [`CHUNK`] pairs, the radial integrals of all
//! pairs ([`RadialIntegral::compute_many`]) and their spherical harmonics
//! ([`SphericalHarmonics::compute_many`], vectorised over pairs) are evaluated first, then added
//! into per-channel accumulators laid out `(lm, n)` (n padded to an even count), so that each
//! pair's update is, for every `lm`, one short vector operation over `n` with `Y_lm` broadcast.
//!
//! Every coefficient receives the same products `(w_p f_nl) · Y_lm`, added one pair after the
//! other in the same order, as the one-pair-at-a-time loop: the results are bitwise equal to
//! it (and so independent of threads).

use crate::math::simd::with_avx2;
use crate::math::spherical_harmonics::SphericalHarmonics;
use crate::radial::RadialIntegral;
use crate::systems::Vec3;

/// Pairs evaluated together (radial and angular buffers stay in the L1 cache).
const CHUNK: usize = 64;

/// Largest padded `n_max` (even, ≥ [`crate::expansion::MAX_N_MAX`]).
const MAX_PAD: usize = 16;

/// The pairs of one centre and the buffers to sum them; reuse one per thread.
pub(crate) struct PairSum {
    n_max: usize,
    l_max: usize,
    /// `n_max` rounded up to an even number: the accumulators' inner length.
    n_pad: usize,
    distance: Vec<f64>,
    x: Vec<f64>,
    y: Vec<f64>,
    z: Vec<f64>,
    channel: Vec<usize>,
    weight: Vec<f64>,
    /// `(CHUNK, n_max (l_max + 1))`.
    radial: Vec<f64>,
    /// `((l_max + 1)², CHUNK)`.
    harmonics: Vec<f64>,
    /// `(n_channels, (l_max + 1)², n_pad)`.
    accumulators: Vec<f64>,
}

impl PairSum {
    pub fn new(n_max: usize, l_max: usize) -> PairSum {
        assert!(n_max <= MAX_PAD, "n_max = {n_max} above {MAX_PAD}");
        let n_lm = (l_max + 1) * (l_max + 1);
        PairSum {
            n_max,
            l_max,
            n_pad: n_max.next_multiple_of(2),
            distance: Vec::new(),
            x: Vec::new(),
            y: Vec::new(),
            z: Vec::new(),
            channel: Vec::new(),
            weight: Vec::new(),
            radial: vec![0.0; CHUNK * n_max * (l_max + 1)],
            harmonics: vec![0.0; CHUNK * n_lm],
            accumulators: Vec::new(),
        }
    }

    /// Bytes of column storage per pushed pair (distance, x, y, z, channel, weight).
    pub const BYTES_PER_PAIR: usize = 5 * std::mem::size_of::<f64>() + std::mem::size_of::<usize>();

    /// Make room for `additional` more pairs, exactly (no doubling past it); an allocation
    /// failure is an error, not an abort.
    pub fn try_reserve(&mut self, additional: usize) -> crate::Result<()> {
        let failed = |_| {
            crate::error::Error::InvalidParameter(format!(
                "could not allocate the pair buffers for {additional} pairs: use a smaller \
                 cutoff or fewer threads"
            ))
        };
        self.distance
            .try_reserve_exact(additional)
            .map_err(failed)?;
        self.x.try_reserve_exact(additional).map_err(failed)?;
        self.y.try_reserve_exact(additional).map_err(failed)?;
        self.z.try_reserve_exact(additional).map_err(failed)?;
        self.channel.try_reserve_exact(additional).map_err(failed)?;
        self.weight.try_reserve_exact(additional).map_err(failed)?;
        Ok(())
    }

    /// Forget the pairs pushed so far.
    pub fn clear(&mut self) {
        self.distance.clear();
        self.x.clear();
        self.y.clear();
        self.z.clear();
        self.channel.clear();
        self.weight.clear();
    }

    /// One pair: `distance = |vector|`, its channel and its weight `w_p`.
    #[inline]
    pub fn push(&mut self, distance: f64, vector: Vec3, channel: usize, weight: f64) {
        self.distance.push(distance);
        self.x.push(vector[0]);
        self.y.push(vector[1]);
        self.z.push(vector[2]);
        self.channel.push(channel);
        self.weight.push(weight);
    }

    /// Add every pair pushed since the last [`clear`](Self::clear) to `out`, the centre's
    /// contiguous `(n_channels, n_max, (l_max + 1)²)` block.
    pub fn add_to(
        &mut self,
        radial: &dyn RadialIntegral,
        harmonics: &SphericalHarmonics,
        out: &mut [f64],
    ) {
        let (n_max, n_pad) = (self.n_max, self.n_pad);
        let n_lm = (self.l_max + 1) * (self.l_max + 1);
        assert_eq!((radial.n_max(), radial.l_max()), (n_max, self.l_max));
        assert_eq!(harmonics.l_max(), self.l_max);
        assert_eq!(out.len() % (n_max * n_lm), 0, "out: whole channel blocks");
        let n_channels = out.len() / (n_max * n_lm);
        if self.distance.is_empty() {
            return;
        }
        assert!(
            self.channel.iter().all(|&a| a < n_channels),
            "channel out of range"
        );

        // the accumulators start from `out`, transposed to (lm, n)
        self.accumulators.clear();
        self.accumulators.resize(n_channels * n_lm * n_pad, 0.0);
        let blocks = |acc: &mut [f64], out: &mut [f64], into_out: bool| {
            let blocks = out.chunks_exact_mut(n_max * n_lm);
            for (block, acc) in blocks.zip(acc.chunks_exact_mut(n_lm * n_pad)) {
                for n in 0..n_max {
                    for lm in 0..n_lm {
                        let (a, b) = (&mut acc[lm * n_pad + n], &mut block[n * n_lm + lm]);
                        if into_out {
                            *b = *a;
                        } else {
                            *a = *b;
                        }
                    }
                }
            }
        };
        blocks(&mut self.accumulators, out, false);

        let width = n_max * (self.l_max + 1);
        let mut start = 0;
        while start < self.distance.len() {
            let end = (start + CHUNK).min(self.distance.len());
            let count = end - start;
            let radial_values = &mut self.radial[..count * width];
            radial.compute_many(&self.distance[start..end], radial_values);
            let angular = &mut self.harmonics[..count * n_lm];
            harmonics.compute_many(
                &self.x[start..end],
                &self.y[start..end],
                &self.z[start..end],
                angular,
            );
            let chunk = Chunk {
                radial: radial_values,
                harmonics: angular,
                channel: &self.channel[start..end],
                weight: &self.weight[start..end],
                n_max,
                l_max: self.l_max,
            };
            chunk.accumulate(n_pad, &mut self.accumulators);
            start = end;
        }

        blocks(&mut self.accumulators, out, true);
    }
}

/// One chunk of evaluated pairs.
struct Chunk<'a> {
    /// `(count, n_max (l_max + 1))`.
    radial: &'a [f64],
    /// `((l_max + 1)², count)`.
    harmonics: &'a [f64],
    channel: &'a [usize],
    weight: &'a [f64],
    n_max: usize,
    l_max: usize,
}

impl Chunk<'_> {
    /// Add the chunk's pairs, in order, to `accumulators` `(n_channels, (l_max+1)², n_pad)`.
    fn accumulate(&self, n_pad: usize, accumulators: &mut [f64]) {
        with_avx2(
            #[inline(always)]
            || match n_pad {
                2 => self.accumulate_padded::<2>(accumulators),
                4 => self.accumulate_padded::<4>(accumulators),
                6 => self.accumulate_padded::<6>(accumulators),
                8 => self.accumulate_padded::<8>(accumulators),
                10 => self.accumulate_padded::<10>(accumulators),
                12 => self.accumulate_padded::<12>(accumulators),
                14 => self.accumulate_padded::<14>(accumulators),
                16 => self.accumulate_padded::<16>(accumulators),
                _ => unreachable!("n_pad is even and at most {MAX_PAD}"),
            },
        )
    }

    #[inline(always)]
    fn accumulate_padded<const NP: usize>(&self, accumulators: &mut [f64]) {
        let (n_max, l_max) = (self.n_max, self.l_max);
        let n_lm = (l_max + 1) * (l_max + 1);
        let count = self.channel.len();
        let width = n_max * (l_max + 1);
        for p in 0..count {
            let block = n_lm * NP;
            let acc = &mut accumulators[self.channel[p] * block..(self.channel[p] + 1) * block];
            let radial = &self.radial[p * width..(p + 1) * width];
            let w = self.weight[p];
            for l in 0..=l_max {
                let mut column = [0.0; NP];
                for n in 0..n_max {
                    column[n] = w * radial[n * (l_max + 1) + l];
                }
                for lm in l * l..(l + 1) * (l + 1) {
                    let y = self.harmonics[lm * count + p];
                    let row = &mut acc[lm * NP..(lm + 1) * NP];
                    for n in 0..NP {
                        row[n] += column[n] * y;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{Array2, ArrayViewMut2};

    use super::*;
    use crate::expansion::accumulate_pair;
    use crate::radial::{GtoBasis, SoapRadialIntegral, SplinedRadialIntegral};

    /// The batched sum equals the pair-by-pair [`accumulate_pair`] bitwise, starting from a
    /// non-zero block, for several `n_max` (odd and even), `l_max`, and pair counts around
    /// the chunk size.
    #[test]
    fn equals_pair_by_pair_bitwise() {
        for (n_max, l_max) in [(1, 0), (3, 2), (6, 4), (7, 5), (16, 3)] {
            let basis = GtoBasis::new(n_max, 4.0).unwrap();
            let exact = SoapRadialIntegral::new(&basis, l_max, 0.5).unwrap();
            let radial = SplinedRadialIntegral::new(&exact, 4.0, 1e-6).unwrap();
            let harmonics = SphericalHarmonics::new(l_max).unwrap();
            let n_lm = (l_max + 1) * (l_max + 1);
            let n_channels = 3;
            let mut sum = PairSum::new(n_max, l_max);
            for count in [0, 1, CHUNK - 1, CHUNK, 2 * CHUNK + 5] {
                let start: Vec<f64> = (0..n_channels * n_max * n_lm)
                    .map(|i| (i as f64 * 0.37).sin())
                    .collect();
                let mut expected = start.clone();
                let mut values = Array2::zeros((n_max, l_max + 1));
                let mut y = vec![0.0; n_lm];
                sum.clear();
                for p in 0..count {
                    let v = [0, 1, 2].map(|k| (1.3 * p as f64 + k as f64).cos() * 2.0);
                    let d = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
                    let (channel, weight) = ((p * 5) % n_channels, 1.0 + 0.1 * p as f64);
                    sum.push(d, v, channel, weight);
                    radial.compute(d, values.view_mut(), None);
                    harmonics.compute(v, &mut y);
                    let block = &mut expected[channel * n_max * n_lm..(channel + 1) * n_max * n_lm];
                    let block = ArrayViewMut2::from_shape((n_max, n_lm), block).unwrap();
                    accumulate_pair(block, values.view(), &y, weight);
                }
                let mut out = start;
                sum.add_to(&radial, &harmonics, &mut out);
                assert!(
                    out.iter()
                        .zip(&expected)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "n_max {n_max}, l_max {l_max}, {count} pairs"
                );
            }
        }
    }
}
