"""The one Numba configuration every kernel uses.

fastmath without `nnan`/`ninf`: the kernels must see NaN (a missing accuracy, a bad fix) and
must not have comparisons with NaN optimised away. Compile caching is on; NUMBA_CACHE_DIR
(set from TRIPGUARD_NUMBA_CACHE_DIR by the CLI) chooses where it lives.
"""

import functools

import numba

FASTMATH = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})

njit = functools.partial(numba.njit, cache=True, fastmath=set(FASTMATH), nogil=True)
