"""The embedded demo's two synthetic datasets. The archives the demo runs on are committed in
resources/demo/ and pinned in their cards; this package is how they were made
(`python -m cosmos_bench.acquire.demo ct resources/demo/demo-ct.tar.gz`), and the tests compare
its arrays with the committed archives' decoded voxels and pixels (docs/testing.md).
"""

from cosmos_bench.acquire.demo.ct import CT_LABELS, CT_ROOT, build_demo_ct, ct_volumes
from cosmos_bench.acquire.demo.endo import ENDO_ROOT, build_demo_endo, endo_frames

__all__ = [
    "CT_LABELS",
    "CT_ROOT",
    "ENDO_ROOT",
    "build_demo_ct",
    "build_demo_endo",
    "ct_volumes",
    "endo_frames",
]
