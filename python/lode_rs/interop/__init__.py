"""Adapters to other libraries, each importing its library only when used (optional extras):

* :mod:`lode_rs.interop.sklearn` — scikit-learn transformers and regressors (``lode_rs[sklearn]``);
* :mod:`lode_rs.interop.metatensor` — ``to_tensormap()`` in featomic's layout (``metatensor-core``);
* :mod:`lode_rs.interop.chemiscope` — chemiscope maps of a data set (``lode_rs[chemiscope]``).
"""
