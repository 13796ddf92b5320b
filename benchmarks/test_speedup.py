"""Fails if fastbp is slower than the reference at any listed size (a ratio, not a time).

For each size and dtype, fastbp.bench.measure interleaves reference and fastbp steps in
this process and takes the median of the paired ratios, so machine noise hits both
sides alike. Lives in benchmarks/, outside the default test run.
"""

import numpy as np
import pytest

from fastbp.bench import DEFAULT_SIZES, measure


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("size", DEFAULT_SIZES, ids=[f"{s}x{i}x{n}" for s, i, n in DEFAULT_SIZES])
def test_fastbp_not_slower_than_reference(size, dtype):
    result = measure(size, dtype, repeat=15)
    assert result["speedup"] > 1.0, (
        f"fastbp slower than the reference at {size} {np.dtype(dtype).name}: "
        f"median ratio {result['speedup']:.2f} "
        f"(p25 {result['speedup_p25']:.2f}, p75 {result['speedup_p75']:.2f})"
    )
