"""The params schema: ``params.yaml`` validated with pydantic.

Every stage reads its section of the params through :func:`load_params`, so a typo in a key or
a value of the wrong kind is one clear error naming the file and the field, before any work is
done. Paths in the params are relative to the working directory (the repository root under DVC).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mmsites.constants import ALIGNMENTS
from mmsites.features.zoo.spec import ModelSpec
from mmsites.recordings.demo import (
    MAX_CONTACTS,
    MAX_SHAFTS,
    MIN_CONTACTS,
    MIN_DURATION_S,
    MIN_SHAFTS,
    check_arguments,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataParams(_Strict):
    """The ``data:`` section: where the recordings and movies are, which subjects and trials."""

    format: Literal["braintreebank", "demo"] = "braintreebank"
    root: str = "data/demo"
    movies: str | None = None
    scenes: str | None = None
    subjects: list[int] = Field(default_factory=lambda: [1, 2])
    trials: dict[int, list[int]] | Literal["all"] | None = None
    """Which sessions (trials) of each subject are analysed.

    ``None`` (default): one session per subject, its first (lowest-numbered) trial found, as the
    study did (trial000): pooling sessions would let slow offsets between them into the scores.
    ``{subject: [trial, ...]}``: those trials of the subjects listed (the others get their first
    trial). ``"all"``: every trial found for every subject, pooled; the responses stage then
    demeans each session per electrode and bin.
    """

    @field_validator("trials", mode="before")
    @classmethod
    def _trials_choice(cls, value):
        if isinstance(value, str) and value != "all":
            raise ValueError(
                f"data.trials must be null (the first trial of each subject), 'all' (every "
                f"trial, pooled) or {{subject: [trial, ...]}}; got {value!r}"
            )
        return value

    @field_validator("trials")
    @classmethod
    def _trials_lists(cls, value):
        if isinstance(value, dict):
            for subject, trials in value.items():
                if not trials or len(set(trials)) != len(trials) or min(trials) < 0:
                    raise ValueError(
                        f"data.trials for subject {subject} must be a non-empty list of distinct "
                        f"non-negative trial numbers; got {trials}"
                    )
        return value


class DemoParams(_Strict):
    """The arguments of :func:`mmsites.recordings.demo.generate_demo` (stage ``demo-data``).

    The bounds are the generator's own (:mod:`mmsites.recordings.demo.arguments`), and the
    block is checked by the generator's own :func:`~mmsites.recordings.demo.check_arguments`:
    whatever validates here, the generator accepts.
    """

    seed: int = 0
    duration_s: float = Field(360.0, ge=MIN_DURATION_S)
    subjects: list[int] = Field(default_factory=lambda: [1, 2], min_length=1)
    n_shafts: int = Field(6, ge=MIN_SHAFTS, le=MAX_SHAFTS)
    contacts_per_shaft: int = Field(8, ge=MIN_CONTACTS, le=MAX_CONTACTS)
    variant: Literal["planted", "no_multimodal", "linear"] = "planted"
    """What the would-be multimodal electrodes do: respond to v*w (``planted``), to nothing
    (``no_multimodal``), or to a linear mix of v and w (``linear``): null data for
    false-positive rates (see :mod:`recordings.demo`)."""

    @model_validator(mode="after")
    def _generator_accepts(self):
        check_arguments(
            duration_s=self.duration_s,
            subjects=self.subjects,
            n_shafts=self.n_shafts,
            contacts_per_shaft=self.contacts_per_shaft,
            variant=self.variant,
        )
        return self


class EventsParams(_Strict):
    """The ``events:`` section: alignments, the text a language model reads, scene-cut detection."""

    alignments: list[Literal["language", "vision"]] = Field(default_factory=lambda: list(ALIGNMENTS))
    text_context: Literal["sentence", "prefix", "word"] = "sentence"
    scene_threshold: float = Field(27.0, gt=0)
    min_scene_len_s: float = Field(0.5, ge=0)
    frame_size: int = Field(256, ge=32)


class BrainBERTResponseParams(_Strict):
    """The ``responses.brainbert:`` block: the model whose embeddings the ``brainbert`` kind
    encodes, and the per-fold reduction of those embeddings to encoding targets.

    Each event and electrode gets the official embedding (:mod:`mmsites.brainmodels.responses`:
    the 5 s centred on the onset, the mean of the 10 middle tokens of ``layer``); the encode
    stage reduces each electrode's embeddings to ``components`` principal components fitted
    on every fold's training events only (:func:`mmsites.encoding.targets.fold_pca_targets`).
    """

    checkpoint: str | None = None
    """A checkpoint in the official layout (``stft_large_pretrained.pth``, or one written by
    ``mmsites pretrain brainbert``). Null: a randomly initialised ``config`` model seeded by
    ``seed`` (no download; for tests and the demo, not for science)."""
    config: Literal["tiny", "small", "base", "large"] = "tiny"
    """Size of the randomly initialised model when ``checkpoint`` is null (a checkpoint
    carries its own)."""
    preprocessor: Literal["stft", "superlet"] = "stft"
    """The spectrogram recipe (the released models: ``stft_large_pretrained.pth`` is stft,
    ``superlet_large_pretrained.pth`` superlet)."""
    seed: int = Field(0, ge=0)
    layer: int = -1
    """Which hidden layer's middle tokens are averaged (-1: the last, the official recipe)."""
    offset_s: float = 0.0
    """Where the 5 s window is centred, in seconds after each event's onset (0: on the onset,
    the official recipe). The 10 middle tokens read about ±0.22 s around the centre, so a
    response that peaks later (e.g. 0.25 s after a word) is seen only with the window moved
    there."""
    components: int = Field(8, ge=1)
    """Principal components kept per electrode (fitted on each fold's training events)."""
    device: str = "auto"
    bf16: bool = False
    """bfloat16 autocast on CUDA (about 1e-2 relative error); no effect on the CPU."""
    batch_size: int = Field(64, ge=1)


