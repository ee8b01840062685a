"""H3 `latlng_to_cell` compiled with Numba, bit-identical to h3-py (H3 C core 4.5.0).

The plain port (`_latlng_to_cell_exact`) follows H3's C path latLngToCell -> latLngToVec3 ->
_vec3ToFaceIjk (closest face centre, gnomonic projection to hex2d, hex2d -> ijk+) ->
_faceIjkToH3 (digit walk, base cell lookup, pentagon and face rotations). Its floating-point
operations are written in the same order as the C source and compiled without fastmath (see
`_jit.njit_exact`), and math.sin/cos/tan/acos/atan2 resolve to the same libm the C library
calls, so every intermediate double is the one H3 computes. The integer digit walk runs in
axial coordinates with integer rounding (exact reformulations, see `_parent_and_digit` and
`_div7_round`). H3 is Apache-2.0, Copyright Uber Technologies, Inc.; tables: `_h3tables.py`.

Certified fast path (`_latlng_to_cell_point`, used by `latlng_to_cell`). The unit vector and
the face are computed with H3's own operations (so the face is H3's face). H3 then reaches the
hex2d point through acos, atan2, tan, cos and sin; the same point is scale * (p.U, p.W) / (p.c)
(the gnomonic projection, no trigonometry). The two evaluations differ by less than
ERR0_BY_RES[res] (scale * 1e-10 + 1e-8 hex2d units; measured worst ~3e-14 * scale) for points at
least 1e-3 rad from the face centre, so when the gnomonic point lies deeper than that inside a
hexagon, H3's point is in the same hexagon and the cell is proven. Otherwise (a point within
~1e-10 cell widths of an edge, or near a face centre) H3's own operations decide.

Public API (arrays in, arrays out):
- `latlng_to_cell(lat_deg, lng_deg, res)`: one cell per point.
- `latlng_to_cell_trajectory(lat_deg, lng_deg, res)`: the same output, faster on consecutive
  fixes of a trip (see "trajectory shortcut" below).

Input domain: latitudes in [-90, 90] and longitudes in [-180, 180] degrees, the ping contract's
range. NaN, infinities and values outside that range give cell 0 (H3_NULL) instead of an
exception, so one bad fix does not abort a batch. (h3-py raises on NaN and accepts any finite
angle, e.g. lat 100; inside the contract range the two agree exactly.)

For other Numba kernels:
- `_latlng_deg_to_cell_point(lat_deg, lng_deg, res) -> uint64` (range-checked, as above);
- `_latlng_to_cell_point(lat_rad, lng_rad, res) -> uint64`: H3's own latLngToCell on radians
  (any finite angle; NaN/inf -> 0);
- `new_trajectory_state(n)` (a struct array of TRAJECTORY_STATE_DTYPE) and
  `_latlng_deg_to_cell_step(lat_deg, lng_deg, res, states[i])`, the stateful per-fix step
  behind `latlng_to_cell_trajectory`.

Trajectory shortcut (exact). A point indexed without the shortcut becomes the *anchor*: its
face, its hex2d point v0, the Jacobian J of (lat, lng) -> hex2d there, the gap between the
closest and second-closest face centre, and its cell with the cell's ancestry. For the next fix,
with d1 = |dlat| + |dlng| (radians, an upper bound of the angular distance moved):
- the face cannot change while 4 * d1 is below the face gap (each squared chord to a face centre
  moves by at most 2 * d1);
- v_est = v0 + J (dlat, dlng) is within E hex2d units of the point H3 computes: E = the
  second-order Taylor remainder (bounded from the gnomonic map's first and second derivatives
  at the largest distance from the face centre the step can reach) + ERR0_BY_RES[res];
- if v_est lies inside a hexagon with a margin larger than E, H3's hex2d lands in that hexagon
  too, so its ijk+ (and with the same face, its index) is known without any trigonometry.
The same hexagon as the previous fix returns the previous index; another hexagon walks digits
only up to the first ancestor it shares with the previous cell. Anything not proven (face
edges, face centres, long jumps, the antimeridian, points near a hexagon edge) is indexed
without the shortcut and becomes the new anchor.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._h3tables import (
    BASE_CELL_CW_OFFSET_FACES,
    BASE_CELL_IS_PENTAGON,
    EPSILON,
    FACE_AXES_AZ_RADS_CII,
    FACE_CENTER_XYZ,
    FACE_IJK_BASE_CELL,
    FACE_IJK_BASE_CELL_CCW_ROT60,
    H3_BC_OFFSET,
    H3_CELL_MODE,
    H3_MODE_OFFSET,
    H3_PER_DIGIT_OFFSET,
    H3_RES_OFFSET,
    INV_RES0_U_GNOMONIC,
    M_2PI,
    M_AP7_ROT_RADS,
    M_PI_180,
    M_RSIN60,
    M_SQRT3_2,
    M_SQRT7,
    MAX_FACE_COORD,
    MAX_H3_RES,
)
from ._jit import njit_exact
from ._types import F64, I64, U64

H3_NULL = 0

# --- per-face tangent basis (north, east) at each face centre -------------------------------
# H3 recomputes these inside _vec3AzimuthRads for every point; they depend on the face only.
# Computed here once with the same IEEE operations in the same order (Python floats are IEEE
# doubles, math.sqrt is correctly rounded, no FMA), so the values are bit-identical to C's.


def _face_tangent_basis(cx: float, cy: float, cz: float) -> tuple[float, ...]:
    # _vec3TangentBasis: north = northPole - dot(northPole, p) p; normalise; east = north x p
    d = 0.0 * cx + 0.0 * cy + 1.0 * cz
    nx = 1.0 * 0.0 + (-d) * cx
    ny = 1.0 * 0.0 + (-d) * cy
    nz = 1.0 * 1.0 + (-d) * cz
    norm = math.sqrt(nx * nx + ny * ny + nz * nz)
    s = 1.0 / norm if norm > 0.0 else 0.0
    nx *= s
    ny *= s
    nz *= s
    ex = ny * cz - nz * cy
    ey = nz * cx - nx * cz
    ez = nx * cy - ny * cx
    return nx, ny, nz, ex, ey, ez


FACE_NORTH_EAST = np.array(
    [_face_tangent_basis(*(float(c) for c in FACE_CENTER_XYZ[f])) for f in range(20)],
    dtype=np.float64,
)

# hex2d = (p.U, p.W) / (p.c) * scale, with U/W the face's tangent basis turned onto the
# Class II i-axis (even res) or the Class III i-axis (odd res): the gnomonic form of H3's
# projection, used under a margin certificate (see the module docstring) and for the Jacobian.


def _face_hex_axes() -> np.ndarray:
    out = np.empty((2, 20, 6), dtype=np.float64)
    for parity in (0, 1):
        for f in range(20):
            b = float(FACE_AXES_AZ_RADS_CII[f, 0]) - parity * M_AP7_ROT_RADS
            cb, sb = math.cos(b), math.sin(b)
            n = FACE_NORTH_EAST[f, 0:3]
            e = FACE_NORTH_EAST[f, 3:6]
            out[parity, f, 0:3] = cb * n + sb * e
            out[parity, f, 3:6] = sb * n - cb * e
    return out


FACE_HEX_AXES = _face_hex_axes()

# hex2d units per radian of gnomonic distance at each resolution, as H3 builds it
# (r *= INV_RES0_U_GNOMONIC, then res times r *= M_SQRT7); used for error bounds only.
RES_SCALE = np.array([INV_RES0_U_GNOMONIC * M_SQRT7**res for res in range(MAX_H3_RES + 1)], dtype=np.float64)

# 60-degree digit rotations (_rotate60ccw / _rotate60cw), indexed by digit 0..7
ROT60_CCW = np.array([0, 5, 3, 1, 6, 4, 2, 7], dtype=np.int64)
ROT60_CW = np.array([0, 3, 6, 2, 5, 1, 4, 7], dtype=np.int64)
# ROT60_CCW applied n = 0..5 times
ROT60_CCW_N = np.empty((6, 8), dtype=np.int64)
ROT60_CCW_N[0] = np.arange(8)
for _n in range(1, 6):
    ROT60_CCW_N[_n] = ROT60_CCW[ROT60_CCW_N[_n - 1]]


def _triple_digit_table(digit_map: I64) -> I64:
    # the permutation applied to each of three digits packed in 9 bits
    x = np.arange(512)
    table: I64 = digit_map[x & 7] | (digit_map[(x >> 3) & 7] << 3) | (digit_map[(x >> 6) & 7] << 6)
    return table


ROT3_CCW_N = np.stack([_triple_digit_table(ROT60_CCW_N[n]) for n in range(6)])
ROT3_CW = _triple_digit_table(ROT60_CW)
_DIGITS_MASK = (1 << (H3_PER_DIGIT_OFFSET * MAX_H3_RES)) - 1
# H3 digit of a unit axial offset (da, db) = (di - dk, dj - dk), indexed [da + 1, db + 1]:
# digit 1 (0,0,1) -> (-1,-1), 2 (0,1,0) -> (0,1), 3 (0,1,1) -> (-1,0), 4 (1,0,0) -> (1,0),
# 5 (1,0,1) -> (0,-1), 6 (1,1,0) -> (1,1); (-1,1) and (1,-1) are not unit vectors (7).
AXIAL_DIGIT = np.array([[1, 3, 7], [5, 0, 2], [7, 4, 6]], dtype=np.int64)

# --- trajectory shortcut constants -------------------------------------------------------
# Taylor remainder of hex2d along the straight (lat, lng) path from the anchor: with q(t) the
# point on the unit sphere and H(q) = (q.U, q.W) / (q.c) the gnomonic map,
#   |d2/dt2 hex2d| <= scale * (|D2H| |q'|^2 + |DH| |q''|),
#   |q'|^2 <= dlat^2 + dlng^2,  |q''| <= (|dlat| + |dlng|)^2,
#   |DH| <= 1/cos + sin/cos^2,  |D2H| <= 2/cos^2 + 2 sin/cos^3  (theta from the face centre),
# and the remainder is half the bound. theta along the path stays below theta0 + d1.
_TAYLOR_HEADROOM = 1.25
_D1_CAP_RAD = 0.01  # caps the reach so that the bound uses theta0 + 0.01 at most
_THETA_MAX_RAD = 0.66  # a face's own points are within 0.6524 rad (37.38 deg) of its centre
_THETA_MIN_RAD = 1e-3  # nearer the centre acos(1 - sqd/2) loses digits; no shortcut there
_SQD_MIN = _THETA_MIN_RAD * _THETA_MIN_RAD  # chord^2 >= 1e-6 implies theta >= 1e-3 rad
_H3_ERR_REL = 1e-10  # bound on H3's own hex2d rounding error, in units of scale (real ~1e-12)
_ABS_ERR = 1e-8  # float error of the quantisation and margin arithmetic at res 15 (|v| < 5e6)
# how far H3's hex2d and the gnomonic form may differ, per resolution (hex2d units)
ERR0_BY_RES = RES_SCALE * _H3_ERR_REL + _ABS_ERR

# Per-trajectory state of the shortcut: one record per trajectory (an engine can keep one row per
# trip in a struct array). Records, unlike small arrays, reach a Numba callee as a plain pointer
# (no reference counting), which keeps the per-fix step at a few nanoseconds.
TRAJECTORY_STATE_DTYPE = np.dtype(
    [
        ("lat0_rad", np.float64),  # anchor: the last point indexed without the shortcut
        ("lng0_rad", np.float64),
        ("vx0", np.float64),  # anchor hex2d (within err_0 of H3's)
        ("vy0", np.float64),
        ("j00", np.float64),  # d(vx, vy) / d(lat, lng) at the anchor
        ("j01", np.float64),
        ("j10", np.float64),
        ("j11", np.float64),
        ("d1_max_rad", np.float64),  # the shortcut's reach, |dlat| + |dlng| < d1_max_rad
        ("err_e2", np.float64),  # error bound: err_e2 (dlat^2 + dlng^2) + err_d1 d1^2 + err_0
        ("err_d1", np.float64),
        ("err_0", np.float64),
        ("cell_cx", np.float64),  # hex2d centre of the current cell
        ("cell_cy", np.float64),
        ("valid", np.int64),  # 1 when the anchor may be used
        ("res", np.int64),
        ("face", np.int64),
        ("cell", np.int64),  # current cell (the last index returned)
        ("num_rots", np.int64),  # its base cell's 60-degree ccw rotations on this face
        ("pentagon", np.int64),  # 1 if its base cell is a pentagon
        ("anc_a", np.int64, (MAX_H3_RES + 1,)),  # axial coordinates of its ancestors, res 0..res
        ("anc_b", np.int64, (MAX_H3_RES + 1,)),
        ("n_same_cell", np.int64),  # counters: previous cell reused,
        ("n_walk", np.int64),  # new cell found by the shortcut (digit walk only),
        ("n_full", np.int64),  # points indexed without the shortcut (new anchors)
    ]
)


# --- integer helpers (coordijk.h) --------------------------------------------------------


@njit_exact
def _ijk_normalize(i: int, j: int, k: int) -> tuple[int, int, int]:
    if i < 0:
        j -= i
        k -= i
        i = 0
    if j < 0:
        i -= j
        k -= j
        j = 0
    if k < 0:
        i -= k
        j -= k
        k = 0
    m = i
    if j < m:
        m = j
    if k < m:
        m = k
    if m > 0:
        i -= m
        j -= m
        k -= m
    return i, j, k


@njit_exact
def _hex2d_to_ijk(vx: float, vy: float) -> tuple[int, int, int]:
    """_hex2dToCoordIJK: the hexagon (normalised ijk+) containing hex2d point (vx, vy)."""
    a1 = abs(vx)
    a2 = abs(vy)
    x2 = a2 * M_RSIN60
    x1 = a1 + x2 / 2.0
    m1 = int(x1)
    m2 = int(x2)
    r1 = x1 - m1
    r2 = x2 - m2
    if r1 < 0.5:
        if r1 < 1.0 / 3.0:
            if r2 < (1.0 + r1) / 2.0:
                i = m1
                j = m2
            else:
                i = m1
                j = m2 + 1
        else:
            if r2 < (1.0 - r1):
                j = m2
            else:
                j = m2 + 1
            if (1.0 - r1) <= r2 and r2 < (2.0 * r1):
                i = m1 + 1
            else:
                i = m1
    else:
        if r1 < 2.0 / 3.0:
            if r2 < (1.0 - r1):
                j = m2
            else:
                j = m2 + 1
            if (2.0 * r1 - 1.0) < r2 and r2 < (1.0 - r1):
                i = m1
            else:
                i = m1 + 1
        else:
            if r2 < (r1 / 2.0):
                i = m1 + 1
                j = m2
            else:
                i = m1 + 1
                j = m2 + 1
    # fold across the axes (j >= 0 here, so C's truncating / and % equal Python's)
    if vx < 0.0:
        if (j % 2) == 0:
            axisi = j // 2
            diff = i - axisi
            i = int(i - 2.0 * diff)
        else:
            axisi = (j + 1) // 2
            diff = i - axisi
            i = int(i - (2.0 * diff + 1))
    if vy < 0.0:
        i = i - (2 * j + 1) // 2
        j = -1 * j
    return _ijk_normalize(i, j, 0)


# --- H3 index digit helpers (h3Index.c) ----------------------------------------------------


@njit_exact
def _get_digit(h: int, r: int) -> int:
    return (h >> ((MAX_H3_RES - r) * H3_PER_DIGIT_OFFSET)) & 7


@njit_exact
def _set_digit(h: int, r: int, digit: int) -> int:
    shift = (MAX_H3_RES - r) * H3_PER_DIGIT_OFFSET
    return (h & ~(7 << shift)) | (digit << shift)


@njit_exact
def _leading_nonzero_digit(h: int, res: int) -> int:
    for r in range(1, res + 1):
        d = _get_digit(h, r)
        if d != 0:
            return d
    return 0


@njit_exact
def _rotate_digits(h: int, table: I64) -> int:
    """Every digit slot of h through a digit permutation, three digits per table lookup.

    _h3Rotate60ccw/cw rotate digits 1..res; the slots past res hold 7, which every rotation
    maps to 7, so rotating all 15 slots gives the same index.
    """
    out = h & ~_DIGITS_MASK
    for chunk in range(5):
        shift = 9 * chunk
        out |= table[(h >> shift) & 511] << shift
    return out


@njit_exact
def _rotate_pent60ccw(h: int, res: int) -> int:
    # _h3RotatePent60ccw: rotate in place; skips any leading 1 digits (k-axis)
    found_first_nonzero = False
    for r in range(1, res + 1):
        h = _set_digit(h, r, ROT60_CCW[_get_digit(h, r)])
        if not found_first_nonzero and _get_digit(h, r) != 0:
            found_first_nonzero = True
            # adjust for the deleted k-axes sequence
            if _leading_nonzero_digit(h, res) == 1:
                h = _rotate_digits(h, ROT3_CCW_N[1])
    return h


@njit_exact
def _div7_round(n: int) -> int:
    """C's lround(n * M_ONESEVENTH) for an integer n, in integer arithmetic.

    n / 7 has a fractional part k/7, never within 1/14 of a half, so rounding to nearest is
    floor((n + 3) / 7) for either sign, and the double product's relative error (~1e-16) cannot
    change the result for |n| < 2**40 (cell coordinates stay below 2**24).
    """
    return (n + 3) // 7


@njit_exact
def _parent_and_digit(a: int, b: int, child_res: int) -> tuple[int, int, int]:
    """One step of _faceIjkToH3's digit walk, in axial coordinates (a, b) = (i - k, j - k).

    H3 normalises ijk+ after every _upAp7/_downAp7; normalising never changes (i - k, j - k),
    and the parent, the parent's centre child and the digit depend on those differences only,
    so this yields H3's parent and digit without the normalisations.
    """
    if child_res % 2 == 1:
        # Class III child: parent by _upAp7, its centre child by _downAp7
        pa = _div7_round(3 * a - b)
        pb = _div7_round(a + 2 * b)
        ca = 2 * pa + pb
        cb = 3 * pb - pa
    else:
        # Class II child: _upAp7r / _downAp7r
        pa = _div7_round(2 * a + b)
        pb = _div7_round(3 * b - a)
        ca = 3 * pa - pb
        cb = pa + 2 * pb
    da = a - ca
    db = b - cb
    # _unitIjkToDigit on the axial difference; anything but a unit vector is digit 7
    if -1 <= da <= 1 and -1 <= db <= 1:
        digit = AXIAL_DIGIT[da + 1, db + 1]
    else:
        digit = 7
    return pa, pb, digit


@njit_exact
def _base_cell_and_rotate(face: int, a: int, b: int, res: int, digits: int) -> tuple[int, int, int]:
    """The end of _faceIjkToH3: base cell lookup and rotations, from the res-0 axial (a, b).

    Returns (h, num_rots, is_pentagon); h is 0 (H3_NULL) when (a, b) is off the face's table.
    """
    i, j, k = _ijk_normalize(a, b, 0)
    if i > MAX_FACE_COORD or j > MAX_FACE_COORD or k > MAX_FACE_COORD:
        return H3_NULL, 0, 0
    base_cell = FACE_IJK_BASE_CELL[face, i, j, k]
    unused = (1 << (H3_PER_DIGIT_OFFSET * (MAX_H3_RES - res))) - 1  # digits past res are 7
    h = (H3_CELL_MODE << H3_MODE_OFFSET) | (res << H3_RES_OFFSET) | (base_cell << H3_BC_OFFSET) | digits | unused
    num_rots = FACE_IJK_BASE_CELL_CCW_ROT60[face, i, j, k]
    is_pentagon = BASE_CELL_IS_PENTAGON[base_cell]
    if res == 0:
        return h, num_rots, is_pentagon
    if is_pentagon:
        # force rotation out of the missing k-axes sub-sequence
        if _leading_nonzero_digit(h, res) == 1:
            if BASE_CELL_CW_OFFSET_FACES[base_cell, 0] == face or BASE_CELL_CW_OFFSET_FACES[base_cell, 1] == face:
                h = _rotate_digits(h, ROT3_CW)
            else:
                h = _rotate_digits(h, ROT3_CCW_N[1])
        for _ in range(num_rots):
            h = _rotate_pent60ccw(h, res)
    else:
        h = _rotate_digits(h, ROT3_CCW_N[num_rots])
    return h, num_rots, is_pentagon


@njit_exact
def _face_ijk_to_h3(face: int, i: int, j: int, k: int, res: int) -> int:
    """_faceIjkToH3: index of the res-`res` cell at ijk+ (i, j, k) on `face` (0 if invalid)."""
    a = i - k
    b = j - k
    digits = 0
    for r in range(res, 0, -1):
        a, b, digit = _parent_and_digit(a, b, r)
        digits |= digit << ((MAX_H3_RES - r) * H3_PER_DIGIT_OFFSET)
    h, _, _ = _base_cell_and_rotate(face, a, b, res, digits)
    return h


# --- geometry (latLng.c, faceijk.c) ----------------------------------------------------------


@njit_exact
def _pos_angle_rads(rads: float) -> float:
    tmp = rads + M_2PI if rads < 0.0 else rads
    if rads >= M_2PI:
        tmp -= M_2PI
    return tmp


@njit_exact
def _closest_face(px: float, py: float, pz: float) -> tuple[int, float, float]:
    """_vec3ToClosestFace, also returning the runner-up's squared chord (for the shortcut)."""
    face = 0
    sqd = 5.0
    runner_up = 5.0
    for f in range(20):
        dx = FACE_CENTER_XYZ[f, 0] - px
        dy = FACE_CENTER_XYZ[f, 1] - py
        dz = FACE_CENTER_XYZ[f, 2] - pz
        s = dx * dx + dy * dy + dz * dz
        if s < sqd:
            runner_up = sqd
            face = f
            sqd = s
        elif s < runner_up:
            runner_up = s
    return face, sqd, runner_up


