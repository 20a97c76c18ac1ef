"""Validation and conversion at the package's boundary (private).

Every public function of :mod:`mmsites.similarity` takes numpy arrays or torch tensors and
computes with torch. The rules, in one place:

* numpy inputs are viewed as CPU tensors (no copy for float32/float64); the result comes back
  as a Python ``float``;
* tensor inputs stay on their device (CPU or CUDA), the result is a 0-d tensor that carries
  the autograd graph;
* a numpy array paired with a tensor is moved to the tensor's device; two tensors on
  different devices are refused unless ``device`` names one;
* float32 and float64 are kept (two inputs are promoted to the wider); float16 and bfloat16
  are computed in float32; integers and booleans in float64; complex values are refused;
* every array must be 2-D ``(n_samples, n_features)``, finite, with at least one feature, and
  the two arrays must have the same number of samples.
"""

from __future__ import annotations

import numpy as np
import torch

from mmsites.device import resolve_device

#: A total variance below this fraction of the raw sum of squares is rounding noise.
CONSTANT_REL_TOL = 1e-12

_HALF = (torch.float16, torch.bfloat16)


def _work_dtype(dtype: torch.dtype) -> torch.dtype:
    if dtype in _HALF:
        return torch.float32
    if dtype.is_complex:
        raise TypeError("complex inputs are not supported")
    if not dtype.is_floating_point:
        return torch.float64
    return dtype


def to_tensor(value, name: str) -> torch.Tensor:
    """A tensor view of ``value``, not yet validated (no copy for float32/float64 arrays).

    Parameters
    ----------
    value : ndarray, Tensor or array_like
        The input as the caller gave it.
    name : str
        The argument's name, for error messages.

    Returns
    -------
    Tensor
        ``value`` itself when a tensor; else a CPU tensor: floats kept (float16 -> float32),
        integers and booleans as float64.

    Raises
    ------
    TypeError
        If ``value`` is complex or not numeric.
    """
    if torch.is_tensor(value):
        return value
    arr = np.asarray(value)
    if arr.dtype.kind == "c":
        raise TypeError(f"{name} is complex ({arr.dtype}); similarity needs real values")
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and arr.dtype.itemsize == 2:
        arr = arr.astype(np.float32)
    elif arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    return torch.from_numpy(np.ascontiguousarray(arr))


def check_matrix(t: torch.Tensor, name: str, min_features: int = 1) -> None:
    """Refuse, naming the argument, a matrix that is not 2-D or too narrow.

    Parameters
    ----------
    t : Tensor
        The candidate matrix, (n_samples, n_features).
    name : str
        The argument's name, for error messages.
    min_features : int
        Fewest columns accepted.

    Raises
    ------
    ValueError
        If ``t`` is not 2-D or has fewer than ``min_features`` columns.
    TypeError
        If ``t`` is complex.
    """
    if t.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_features), got shape {tuple(t.shape)}; "
            "flatten each example's activations first, e.g. X.reshape(len(X), -1)"
        )
    if t.shape[1] < min_features:
        raise ValueError(
            f"{name} needs at least {min_features} feature column(s), got shape {tuple(t.shape)}"
        )
    if t.dtype.is_complex:
        raise TypeError(f"{name} is complex ({t.dtype}); similarity needs real values")


def sum_of_squares(t: torch.Tensor, name: str) -> torch.Tensor:
    r"""The raw sum of squares of a matrix, which also proves it finite (one pass, no copy).

    A NaN or inf anywhere makes the sum non-finite; only then is the matrix searched for the
    offending entry, so finite inputs cost one read.

    Parameters
    ----------
    t : Tensor, shape (n, p)
        The matrix, in the dtype the computation will use.
    name : str
        The argument's name, for error messages.

    Returns
    -------
    Tensor, 0-d
        :math:`\sum_{ij} t_{ij}^2`, detached (a scale for the constant-input tolerance).

    Raises
    ------
    ValueError
        If ``t`` has a NaN or inf (the message gives its index) or its squares overflow the
        dtype.
    """
    with torch.no_grad():
        flat = t.reshape(-1)
        total = torch.dot(flat, flat) if flat.numel() else flat.new_zeros(())
        if bool(torch.isfinite(total)):
            return total
        bad = torch.nonzero(~torch.isfinite(t))
    if len(bad):
        raise ValueError(f"{name} has a non-finite value (NaN or inf) at index {tuple(bad[0].tolist())}")
    raise ValueError(
        f"{name}'s sum of squares overflows {t.dtype}: rescale it (CKA and RSA are scale-free) "
        "or pass float64"
    )


def as_one(X, name: str, *, min_samples: int, why: str, device=None, min_features: int = 1):
    """Validate one sample-by-feature matrix and bring it to a device and a float dtype.

    Parameters
    ----------
    X : ndarray or Tensor, shape (n, p)
        The matrix.
    name : str
        Its argument's name, for error messages.
    min_samples : int
        Fewest rows accepted.
    why : str
        What needs them, for the error message.
    device : str or torch.device, optional
        Where to compute; default where ``X`` is (numpy: the CPU).
    min_features : int
        Fewest columns accepted.

    Returns
    -------
    X : Tensor, shape (n, p)
        On the device, in the working dtype (module notes).
    numpy_in : bool
        Whether ``X`` was not a tensor (the result goes back as numpy or a float).
    """
    numpy_in = not torch.is_tensor(X)
    Xt = to_tensor(X, name)
    check_matrix(Xt, name, min_features)
    if Xt.shape[0] < min_samples:
        raise ValueError(f"{name} has {Xt.shape[0]} samples (rows); {why} needs at least {min_samples}")
    target = resolve_device(device) if device is not None else Xt.device
    Xt = Xt.to(device=target, dtype=_work_dtype(Xt.dtype))
    sum_of_squares(Xt, name)
    return Xt, numpy_in


