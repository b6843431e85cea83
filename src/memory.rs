//! Large output arrays: zero-filled buffers backed by transparent huge pages where the system
//! allows it (Linux, `madvise` mode), so that first touching a Jacobian of hundreds of MB costs
//! a few hundred page faults instead of tens of thousands (measured: the 4 KiB faults were half
//! the time of a SOAP power-spectrum Jacobian). Elsewhere, plain zeroed vectors.
//!
//! Fresh memory still costs its first touch: the kernel zeroes every page (measured on a shared
//! VM: 60 % of a SOAP power-spectrum Jacobian, whose kernel writes the 85 MB output once). So
//! the Python bindings hand the buffer of a large output back when numpy frees the array
//! ([`give_back`]), and the next large output of a kernel that writes every element takes it
//! ([`reusable`]): one spare at a time, at most 1 GiB, kept resident until replaced (advising it
//! `MADV_FREE` let the kernel drop a quarter of its pages even without memory pressure).

use std::sync::Mutex;

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

/// Largest spare kept (bytes): a larger output is freed as usual.
#[cfg_attr(not(feature = "python"), allow(dead_code))]
const SPARE_MAX_BYTES: usize = 1 << 30;

/// The spare buffer (see the module documentation).
static SPARE: Mutex<Option<Vec<f64>>> = Mutex::new(None);

/// A vector of `len` values with **unspecified contents** (initialised numbers, possibly those
/// of an earlier output): for kernels that write every element. Takes the spare buffer when
/// its capacity is between `len` and `2 len`, else a fresh [`zeroed`] one.
pub fn reusable(len: usize) -> Vec<f64> {
    if len * std::mem::size_of::<f64>() >= HUGE_PAGE_THRESHOLD {
        let mut spare = SPARE
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if spare
            .as_ref()
            .is_some_and(|v| v.capacity() >= len && v.capacity() <= 2 * len)
        {
            let mut v = spare.take().expect("checked");
            v.resize(len, 0.0);
            return v;
        }
    }
    zeroed(len)
}

/// Keep `buffer` (an output no longer used) as the spare for [`reusable`], replacing the
/// previous spare; small buffers are simply dropped.
#[cfg_attr(not(feature = "python"), allow(dead_code))]
pub fn give_back(mut buffer: Vec<f64>) {
    if buffer.capacity() * std::mem::size_of::<f64>() < HUGE_PAGE_THRESHOLD {
        return;
    }
    // the whole capacity becomes initialised values (outputs have no spare capacity anyway)
    let capacity = buffer.capacity();
    if capacity * std::mem::size_of::<f64>() > SPARE_MAX_BYTES {
        return;
    }
    buffer.resize(capacity, 0.0);
    let old = SPARE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .replace(buffer);
    drop(old);
}

/// The spare scratch table (see [`scratch`]).
static SCRATCH_SPARE: Mutex<Option<Vec<f64>>> = Mutex::new(None);

/// A vector of `len` values with **unspecified contents**, for scratch tables whose kernels
/// write every element before reading it: takes the spare scratch buffer (one kept between
/// uses, [`give_back_scratch`]) when its capacity is between `len` and `4 len`, else a fresh
/// [`zeroed`] one. Saves the first touch of fresh pages (the kernel zeroing them) on every use.
pub fn scratch(len: usize) -> Vec<f64> {
    let mut spare = SCRATCH_SPARE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if spare
        .as_ref()
        .is_some_and(|v| v.capacity() >= len && v.capacity() <= 4 * len.max(1))
    {
        let mut v = spare.take().expect("checked");
        v.truncate(len);
        v.resize(len, 0.0);
        return v;
    }
    drop(spare);
    zeroed(len)
}

/// Keep `buffer` (a scratch table no longer used) as the spare for [`scratch`], replacing the
/// previous one; buffers above [`SPARE_MAX_BYTES`] are freed.
pub fn give_back_scratch(mut buffer: Vec<f64>) {
    let capacity = buffer.capacity();
    if capacity * std::mem::size_of::<f64>() > SPARE_MAX_BYTES {
        return;
    }
    buffer.resize(capacity, 0.0);
    let old = SCRATCH_SPARE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .replace(buffer);
    drop(old);
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

    /// A buffer given back is the next large reusable one (same memory) when its size fits;
    /// a much smaller request gets a fresh buffer.
    #[test]
    fn spare_buffer_is_reused() {
        let len = (8 << 20) / 8 + 100;
        let mut v = super::zeroed(len);
        v[7] = 3.0;
        let pointer = v.as_ptr();
        super::give_back(v);
        let again = super::reusable(len - 50);
        assert_eq!(again.len(), len - 50);
        assert!(again.iter().all(|x| x.is_finite()));
        if again.as_ptr() == pointer {
            // not taken by a concurrent test in between
            super::give_back(again);
            let small = super::reusable(len / 3);
            assert!(small.as_ptr() != pointer && small.iter().all(|&x| x == 0.0));
        }
    }
}
