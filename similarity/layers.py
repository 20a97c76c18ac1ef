"""Which target layer each guide layer is compared with (the guidance code's mapping)."""

from __future__ import annotations

import numbers

__all__ = ["layer_map"]


def layer_map(n_guide: int, n_target: int) -> list[int]:
    r"""Map guide layer i to target layer ``min(round(i (T-1)/(G-1)), T-1)``.

    Spreads the G guide layers evenly over the T target layers, first to first and last to
    last, as ``layer_supervision`` in the untrainable-networks guidance code: the step
    :math:`(T-1)/(G-1)` is computed first and ``round`` is Python's (halves go to the even
    integer), so indices agree with that code exactly. With G > T several guide layers share a
    target layer; with G == 1 the one guide layer maps to target layer 0.

    Parameters
    ----------
    n_guide : int
        G, the number of guide (teacher) layers, >= 1.
    n_target : int
        T, the number of target (student) layers, >= 1.

    Returns
    -------
    list of int, length G
        ``mapping[i]``: the target layer index (0-based, in [0, T-1], non-decreasing) of guide
        layer i.

    Raises
    ------
    ValueError
        If a count is not an integer >= 1.

    Examples
    --------
    >>> layer_map(3, 5)
    [0, 2, 4]
    >>> layer_map(5, 4)
    [0, 1, 2, 2, 3]
    """
    for name, value in (("n_guide", n_guide), ("n_target", n_target)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1 (a number of layers), got {value!r}")
    g, t = int(n_guide), int(n_target)
    step = (t - 1) / (g - 1) if g > 1 else 1
    return [min(round(i * step), t - 1) for i in range(g)]
