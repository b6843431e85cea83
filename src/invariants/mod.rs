//! Invariants of expansions: ν = 1 (radial spectrum) and ν = 2 (power spectrum).
