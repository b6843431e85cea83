"""Calculators: hyper-parameters, a fixed species list, and ``compute(frames)``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _lode_rs
from .results import Backward, Expansion, Gradient, strain_gradient
from .species import SpeciesList
from .systems import as_frame_list, as_system_list, charges_of


def _hyper_parameter_docs(core: Any) -> str:
    """The docstring section listing a core calculator's hyper-parameters, built from the Rust
    struct that declares them (names, meaning, defaults are written there once)."""
    lines = [
        "",
        "    Hyper-parameters (keyword-only; ``hypers`` returns all of them, defaults filled in):",
        "",
    ]
    for name, doc, default, required in core.hyper_fields():
        status = "required" if required else f"default {default!r}"
        lines.append(f"        {name}: {doc} ({status})")
    return "\n".join(lines) + "\n"


def _gradient_names(gradients: Sequence[str] | None, max_memory: float | None) -> list[str]:
    """The requested gradient names, checked by the core (unknown or repeated names, a bad
    ``max_memory``: ``InvalidParameterError``)."""
    if gradients is None:
        return []
    names = [gradients] if isinstance(gradients, str) else list(gradients)
    _lode_rs.check_gradients(names, max_memory)
    return names


class _Calculator:
    """Shared behaviour: species handling, threads, conversion of results."""

    _core: object

    def __init__(self, species: Sequence[int] | None, n_threads: int):
        self._species = SpeciesList(species)
        self.n_threads = int(n_threads)

    @property
    def species(self) -> list[int] | None:
        """The species channels: given, or fixed from the first data seen (``None`` until then)."""
        return self._species.species

    @property
    def hypers(self) -> dict:
        """All hyper-parameters, with the core's defaults filled in."""
        return dict(self._core.hypers)

    def compute(
        self,
        frames,
        n_threads: int | None = None,
        *,
        gradients: Sequence[str] | None = None,
        max_memory: float | None = None,
    ) -> Expansion:
        """Expansion coefficients of every atom of ``frames``, and their gradients if asked.

        Args:
            frames: an ``ase.Atoms``, a :class:`lode_rs.System`, or a list of them.
            n_threads: threads to use (default: the calculator's ``n_threads``; 0 = all cores).
            gradients: Jacobians to compute with the values: ``"positions"`` (sparse: one sample
                per centre and atom within reach) and/or ``"strain"`` (periodic structures
                only); read them with ``result.gradient(name)``. For forces and stress of a
                scalar (an energy), :meth:`backward` is far cheaper.
            max_memory: memory budget (bytes) of the Jacobians; the core's default is 4 GiB.

        Returns:
            An :class:`Expansion` with ``values`` of shape
            ``(n_centres, n_species, n_max, (l_max+1)**2)``.
        """
        frames = as_frame_list(frames)
        systems = as_system_list(frames)
        threads = self.n_threads if n_threads is None else int(n_threads)
        channels, labels = self._channels(frames, systems)
        names = _gradient_names(gradients, max_memory)
        # with Jacobians, the values they are the derivatives of (LODE: the Jacobian's plan)
        extra = self._jacobian_values_options() if names else {}
        values, structure, centers, center_species = self._core.compute(
            systems, n_threads=threads, **channels, **extra
        )
        jacobians = {}
        if names:
            jacobians = self._gradients(systems, channels, names, max_memory, threads)
            if "strain" in jacobians:
                jacobians["strain"] = strain_gradient(jacobians["strain"], structure)
        return Expansion(
            values, structure, centers, center_species, labels, len(systems), jacobians
        )

    def backward(self, frames, cotangent, n_threads: int | None = None) -> Backward:
        """Backward pass (vector–Jacobian product): the gradient of ``sum(cotangent * values)``
        with respect to every position and to the strain, without forming the Jacobian (its
        cost is a small multiple of ``compute``'s).

        Args:
            frames: as for :meth:`compute`.
            cotangent: float array shaped like ``compute(frames).values``, e.g. ``dE/dc``.
            n_threads: threads to use (default: the calculator's ``n_threads``).

        Returns:
            A :class:`Backward`: ``positions`` (one ``(n_atoms, 3)`` array per structure) and
            ``strain`` (one ``(3, 3)`` array per periodic structure, ``None`` for finite ones).
        """
        frames = as_frame_list(frames)
        systems = as_system_list(frames)
        threads = self.n_threads if n_threads is None else int(n_threads)
        channels, _ = self._channels(frames, systems)
        cotangent = np.ascontiguousarray(cotangent, dtype=np.float64)
        if cotangent.ndim != 4:
            raise _lode_rs.InvalidInputError(
                f"the cotangent must have the shape of the values {self._values_shape(frames)}, "
                f"got {cotangent.shape}"
            )
        positions, strain = self._backward(systems, channels, cotangent, threads)
        return Backward(list(positions), list(strain))

    def _values_shape(self, frames) -> tuple[int, int, int, int]:
        """Shape of ``compute(frames).values``, without computing it."""
        frames = as_frame_list(frames)
        systems = as_system_list(frames)
        _, labels = self._channels(frames, systems)
        h = self.hypers
        n_rows = sum(len(s[1]) for s in systems)
        return (n_rows, len(labels), h["n_max"], (h["l_max"] + 1) ** 2)

    def _jacobian_values_options(self) -> dict:
        """Options of the core's ``compute`` for the values returned with Jacobians."""
        return {}

    def _values_for_jacobian(self, frames, n_threads: int) -> Expansion:
        """``compute(frames)`` without Jacobians, but on the plan of the Jacobians (the values
        they are the derivatives of; for the invariants' chain rule)."""
        frames = as_frame_list(frames)
        systems = as_system_list(frames)
        channels, labels = self._channels(frames, systems)
        values, structure, centers, center_species = self._core.compute(
            systems, n_threads=n_threads, **channels, **self._jacobian_values_options()
        )
        return Expansion(values, structure, centers, center_species, labels, len(systems), {})

    #: the core's Jacobian function ``(core, systems, gradients=, max_memory=, n_threads=,
    #: **channels) -> (samples, positions, strain)``; None: no gradients
    _jacobian_function = None

    def _gradients(self, systems, channels, names, max_memory, threads) -> dict:
        if self._jacobian_function is None:
            raise NotImplementedError(f"{type(self).__name__} has no gradients")
        samples, positions, strain = type(self)._jacobian_function(
            self._core,
            systems,
            gradients=names,
            max_memory=max_memory,
            n_threads=threads,
            **channels,
        )
        out = {}
        if positions is not None:
            out["positions"] = Gradient(positions, samples, ("row", "structure", "atom"))
        if strain is not None:
            out["strain"] = strain
        return out

    def _backward(self, systems, channels, cotangent, threads):
        raise NotImplementedError(f"{type(self).__name__} has no backward pass")

    def _gradient_core(self, frames) -> tuple:
        """``(core calculator, charges | None)``: what invariants differentiate row by row."""
        raise NotImplementedError(f"{type(self).__name__} has no gradients")

    def _channels(self, frames, systems) -> tuple[dict, list[int]]:
        """Keyword arguments naming the channels for the core, and the channel labels."""
        species = self._species.resolve(systems)
        return {"species": species}, species

    # ---- shipping to other processes (pickle, Dask, joblib) ----------------------------------
    @property
    def species_fixed(self) -> bool:
        """Whether the channels are known, so every call returns features of the same shape."""
        return self._species.species is not None

    def fix_species(self, frames) -> _Calculator:
        """Fix the species channels to every species found in ``frames`` (all of them, not
        only the first batch) and return ``self``.

        Call this (or give ``species=``) before shipping a calculator to other processes:
        workers seeing different chunks of data must not pick different channels.

        Raises:
            InvalidParameterError: if the species are already fixed to a list missing some of
                the species of ``frames``.
        """
        found = sorted({int(z) for s in as_system_list(frames) for z in s[1]})
        if not self.species_fixed:
            self._species = SpeciesList(found)
        else:
            missing = sorted(set(found) - set(self.species))
            if missing:
                raise _lode_rs.InvalidParameterError(
                    f"species {missing} are not among the fixed channels {self.species}"
                )
        return self

    def _init_kwargs(self) -> dict:
        """Constructor arguments rebuilding an identical calculator (hyper-parameters, species,
        threads): what a pickle holds, never the Rust object itself."""
        return {**self.hypers, "species": self.species, "n_threads": self.n_threads}

    def __reduce__(self):
        if not self.species_fixed:
            raise _lode_rs.InvalidParameterError(
                f"cannot pickle or ship this {type(self).__name__}: its species are not fixed, so "
                "copies could choose different channels on different data; give species=[...] "
                "or call calculator.fix_species(frames) first"
            )
        return (_rebuild, (type(self), self._init_kwargs()))

    def __deepcopy__(self, memo) -> _Calculator:
        # in-process copies may stay unfixed (each copy then fixes its own species)
        return _rebuild(type(self), self._init_kwargs())

    def __copy__(self) -> _Calculator:
        return self.__deepcopy__({})


