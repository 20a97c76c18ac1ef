"""Image preprocessing: movie frames to the normalised pixel tensors a vision model reads.

One batched torch implementation of the resize / centre-crop / normalise steps that open_clip,
timm and SLIP apply to PIL images, so every image family shares it and frames never go
through PIL one by one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["preprocess_images"]


def preprocess_images(
    images: np.ndarray,
    size: int | Sequence[int],
    mean: Sequence[float],
    std: Sequence[float],
    *,
    interpolation: str = "bicubic",
    crop_pct: float = 1.0,
    resize_mode: str = "shortest",
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """Resize, centre-crop and normalise a batch of RGB frames, batched in torch.

    The same steps as the torchvision ``Compose`` that open_clip / timm build for PIL images
    (resize the shorter side, centre crop, scale to [0, 1], normalise), applied to the whole
    batch at once on uint8 tensors (antialiased, as PIL does), so preprocessing does not
    dominate the cost of small models.

    Parameters
    ----------
    images : ndarray of uint8, shape (n, H, W, 3)
        RGB frames.
    size : int or (int, int)
        Output (height, width) in pixels; an int means square.
    mean, std : sequence of 3 floats
        Per-channel normalisation, on the [0, 1] scale.
    interpolation : {"bicubic", "bilinear", "nearest"}
        Resampling filter (antialiased when downsampling).
    crop_pct : float
        The shorter side is first resized to ``size / crop_pct`` (timm convention), then
        centre-cropped to ``size``; 1.0 = resize straight to ``size`` (CLIP convention).
    resize_mode : {"shortest", "squash"}
        ``"shortest"``: keep the aspect ratio, then centre crop; ``"squash"``: resize both
        sides straight to ``size``.
    device : str or torch.device
        Where the output tensor lives (resizing is done there too).

    Returns
    -------
    torch.Tensor of float32, shape (n, 3, height, width)
        The normalised pixels, ``(x / 255 - mean) / std`` per channel, on ``device``.

    Raises
    ------
    ValueError
        When ``images`` are not uint8 RGB frames, or ``interpolation`` / ``resize_mode`` is
        unknown.
    """
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(
            f"images must be uint8 RGB frames of shape (n, H, W, 3); got dtype {images.dtype} "
            f"and shape {images.shape}"
        )
    h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    modes = {
        "bicubic": InterpolationMode.BICUBIC,
        "bilinear": InterpolationMode.BILINEAR,
        "nearest": InterpolationMode.NEAREST,
    }
    if interpolation not in modes:
        raise ValueError(f"interpolation {interpolation!r} is not one of {sorted(modes)}")
    mode = modes[interpolation]
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2)
    if resize_mode == "squash":
        x = TF.resize(x, [h, w], interpolation=mode, antialias=True)
    elif resize_mode == "shortest":
        scale = max(h, w) / float(crop_pct)
        # An int size resizes the shorter side, as torchvision's Resize(int) does.
        x = TF.resize(
            x,
            int(np.floor(scale)) if h == w else [int(h / crop_pct), int(w / crop_pct)],
            interpolation=mode,
            antialias=True,
        )
        x = TF.center_crop(x, [h, w])
    else:
        raise ValueError(f"resize_mode {resize_mode!r} is not one of ['shortest', 'squash']")
    m = torch.as_tensor(mean, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    # (x / 255 - m) / s as one scale and one shift, in place on the float copy.
    return x.float().mul_(1.0 / (255.0 * s)).sub_(m / s)