@njit_exact
def _vec3_to_hex2d(px: float, py: float, pz: float, face: int, sqd: float, res: int) -> tuple[float, float, float]:
    """_vec3ToHex2d after the face choice: (vx, vy, theta_rad) on `face` at `res`."""
    r = math.acos(1 - sqd * 0.5)
    if r < EPSILON:
        return 0.0, 0.0, r
    theta_rad = r
    cx = FACE_CENTER_XYZ[face, 0]
    cy = FACE_CENTER_XYZ[face, 1]
    cz = FACE_CENTER_XYZ[face, 2]
    # _vec3AzimuthRads(faceCenter, p): project p onto the tangent plane at the face centre
    dot = px * cx + py * cy + pz * cz
    qx = 1.0 * px + (-dot) * cx
    qy = 1.0 * py + (-dot) * cy
    qz = 1.0 * pz + (-dot) * cz
    norm = math.sqrt(qx * qx + qy * qy + qz * qz)
    s = 1.0 / norm if norm > 0.0 else 0.0
    qx *= s
    qy *= s
    qz *= s
    nx = FACE_NORTH_EAST[face, 0]
    ny = FACE_NORTH_EAST[face, 1]
    nz = FACE_NORTH_EAST[face, 2]
    ex = FACE_NORTH_EAST[face, 3]
    ey = FACE_NORTH_EAST[face, 4]
    ez = FACE_NORTH_EAST[face, 5]
    az = math.atan2(qx * ex + qy * ey + qz * ez, qx * nx + qy * ny + qz * nz)
    theta = _pos_angle_rads(FACE_AXES_AZ_RADS_CII[face, 0] - _pos_angle_rads(az))
    if res % 2 == 1:  # Class III
        theta = _pos_angle_rads(theta - M_AP7_ROT_RADS)
    r = math.tan(r)
    r *= INV_RES0_U_GNOMONIC
    for _ in range(res):
        r *= M_SQRT7
    return r * math.cos(theta), r * math.sin(theta), theta_rad