class PoptModelParams(_Strict):
    """The ``responses.popt:`` block: the PopT whose CLS token is the ``popt`` response kind's
    population code and the ``popt`` decoding representation (frozen)."""

    checkpoint: str | None = None
    """A PopT checkpoint in the official layout (``pretrained_popt_brainbert_stft.pth``, or
    ``mmsites pretrain popt``'s); null: a randomly initialised ``config`` (demo and tests only).
    Its input width must be the BrainBERT's (``responses.brainbert``) hidden width."""
    config: Literal["tiny", "published"] = "tiny"
    seed: int = Field(0, ge=0)
    components: int = Field(8, ge=1)
    """Principal components of the population code kept as targets (the ``popt`` kind),
    fitted on each fold's training events."""


RESPONSE_KINDS = ("voltage", "band_power", "spectrogram", "brainbert", "popt")


class ResponsesParams(_Strict):
    """The ``responses:`` section: windows and bins around each event, filtering, re-referencing,
    and the kinds of response encoded (``kinds``: voltage, band power in ``band_hz``, BrainBERT
    embeddings as ``brainbert`` says)."""

    window_s: float = Field(0.2, gt=0)
    step_s: float = Field(0.025, gt=0)
    tmin_s: float = -2.0
    tmax_s: float = 2.0
    rereference: Literal["laplacian", "none"] = "laplacian"
    notch_hz: list[float] = Field(default_factory=lambda: [60.0, 120.0, 180.0, 240.0, 300.0, 360.0])
    notch_q: float = Field(30.0, gt=0)
    highpass_hz: float | None = None
    baseline_s: tuple[float, float] | None = None
    chunk_s: float = Field(60.0, gt=1)
    n_jobs: int | None = Field(None, ge=1)  # threads over electrode groups; None: one per core
    kinds: list[Literal["voltage", "band_power", "spectrogram", "brainbert", "popt"]] = Field(
        default_factory=lambda: ["voltage"], min_length=1
    )
    """The kinds of response, each encoded and tested on its own (files under
    ``work/*/<kind>/``, a ``response_kind`` column in the results): ``voltage`` (the mean
    preprocessed voltage in each bin, µV, the study), ``band_power`` (its power in
    ``band_hz``, µV²; causal band-pass, squared, delay-compensated; the same 161 bins),
    ``spectrogram`` (the same in every band of ``bands_hz``: electrode x band x bin targets)
    ``brainbert`` (BrainBERT embeddings of each event, reduced per fold: ``brainbert``) and
    ``popt`` (the population code: PopT's CLS token over every electrode's BrainBERT
    embedding, reduced per fold like ``brainbert``; one target set per subject)."""
    band_hz: tuple[float, float] = (70.0, 150.0)
    """The band of ``band_power`` (Hz), high gamma by default; its upper edge is checked
    against each session's Nyquist frequency by the responses stage."""
    bands_hz: list[tuple[float, float]] = Field(
        default_factory=lambda: [(4.0, 8.0), (8.0, 13.0), (13.0, 30.0), (30.0, 70.0), (70.0, 150.0)],
        min_length=1,
    )
    """The bands of ``spectrogram`` (Hz): theta, alpha, beta, low and high gamma by default."""
    brainbert: BrainBERTResponseParams = Field(default_factory=BrainBERTResponseParams)
    popt: PoptModelParams = Field(default_factory=PoptModelParams)

    @model_validator(mode="before")
    @classmethod
    def _single_kind(cls, value):
        # `kind: band_power` (one kind, as params files written before `kinds` say it)
        if isinstance(value, dict) and "kind" in value:
            value = dict(value)
            kind = value.pop("kind")
            if "kinds" in value:
                raise ValueError("responses: give either kind (one) or kinds (a list), not both")
            value["kinds"] = [kind]
        return value

    @model_validator(mode="after")
    def _window_order(self):
        if self.tmax_s <= self.tmin_s:
            raise ValueError(f"responses.tmax_s ({self.tmax_s}) must be after tmin_s ({self.tmin_s})")
        if self.baseline_s is not None and self.baseline_s[1] <= self.baseline_s[0]:
            raise ValueError(f"responses.baseline_s {self.baseline_s}: the end must be after the start")
        for name, bands in (("band_hz", [self.band_hz]), ("bands_hz", self.bands_hz)):
            for low, high in bands:
                if not 0 < low < high:
                    raise ValueError(
                        f"responses.{name} {[low, high]} must satisfy 0 < low < high (Hz)"
                        if name == "bands_hz"
                        else f"responses.band_hz {[low, high]} must satisfy 0 < low < high (Hz)"
                    )
        if len(set(self.kinds)) != len(self.kinds):
            raise ValueError(f"responses.kinds {self.kinds} names a kind twice")
        return self


