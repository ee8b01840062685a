"""The one Numba configuration every kernel uses.

fastmath without `nnan`/`ninf`: the kernels must see NaN (a missing accuracy, a bad fix) and
must not have comparisons with NaN optimised away. Compile caching is on; NUMBA_CACHE_DIR
(set from TRIPGUARD_NUMBA_CACHE_DIR by the CLI) chooses where it lives.
"""

import functools

import numba

FASTMATH = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})

njit = functools.partial(numba.njit, cache=True, fastmath=set(FASTMATH), nogil=True)

# Kernels that must reproduce another library bit for bit (the H3 indexing port reproduces H3's C
# core) run without fastmath: contraction into FMA, reassociation and approximate math functions
# each change the last bits of a result, and one bit moves a point across a cell boundary.
njit_exact = functools.partial(numba.njit, cache=True, nogil=True)
