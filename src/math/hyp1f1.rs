//! Confluent hypergeometric function ₁F₁(a; b; z).
//!
//! OWNER: radial helper. Implementation pending.
