"""Regenerates tiny.safetensors, the weights of tiny.json, with the Python safetensors
package (so the front end is tested against a file another implementation wrote).

Run from this folder: python3 make.py. Values are small closed forms the test recomputes.
"""
import numpy as np
from safetensors.numpy import save_file

save_file(
    {
        "conv1.weight": (np.arange(18, dtype=np.float32) / 8 - 1).reshape(2, 1, 3, 3),
        "conv1.bias": np.array([0.5, -0.25], dtype=np.float32),
        "bn1.weight": np.array([1.0, 2.0], dtype=np.float16),
        "bn1.bias": np.array([0.0, -1.5], dtype=np.float16),
        "bn1.running_mean": np.array([0.125, 0.25], dtype=np.float16),
        "bn1.running_var": np.array([1.0, 0.5], dtype=np.float16),
        "bn1.num_batches_tracked": np.array(7, dtype=np.int64),
        "shape": np.array([1, -1], dtype=np.int64),
        "fc.weight": (np.arange(6, dtype=np.float64) / 4).reshape(3, 2),
        "fc.bias": np.array([1, 2, 3], dtype=np.int32),
    },
    "tiny.safetensors",
    metadata={"format": "pt"},
)
