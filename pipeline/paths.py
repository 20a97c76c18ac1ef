"""Where each artifact of the pipeline lives, relative to the working directory (docs/architecture.md)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from .params import Params


@dataclass(frozen=True)
class Layout:
    """The pipeline's file layout under ``workdir``; every stage asks it for paths.

    Attributes
    ----------
    workdir : Path
        The working directory; ``work/`` and ``results/`` lie under it, and relative paths of
        the params (``data.root``, ``data.movies``, ``data.scenes``) are taken from it.
    params : Params
        Validated params; the ``data`` section matters.
    kind : str, optional
        The response kind (``responses.kinds``) whose responses, scores and resampling the
        paths point at; default the first of ``responses.kinds``.
    """

    workdir: Path
    params: Params
    kind: str | None = None

    def __post_init__(self):
        if self.kind is None:
            object.__setattr__(self, "kind", self.params.responses.kinds[0])

    def for_kind(self, kind: str) -> Layout:
        """The same layout for another response kind.

        Parameters
        ----------
        kind : str
            A response kind (``"voltage"``, ``"band_power"``, ``"brainbert"``).

        Returns
        -------
        Layout
            A layout whose per-kind paths (responses, scores, resampling) are ``kind``'s.
        """
        return replace(self, kind=kind)

    def resolve(self, path: str | Path) -> Path:
        """Resolve a path of the params against the working directory.

        Parameters
        ----------
        path : str or Path
            A path as written in the params.

        Returns
        -------
        Path
            ``path`` itself when absolute, else ``workdir / path``.
        """
        path = Path(path)
        return path if path.is_absolute() else self.workdir / path

    # inputs
    @property
    def data_root(self) -> Path:
        """The dataset's folder.

        Returns
        -------
        Path
            ``data.root`` resolved against the working directory (Brain Treebank layout).
        """
        return self.resolve(self.params.data.root)

    @property
    def movies_dir(self) -> Path | None:
        """The folder of the movie videos.

        Returns
        -------
        Path or None
            ``data.movies`` resolved against the working directory; None when not set.
        """
        movies = self.params.data.movies
        return self.resolve(movies) if movies else None

    def movie_file(self, movie: str) -> Path | None:
        """The video file of one movie.

        Parameters
        ----------
        movie : str
            Movie id.

        Returns
        -------
        Path or None
            The first existing ``<data.movies>/<movie>.<ext>`` with ``ext`` one of ``mp4``,
            ``mkv``, ``avi``, ``mov``, ``m4v``, ``webm``; None when ``data.movies`` is not set
            or holds no such file.
        """
        if self.movies_dir is None:
            return None
        for ext in (".mp4", ".mkv", ".avi", ".mov", ".m4v", ".webm"):
            candidate = self.movies_dir / f"{movie}{ext}"
            if candidate.is_file():
                return candidate
        return None

    def scenes_file(self, movie: str) -> Path | None:
        """The scene-cut file of one movie, when ``data.scenes`` is set.

        Parameters
        ----------
        movie : str
            Movie id.

        Returns
        -------
        Path or None
            ``<data.scenes>/<movie>.csv`` (it may not exist); None when ``data.scenes`` is not
            set.
        """
        scenes = self.params.data.scenes
        if not scenes:
            return None
        return self.resolve(scenes) / f"{movie}.csv"

    # intermediate files
    @property
    def brainbert_cache(self) -> Path:
        """Where the ``brainbert`` kind keeps its raw embeddings between runs.

        Returns
        -------
        Path
            ``work/brainbert_embeddings/``: per subject, alignment and trial an ``.npz`` of
            embeddings (events x electrodes x hidden) with a ``.json`` content stamp.
        """
        return self.workdir / "work" / "brainbert_embeddings"

    def events(self, movie: str, alignment: str) -> Path:
        """The events table of one movie and alignment (events stage).

        Parameters
        ----------
        movie : str
            Movie id.
        alignment : {"language", "vision"}
            Event alignment.

        Returns
        -------
        Path
            ``work/events/<movie>_<alignment>.parquet``.
        """
        return self.workdir / "work" / "events" / f"{movie}_{alignment}.parquet"

    def frames(self, movie: str, part: str | None = None) -> Path:
        """The decoded frames of one movie (events stage), or one file of them.

        The cache is a folder, written whole (under a temporary name, then renamed) so that its
        two files always belong together: ``frames.npy``, uint8 ``(n_frames, side, side, 3)``
        RGB, read as a memory map (one batch of frames in memory at a time), and
        ``times.npy``, float64 ``(n_frames,)``, each frame's presentation time in seconds.

        Parameters
        ----------
        movie : str
            Movie id.
        part : {None, "frames", "times"}
            None for the folder, else the file of the frames or of their times.

        Returns
        -------
        Path
            ``work/frames/<movie>``, ``work/frames/<movie>/frames.npy`` or
            ``work/frames/<movie>/times.npy``.

        Raises
        ------
        ValueError
            If ``part`` is not one of those.
        """
        folder = self.workdir / "work" / "frames" / movie
        if part is None:
            return folder
        if part not in ("frames", "times"):
            raise ValueError(f"frame cache part must be None, 'frames' or 'times', got {part!r}")
        return folder / f"{part}.npy"

    def responses(self, subject: int, alignment: str) -> Path:
        """The event-locked responses of one subject and alignment (responses stage).

        Parameters
        ----------
        subject : int
            Subject number.
        alignment : {"language", "vision"}
            Event alignment.

        Returns
        -------
        Path
            ``work/responses/<kind>/sub-<subject>_<alignment>.h5``.
        """
        return self.workdir / "work" / "responses" / self.kind / f"sub-{subject}_{alignment}.h5"

    def features(self, model: str, movie: str, alignment: str) -> Path:
        """One model's features of the events of one movie and alignment (features stage).

        Parameters
        ----------
        model : str
            Model id (``models[].id``).
        movie : str
            Movie id.
        alignment : {"language", "vision"}
            Event alignment.

        Returns
        -------
        Path
            ``work/features/<model>/<movie>_<alignment>.npy``; its content stamp is the
            ``.json`` beside it.
        """
        return self.workdir / "work" / "features" / model / f"{movie}_{alignment}.npy"

    def layer_features(self, model: str, layer: str, movie: str, alignment: str) -> Path:
        """One layer's features of a model with a layer sweep (``models[].layers``; features stage).

        Parameters
        ----------
        model : str
            Model id.
        layer : str
            The layer's module name (as in ``model.named_modules()``), listed in
            :meth:`layer_index`.
        movie : str
            Movie id.
        alignment : {"language", "vision"}
            Event alignment.

        Returns
        -------
        Path
            ``work/features/<model>/layers/<layer>/<movie>_<alignment>.npy`` (float32, one row
            per event of the events table); its content stamp is the ``.json`` beside it.
        """
        return self.workdir / "work" / "features" / model / "layers" / layer / f"{movie}_{alignment}.npy"

    def layer_index(self, model: str) -> Path:
        """The list of a model's swept layers, in depth order (features stage).

        Parameters
        ----------
        model : str
            Model id.

        Returns
        -------
        Path
            ``work/features/<model>/layers.json``: ``{"layers": [{"name", "type", "depth"}, ...]}``
            with ``depth`` the layer's position scaled to [0, 1] (0 first, 1 last); absent when
            the model declares no ``layers``.
        """
        return self.workdir / "work" / "features" / model / "layers.json"

    def scores(self, subject: int, alignment: str, model: str) -> Path:
        """The scores table of one model for one subject and alignment (encode stage).

        Parameters
        ----------
        subject : int
            Subject number.
        alignment : {"language", "vision"}
            Event alignment.
        model : str
            Model or baseline id (:func:`pipeline.cv.encoded_models`).

        Returns
        -------
        Path
            ``work/scores/<kind>/sub-<subject>_<alignment>_<model>.parquet``, one row per
            target (electrode, bin or component); its content stamp is the ``.json`` beside it.
        """
        return self._scores_dir / f"sub-{subject}_{alignment}_{model}.parquet"

    def score_arrays(self, subject: int, alignment: str, model: str) -> Path:
        """The per-fold arrays of one model's fit (encode stage).

        Parameters
        ----------
        subject : int
            Subject number.
        alignment : {"language", "vision"}
            Event alignment.
        model : str
            Model or baseline id.

        Returns
        -------
        Path
            ``work/scores/<kind>/sub-<subject>_<alignment>_<model>.npz``: ``test_r``, ``val_r``,
            ``alpha``, ``test_r_folds``, ``val_r_folds``, ``valid``, ``choice`` and, for
            MultiLin, ``components``.
        """
        return self._scores_dir / f"sub-{subject}_{alignment}_{model}.npz"

    def predictions(self, subject: int, alignment: str, model: str) -> Path:
        """Out-of-fold predictions of one model's fit (encode stage).

        Parameters
        ----------
        subject : int
            Subject number.
        alignment : {"language", "vision"}
            Event alignment.
        model : str
            Model or baseline id.

        Returns
        -------
        Path
            ``work/scores/<kind>/sub-<subject>_<alignment>_<model>_pred.npy``, float32
            (n_events, n_targets); read memory-mapped.
        """
        return self._scores_dir / f"sub-{subject}_{alignment}_{model}_pred.npy"

    def score_boot(self, subject: int, alignment: str, model: str) -> Path:
        """Bootstrapped test r of one model's fit, on the shared resamples (encode stage).

        Parameters
        ----------
        subject : int
            Subject number.
        alignment : {"language", "vision"}
            Event alignment.
        model : str
            Model or baseline id.

        Returns
        -------
        Path
            ``work/scores/<kind>/sub-<subject>_<alignment>_<model>_boot.npy``, float32
            (n_boot, n_targets).
        """
        return self._scores_dir / f"sub-{subject}_{alignment}_{model}_boot.npy"

    def layer_scores(self, subject: int, alignment: str, model: str) -> Path:
        """The layer sweep's scores of one model for one subject and alignment (encode stage).

        Parameters
        ----------
        subject : int
            Subject number.
        alignment : {"language", "vision"}
            Event alignment.
        model : str
            Id of a model with a layer sweep (``models[].layers``).

        Returns
        -------
        Path
            ``work/scores/<kind>/layers/sub-<subject>_<alignment>_<model>.parquet``: one row per
            (layer, target) with ``layer, type, depth, electrode, bin, time_s, test_r, val_r,
            alpha``; its content stamp is the ``.json`` beside it.
        """
        return self._scores_dir / "layers" / f"sub-{subject}_{alignment}_{model}.parquet"

    def resampling(self, subject: int, alignment: str) -> Path:
        """The resampling shared by every model of one subject and alignment (encode stage).

        Parameters
        ----------
        subject : int
            Subject number.
        alignment : {"language", "vision"}
            Event alignment.

        Returns
        -------
        Path
            ``work/resampling/<kind>/sub-<subject>_<alignment>.npz``: ``permutations`` (row 0 the
            identity), ``block`` (events per permutation block), ``swap_seed`` (the stats
            stage's paired swaps) and, with ``stats.bootstrap > 0``, ``bootstrap`` (resample
            indices).
        """
        return self.workdir / "work" / "resampling" / self.kind / f"sub-{subject}_{alignment}.npz"

    @property
    def _scores_dir(self) -> Path:
        return self.workdir / "work" / "scores" / self.kind

    # results
    @property
    def results(self) -> Path:
        """The results folder (regions, stats and report stages).

        Returns
        -------
        Path
            ``results/``.
        """
        return self.workdir / "results"

    @property
    def report(self) -> Path:
        """The report stage's folder: ``index.html``, ``sub-<s>.html``, ``figures/<name>.png``.

        Returns
        -------
        Path
            ``results/report/``: under ``results/``, never in the source tree (the ``reports``
            package folder).
        """
        return self.workdir / "results" / "report"
