"""Compute devices: the one rule that turns ``"auto"`` into a torch device."""

from __future__ import annotations

__all__ = ["resolve_device"]


def resolve_device(device="auto"):
    """Resolve a device name, ``"auto"`` meaning the first CUDA device when there is one.

    Parameters
    ----------
    device : str or torch.device
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ... or a ``torch.device``.

    Returns
    -------
    torch.device
        The device to compute on; the CPU under ``"auto"`` when CUDA is unavailable.
    """
    import torch  # imported here: `import mmsites` stays light

    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)