class BaselinesParams(_Strict):
    """The ``baselines:`` section: the MultiConcat and MultiLin pairs and MultiLin's sizes."""

    multiconcat: tuple[str, str] | None = None
    multilin: tuple[str, str] | None = None
    multilin_components: list[int] = Field(default_factory=lambda: [2, 4, 8, 16, 32])
    """Candidate numbers of MultiLin components; per target the one with the best validation
    r is used (a single number fixes it)."""

    @field_validator("multilin_components", mode="before")
    @classmethod
    def _component_grid(cls, value):
        grid = [value] if isinstance(value, int) else list(value)
        if not grid or any(int(c) != c or c < 1 for c in grid):
            raise ValueError(f"baselines.multilin_components must be positive integers, got {value}")
        return sorted({int(c) for c in grid})


class FeaturesParams(_Strict):
    """The ``features:`` section: device, batch size and reduction of intermediate layers."""

    device: str = "auto"
    batch_size: int = Field(32, ge=1)
    reduction: Literal["srp", "pca"] = "srp"
    jl_eps: float = Field(0.1, gt=0, lt=1)
    seed: int = 0


class EncodingParams(_Strict):
    """The ``encoding:`` section: folds, purge gap, ridge penalties and device."""

    folds: int = Field(5, ge=2)
    alphas: list[float] = Field(default_factory=lambda: [0.1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5])
    device: str = "auto"
    target_batch: int | None = None
    gap_s: float | Literal["auto"] = "auto"
    """Purge gap (s) around each held-out fold and between its validation and test halves
    (``encoding.folds``): ``auto`` = the span one response reads (tmax_s - tmin_s +
    window_s, 4.2 s by default), 0 = the study's folds without a gap."""

    @field_validator("gap_s")
    @classmethod
    def _gap_non_negative(cls, value):
        if value != "auto" and not value >= 0:
            raise ValueError(
                f"encoding.gap_s must be 'auto' or a non-negative number of seconds, got {value}"
            )
        return value

    @field_validator("alphas")
    @classmethod
    def _positive_alphas(cls, value: list[float]) -> list[float]:
        if not value or any(a <= 0 for a in value):
            raise ValueError(f"encoding.alphas must be a non-empty list of positive numbers, got {value}")
        return value


class StatsParams(_Strict):
    """The ``stats:`` section: nulls, bootstrap, signal bins, paired tests and FDR."""

    permutations: int = Field(1000, ge=1)
    """Permutations of the signal test (refit: the CV refitted on each)."""
    stop_exceedances: int | None = Field(10, ge=1)
    """Sequential permutations (Besag-Clifford): a target stops after this many null values
    reach its observed r (p = h / L, exact); None runs every permutation for every target."""
    swaps: int = Field(10000, ge=1)
    """Random block swaps of the paired model comparisons (cheap: no refit)."""
    cv_correction: bool = True
    """Nadeau-Bengio variance inflation in the paired tests: the folds' scores are correlated
    (overlapping training sets), which block swaps and resamples alone ignore."""
    tail_fit: bool = True
    """Generalized Pareto tail for paired p-values beyond 1 / (swaps + 1) (Knijnenburg 2009)."""
    bootstrap: int = Field(1000, ge=0)
    mode: Literal["refit", "fast"] = "refit"
    signal: Literal["permutation", "bootstrap_ci"] = "permutation"
    signal_alpha: float = Field(0.05, gt=0, lt=1)
    max_stat: bool = False
    comparison: Literal["permutation", "bootstrap"] = "permutation"
    permutation_kind: Literal["block", "circular"] = "block"
    block_s: float = Field(10.0, gt=0)
    """Length of the event blocks that permutations move as units, in seconds of movie time
    (converted per subject and alignment with the median spacing of its events)."""
    block_events: int | None = Field(None, ge=1)
    """Block length in events; overrides ``block_s`` when set."""
    fdr_q: float = Field(0.05, gt=0, lt=1)
    min_signal_bins: int = Field(10, ge=1)
    """Signal bins an electrode needs for a model to count (time-resolved kinds: voltage,
    band power)."""
    min_signal_components: int = Field(1, ge=1)
    """Signal components an electrode needs for a model to count (the ``brainbert`` kind,
    whose targets are ``responses.brainbert.components`` per electrode)."""
    default_winner: Literal["test", "count", "none"] = "test"
    """When only one model of a pair has min_signal_bins: test it anyway (default), let it win
    untested (the released code's rule), or skip the pair."""
    chunk: int = Field(100, ge=1)
    seed: int = 0

    @model_validator(mode="after")
    def _no_fast_circular(self):
        if self.mode == "fast" and self.permutation_kind == "circular":
            raise ValueError(
                "stats.permutation_kind 'circular' with stats.mode 'fast' is refused: circular "
                "shifts inside the held-out halves gave 16-42 % false positives at 0.05 in "
                "calibration. Use permutation_kind 'block', or mode 'refit'"
            )
        if self.mode == "fast" and self.comparison == "bootstrap":
            raise ValueError(
                "stats.comparison 'bootstrap' with stats.mode 'fast' is refused: resampling the "
                "fitted models' held-out predictions ignores the fits' variability, and the paired "
                "tests gave 15-21 % false positives at 0.05 in calibration "
                "(benchmarks/bench_calibration.py). Use comparison 'permutation', or mode 'refit'"
            )
        return self


