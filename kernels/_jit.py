"""The one Numba configuration every kernel uses.

fastmath without `nnan`/`ninf`: the kernels must see NaN (a missing accuracy, a bad fix) and
must not have comparisons with NaN optimised away. Compile caching is on; NUMBA_CACHE_DIR
(set from TRIPGUARD_NUMBA_CACHE_DIR by the CLI) chooses where it lives.
"""

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

import numba

FASTMATH = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})

if TYPE_CHECKING:
    # What the type checker sees: a kernel keeps its Python signature (a Numba dispatcher is
    # called with the same arguments and returns what the Python function returns), so calls of
    # one kernel from another and from tripguard are checked against the annotations. At run time
    # the two decorators are exactly the partials below.
    _F = TypeVar("_F", bound=Callable[..., Any])

    @overload
    def njit(func: _F, /) -> _F: ...
    @overload
    def njit(*, inline: str = ...) -> Callable[[_F], _F]: ...
    def njit(func: Any = None, /, **options: Any) -> Any: ...
    @overload
    def njit_exact(func: _F, /) -> _F: ...
    @overload
    def njit_exact(*, inline: str = ...) -> Callable[[_F], _F]: ...
    def njit_exact(func: Any = None, /, **options: Any) -> Any: ...
else:
    njit = functools.partial(numba.njit, cache=True, fastmath=set(FASTMATH), nogil=True)

    # Kernels that must reproduce another library bit for bit (the H3 indexing port reproduces H3's
    # C core) run without fastmath: contraction into FMA, reassociation and approximate math
    # functions each change the last bits of a result, and one bit moves a point across a cell
    # boundary.
    njit_exact = functools.partial(numba.njit, cache=True, nogil=True)
