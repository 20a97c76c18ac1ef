"""Shared pytest fixtures of mmsites.

Fixtures
--------
``demo_info`` (session scope) -> :class:`recordings.demo.DemoInfo`
    A small synthetic Brain Treebank dataset, generated once per test session into a
    temporary folder by :func:`recordings.demo.generate_demo` with :data:`DEMO_KWARGS`:
    90 s of the ``mmsites-demo`` movie (10 fps, 128 x 96), subjects 1 (2048 Hz) and 2
    (1024 Hz), 4 shafts x 8 contacts each, seed 0. About 180 word events and 38 scene cuts;
    per subject 21 Laplacian electrodes, 2 of each responsive kind. ``demo_info.kinds``,
    ``demo_info.weights`` and ``demo_info.cut_times`` hold the planted truth.
``demo_root`` (session scope) -> pathlib.Path
    The root folder of that dataset (``demo_info.root``): the Brain Treebank layout plus
    ``movies/``, ``scenes/``, ``truth_features/`` and ``truth.csv``.

``_one_torch_thread`` (autouse)
    Every test runs torch single-threaded: the problems are tiny, pytest-xdist already runs
    one worker per core, and on a loaded machine torch's thread hand-offs cost far more than
    the arithmetic.

Treat the folder as read-only: it is shared by every test of the session. Copy it (or the
files you change) into ``tmp_path`` before modifying anything.
"""

from __future__ import annotations

import pytest

#: Arguments of the shared demo dataset (keep stable: other test files rely on its size).
DEMO_KWARGS = dict(
    seed=0,
    duration_s=90.0,
    subjects=(1, 2),
    n_shafts=4,
    contacts_per_shaft=8,
    fps=10,
    frame_size=(128, 96),
    progress=False,
)


@pytest.fixture(scope="session")
def demo_info(tmp_path_factory):
    """The planted truth and paths of the shared small demo dataset (see module docstring)."""
    from mmsites.recordings.demo import generate_demo

    return generate_demo(tmp_path_factory.mktemp("demo") / "braintreebank", **DEMO_KWARGS)


@pytest.fixture(scope="session")
def demo_root(demo_info):
    """Root folder of the shared small demo dataset (see module docstring)."""
    return demo_info.root


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Run each test with one torch thread (restored afterwards); see the module docstring."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
