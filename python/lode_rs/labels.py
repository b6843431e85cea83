"""Names of the feature columns' labels (shared by the invariants and the exports)."""

#: columns of the ν = 2 power spectrum: ``(species_a, species_b, n, n', l)``
POWER_SPECTRUM_LABELS = ("species_a", "species_b", "n", "n'", "l")
#: columns of the ν = 1 radial spectrum: ``(species, n)``
RADIAL_LABELS = ("species", "n")
