"""Thin Hydra entry points: config in, library calls, tracker out. Only apps read configs."""