@njit_exact
def _hex_margin(ox: float, oy: float) -> float:
    # distance from offset (ox, oy) to the edge of a unit hexagon centred at 0 (inradius 0.5)
    a = abs(ox)
    b = abs(0.5 * ox + M_SQRT3_2 * oy)
    c = abs(0.5 * ox - M_SQRT3_2 * oy)
    return 0.5 - max(a, max(b, c))


@njit_exact
def _hex2d_nearest_axial(vx: float, vy: float) -> tuple[int, int]:
    """Axial (a, b) = (i - k, j - k) of the hexagon centre nearest to hex2d (vx, vy).

    Cube rounding: cheaper than _hex2d_to_ijk. Used only under a margin test against the
    returned centre, which proves the choice (a wrong one would simply fail the test).
    """
    # coordinates on the 60-degree basis e_a = (1, 0), f = e_a + e_b = (1/2, sqrt3/2):
    # (vx, vy) = q e_a + r f, and lattice point (q, r) is axial (a, b) = (q + r, r)
    r = vy * M_RSIN60
    q = vx - 0.5 * r
    s = -q - r
    rq = math.floor(q + 0.5)
    rr = math.floor(r + 0.5)
    rs = math.floor(s + 0.5)
    dq = abs(rq - q)
    dr = abs(rr - r)
    ds = abs(rs - s)
    if dq > dr and dq > ds:
        rq = -rr - rs
    elif dr > ds:
        rr = -rq - rs
    return int(rq + rr), int(rr)