class PretrainParams(_Strict):
    """The ``pretrain:`` section: ``mmsites pretrain brainbert`` (pipeline/pretrain.py).

    Pretrains BrainBERT on the dataset's own recordings (the sessions ``data.subjects`` and
    ``data.trials`` select, preprocessed as ``responses.rereference``, ``notch_hz``,
    ``notch_q`` and ``highpass_hz`` say) by the published recipe
    (:mod:`mmsites.brainmodels.pretrain`). Not a stage of the demo. The defaults are the
    published run's (``large``, LAMB, lr 1e-4, batch 256, 500 000 steps, 2.5 % warm-up).
    """

    config: Literal["tiny", "small", "base", "large"] = "large"
    """The model's size (:data:`mmsites.brainmodels.PRESETS`); the released models are ``large``."""
    steps: int = Field(500_000, ge=1)
    batch_size: int = Field(256, ge=1)
    lr: float = Field(1e-4, gt=0)
    warmup_steps: int | None = Field(None, ge=0)
    """Linear warm-up steps; null: 2.5 % of ``steps`` (upstream)."""
    schedule: Literal["official", "constant"] = "official"
    """After the warm-up: x 0.99 every 1 % of the remaining steps (upstream), or constant."""
    optimizer: Literal["lamb", "adamw"] = "lamb"
    clip_norm: float | None = Field(1.0, gt=0)
    windows_per_electrode: int | None = Field(None, ge=1)
    """5 s windows per electrode and session at seeded random positions; null: every
    consecutive 5 s window of the recording (upstream)."""
    val_fraction: float = Field(0.1, ge=0, lt=1)
    """Fraction of the electrodes (subject, label) held out for the masked-loss check."""
    checkpoint: str = "work/brainbert/checkpoint.pth"
    """The checkpoint (official layout); the windows' spectrograms and ``history.json`` are
    written beside it."""
    checkpoint_every: int = Field(1000, ge=1)
    resume: bool = True
    """Continue from ``checkpoint`` when it exists (false: start over and overwrite it)."""
    device: str = "auto"
    bf16: bool = False
    seed: int = Field(0, ge=0)


class PoptPretrainParams(_Strict):
    """The ``pretrain_popt:`` section: ``mmsites pretrain popt`` (pipeline/pretrain.py).

    Pretrains PopT on BrainBERT embeddings (``responses.brainbert``'s model and recipe) of
    consecutive 5 s windows of the sessions ``data.subjects`` and ``data.trials`` select, by
    the published tasks and recipe (:mod:`mmsites.brainmodels.popt_pretrain`). Not a stage of
    the demo. The defaults are the published run's (``published``, LAMB, lr 5e-4, batch 256,
    500 000 steps, 2.5 % warm-up, a window every 0.2 s).
    """

    config: Literal["tiny", "published"] = "published"
    """The model's size (:data:`mmsites.brainmodels.POPT_PRESETS`); ``published`` reads the
    768-wide embeddings of a ``large`` BrainBERT, ``tiny`` the 64-wide ones of a ``tiny`` one."""
    steps: int = Field(500_000, ge=1)
    batch_size: int = Field(256, ge=1)
    lr: float = Field(5e-4, gt=0)
    warmup_steps: int | None = Field(None, ge=0)
    """Linear warm-up steps; null: 2.5 % of ``steps`` (upstream)."""
    schedule: Literal["official", "constant"] = "official"
    """After the warm-up: x 0.99 every 1 % of the remaining steps (upstream), or constant."""
    optimizer: Literal["lamb", "adamw"] = "lamb"
    clip_norm: float | None = Field(1.0, gt=0)
    window_step_s: float = Field(0.2, gt=0)
    """Seconds between the starts of consecutive windows (upstream: 0.2)."""
    max_windows: int | None = Field(None, ge=2)
    """Only the first windows of each session; null: all of them."""
    val_fraction: float = Field(0.1, ge=0, lt=1)
    """Fraction of each session's windows held out (its last ones, after a gap)."""
    replace_from: Literal["random_channel", "same_channel"] = "random_channel"
    """Where a replaced token comes from: a random electrode of another window (upstream) or
    its own electrode of another window."""
    checkpoint: str = "work/popt/checkpoint.pth"
    """The checkpoint (official layout); the embeddings and ``history.json`` are written
    beside it."""
    checkpoint_every: int = Field(1000, ge=1)
    resume: bool = True
    """Continue from ``checkpoint`` when it exists (false: start over and overwrite it)."""
    device: str = "auto"
    bf16: bool = False
    seed: int = Field(0, ge=0)


