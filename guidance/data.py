"""Data sets of the guidance experiments, and the noise a guide may see instead.

- :func:`digits_data`: scikit-learn's 8 × 8 handwritten digits (1797 images shipped with the
  package; no download), pixels scaled to [0, 1], a stratified train/test split;
- :func:`parity_data`: bit strings of random lengths, labelled by the parity of their ones
  (the guidance code's parity task: lengths 2 .. max, pad token 2);
- :func:`copy_paste_data`: a random sequence, a copy token, blanks, an end token; the target
  repeats the sequence at the blanks (the guidance code's copy-paste task, tokens shifted so
  that 0 is the blank and the ignored label is -100);
- :func:`noise_like`: the guidance code's noise inputs for a guide.

Every generator is seeded (:class:`numpy.random.Generator`); the same seed gives the same
arrays on every machine.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "IGNORE",
    "PARITY_PAD",
    "digits_data",
    "parity_data",
    "copy_paste_data",
    "copy_paste_vocab",
    "noise_like",
]

#: The label of positions no loss or accuracy is computed on (torch's cross-entropy default).
IGNORE = -100
#: The padding token of the parity sequences (bits are 0 and 1).
PARITY_PAD = 2


def digits_data(n_train: int = 500, seed: int = 0):
    """The digits of scikit-learn, pixels in [0, 1], split into stratified train and test sets.

    Parameters
    ----------
    n_train : int
        Training images (the rest, 1797 - n_train, are the test set); small training sets
        make a fully connected network overfit.
    seed : int
        Seed of the split.

    Returns
    -------
    train : (ndarray, ndarray)
        Images, float32 (n_train, 8, 8) in [0, 1] (the original 0-16 intensities / 16), and
        labels, int64 (n_train,) in 0..9.
    test : (ndarray, ndarray)
        The same for the other images.

    Raises
    ------
    ValueError
        If ``n_train`` leaves fewer than 10 images on either side.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X = (digits.images / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    if not 10 <= n_train <= len(y) - 10:
        raise ValueError(f"n_train must be in [10, {len(y) - 10}], got {n_train}")
    Xtr, Xte, ytr, yte = train_test_split(X, y, train_size=n_train, stratify=y, random_state=seed)
    return (Xtr, ytr), (Xte, yte)


def parity_data(n: int, max_length: int = 20, min_length: int = 2, seed: int = 0):
    """Bit strings of random lengths labelled by their parity, padded to one length.

    Parameters
    ----------
    n : int
        Number of sequences.
    max_length : int
        Longest bit string (the padded length).
    min_length : int
        Shortest bit string (the guidance code: 2).
    seed : int
        Seed of the lengths and bits.

    Returns
    -------
    tokens : ndarray, int64, shape (n, max_length)
        Bits 0/1, then :data:`PARITY_PAD` (2) after each string's end.
    labels : ndarray, int64, shape (n,)
        1 when the string has an odd number of ones, else 0.

    Raises
    ------
    ValueError
        If the lengths are out of order or below 1.
    """
    if not 1 <= min_length <= max_length:
        raise ValueError(f"need 1 <= min_length <= max_length, got {min_length}, {max_length}")
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min_length, max_length + 1, size=n)
    bits = rng.integers(0, 2, size=(n, max_length))
    inside = np.arange(max_length)[None, :] < lengths[:, None]
    tokens = np.where(inside, bits, PARITY_PAD).astype(np.int64)
    labels = ((bits * inside).sum(1) % 2).astype(np.int64)
    return tokens, labels


def copy_paste_vocab(symbols: int) -> int:
    """Number of token values of :func:`copy_paste_data` with ``symbols`` symbols.

    Parameters
    ----------
    symbols : int
        Distinct symbols to copy.

    Returns
    -------
    int
        ``symbols + 3``: blank/pad 0, symbols 1..symbols, copy ``symbols + 1``, end ``symbols + 2``.
    """
    return int(symbols) + 3


def copy_paste_data(n: int, min_length: int = 5, max_length: int = 10, symbols: int = 8, seed: int = 0):
    """Copy-paste sequences: ``s, COPY, blanks, END``; the labels repeat ``s`` at the blanks.

    Parameters
    ----------
    n : int
        Number of sequences.
    min_length, max_length : int
        Range of the length L of the sequence to copy (the guidance code: 20-40).
    symbols : int
        Distinct symbols (tokens 1..symbols; the guidance code: 10).
    seed : int
        Seed of the lengths and symbols.

    Returns
    -------
    tokens : ndarray, int64, shape (n, 2 * max_length + 2)
        ``s_1..s_L, COPY, 0 × L, END``, then 0 (blank/pad); COPY = symbols + 1,
        END = symbols + 2.
    labels : ndarray, int64, shape (n, 2 * max_length + 2)
        :data:`IGNORE` up to and including the copy token, then ``s_1..s_L, END``, then
        :data:`IGNORE`: only the L + 1 positions after the copy token are scored.

    Raises
    ------
    ValueError
        If the lengths are out of order or below 1, or ``symbols`` < 1.
    """
    if not 1 <= min_length <= max_length or symbols < 1:
        raise ValueError(
            f"need 1 <= min_length <= max_length and symbols >= 1, got {min_length}, {max_length}, {symbols}"
        )
    rng = np.random.default_rng(seed)
    width = 2 * max_length + 2
    tokens = np.zeros((n, width), dtype=np.int64)
    labels = np.full((n, width), IGNORE, dtype=np.int64)
    copy, end = symbols + 1, symbols + 2
    lengths = rng.integers(min_length, max_length + 1, size=n)
    seqs = rng.integers(1, symbols + 1, size=(n, max_length))
    for row, (L, s) in enumerate(zip(lengths, seqs)):
        s = s[:L]
        tokens[row, :L] = s
        tokens[row, L] = copy
        tokens[row, 2 * L + 1] = end
        labels[row, L + 1 : 2 * L + 1] = s
        labels[row, 2 * L + 1] = end
    return tokens, labels


def noise_like(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Noise inputs for a guide, shaped as a batch (the guidance code's ``create_rand_inputs``).

    Parameters
    ----------
    x : Tensor, shape (n, ...)
        The real batch: float (e.g. images in [0, 1]) or integer (tokens).
    generator : torch.Generator
        A CPU generator (the noise is drawn on the CPU, then moved to ``x``'s device).

    Returns
    -------
    Tensor
        Same shape, dtype and device as ``x``: for floats, ``clamp(z + 0.1 z', 0, 1)`` with
        ``z, z'`` standard normal (values in [0, 1], as the guidance code's images); for
        integers, uniform tokens in ``[0, max(x)]``.

    Raises
    ------
    TypeError
        If ``x`` is neither floating point nor integer.
    """
    if x.is_floating_point():
        z = torch.randn(x.shape, generator=generator) + 0.1 * torch.randn(x.shape, generator=generator)
        return z.clamp(0.0, 1.0).to(device=x.device, dtype=x.dtype)
    if x.dtype in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        high = int(x.max().item()) + 1
        return torch.randint(0, high, x.shape, generator=generator).to(device=x.device, dtype=x.dtype)
    raise TypeError(f"noise inputs need a floating point or integer batch, got {x.dtype}")
