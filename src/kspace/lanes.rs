//! Rows of [`LANES`] values (one per centre) and the updates the shell kernels make on
//! them, portable and with AVX2 + FMA or AVX-512 (chosen at run time by the caller).

/// Centres per kernel tile: 2 AVX-512 or 4 AVX2 vectors of `f64`.
pub const LANES: usize = 16;

/// A row of lanes.
pub type Row = [f64; LANES];

/// The row operations of the shell kernel.
pub trait RowUpdate {
    /// `row += y · x`, lane by lane.
    fn axpy(row: &mut Row, y: f64, x: &Row);

    /// `row += w · x`, lane by lane.
    fn mul_add(row: &mut Row, w: &Row, x: &Row);

    /// `row −= w · x`, lane by lane.
    fn mul_sub(row: &mut Row, w: &Row, x: &Row);

    /// `(c · ca + s · sa, s · ca − c · sa)`, lane by lane: the even and odd phase sums.
    #[inline(always)]
    fn sums(c: &Row, s: &Row, ca: f64, sa: f64) -> (Row, Row) {
        let mut even = [0.0; LANES];
        let mut odd = [0.0; LANES];
        for t in 0..LANES {
            even[t] = c[t] * ca + s[t] * sa;
            odd[t] = s[t] * ca - c[t] * sa;
        }
        (even, odd)
    }

    /// `(a_re + i a_im)(b_re + i b_im)`, lane by lane.
    #[inline(always)]
    fn cmul(a_re: &Row, a_im: &Row, b_re: &Row, b_im: &Row) -> (Row, Row) {
        let mut re = [0.0; LANES];
        let mut im = [0.0; LANES];
        for t in 0..LANES {
            re[t] = a_re[t] * b_re[t] - a_im[t] * b_im[t];
            im[t] = a_re[t] * b_im[t] + a_im[t] * b_re[t];
        }
        (re, im)
    }
}

/// Plain scalar code (the compiler vectorises it for the baseline target).
pub struct Portable;

impl RowUpdate for Portable {
    #[inline(always)]
    fn axpy(row: &mut Row, y: f64, x: &Row) {
        for t in 0..LANES {
            row[t] += y * x[t];
        }
    }

    #[inline(always)]
    fn mul_add(row: &mut Row, w: &Row, x: &Row) {
        for t in 0..LANES {
            row[t] += w[t] * x[t];
        }
    }

    #[inline(always)]
    fn mul_sub(row: &mut Row, w: &Row, x: &Row) {
        for t in 0..LANES {
            row[t] -= w[t] * x[t];
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Row, RowUpdate, LANES};
    use std::arch::x86_64::*;

    /// AVX-512F: two 8-lane fused multiply-adds per row.
    pub struct Avx512;

    impl RowUpdate for Avx512 {
        #[inline(always)]
        fn axpy(row: &mut Row, y: f64, x: &Row) {
            // SAFETY: only reached from `run_avx512`, compiled with AVX-512F and called after
            // run-time detection; the pointers cover the 16 lanes of `row` and `x`
            unsafe {
                let y = _mm512_set1_pd(y);
                for h in (0..LANES).step_by(8) {
                    let r = _mm512_loadu_pd(row.as_ptr().add(h));
                    let v = _mm512_loadu_pd(x.as_ptr().add(h));
                    _mm512_storeu_pd(row.as_mut_ptr().add(h), _mm512_fmadd_pd(y, v, r));
                }
            }
        }

        #[inline(always)]
        fn mul_add(row: &mut Row, w: &Row, x: &Row) {
            // SAFETY: as for `axpy`
            unsafe {
                for h in (0..LANES).step_by(8) {
                    let r = _mm512_loadu_pd(row.as_ptr().add(h));
                    let a = _mm512_loadu_pd(w.as_ptr().add(h));
                    let v = _mm512_loadu_pd(x.as_ptr().add(h));
                    _mm512_storeu_pd(row.as_mut_ptr().add(h), _mm512_fmadd_pd(a, v, r));
                }
            }
        }

        #[inline(always)]
        fn mul_sub(row: &mut Row, w: &Row, x: &Row) {
            // SAFETY: as for `axpy`
            unsafe {
                for h in (0..LANES).step_by(8) {
                    let r = _mm512_loadu_pd(row.as_ptr().add(h));
                    let a = _mm512_loadu_pd(w.as_ptr().add(h));
                    let v = _mm512_loadu_pd(x.as_ptr().add(h));
                    _mm512_storeu_pd(row.as_mut_ptr().add(h), _mm512_fnmadd_pd(a, v, r));
                }
            }
        }
    }

    /// AVX2 + FMA: four 4-lane fused multiply-adds per row.
    pub struct Avx2;

    impl RowUpdate for Avx2 {
        #[inline(always)]
        fn axpy(row: &mut Row, y: f64, x: &Row) {
            // SAFETY: only reached from `run_avx2`, compiled with AVX2 and FMA and called after
            // run-time detection; the pointers cover the 16 lanes of `row` and `x`
            unsafe {
                let y = _mm256_set1_pd(y);
                for h in (0..LANES).step_by(4) {
                    let r = _mm256_loadu_pd(row.as_ptr().add(h));
                    let v = _mm256_loadu_pd(x.as_ptr().add(h));
                    _mm256_storeu_pd(row.as_mut_ptr().add(h), _mm256_fmadd_pd(y, v, r));
                }
            }
        }

        #[inline(always)]
        fn mul_add(row: &mut Row, w: &Row, x: &Row) {
            // SAFETY: as for `axpy`
            unsafe {
                for h in (0..LANES).step_by(4) {
                    let r = _mm256_loadu_pd(row.as_ptr().add(h));
                    let a = _mm256_loadu_pd(w.as_ptr().add(h));
                    let v = _mm256_loadu_pd(x.as_ptr().add(h));
                    _mm256_storeu_pd(row.as_mut_ptr().add(h), _mm256_fmadd_pd(a, v, r));
                }
            }
        }

        #[inline(always)]
        fn mul_sub(row: &mut Row, w: &Row, x: &Row) {
            // SAFETY: as for `axpy`
            unsafe {
                for h in (0..LANES).step_by(4) {
                    let r = _mm256_loadu_pd(row.as_ptr().add(h));
                    let a = _mm256_loadu_pd(w.as_ptr().add(h));
                    let v = _mm256_loadu_pd(x.as_ptr().add(h));
                    _mm256_storeu_pd(row.as_mut_ptr().add(h), _mm256_fnmadd_pd(a, v, r));
                }
            }
        }
    }
}

/// A computation over rows of lanes, generic in the row operations.
pub trait LaneTask {
    /// Run with the row operations `R`.
    fn run<R: RowUpdate>(&mut self);
}

/// Run `task` with the best row operations the CPU has: AVX-512F, else AVX2 + FMA, else the
/// portable ones, chosen at run time. Every path makes the same operations in the same order,
/// the SIMD ones with fused multiply-adds: results may differ between machines in the last bits,
/// never between thread counts.
pub fn dispatch<T: LaneTask>(task: &mut T) {
    #[cfg(test)]
    if tests::PORTABLE.with(std::cell::Cell::get) {
        return task.run::<Portable>();
    }
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above)
            return unsafe { run_avx512(task) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has AVX2 and FMA (checked just above)
            return unsafe { run_avx2(task) };
        }
    }
    task.run::<Portable>();
}

