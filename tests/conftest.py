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

``pytest_collection_modifyitems`` puts the slowest files first (:data:`FILE_SECONDS`), so that
``make test`` (``-n 2 --dist loadfile --no-loadscope-reorder``) hands out the longest work
first and the two workers finish together.

Treat the folder as read-only: it is shared by every test of the session. Copy it (or the
files you change) into ``tmp_path`` before modifying anything.

Helpers
-------
Functions and classes more than one test file needs, imported by name (``from conftest import
truth_models``; the tests folder is on ``sys.path``): the demo's truth models and a params file
with its command line (pipeline runs); synthetic recordings (responses); the official state-dict
layout, fixture weights and a code-running pickle (the models' checkpoint tests); weight
comparisons, an interrupted reader and a one-process DDP run (the pretraining loops).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

#: Seconds per test file measured on 2 shared cores (``--durations=0``, 2026-12-03), for the
#: order in which the workers get files only: longest first. A file missing here (or a wrong
#: number) costs balance, never correctness; within a file the order is untouched.
FILE_SECONDS = {
    "test_stats_pipeline.py": 145,
    "test_demo_recovery.py": 110,
    "test_decode_stage.py": 108,
    "test_pipeline_e2e.py": 90,
    "test_faults.py": 90,
    "test_popt_pretrain.py": 64,
    "test_gpu_check.py": 52,
    "test_brainbert_pretrain.py": 50,
    "test_brainbert_kind.py": 48,
    "test_report_kinds.py": 46,
    "test_guidance_brain.py": 42,
    "test_guidance.py": 40,
    "test_bids_pipeline.py": 36,
    "test_band_power_pipeline.py": 35,
    "test_demo.py": 29,
    "test_neuroprobe_agreement.py": 27,
    "test_fold_targets_calibration.py": 24,
    "test_reports.py": 22,
}


def pytest_collection_modifyitems(config, items):
    """Slowest files first (stable: files of equal weight and every file's tests keep their order)."""
    first_seen = {}
    for item in items:
        first_seen.setdefault(item.path.name, len(first_seen))
    items.sort(key=lambda item: (-FILE_SECONDS.get(item.path.name, 0), first_seen[item.path.name]))


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


# ---------------------------------------------------------------------------------------------
# pipeline runs on a demo
# ---------------------------------------------------------------------------------------------

#: What each planted kind of electrode responds to, and the input of its truth model.
_TRUTH_INPUT = {"vision": "image", "language": "text", "multimodal": "image+text"}


def truth_models(kinds=("vision", "language", "multimodal")) -> list[dict]:
    """The demo's truth models (``models`` entries of params): the latents of the planted kinds."""
    return [
        {
            "id": f"truth-{kind}",
            "family": "precomputed",
            "path": f"data/demo/truth_features/{kind}",
            "input": _TRUTH_INPUT[kind],
            "trained_on": kind,
        }
        for kind in kinds
    ]


def write_params(root: Path, params: dict, *command: str) -> list[str]:
    """Write ``root/params.yaml``; the ``mmsites`` arguments ``[*command, --params .., --workdir root]``."""
    import yaml

    root.mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return [*command, "--params", str(root / "params.yaml"), "--workdir", str(root)]


def pretrain_on_a_demo(root: Path, model: str, duration_s: float, section: dict, **sections) -> list[str]:
    """A one-subject, 3-shaft demo under ``root/data`` and the ``mmsites pretrain <model>`` arguments.

    ``section`` holds the pretraining settings (``pretrain`` or ``pretrain_popt``) over a tiny,
    AdamW, constant-rate, CPU run; ``sections`` are further params sections.
    """
    from mmsites.recordings.demo import generate_demo

    generate_demo(root / "data", duration_s=duration_s, subjects=[1], n_shafts=3, progress=False)
    name = "pretrain" if model == "brainbert" else f"pretrain_{model}"
    run = dict(config="tiny", optimizer="adamw", schedule="constant", device="cpu", **section)
    params = dict(data=dict(format="demo", root="data", subjects=[1]), **sections, **{name: run})
    return write_params(root, params, "pretrain", model)


# ---------------------------------------------------------------------------------------------
# synthetic recordings
# ---------------------------------------------------------------------------------------------

#: Electrode labels of the synthetic recordings: two shafts and a trigger channel.
RECORDING_LABELS = ["A1", "A2", "A3", "A4", "A5", "A6", "DC4", "B1", "B2", "B3", "B4"]


def line_noise_signal(sfreq: float, seconds: float, seed: int = 0) -> np.ndarray:
    """Noise, 60/180 Hz line noise and a slow drift per channel of :data:`RECORDING_LABELS` (µV, float64)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sfreq)) / sfreq
    data = rng.normal(0, 20, (len(RECORDING_LABELS), len(t)))
    data += 40 * np.sin(2 * np.pi * 60 * t) + 10 * np.sin(2 * np.pi * 180 * t + 1)
    data += 50 * np.sin(2 * np.pi * 0.1 * t + rng.uniform(0, 6, (len(RECORDING_LABELS), 1)))
    return data


def write_h5(path, data: np.ndarray) -> None:
    """A Brain Treebank recording: channel i's samples in ``data/electrode_i``."""
    import h5py

    with h5py.File(path, "w") as f:
        for i, row in enumerate(data):
            f.create_dataset(f"data/electrode_{i}", data=row)


# ---------------------------------------------------------------------------------------------
# official checkpoints
# ---------------------------------------------------------------------------------------------


def official_encoder_keys(
    layers: str, d: int, n_layers: int, ffn: int, n_in: int, pe: int
) -> dict[str, tuple]:
    """Names and shapes, in order, of what BrainBERT's and PopT's official state dicts share (written
    by hand from the official code): the input encoding (a sinusoid table ``pe`` wide), the
    layers ``<layers>N.``, the spec prediction head."""
    keys = {
        "input_encoding.in_proj.weight": (d, n_in),
        "input_encoding.in_proj.bias": (d,),
        "input_encoding.positional_encoding.pe": (1, 5000, pe),
        "input_encoding.layer_norm.weight": (d,),
        "input_encoding.layer_norm.bias": (d,),
    }
    for n in range(n_layers):
        keys.update(_layer_keys(f"{layers}{n}.", d, ffn))
    keys.update(
        {
            "spec_prediction_head.hidden_layer.weight": (d, d),
            "spec_prediction_head.hidden_layer.bias": (d,),
            "spec_prediction_head.layer_norm.weight": (d,),
            "spec_prediction_head.layer_norm.bias": (d,),
            "spec_prediction_head.output.weight": (n_in, d),
            "spec_prediction_head.output.bias": (n_in,),
        }
    )
    return keys


def _layer_keys(prefix: str, d: int, ffn: int) -> dict[str, tuple]:
    """Names and shapes of one upstream post-LN encoder layer (BrainBERT's and PopT's alike)."""
    return {
        prefix + "self_attn.in_proj_weight": (3 * d, d),
        prefix + "self_attn.in_proj_bias": (3 * d,),
        prefix + "self_attn.out_proj.weight": (d, d),
        prefix + "self_attn.out_proj.bias": (d,),
        prefix + "linear1.weight": (ffn, d),
        prefix + "linear1.bias": (ffn,),
        prefix + "linear2.weight": (d, ffn),
        prefix + "linear2.bias": (d,),
        prefix + "norm1.weight": (d,),
        prefix + "norm1.bias": (d,),
        prefix + "norm2.weight": (d,),
        prefix + "norm2.bias": (d,),
    }


def hydra_like(root: dict, resolver: str, date: str):
    """``cfg.model`` of a Hydra run: a node whose parent holds the whole run config (``root``,
    with ``model``) and whose root has a filled resolver cache (Hydra's ``${now:...}`` output
    directory), made with the resolver ``resolver`` answering ``date``."""
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver(resolver):
        OmegaConf.register_new_resolver(resolver, lambda fmt: date, use_cache=True)
    cfg = OmegaConf.create({"run_dir": f"outputs/${{{resolver}:%Y-%m-%d}}", **root})
    OmegaConf.set_struct(cfg, True)
    assert cfg.run_dir == f"outputs/{date}"  # fills the root's resolver cache
    return cfg.model


def load_fixture_state(model, z: dict):
    """Load the ``state/...`` arrays of an official-output fixture into ``model`` (strictly); the
    sinusoid table, too large for a fixture, is the model's own. Returns the model in eval mode."""
    import torch

    state = {k.removeprefix("state/"): torch.from_numpy(v) for k, v in z.items() if k.startswith("state/")}
    state["input_encoding.positional_encoding.pe"] = model.state_dict()[
        "input_encoding.positional_encoding.pe"
    ]
    model.load_state_dict(state, strict=True)
    return model.eval()


def init_fingerprint(state) -> np.ndarray:
    """Per tensor of a state dict: sum, sum of |x|, first and last value (the fixtures' record)."""
    return np.array(
        [[v.double().sum(), v.double().abs().sum(), v.flatten()[0], v.flatten()[-1]] for v in state.values()]
    )


class RunsCode:
    """Unpickling this calls os.system: what a malicious checkpoint does."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def save_code_running_checkpoint(path: Path, state, marker: Path) -> Path:
    """A checkpoint in the official layout whose ``model_cfg`` runs ``touch marker`` when unpickled."""
    import torch

    torch.save({"model": state, "optim": None, "scheduler": None, "model_cfg": RunsCode(marker)}, path)
    return path


# ---------------------------------------------------------------------------------------------
# pretraining loops
# ---------------------------------------------------------------------------------------------


def assert_same_weights(a, b) -> None:
    """Two models hold the same tensors, bit for bit."""
    import torch

    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    different = [k for k in sa if not torch.equal(sa[k], sb[k])]
    assert not different, different


class Interrupted(RuntimeError):
    pass


class Interrupting:
    """An array whose reading fails after ``limit`` reads: a run killed mid-way."""

    def __init__(self, array: np.ndarray, limit: int):
        self.array, self.limit, self.read = array, limit, 0
        self.shape = array.shape

    def __len__(self):
        return len(self.array)

    def __getitem__(self, i):
        self.read += 1
        if self.read > self.limit:
            raise Interrupted("killed")
        return self.array[i]


def assert_one_process_ddp_equals_the_plain_run(run_micro, data, tmp_path: Path, kind: str) -> None:
    """``run_micro(data, 6)`` and the same under a one-process gloo group (DDP, rank 0 writes the
    checkpoint) give the same weights and losses; skipped where gloo is missing."""
    import torch

    from mmsites.brainmodels import read_checkpoint

    dist = torch.distributed
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available in this build")
    plain, h_plain = run_micro(data, 6)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        ddp, h_ddp = run_micro(data, 6, tmp_path / "ddp.pth")
    finally:
        dist.destroy_process_group()
    for (name, a), b in zip(plain.state_dict().items(), ddp.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7, msg=name)
    np.testing.assert_allclose(h_ddp["train_loss"], h_plain["train_loss"], rtol=1e-6)
    assert read_checkpoint(tmp_path / "ddp.pth", kind=kind)["scheduler"]["run"]["world_size"] == 1