@njit_exact
def _gnomonic_hex2d(px: float, py: float, pz: float, face: int, res: int) -> tuple[float, float]:
    """hex2d of p on `face` at `res` straight from the gnomonic projection, no trigonometry.

    scale * (p.U, p.W) / (p.c) is the map H3 evaluates through acos, atan2, tan, cos and sin;
    this form is accurate to ~1e-15 * scale, H3's own evaluation to ~1e-12 * scale (for points
    >= 1e-3 rad from the face centre), so the two agree within ERR0_BY_RES[res] (scale * 1e-10).
    """
    par = res % 2
    cx = FACE_CENTER_XYZ[face, 0]
    cy = FACE_CENTER_XYZ[face, 1]
    cz = FACE_CENTER_XYZ[face, 2]
    pc = px * cx + py * cy + pz * cz
    k = RES_SCALE[res] / pc
    vx = k * (px * FACE_HEX_AXES[par, face, 0] + py * FACE_HEX_AXES[par, face, 1] + pz * FACE_HEX_AXES[par, face, 2])
    vy = k * (px * FACE_HEX_AXES[par, face, 3] + py * FACE_HEX_AXES[par, face, 4] + pz * FACE_HEX_AXES[par, face, 5])
    return vx, vy


@njit_exact
def _cell_exact_from_vec3(px: float, py: float, pz: float, face: int, sqd: float, res: int) -> int:
    """The rest of H3's path, operation for operation: _vec3ToHex2d, _hex2dToCoordIJK, _faceIjkToH3."""
    vx, vy, _ = _vec3_to_hex2d(px, py, pz, face, sqd, res)
    i, j, k = _hex2d_to_ijk(vx, vy)
    return _face_ijk_to_h3(face, i, j, k, res)