class GuideDigitsParams(_Strict):
    """The ``guide.digits:`` block: a fully connected network on scikit-learn's digits,
    unguided vs guided by a small CNN (:func:`mmsites.guidance.experiments.digits_experiment`).

    Defaults: the settings of the README's numbers (alpha 3: at the published alpha 1 the
    gap moved both ways over two seeds)."""

    n_train: int = Field(300, ge=10, le=1787)
    """Training images; the other 1797 - n_train are the test set."""
    epochs: int = Field(40, ge=1)
    batch_size: int = Field(32, ge=2)
    lr: float = Field(1e-3, gt=0)
    hidden: int = Field(128, ge=1)
    depth: int = Field(3, ge=1)
    """Hidden layers of the fully connected network."""
    channels: int = Field(16, ge=1)
    """The CNN's first-layer channels."""
    trained_guide: bool = False
    """Train the CNN on the training images first (``guide_epochs``); false: untrained guide."""
    guide_epochs: int = Field(30, ge=1)
    alpha: float = Field(3.0, ge=0)
    """Weight of the guidance loss, sum over guide layers of (1 - CKA) (published: 1)."""
    distance: Literal["cka", "rsa"] = "cka"
    guide_noise: bool = False
    """The guide sees noise in [0, 1] instead of the images."""
    guidance_steps: int | None = Field(None, ge=0)
    """Guide only the first updates (published option: 300); null: every update."""


class _GuideSequenceParams(_Strict):
    n_train: int = Field(2000, ge=2)
    n_test: int = Field(1000, ge=1)
    min_length: int = Field(2, ge=1)
    max_length: int = Field(16, ge=1)
    """Longest bit string (parity) or copied sequence (copy-paste)."""
    symbols: int = Field(8, ge=1)
    """Distinct symbols of copy-paste."""
    epochs: int = Field(20, ge=1)
    batch_size: int = Field(64, ge=2)
    lr: float = Field(1e-3, gt=0)
    target: Literal["rnn", "transformer"] = "rnn"
    guide: Literal["rnn", "transformer"] = "transformer"
    rnn_hidden: int = Field(64, ge=1)
    rnn_layers: int = Field(2, ge=1)
    tf_width: int = Field(32, ge=1)
    tf_layers: int = Field(2, ge=1)
    tf_heads: int = Field(4, ge=1)
    trained_guide: bool = True
    """Train the guide on the task first (``guide_epochs``); false: untrained guide."""
    guide_epochs: int = Field(20, ge=1)
    alpha: float = Field(1.0, ge=0)
    distance: Literal["cka", "rsa"] = "cka"
    guide_noise: bool = False
    """The guide sees random tokens instead of the sequences."""
    guidance_steps: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _sizes(self):
        if self.min_length > self.max_length:
            raise ValueError(f"min_length ({self.min_length}) exceeds max_length ({self.max_length})")
        if self.tf_width % self.tf_heads:
            raise ValueError(f"tf_width ({self.tf_width}) must be a multiple of tf_heads ({self.tf_heads})")
        return self


class GuideParityParams(_GuideSequenceParams):
    """The ``guide.parity:`` block: parity of bit strings (lengths 2 .. max_length), a network
    unguided vs guided (:func:`mmsites.guidance.experiments.sequence_experiment`). Default as
    published: a transformer guided by a trained RNN."""

    target: Literal["rnn", "transformer"] = "transformer"
    guide: Literal["rnn", "transformer"] = "rnn"


class GuideCopyPasteParams(_GuideSequenceParams):
    """The ``guide.copy_paste:`` block: copy a sequence after a copy token (one label per
    copied position), an RNN unguided vs guided by a trained transformer, as published."""

    min_length: int = Field(5, ge=1)
    max_length: int = Field(10, ge=1)


