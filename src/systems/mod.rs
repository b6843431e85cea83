//! Validated atomic systems: positions, atomic numbers, and a [`Cell`] with its periodicity.
//!
//! A [`System`] owns its data after validation: finite positions, one atomic number per atom,
//! at least one atom, a non-degenerate cell along every periodic direction, and positions wrapped
//! into the cell along periodic directions (fractional coordinates in `[0, 1)`).

mod cell;
mod slab;

pub use cell::{Cell, Mat3, Vec3};
pub use slab::SlabGeometry;

use crate::error::{Error, Result};

/// Two atoms closer than this (Å) are refused as overlapping (`InvalidInput`), by every
/// calculation: expansions (SOAP, LODE on every route), where a pair at zero distance has no
/// direction, and electrostatics, where two charges on top of each other have an infinite
/// energy. The one threshold of the crate; 1e-3 Å is far below any physical interatomic
/// distance (≈ 0.7 Å for H₂) and far above rounding noise in positions.
pub const OVERLAP_DISTANCE: f64 = 1e-3;

/// Check per-atom `charges` for one structure: one finite charge per atom (`InvalidInput`
/// otherwise). The one home of charge validation, for [`check_charges`] and single-structure
/// calls.
pub fn check_structure_charges(system: &System, charges: &[f64]) -> Result<()> {
    if charges.len() != system.size() {
        crate::bail_input!(
            "{} charges for {} atoms: give one charge per atom",
            charges.len(),
            system.size()
        );
    }
    if let Some(i) = charges.iter().position(|q| !q.is_finite()) {
        crate::bail_input!("the charge of atom {i} is not finite ({})", charges[i]);
    }
    Ok(())
}

/// Check one charge array per structure, each valid for its structure
/// ([`check_structure_charges`]); an error names the structure. Used by every calculation that
/// takes charges (charge-weighted LODE, electrostatics); the Python layer does not re-check.
pub fn check_charges<C: AsRef<[f64]>>(systems: &[System], charges: &[C]) -> Result<()> {
    if charges.len() != systems.len() {
        crate::bail_input!(
            "{} charge arrays for {} structures",
            charges.len(),
            systems.len()
        );
    }
    for (s, (system, q)) in systems.iter().zip(charges).enumerate() {
        check_structure_charges(system, q.as_ref()).map_err(|e| match e {
            Error::InvalidInput(m) => Error::InvalidInput(format!("structure {s}: {m}")),
            other => other,
        })?;
    }
    Ok(())
}

/// One atomic structure, validated and wrapped.
#[derive(Debug, Clone)]
pub struct System {
    positions: Vec<Vec3>,
    numbers: Vec<i32>,
    cell: Cell,
}

impl System {
    /// Validate and wrap a structure.
    ///
    /// * `positions`: Cartesian positions in Å, one `[x, y, z]` per atom;
    /// * `numbers`: atomic numbers (any integer label is accepted: it only names a species);
    /// * `cell`: lattice vectors as rows (Å); ignored along non-periodic directions;
    /// * `pbc`: periodicity along each lattice vector.
    pub fn new(
        positions: Vec<Vec3>,
        numbers: Vec<i32>,
        cell: Mat3,
        pbc: [bool; 3],
    ) -> Result<System> {
        if positions.is_empty() {
            return Err(Error::InvalidInput(
                "empty structure: a system needs at least one atom".into(),
            ));
        }
        if positions.len() != numbers.len() {
            return Err(Error::InvalidInput(format!(
                "{} positions but {} atomic numbers",
                positions.len(),
                numbers.len()
            )));
        }
        if let Some(i) = positions
            .iter()
            .position(|r| r.iter().any(|x| !x.is_finite()))
        {
            return Err(Error::InvalidInput(format!(
                "position of atom {i} is not finite: {:?}",
                positions[i]
            )));
        }
        let cell = Cell::new(cell, pbc)?;
        let positions = positions.iter().map(|r| cell.wrap(*r)).collect();
        Ok(System {
            positions,
            numbers,
            cell,
        })
    }

    /// Number of atoms.
    pub fn size(&self) -> usize {
        self.positions.len()
    }

    /// Wrapped Cartesian positions (Å).
    pub fn positions(&self) -> &[Vec3] {
        &self.positions
    }

    /// Atomic numbers (species labels), one per atom.
    pub fn numbers(&self) -> &[i32] {
        &self.numbers
    }

    /// The cell and its periodicity.
    pub fn cell(&self) -> &Cell {
        &self.cell
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CUBE: Mat3 = [[10.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, 0.0, 10.0]];

    #[test]
    fn rejects_bad_input() {
        assert!(matches!(
            System::new(vec![], vec![], CUBE, [true; 3]),
            Err(Error::InvalidInput(_))
        ));
        assert!(System::new(vec![[0.0, f64::NAN, 0.0]], vec![1], CUBE, [true; 3]).is_err());
        assert!(System::new(vec![[0.0, f64::INFINITY, 0.0]], vec![1], CUBE, [false; 3]).is_err());
        assert!(System::new(vec![[0.0; 3]], vec![1, 2], CUBE, [false; 3]).is_err());
    }

    #[test]
    fn wraps_periodic_directions_only() {
        let system =
            System::new(vec![[-1.0, 23.0, -4.0]], vec![1], CUBE, [true, true, false]).unwrap();
        let r = system.positions()[0];
        assert!((r[0] - 9.0).abs() < 1e-12);
        assert!((r[1] - 3.0).abs() < 1e-12);
        assert!((r[2] + 4.0).abs() < 1e-12);
    }

    #[test]
    fn charges_are_checked_per_structure() {
        let one = System::new(vec![[0.0; 3], [1.0; 3]], vec![11, 17], CUBE, [true; 3]).unwrap();
        let systems = [one.clone(), one];
        let message = |r: Result<()>| match r {
            Err(Error::InvalidInput(m)) => m,
            other => panic!("expected InvalidInput, got {other:?}"),
        };
        assert!(check_charges(&systems, &[[1.0, -1.0], [0.5, -0.5]]).is_ok());
        let m = message(check_charges(&systems, &[vec![1.0, -1.0]]));
        assert!(m.contains("1 charge arrays for 2 structures"), "{m}");
        let m = message(check_charges(&systems, &[vec![1.0, -1.0], vec![1.0]]));
        assert!(m.starts_with("structure 1: 1 charges for 2 atoms"), "{m}");
        let m = message(check_charges(&systems, &[[1.0, -1.0], [f64::NAN, 0.0]]));
        assert!(
            m.contains("structure 1: the charge of atom 0 is not finite"),
            "{m}"
        );
    }
}