@njit_exact(inline="always")
def _indexable(lat_rad: float, lng_rad: float, res: int) -> bool:
    """H3 indexes finite angles at resolutions 0..15; anything else is H3_NULL."""
    return 0 <= res <= MAX_H3_RES and math.isfinite(lat_rad) and math.isfinite(lng_rad)


@njit_exact(inline="always")
def _unit_vector(lat_rad: float, lng_rad: float) -> tuple[float, float, float]:
    """H3's latLngToVec3: the point on the unit sphere, with H3's operations in H3's order."""
    rc = math.cos(lat_rad)
    return math.cos(lng_rad) * rc, math.sin(lng_rad) * rc, math.sin(lat_rad)


@njit_exact
def _latlng_to_cell_exact(lat_rad: float, lng_rad: float, res: int) -> np.uint64:
    """The plain port of H3's latLngToCell (radians), no shortcut; 0 for NaN/inf or bad res."""
    if not _indexable(lat_rad, lng_rad, res):
        return np.uint64(H3_NULL)
    px, py, pz = _unit_vector(lat_rad, lng_rad)
    face, sqd, _ = _closest_face(px, py, pz)
    return np.uint64(_cell_exact_from_vec3(px, py, pz, face, sqd, res))


@njit_exact
def _latlng_to_cell_point(lat_rad: float, lng_rad: float, res: int) -> np.uint64:
    """H3's latLngToCell on radians: any finite angle; NaN/inf or res outside 0..15 -> 0.

    The unit vector and the face are computed exactly as H3 does (same operations, so the same
    face). The hex2d point then comes from the trigonometry-free gnomonic form; when it lies
    deeper inside its hexagon than the two evaluations can differ (ERR0_BY_RES), H3's point is
    in the same hexagon and only the digit walk remains. Otherwise (a point within ~1e-10 cell
    widths of an edge, or within 1e-3 rad of a face centre) H3's own operations decide.
    """
    if not _indexable(lat_rad, lng_rad, res):
        return np.uint64(H3_NULL)
    px, py, pz = _unit_vector(lat_rad, lng_rad)
    face, sqd, _ = _closest_face(px, py, pz)
    if sqd >= _SQD_MIN:
        vx, vy = _gnomonic_hex2d(px, py, pz, face, res)
        a, b = _hex2d_nearest_axial(vx, vy)
        if _hex_margin(vx - (a - 0.5 * b), vy - b * M_SQRT3_2) > ERR0_BY_RES[res]:
            return np.uint64(_face_ijk_to_h3(face, a, b, 0, res))
    return np.uint64(_cell_exact_from_vec3(px, py, pz, face, sqd, res))


