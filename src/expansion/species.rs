//! Mapping atomic numbers to species channels.

use crate::error::{Error, Result};
use crate::systems::System;

/// A fixed, sorted list of species; channel `a` holds atoms with atomic number `species[a]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeciesMap {
    species: Vec<i32>,
}

impl SpeciesMap {
    /// Sorted, duplicate-free list of atomic numbers (error when empty or duplicated).
    pub fn new(species: &[i32]) -> Result<SpeciesMap> {
        if species.is_empty() {
            crate::bail_param!("the species list is empty");
        }
        let mut sorted = species.to_vec();
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            crate::bail_param!("species {} appears twice in the species list", w[0]);
        }
        Ok(SpeciesMap { species: sorted })
    }

    /// The atomic numbers, sorted.
    pub fn species(&self) -> &[i32] {
        &self.species
    }

    /// Number of channels.
    pub fn len(&self) -> usize {
        self.species.len()
    }

    /// Always false: a species map has at least one channel.
    pub fn is_empty(&self) -> bool {
        self.species.is_empty()
    }

    /// Channel of an atomic number.
    pub fn channel(&self, number: i32) -> Option<usize> {
        self.species.binary_search(&number).ok()
    }

    /// Channel of every atom of a structure; error naming the first unknown species.
    pub fn channels(&self, system: &System, structure: usize) -> Result<Vec<usize>> {
        system
            .numbers()
            .iter()
            .enumerate()
            .map(|(i, &z)| {
                self.channel(z).ok_or_else(|| {
                    Error::InvalidParameter(format!(
                        "structure {structure}, atom {i}: species {z} is not in the species list {:?}",
                        self.species
                    ))
                })
            })
            .collect()
    }
}
