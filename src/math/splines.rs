//! Cubic Hermite splines on a uniform grid, for many functions of one variable at once.
//!
//! OWNER: radial helper. Implementation pending.
