"""Regenerates the reference .npy files the npy tests compare against.

Run from this folder: python3 make.py (numpy 2.x). The files are tiny and committed, so
the tests need no Python.
"""
import numpy as np
from numpy.lib import format as npf

a = (np.arange(6, dtype="<f4").reshape(2, 3) * 0.5 - 1.0)
np.save("f32_2x3.npy", a)
np.save("f32_5.npy", np.array([0.0, -0.0, 1.5, 3.25e-5, -7e8], dtype="<f4"))
np.save("f32_scalar.npy", np.float32(3.5))
np.save("f32_0x3.npy", np.zeros((0, 3), dtype="<f4"))
np.save("f64_3.npy", np.array([0.1, -2.5, 1e-3], dtype="<f8"))
np.save("i8_2x2.npy", np.array([[-128, 127], [0, -1]], dtype="i1"))
np.save("i64_4.npy", np.array([0, 3, 1, 9], dtype="<i8"))
np.save("i32_4.npy", np.array([0, 3, 1, -9], dtype="<i4"))
np.save("fortran_2x3.npy", np.asfortranarray(a))
np.save("f32_be_2.npy", np.array([1.0, 2.0], dtype=">f4"))
np.save("f16_2.npy", np.array([1.0, 2.0], dtype="<f2"))
for version in [(2, 0), (3, 0)]:
    with open(f"f32_2x3_v{version[0]}.npy", "wb") as f:
        npf.write_array(f, a, version=version)
