//! Runtime choice of the instruction set for the hot loops.
//!
//! The crate is built for baseline x86-64 (SSE2: two `f64` per vector). [`with_avx2`] runs a
//! closure in a function compiled with AVX2 (four `f64` per vector) when the CPU has it, so
//! that the loops inlined into it vectorise twice as wide; elsewhere, or on other
//! architectures, the closure runs as built. Only the vector width changes: every operation is
//! the same IEEE one (no fused multiply-add), so the results are bitwise identical either way.

/// Run `work`, compiled with AVX2 enabled when the CPU supports it (see the module docs).
/// Mark the closure `#[inline(always)]` so that its body is compiled inside.
#[inline(always)]
pub(crate) fn with_avx2<T>(work: impl FnOnce() -> T) -> T {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        /// # Safety
        /// Only called after checking that the CPU supports AVX2.
        #[target_feature(enable = "avx2")]
        unsafe fn run<T>(work: impl FnOnce() -> T) -> T {
            work()
        }
        // SAFETY: the CPU supports AVX2 (checked just above)
        return unsafe { run(work) };
    }
    work()
}

#[cfg(test)]
mod tests {
    #[test]
    fn runs_the_closure() {
        assert_eq!(super::with_avx2(|| 2 + 2), 4);
    }
}