class GuideBrainParams(_Strict):
    """The ``guide.brain:`` block: the brain as guide (:mod:`mmsites.pipeline.guide_brain`).

    A small MLP reads a frozen model's features of each event (``model``) and its layer
    ``layer`` is matched by ``alpha * (1 - CKA)`` to the subject's responses to the same events
    (averaged over ``window_s`` after onset, z-scored with training statistics), on training
    events only; the unguided arm is the same MLP at its initial weights. Events are split by
    the project's contiguous folds (``folds``; purge gap ``encoding.gap_s``): each held-out fold
    is validation (first half) then test (second half). Both arms' layer features are then
    encoded like any model (ridge, penalty from ``encoding.alphas`` chosen on validation, test
    r per electrode) and their CKA with the responses measured on the test events."""

    workdir: str = "."
    """The pipeline workdir that ran the events, responses and features stages (relative to
    ``--workdir``), read with this params file's sections."""
    subject: int | None = None
    """Whose responses; null: the first of ``data.subjects``."""
    kind: str | None = None
    """Response kind with time bins (``voltage``, ``band_power``); null: the first of
    ``responses.kinds``."""
    alignment: Literal["vision", "language"] = "vision"
    model: str | None = None
    """The model (``models[].id``) whose features of each event are the MLP's input; required."""
    window_s: tuple[float, float] = (0.0, 0.5)
    """Bins whose centres lie in [start, end] s after onset are averaged per electrode."""
    folds: int = Field(4, ge=2)
    test_folds: list[int] | None = None
    """Which folds are held out in turn (0-based); null: every fold (results averaged)."""
    hidden: int = Field(64, ge=1)
    depth: int = Field(2, ge=1)
    layer: int = -1
    """The MLP's hidden layer (pre-activation) matched and encoded; negative from the last."""
    alpha: float = Field(1.0, gt=0)
    distance: Literal["cka", "rsa"] = "cka"
    epochs: int = Field(100, ge=1)
    batch_size: int = Field(64, ge=2)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    shuffle_blocks: int | None = Field(None, ge=1)
    """Null control: permute the responses' events in blocks of this many events before
    anything else (the relation to the stimulus destroyed); null: off."""

    @model_validator(mode="after")
    def _window(self):
        if not self.window_s[0] < self.window_s[1]:
            raise ValueError(
                f"guide.brain.window_s: start {self.window_s[0]} must be < end {self.window_s[1]}"
            )
        return self


class GuideParams(_Strict):
    """The ``guide:`` section: ``mmsites guide`` (guidance, :mod:`mmsites.guidance`).

    Runs the experiments listed, each over every seed, both arms (unguided: alpha 0 against
    the same guide; guided) from the same initial weights; writes ``summary.json``,
    ``index.html`` (the guidance page) and, per experiment, ``history.json``, ``curves.png``
    and the checkpoints under ``out_dir`` (:mod:`mmsites.pipeline.guide`). Not a stage of the
    demo.
    """

    experiments: list[Literal["digits", "parity", "copy_paste", "brain"]] = Field(
        default_factory=lambda: ["digits", "parity"], min_length=1
    )
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    digits: GuideDigitsParams = Field(default_factory=GuideDigitsParams)
    parity: GuideParityParams = Field(default_factory=GuideParityParams)
    copy_paste: GuideCopyPasteParams = Field(default_factory=GuideCopyPasteParams)
    brain: GuideBrainParams = Field(default_factory=GuideBrainParams)
    out_dir: str = "work/guidance"
    device: str = "auto"
    bf16: bool = False
    resume: bool = True
    """Continue every run from its checkpoint when there is one (false: start over)."""
    checkpoint_every: int | None = Field(None, ge=1)
    """Also checkpoint every this many updates (always after every epoch)."""


class FeatureTask(_Strict):
    """A decoding task from a model's features: top vs bottom quartile of one feature.

    The events are those of ``alignment`` (word onsets or scene cuts); the label is the
    quartile of column ``dim`` of the model's features at each event (``work/features``).
    On the demo the truth models' features are the planted latents, so these tasks say
    whether the planted variables can be read out of the recordings.
    """

    model: str
    alignment: Literal["language", "vision"] = "language"
    dim: int = Field(0, ge=0)

    @property
    def name(self) -> str:
        """The task's name in ``results/decoding.csv``: ``<model>[<dim>]@<alignment>``.

        Returns
        -------
        str
            E.g. ``truth-language[0]@language``.
        """
        return f"{self.model}[{self.dim}]@{self.alignment}"


class FinetuneParams(_Strict):
    """The ``decoding.finetune:`` block: PopT fine-tuned end to end (representation
    ``popt_finetuned``, :func:`mmsites.brainmodels.popt_finetune.finetune_popt`). The defaults
    are the published recipe; the step kept is chosen on the last inner fold's validation part."""

    steps: int = Field(2000, ge=1)
    batch_size: int = Field(32, ge=1)
    head_lr: float = Field(5e-4, gt=0)
    encoder_lr: float = Field(5e-5, gt=0)
    eval_every: int = Field(50, ge=1)
    tasks: list[str] | None = None
    """Only these tasks (names as in ``results/decoding.csv``); null: every task."""


