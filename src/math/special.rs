//! Special functions: erf/erfc, Γ, incomplete gamma functions, exponential integral.
//!
//! OWNER: math helper. Implementation pending.
