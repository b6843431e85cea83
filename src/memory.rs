//! Large output arrays: zero-filled buffers backed by transparent huge pages where the system
//! allows it (Linux, `madvise` mode), so that first touching a Jacobian of hundreds of MB costs
//! a few hundred page faults instead of tens of thousands (measured: the 4 KiB faults were half
//! the time of a SOAP power-spectrum Jacobian). Elsewhere, plain zeroed vectors.

/// Below this many bytes a buffer is allocated plainly.
const HUGE_PAGE_THRESHOLD: usize = 8 << 20;

/// A vector of `len` zeros (see the module documentation).
pub fn zeroed(len: usize) -> Vec<f64> {
    let bytes = len * std::mem::size_of::<f64>();
    if bytes < HUGE_PAGE_THRESHOLD {
        return vec![0.0; len];
    }
    let layout = std::alloc::Layout::array::<f64>(len).expect("a buffer that fits in memory");
    // SAFETY: the layout has a non-zero size (above the threshold); a zeroed allocation is a
    // valid run of `len` f64 zeros, owned by the vector built from it with the same layout
    unsafe {
        let pointer = std::alloc::alloc_zeroed(layout) as *mut f64;
        if pointer.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        // large zeroed allocations come straight from the kernel, untouched: advise them
        // before the first write
        advise_huge_pages(pointer as usize, bytes);
        Vec::from_raw_parts(pointer, len, len)
    }
}

#[cfg(target_os = "linux")]
fn advise_huge_pages(start: usize, bytes: usize) {
    const PAGE: usize = 4096;
    let first = start.next_multiple_of(PAGE);
    let end = (start + bytes) / PAGE * PAGE;
    if end > first {
        // SAFETY: the range lies inside an allocation we own and have not touched; the advice
        // only changes how the kernel backs it (a failure is harmless and ignored)
        unsafe {
            libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_start: usize, _bytes: usize) {}

#[cfg(test)]
mod tests {
    #[test]
    fn zeroed_buffers() {
        for len in [0, 5, (8 << 20) / 8 + 3] {
            let v = super::zeroed(len);
            assert_eq!(v.len(), len);
            assert!(v.iter().all(|&x| x == 0.0));
        }
    }
}