class DecodingParams(_Strict):
    """The ``decoding:`` section: the decode stage (Neuroprobe-style decoding, :mod:`mmsites.decoding`)."""

    tasks: list[
        Literal["onset", "speech", "volume", "pitch", "word_gap", "word_index", "sentence_onset", "scene_cut"]
    ] = Field(
        default_factory=lambda: [
            "onset",
            "speech",
            "volume",
            "pitch",
            "word_gap",
            "sentence_onset",
            "scene_cut",
        ]
    )
    """Tasks from the dataset's own tables (:data:`mmsites.decoding.tasks.TASKS`)."""
    feature_tasks: list[FeatureTask] = Field(default_factory=list)
    """Tasks from the models' features (quartiles of one feature at the events of an alignment)."""
    representations: list[Literal["voltage", "band_power", "brainbert", "popt", "popt_finetuned"]] = Field(
        default_factory=lambda: ["voltage", "band_power"], min_length=1
    )
    """What the probes read: the preprocessed voltage or its high-gamma power (``responses.band_hz``)
    in ``bin_s`` bins over ``window_s`` after each event, every electrode; the BrainBERT
    embedding (``responses.brainbert``) of the 5 s centred on the middle of that window; the
    CLS token of a frozen PopT (``responses.popt``) over those embeddings (electrodes with
    coordinates only); or that PopT fine-tuned end to end with a new head (``finetune``)."""
    splits: list[Literal["within_session", "cross_session", "cross_subject"]] = Field(
        default_factory=lambda: ["within_session", "cross_session", "cross_subject"], min_length=1
    )
    """Split schemes (Neuroprobe's), each where it applies: cross_session needs a subject with
    two selected sessions (``data.trials``), cross_subject two subjects and a representation
    in a shared space (``popt``, ``popt_finetuned``)."""
    finetune: FinetuneParams = Field(default_factory=FinetuneParams)

    window_s: float = Field(1.0, gt=0)
    """The neural window after each event (s): Neuroprobe's 0..+1 s."""
    pad_s: float = Field(2.0, ge=0)
    """How far (s) a silence (or no-cut) window of ``onset``, ``speech`` and ``scene_cut`` keeps
    from any word (cut): Neuroprobe uses 2-3 s."""
    step_s: float = Field(0.5, gt=0)
    """Step (s) between consecutive silence (no-cut) windows (Neuroprobe: 50 % overlap)."""
    bin_s: float = Field(0.1, gt=0)
    folds: int = Field(2, ge=2)
    """Contiguous, purged folds within each session (Neuroprobe: 2)."""
    max_per_class: int | None = Field(None, ge=1)
    """Cap on the events of each class per task (Neuroprobe Lite: 1750); null: all."""
    n_boot: int = Field(1000, ge=1)
    seed: int = 42

    @model_validator(mode="after")
    def _bins_fit(self):
        if self.bin_s > self.window_s:
            raise ValueError(
                f"decoding.bin_s ({self.bin_s}) must not exceed decoding.window_s ({self.window_s})"
            )
        return self


class RegionsParams(_Strict):
    """The ``regions:`` section: how electrodes are placed in atlas regions."""

    radius_mm: float = Field(5.0, ge=0)


class SimilarityParams(_Strict):
    """The ``similarity:`` section (stage ``similarity``): CKA and RSA between models, layers
    and the brain, with block-permutation p-values (:mod:`mmsites.similarity.permutation`)."""

    enabled: bool = False
    """Off: the stage writes the two tables with their headers only."""
    measures: list[Literal["cka", "rsa"]] = Field(default_factory=lambda: ["cka", "rsa"], min_length=1)
    """Measures of the model x model table (no p-values there)."""
    brain_measures: list[Literal["cka", "rsa"]] = Field(default_factory=lambda: ["cka"], min_length=1)
    """Measures of the model x brain table, each with its permutation p-value. RSA costs
    n_events^2 per permutation (CKA n_events x widths)."""
    debiased: bool = True
    """CKA with the unbiased HSIC estimator (near 0 for unrelated data), else the biased one."""
    rsa_similarity: Literal["correlation", "cosine"] = "correlation"
    rsa_compare: Literal["spearman", "pearson"] = "spearman"
    windows_s: list[tuple[float, float]] = Field(default_factory=lambda: [(0.0, 0.5)], min_length=1)
    """Windows (s from event onset) over which each electrode's response bins are averaged."""
    permutations: int = Field(1000, ge=1)
    """Permutations of the events per model x brain test (one draw per subject and alignment,
    shared by its tests)."""
    permutation_kind: Literal["circular", "block"] = "circular"
    """Circular shifts of the events (every shift 1..n-1 equally likely: the whole group, exact
    for stationary series), or block permutations (blocks of ``stats.block_s`` or
    ``stats.block_events``). Measured on independent AR(1) data (phi 0.9, 300 events, README):
    circular shifts reject 4 % of null tests at 0.05; blocks of ~2 correlation lengths 25 %
    (CKA is quadratic: the terms of event pairs that straddle a block edge are lost, which
    shifts the whole null down)."""
    regions: bool = True
    """Also test each region of ``results/electrodes.csv`` (besides ``all`` electrodes)."""
    kinds: list[Literal["voltage", "band_power", "spectrogram"]] | None = None
    """Response kinds tested (those with time bins); None: every such kind of ``responses.kinds``."""
    max_events: int | None = Field(None, ge=4)
    """Model x model: at most this many events per alignment (evenly spaced); None: all."""
    fdr_q: float = Field(0.05, gt=0, lt=1)
    """Benjamini-Hochberg level; one family per (response kind, subject, alignment, measure)."""
    seed: int = 0

    @field_validator("windows_s")
    @classmethod
    def _ordered_windows(cls, value):
        for start, end in value:
            if not start < end:
                raise ValueError(f"similarity.windows_s: window [{start}, {end}] must have start < end")
        return value