def _rebuild(cls, kwargs: dict):
    """Unpickle a calculator: a new core built from the hyper-parameters."""
    return cls(**kwargs)


class SoapExpansion(_Calculator):
    """SOAP: the Gaussian-smeared neighbour density of each species expanded on ``R̃_n Y_lm``.

    ``c^a_nlm(i) = Σ_{j∈a} f_c(r_ij) f_nl(r_ij) Y_lm(r̂_ij)`` (the centre included with
    ``center_weight``), with Löwdin-orthonormal GTOs, a shifted-cosine cutoff and the exact
    (splined) Gaussian radial integral. Conventions: ``docs/math.md``.

    Args:
        species: atomic numbers of the channels; default: taken from the first data, then fixed.
        n_threads: threads for ``compute`` (0 = all cores).
        **hypers: the hyper-parameters listed below (``cutoff``, ``smearing``, ``n_max`` and
            ``l_max`` required), validated by the Rust core; unknown names raise ``TypeError``.
    """

    def __init__(
        self, *, species: Sequence[int] | None = None, n_threads: int = 0, **hypers: Any
    ) -> None:
        super().__init__(species, n_threads)
        self._core = _lode_rs.SoapCalculator(**hypers)

    _jacobian_function = staticmethod(_lode_rs.soap_gradients)

    def _gradient_core(self, frames) -> tuple:
        return self._core, None

    def _backward(self, systems, channels, cotangent, threads):
        return _lode_rs.soap_backward(
            self._core, systems, cotangent=cotangent, n_threads=threads, **channels
        )

    def __repr__(self) -> str:
        h = self.hypers
        return (
            f"SoapExpansion(cutoff={h['cutoff']}, smearing={h['smearing']}, n_max={h['n_max']}, "
            f"l_max={h['l_max']}, species={self.species})"
        )


