//! Density and potential expansions producing coefficient arrays.
