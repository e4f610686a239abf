"""Import timm where torchvision's compiled ops cannot load.

timm imports torchvision at module level. A PyPI torchvision wheel built for the CUDA torch fails to import
beside a CPU-only torch ("operator torchvision::nms does not exist"): its C extension does not load, and
its import then registers fake kernels for two operators nobody defined. Declaring those two operator
schemas first lets torchvision import (its detection ops stay unusable; the ViTs here never call them).
The shim is applied only after that exact failure.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

_LIBRARY: Any = None


def import_timm() -> ModuleType:
    """Return the ``timm`` module, working around a torchvision without its compiled ops."""
    global _LIBRARY
    try:
        import timm
    except RuntimeError as err:
        if "torchvision::" not in str(err):
            raise
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith(("torchvision.", "timm"))]:
            del sys.modules[name]
        import torch

        _LIBRARY = torch.library.Library("torchvision", "FRAGMENT")
        for op in ("nms", "qnms"):
            _LIBRARY.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        import timm
    return timm