CHARGE_CHANNEL = 0
"""Channel label used when a LODE expansion is weighted by charges (one channel)."""


class LodeExpansion(_Calculator):
    """LODE: the smeared power-law potential of each channel expanded around every atom.

    ``V_a(r) = Σ_{j∈a} w_j g_p(|r − r_j|)`` with ``g_p`` the potential of a Gaussian of width
    ``smearing`` (p = 1: ``erf(r/√2σ)/r``; p = 0: the Gaussian density itself), and
    ``c^a_nlm(i) = ∫ R̃_n(r) Y_lm(r̂) V_a(r_i + r) d³r``. Periodic systems (pbc all True) are
    summed in reciprocal space, by an Ewald split, or by an Ewald split whose long range is
    computed on a particle mesh (smooth PME, ``O(N log N)``, for large cells); finite systems
    (pbc all False) by the exact real-space pair sum, with no vacuum box. Conventions:
    ``docs/math.md``.

    Args:
        species: atomic numbers of the channels (default: from the first data, then fixed).
        charges: if True, one channel with every atom weighted by its charge
            (``ase.Atoms.get_initial_charges()``, or ``System.charges``); channel label 0.
        n_threads: threads for ``compute`` (0 = all cores).
        **hypers: the hyper-parameters listed below (``cutoff``, ``smearing``, ``n_max`` and
            ``l_max`` required), validated by the Rust core; unknown names raise ``TypeError``.
            ``method="mesh"``: Ewald short range by pairs, long range by B-spline spreading on
            a mesh, FFTs and interpolation; mesh spacing, spline order and Ewald width are
            chosen for ``accuracy``. ``k_cutoff``: the plain truncated sum of featomic.
    """

    def __init__(
        self,
        *,
        species: Sequence[int] | None = None,
        charges: bool = False,
        n_threads: int = 0,
        **hypers: Any,
    ) -> None:
        if charges and species is not None:
            raise _lode_rs.InvalidParameterError("give either species or charges=True, not both")
        super().__init__(species, n_threads)
        self.charges = bool(charges)
        self._core = _lode_rs.LodeCalculator(**hypers)

    def routes(self, frames, *, gradients: bool = False) -> list[dict]:
        """The plan ``compute`` follows for each structure of ``frames``, one dict each
        (``gradients=True``: the plan of ``compute(frames, gradients=[...])``, whose Ewald split
        may be wider, chosen for the Jacobian's cost; its values then differ from those without
        gradients within ``accuracy``; docs/gradients.md).

        ``"route"`` is ``"real-space"`` (finite systems), ``"pairs"`` (periodic ``p = 0``),
        ``"reciprocal"``, ``"ewald"``, ``"mesh"`` or ``"slab"`` (two periodic directions: then
        ``"length"``, the vacuum cell's height in Å, ``"inner_route"``, the periodic route of
        that cell, and its parameters; docs/math.md §15); beside it the route's parameters:
        ``"k_cutoff"`` (Å⁻¹; the long-range one for Ewald and mesh), ``"eta"`` (Å, Ewald width),
        ``"spline_order"``, ``"mesh_spacing"`` (Å) and ``"mesh"`` (points per lattice vector);
        and the estimated ``"cost"`` (multiply-adds of the k-space contraction, the unit the
        route choice compares) and ``"memory"`` (bytes, what ``max_memory`` is held against).
        """
        frames = as_frame_list(frames)
        systems = as_system_list(frames)
        n_channels = 1 if self.charges else len(self._species.resolve(systems))
        return self._core.routes(systems, n_channels=n_channels, for_jacobian=gradients)

    @property
    def reciprocal_k_cutoff(self) -> float:
        """k-cutoff (Å⁻¹) of the plain reciprocal route: given, or chosen for the accuracy."""
        return self._core.reciprocal_k_cutoff

    _jacobian_function = staticmethod(_lode_rs.lode_gradients)

    def _jacobian_values_options(self) -> dict:
        return {"for_jacobian": True}

    def _backward(self, systems, channels, cotangent, threads):
        return _lode_rs.lode_backward(
            self._core, systems, cotangent=cotangent, n_threads=threads, **channels
        )

    def _gradient_core(self, frames) -> tuple:
        return self._core, (charges_of(frames) if self.charges else None)

    def _channels(self, frames, systems) -> tuple[dict, list[int]]:
        if self.charges:
            return {"charges": charges_of(frames)}, [CHARGE_CHANNEL]
        return super()._channels(frames, systems)

    @property
    def species_fixed(self) -> bool:
        """Whether the channels are known (always, with ``charges=True``)."""
        return self.charges or super().species_fixed

    def fix_species(self, frames) -> LodeExpansion:
        if not self.charges:
            super().fix_species(frames)
        return self

    fix_species.__doc__ = _Calculator.fix_species.__doc__

    def _init_kwargs(self) -> dict:
        kwargs = super()._init_kwargs()
        if self.charges:
            kwargs.update(species=None, charges=True)
        return kwargs

    def __repr__(self) -> str:
        h = self.hypers
        channels = "charges" if self.charges else f"species={self.species}"
        return (
            f"LodeExpansion(cutoff={h['cutoff']}, smearing={h['smearing']}, n_max={h['n_max']}, "
            f"l_max={h['l_max']}, exponent={h['exponent']}, method={h['method']!r}, {channels})"
        )


for _cls, _core in (
    (SoapExpansion, _lode_rs.SoapCalculator),
    (LodeExpansion, _lode_rs.LodeCalculator),
):
    _cls.__doc__ = (_cls.__doc__ or "") + _hyper_parameter_docs(_core)