def as_pair(
    X,
    Y,
    *,
    min_samples: int,
    why: str,
    device=None,
    names=("X", "Y"),
    min_features: int = 1,
    check_finite: bool = True,
):
    """Validate two sample-by-feature matrices and bring them to one device and dtype.

    Parameters
    ----------
    X : ndarray or Tensor, shape (n, p)
        First matrix.
    Y : ndarray or Tensor, shape (n, q)
        Second matrix, same rows.
    min_samples : int
        Fewest rows accepted.
    why : str
        What needs them, for the error message.
    device : str or torch.device, optional
        Where to compute; default where the tensor inputs are (numpy: the CPU).
    names : tuple of str
        The arguments' names, for error messages.
    min_features : int
        Fewest columns accepted in each.
    check_finite : bool
        Check that both are finite here (one read of each). A caller that can tell from its
        results (a NaN or inf input makes them non-finite) passes False and calls
        :func:`explain_non_finite` when they are not finite.

    Returns
    -------
    X : Tensor, shape (n, p)
        On the common device, in the common working dtype.
    Y : Tensor, shape (n, q)
        Likewise.
    numpy_in : bool
        Whether neither input was a tensor (the result goes back as a Python float).
    scale : tuple of two 0-d Tensors, or None
        The raw sums of squares of ``X`` and ``Y`` (:func:`sum_of_squares`), detached; None
        without ``check_finite``.

    Raises
    ------
    ValueError
        If a matrix is invalid (see :func:`check_matrix`) or not finite, the row counts differ, there are
        fewer than ``min_samples`` rows, or two tensors are on different devices without
        ``device``.
    """
    nx, ny = names
    numpy_in = not (torch.is_tensor(X) or torch.is_tensor(Y))
    Xt, Yt = to_tensor(X, nx), to_tensor(Y, ny)
    check_matrix(Xt, nx, min_features)
    check_matrix(Yt, ny, min_features)
    if Xt.shape[0] != Yt.shape[0]:
        raise ValueError(
            f"{nx} and {ny} must have the same number of rows (samples, in the same order): "
            f"{nx} has {Xt.shape[0]}, {ny} has {Yt.shape[0]}"
        )
    if Xt.shape[0] < min_samples:
        raise ValueError(
            f"{nx} and {ny} have {Xt.shape[0]} samples (rows); {why} needs at least {min_samples}"
        )
    if device is not None:
        target = resolve_device(device)
    elif torch.is_tensor(X) and torch.is_tensor(Y):
        if X.device != Y.device:
            raise ValueError(
                f"{nx} is on {X.device} and {ny} on {Y.device}: move them to one device or pass device="
            )
        target = X.device
    elif torch.is_tensor(Y):
        target = Y.device
    else:
        target = Xt.device
    dtype = _work_dtype(torch.promote_types(_work_dtype(Xt.dtype), _work_dtype(Yt.dtype)))
    Xt, Yt = Xt.to(device=target, dtype=dtype), Yt.to(device=target, dtype=dtype)
    scale = (sum_of_squares(Xt, nx), sum_of_squares(Yt, ny)) if check_finite else None
    return Xt, Yt, numpy_in, scale


def explain_non_finite(X: torch.Tensor, Y: torch.Tensor, names=("X", "Y")) -> None:
    """Raise the error that explains a non-finite result: a NaN or inf input, or an overflow.

    Parameters
    ----------
    X : Tensor, shape (n, p)
        First input, as computed with.
    Y : Tensor, shape (n, q)
        Second input, as computed with.
    names : tuple of str
        The arguments' names, for the error message.

    Raises
    ------
    ValueError
        Always: naming the input with a NaN or inf (and its index), or saying that the
        products overflowed the dtype.
    """
    sum_of_squares(X, names[0])
    sum_of_squares(Y, names[1])
    raise ValueError(
        f"the products of {names[0]} and {names[1]} overflow {X.dtype}: rescale them (CKA and RSA are "
        "scale-free) or pass float64"
    )


def check_choice(value, name: str, choices: tuple[str, ...]) -> str:
    """Check an option against its allowed values.

    Parameters
    ----------
    value : object
        The option as given.
    name : str
        The argument's name, for the error message.
    choices : tuple of str
        The allowed values.

    Returns
    -------
    str
        ``value``, unchanged.

    Raises
    ------
    ValueError
        If ``value`` is not one of ``choices``.
    """
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def finish(value: torch.Tensor, numpy_in: bool):
    """The result in the caller's kind: a Python float for numpy, the tensor for tensors.

    Parameters
    ----------
    value : Tensor, 0-d
        The computed result.
    numpy_in : bool
        Whether the caller passed numpy arrays only.

    Returns
    -------
    float or Tensor
        ``float(value)`` for numpy callers; ``value`` itself (autograd graph kept) otherwise.
    """
    return float(value.detach().cpu()) if numpy_in else value