/// `task` compiled for AVX-512F.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn run_avx512<T: LaneTask>(task: &mut T) {
    task.run::<x86::Avx512>()
}

/// `task` compiled for AVX2 and FMA.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2<T: LaneTask>(task: &mut T) {
    task.run::<x86::Avx2>()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    thread_local! {
        /// Take the portable row operations on this thread ([`with_portable`]).
        pub(in crate::kspace) static PORTABLE: std::cell::Cell<bool> =
            const { std::cell::Cell::new(false) };
    }

    /// Run `work` on a one-thread pool of its own whose thread takes the portable row
    /// operations: tests running meanwhile keep theirs (a process-wide switch made their
    /// 1- vs 2-thread results differ in the last bits when it flipped between two runs).
    pub(in crate::kspace) fn with_portable<T: Send>(work: impl FnOnce() -> T + Send) -> T {
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .start_handler(|_| PORTABLE.with(|p| p.set(true)))
            .build()
            .expect("a one-thread pool")
            .install(work)
    }

    fn rows() -> (Row, Row) {
        let x: Row = std::array::from_fn(|t| 0.37 * t as f64 - 1.1);
        let r: Row = std::array::from_fn(|t| (t as f64).sin());
        (x, r)
    }

    /// The switch holds on the pool's thread, where parallel work runs, and nowhere else.
    #[test]
    fn portable_switch_is_confined_to_its_pool() {
        use rayon::prelude::*;
        let inside: Vec<bool> = with_portable(|| {
            (0..64)
                .into_par_iter()
                .map(|_| PORTABLE.with(std::cell::Cell::get))
                .collect()
        });
        assert!(inside.iter().all(|&p| p));
        assert!(!PORTABLE.with(std::cell::Cell::get));
        let outside: Vec<bool> = (0..64)
            .into_par_iter()
            .map(|_| PORTABLE.with(std::cell::Cell::get))
            .collect();
        assert!(outside.iter().all(|&p| !p));
    }

    #[test]
    fn portable_axpy_is_lane_by_lane() {
        let (x, mut r) = rows();
        let before = r;
        Portable::axpy(&mut r, 0.5, &x);
        for t in 0..LANES {
            assert_eq!(r[t], before[t] + 0.5 * x[t]);
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn simd_axpy_equals_fused_multiply_add() {
        let (x, r0) = rows();
        if std::arch::is_x86_feature_detected!("avx512f") {
            let mut r = r0;
            x86::Avx512::axpy(&mut r, -1.3, &x);
            for t in 0..LANES {
                assert_eq!(r[t], (-1.3f64).mul_add(x[t], r0[t]));
            }
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            let mut r = r0;
            x86::Avx2::axpy(&mut r, -1.3, &x);
            for t in 0..LANES {
                assert_eq!(r[t], (-1.3f64).mul_add(x[t], r0[t]));
            }
        }
    }
}
