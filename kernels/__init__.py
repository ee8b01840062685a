"""Numba kernels and their numpy twins; imports numpy, numba, math only."""