@njit_exact
def _in_domain_deg(lat_deg: float, lng_deg: float) -> bool:
    # written so that NaN fails every comparison and lands outside the domain
    return -90.0 <= lat_deg <= 90.0 and -180.0 <= lng_deg <= 180.0


@njit_exact
def _latlng_deg_to_cell_point(lat_deg: float, lng_deg: float, res: int) -> np.uint64:
    """One point in degrees, converted as h3-py does (deg * M_PI_180); outside domain -> 0."""
    if not _in_domain_deg(lat_deg, lng_deg):
        return np.uint64(H3_NULL)
    return _latlng_to_cell_point(lat_deg * M_PI_180, lng_deg * M_PI_180, res)


@njit_exact
def _latlng_to_cell_array(lat_deg: F64, lng_deg: F64, res: int, out: U64) -> None:
    for n in range(lat_deg.shape[0]):
        out[n] = _latlng_deg_to_cell_point(lat_deg[n], lng_deg[n], res)


# --- trajectory variant ------------------------------------------------------------------------


def new_trajectory_state(n: int = 1) -> NDArray[np.void]:
    """`n` fresh trajectory states (zeroed: no anchor yet) for `_latlng_deg_to_cell_step`.

    Pass one record, `states[i]`, per trajectory. A state may be reused across trips and
    resolutions: a jump or a change of res only costs one full computation.
    """
    return np.zeros(n, dtype=TRAJECTORY_STATE_DTYPE)


@njit_exact
def _face_ijk_to_h3_tracked(face: int, a: int, b: int, res: int, st: np.void) -> int:
    """_face_ijk_to_h3 of axial (a, b) that also records ancestors and rotation in the state."""
    anc_a = st["anc_a"]
    anc_b = st["anc_b"]
    anc_a[res] = a
    anc_b[res] = b
    digits = 0
    for r in range(res, 0, -1):
        a, b, digit = _parent_and_digit(a, b, r)
        anc_a[r - 1] = a
        anc_b[r - 1] = b
        digits |= digit << ((MAX_H3_RES - r) * H3_PER_DIGIT_OFFSET)
    h, num_rots, is_pentagon = _base_cell_and_rotate(face, a, b, res, digits)
    st["num_rots"] = num_rots
    st["pentagon"] = is_pentagon
    return h