class ComputeParams(_Strict):
    """The ``compute:`` section: executor, workers and threads per worker."""

    executor: Literal["local", "dask"] = "local"
    workers: int = Field(2, ge=1)
    threads_per_worker: int = Field(1, ge=1)
    """torch/BLAS threads of each encode work unit. The tables are bit-identical across executors
    and worker counts for a fixed value (float32 sums depend on the threads' split)."""
    dask_scheduler: str | None = None

    @model_validator(mode="after")
    def _dask_needs_address(self):
        if self.executor == "dask" and not self.dask_scheduler:
            raise ValueError(
                "compute.executor is 'dask' but compute.dask_scheduler is empty: "
                "give the scheduler address, e.g. tcp://host:8786"
            )
        return self


class Params(_Strict):
    """A whole params file, validated (see ``params.yaml`` for every key and its meaning)."""

    data: DataParams = Field(default_factory=DataParams)
    demo: DemoParams = Field(default_factory=DemoParams)
    events: EventsParams = Field(default_factory=EventsParams)
    responses: ResponsesParams = Field(default_factory=ResponsesParams)
    features: FeaturesParams = Field(default_factory=FeaturesParams)
    models: list[ModelSpec] = Field(default_factory=list)
    baselines: BaselinesParams = Field(default_factory=BaselinesParams)
    encoding: EncodingParams = Field(default_factory=EncodingParams)
    stats: StatsParams = Field(default_factory=StatsParams)
    regions: RegionsParams = Field(default_factory=RegionsParams)
    similarity: SimilarityParams = Field(default_factory=SimilarityParams)
    decoding: DecodingParams = Field(default_factory=DecodingParams)
    compute: ComputeParams = Field(default_factory=ComputeParams)
    pretrain: PretrainParams = Field(default_factory=PretrainParams)
    pretrain_popt: PoptPretrainParams = Field(default_factory=PoptPretrainParams)
    guide: GuideParams = Field(default_factory=GuideParams)

    @model_validator(mode="after")
    def _components_reachable(self):
        k = self.responses.brainbert.components
        if "popt" in self.responses.kinds:
            k = (
                min(k, self.responses.popt.components)
                if "brainbert" in self.responses.kinds
                else self.responses.popt.components
            )
        if {"brainbert", "popt"} & set(self.responses.kinds) and self.stats.min_signal_components > k:
            raise ValueError(
                f"stats.min_signal_components ({self.stats.min_signal_components}) exceeds "
                f"responses.brainbert.components or responses.popt.components ({k}): no "
                "electrode could ever count"
            )
        return self

    @model_validator(mode="after")
    def _feature_tasks_known(self):
        ids = [m.id for m in self.models]
        for task in self.decoding.feature_tasks:
            if task.model not in ids:
                raise ValueError(
                    f"decoding.feature_tasks names {task.model!r}, which is not among the models {ids}"
                )
        return self

    @model_validator(mode="after")
    def _models_consistent(self):
        ids = [m.id for m in self.models]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"models: duplicate ids {dup}")
        known = set(ids)
        for m in self.models:
            if m.random_twin is not None and m.random_twin not in known:
                raise ValueError(
                    f"models: {m.id!r} declares random_twin {m.random_twin!r}, "
                    f"which is not among the models {sorted(known)}"
                )
        for name in ("multiconcat", "multilin"):
            pair = getattr(self.baselines, name)
            if pair is None:
                continue
            for mid in pair:
                if mid not in known:
                    raise ValueError(
                        f"baselines.{name} names {mid!r}, which is not among the models {sorted(known)}"
                    )
            kinds = {next(m for m in self.models if m.id == mid).trained_on for mid in pair}
            if kinds != {"vision", "language"}:
                raise ValueError(
                    f"baselines.{name} must pair a unimodal vision and a unimodal language "
                    f"model; {list(pair)} are trained on {sorted(kinds)}"
                )
        return self

    def model(self, model_id: str) -> ModelSpec:
        """Look up a model by its id.

        Parameters
        ----------
        model_id : str
            A ``models[].id``.

        Returns
        -------
        ModelSpec
            The model's spec.

        Raises
        ------
        KeyError
            When no model has that id (the message lists the known ids).
        """
        for m in self.models:
            if m.id == model_id:
                return m
        raise KeyError(f"no model {model_id!r} in params (known: {[m.id for m in self.models]})")

    def baseline_ids(self) -> list[str]:
        """Ids of the linear-integration baselines that are configured.

        Returns
        -------
        list of str
            ``"multiconcat"`` and/or ``"multilin"``, those whose model pair is set.
        """
        return [name for name in ("multiconcat", "multilin") if getattr(self.baselines, name)]


def load_params(path: str | Path) -> Params:
    """Read and validate a params file.

    Parameters
    ----------
    path : str or Path
        A YAML file with the sections of :class:`Params`.

    Returns
    -------
    Params
        The validated, immutable params.

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        When a field is unknown, missing or of the wrong kind; the message names the field.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"params file {path} does not exist; pass --params with a YAML file "
            "(see params.yaml in the repository for an example)"
        )
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"params file {path} is not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"params file {path} must hold a mapping of sections, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        lines = []
        for e in err.errors():
            loc = ".".join(str(p) for p in e["loc"])
            lines.append(f"  {loc or '(top level)'}: {e['msg']}")
        raise ValueError(f"params file {path} is invalid:\n" + "\n".join(lines)) from None