@njit_exact
def _face_ijk_to_h3_from_current(face: int, a0: int, b0: int, res: int, st: np.void) -> int:
    """Index of another cell on the current cell's face, reusing the current cell's ancestry.

    The walk goes up from the new cell until its ancestor meets the current cell's ancestor at
    the same level; from there up, digits, base cell and rotation are shared, so only the finer
    digits change (rotated like the rest, a digit-wise permutation for hexagon base cells).
    Pentagon base cells, whose rotation depends on the leading digit, take the full walk.
    """
    if st["pentagon"] == 1:
        return _face_ijk_to_h3_tracked(face, a0, b0, res, st)
    anc_a = st["anc_a"]
    anc_b = st["anc_b"]
    rot = ROT60_CCW_N[st["num_rots"]]
    h = st["cell"]
    a = a0
    b = b0
    for r in range(res, 0, -1):
        pa, pb, digit = _parent_and_digit(a, b, r)
        anc_a[r] = a
        anc_b[r] = b
        h = _set_digit(h, r, rot[digit])
        if pa == anc_a[r - 1] and pb == anc_b[r - 1]:
            return h
        a = pa
        b = pb
    # a different res-0 cell: base cell and rotation may change
    return _face_ijk_to_h3_tracked(face, a0, b0, res, st)


@njit_exact
def _anchor(lat_rad: float, lng_rad: float, res: int, st: np.void) -> int:
    """Index one point without the previous anchor and make it the new anchor in `st`."""
    rc = math.cos(lat_rad)
    sin_lat = math.sin(lat_rad)
    cos_lng = math.cos(lng_rad)
    sin_lng = math.sin(lng_rad)
    px = cos_lng * rc
    py = sin_lng * rc
    pz = sin_lat
    face, sqd, runner_up = _closest_face(px, py, pz)
    st["n_full"] += 1
    # the digit walk can start from the current cell's ancestry when it is on the same face
    same_face = st["valid"] == 1 and st["res"] == res and st["face"] == face
    st["valid"] = 0
    if sqd < _SQD_MIN:  # within 1e-3 rad of a face centre: H3's operations, no anchor
        return _cell_exact_from_vec3(px, py, pz, face, sqd, res)
    vx, vy = _gnomonic_hex2d(px, py, pz, face, res)
    a, b = _hex2d_nearest_axial(vx, vy)
    if not _hex_margin(vx - (a - 0.5 * b), vy - b * M_SQRT3_2) > ERR0_BY_RES[res]:
        # too close to a hexagon edge for the gnomonic form: H3's own hex2d decides
        vx, vy, _ = _vec3_to_hex2d(px, py, pz, face, sqd, res)
        i, j, k = _hex2d_to_ijk(vx, vy)
        a = i - k
        b = j - k
    if same_face:
        h = _face_ijk_to_h3_from_current(face, a, b, res, st)
    else:
        h = _face_ijk_to_h3_tracked(face, a, b, res, st)
    if h == H3_NULL:
        return h

    # how far (d1 = |dlat| + |dlng|) the shortcut may reach from this anchor: the face cannot
    # change (4 d1 below the gap to the runner-up face) and theta, the angle from the face
    # centre, stays in [1e-3, 0.66] rad; chord <= theta <= 1.0184 chord for theta <= 0.66
    chord = math.sqrt(sqd)
    d1_max = min((runner_up - sqd - 1e-12) / 4.0, chord - _THETA_MIN_RAD)
    d1_max = min(d1_max, min(_THETA_MAX_RAD - 1.0184 * chord, _D1_CAP_RAD))
    if not d1_max > 0.0:
        return h
    scale = RES_SCALE[res]
    theta_hi = 1.0184 * chord + d1_max + 1e-9
    c = math.cos(theta_hi)
    s = math.sin(theta_hi)
    bound_dh = 1.0 / c + s / (c * c)
    bound_d2h = 2.0 / (c * c) + 2.0 * s / (c * c * c)
    st["err_e2"] = scale * 0.5 * bound_d2h * _TAYLOR_HEADROOM
    st["err_d1"] = scale * 0.5 * bound_dh * _TAYLOR_HEADROOM
    st["err_0"] = ERR0_BY_RES[res]
    # Jacobian of hex2d = scale * (p.U, p.W) / (p.c) with respect to (lat, lng)
    par = res % 2
    ux = FACE_HEX_AXES[par, face, 0]
    uy = FACE_HEX_AXES[par, face, 1]
    uz = FACE_HEX_AXES[par, face, 2]
    wx = FACE_HEX_AXES[par, face, 3]
    wy = FACE_HEX_AXES[par, face, 4]
    wz = FACE_HEX_AXES[par, face, 5]
    cx = FACE_CENTER_XYZ[face, 0]
    cy = FACE_CENTER_XYZ[face, 1]
    cz = FACE_CENTER_XYZ[face, 2]
    pc = px * cx + py * cy + pz * cz
    gu = (px * ux + py * uy + pz * uz) / pc
    gw = (px * wx + py * wy + pz * wz) / pc
    # dp/dlat = (-sin lat cos lng, -sin lat sin lng, cos lat), dp/dlng = (-cos lat sin lng, cos lat cos lng, 0)
    ax = -sin_lat * cos_lng
    ay = -sin_lat * sin_lng
    az = rc
    bx = -rc * sin_lng
    by = rc * cos_lng
    ac = ax * cx + ay * cy + az * cz
    bc = bx * cx + by * cy
    st["j00"] = scale * ((ax * ux + ay * uy + az * uz) - gu * ac) / pc
    st["j01"] = scale * ((bx * ux + by * uy) - gu * bc) / pc
    st["j10"] = scale * ((ax * wx + ay * wy + az * wz) - gw * ac) / pc
    st["j11"] = scale * ((bx * wx + by * wy) - gw * bc) / pc
    st["lat0_rad"] = lat_rad
    st["lng0_rad"] = lng_rad
    st["vx0"] = vx
    st["vy0"] = vy
    st["d1_max_rad"] = d1_max
    st["cell_cx"] = a - 0.5 * b  # centre of the cell in hex2d (_ijkToHex2d)
    st["cell_cy"] = b * M_SQRT3_2
    st["valid"] = 1
    st["res"] = res
    st["face"] = face
    st["cell"] = h
    return h


@njit_exact
def _latlng_deg_to_cell_step(lat_deg: float, lng_deg: float, res: int, st: np.void) -> np.uint64:
    """One fix of a trajectory with state record `st`; equals `_latlng_deg_to_cell_point`."""
    if not _in_domain_deg(lat_deg, lng_deg) or res < 0 or res > MAX_H3_RES:
        return np.uint64(H3_NULL)
    lat_rad = lat_deg * M_PI_180
    lng_rad = lng_deg * M_PI_180
    if st["valid"] == 1 and st["res"] == res:
        dlat = lat_rad - st["lat0_rad"]
        dlng = lng_rad - st["lng0_rad"]
        d1 = abs(dlat) + abs(dlng)
        if d1 < st["d1_max_rad"]:
            vx = st["vx0"] + st["j00"] * dlat + st["j01"] * dlng
            vy = st["vy0"] + st["j10"] * dlat + st["j11"] * dlng
            err = st["err_e2"] * (dlat * dlat + dlng * dlng) + st["err_d1"] * d1 * d1 + st["err_0"]
            if _hex_margin(vx - st["cell_cx"], vy - st["cell_cy"]) > err:
                st["n_same_cell"] += 1
                return np.uint64(st["cell"])
            a, b = _hex2d_nearest_axial(vx, vy)
            cx = a - 0.5 * b
            cy = b * M_SQRT3_2
            if _hex_margin(vx - cx, vy - cy) > err:
                h = _face_ijk_to_h3_from_current(st["face"], a, b, res, st)
                if h != H3_NULL:
                    st["n_walk"] += 1
                    st["cell"] = h
                    st["cell_cx"] = cx
                    st["cell_cy"] = cy
                    return np.uint64(h)
                st["valid"] = 0  # the recorded ancestry no longer matches st["cell"]
    return np.uint64(_anchor(lat_rad, lng_rad, res, st))


@njit_exact
def _latlng_to_cell_trajectory_array(lat_deg: F64, lng_deg: F64, res: int, out: U64, states: NDArray[np.void]) -> None:
    st = states[0]
    for n in range(lat_deg.shape[0]):
        out[n] = _latlng_deg_to_cell_step(lat_deg[n], lng_deg[n], res, st)


# --- public wrappers ---------------------------------------------------------------------------


def _check_inputs(lat_deg: Any, lng_deg: Any, res: Any) -> None:
    for name, arr in (("lat_deg", lat_deg), ("lng_deg", lng_deg)):
        if not isinstance(arr, np.ndarray):
            raise TypeError(
                f"{name}: expected a numpy array, got {type(arr).__name__}; pass np.asarray({name}, dtype=np.float64)"
            )
        if arr.dtype != np.float64:
            raise TypeError(f"{name}: dtype is {arr.dtype}, expected float64; use {name}.astype(np.float64)")
        if arr.ndim != 1:
            raise ValueError(f"{name}: expected a 1-D array, got shape {arr.shape}; use {name}.ravel()")
        if not arr.flags.c_contiguous:
            raise ValueError(f"{name}: array is not contiguous; pass np.ascontiguousarray({name})")
    if lat_deg.shape[0] != lng_deg.shape[0]:
        raise ValueError(
            f"lat_deg and lng_deg: lengths differ ({lat_deg.shape[0]} vs {lng_deg.shape[0]}); "
            "pass one latitude and one longitude per point"
        )
    if isinstance(res, bool) or not isinstance(res, (int, np.integer)):
        raise TypeError(f"res: expected an integer H3 resolution 0..15, got {res!r}")
    if not 0 <= int(res) <= MAX_H3_RES:
        raise ValueError(f"res: H3 resolution must be in 0..15, got {res}")


def latlng_to_cell(lat_deg: F64, lng_deg: F64, res: int) -> U64:
    """H3 cell of each point, identical to `h3.latlng_to_cell` (as uint64).

    lat_deg, lng_deg: 1-D contiguous float64 arrays of equal length, degrees.
    res: H3 resolution 0..15.
    Points with NaN/inf or outside lat [-90, 90] / lng [-180, 180] get 0 (H3_NULL).
    """
    _check_inputs(lat_deg, lng_deg, res)
    out = np.empty(lat_deg.shape[0], dtype=np.uint64)
    _latlng_to_cell_array(lat_deg, lng_deg, int(res), out)
    return out


def latlng_to_cell_trajectory(lat_deg: F64, lng_deg: F64, res: int, *, stats: dict[str, int] | None = None) -> U64:
    """Same output as `latlng_to_cell`, faster when consecutive points are close (trip fixes).

    The points are taken in order as one path; jumps (a new trip, a bad fix) only cost one full
    computation. If `stats` is a dict it receives counts of how each point was resolved:
    `same_cell` (previous cell reused), `walk` (new cell, digit walk only), `full`.
    """
    _check_inputs(lat_deg, lng_deg, res)
    out = np.empty(lat_deg.shape[0], dtype=np.uint64)
    states = new_trajectory_state()
    _latlng_to_cell_trajectory_array(lat_deg, lng_deg, int(res), out, states)
    if stats is not None:
        stats["same_cell"] = int(states[0]["n_same_cell"])
        stats["walk"] = int(states[0]["n_walk"])
        stats["full"] = int(states[0]["n_full"])
    return out
