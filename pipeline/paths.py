"""Where each artifact of the pipeline lives, relative to the working directory (DESIGN.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .params import Params


@dataclass(frozen=True)
class Layout:
    """The pipeline's file layout under ``workdir``; every stage asks it for paths."""

    workdir: Path
    params: Params

    def resolve(self, path: str | Path) -> Path:
        path = Path(path)
        return path if path.is_absolute() else self.workdir / path

    # inputs
    @property
    def data_root(self) -> Path:
        return self.resolve(self.params.data.root)

    @property
    def movies_dir(self) -> Path | None:
        movies = self.params.data.movies
        return self.resolve(movies) if movies else None

    def movie_file(self, movie: str) -> Path | None:
        """The video of ``movie`` (``<movies>/<movie>.<ext>``), or None when none is given."""
        if self.movies_dir is None:
            return None
        for ext in (".mp4", ".mkv", ".avi", ".mov", ".m4v", ".webm"):
            candidate = self.movies_dir / f"{movie}{ext}"
            if candidate.is_file():
                return candidate
        return None

    def scenes_file(self, movie: str) -> Path | None:
        scenes = self.params.data.scenes
        if not scenes:
            return None
        return self.resolve(scenes) / f"{movie}.csv"

    # intermediate files
    def events(self, movie: str, alignment: str) -> Path:
        return self.workdir / "work" / "events" / f"{movie}_{alignment}.parquet"

    def frames(self, movie: str) -> Path:
        return self.workdir / "work" / "frames" / f"{movie}.npz"

    def responses(self, subject: int, alignment: str) -> Path:
        return self.workdir / "work" / "responses" / f"sub-{subject}_{alignment}.h5"

    def features(self, model: str, movie: str, alignment: str) -> Path:
        return self.workdir / "work" / "features" / model / f"{movie}_{alignment}.npy"

    def scores(self, subject: int, alignment: str, model: str) -> Path:
        return self.workdir / "work" / "scores" / f"sub-{subject}_{alignment}_{model}.parquet"

    def score_arrays(self, subject: int, alignment: str, model: str) -> Path:
        return self.workdir / "work" / "scores" / f"sub-{subject}_{alignment}_{model}.npz"

    def predictions(self, subject: int, alignment: str, model: str) -> Path:
        """Out-of-fold predictions, float32 (n_events, n_targets); read memory-mapped."""
        return self.workdir / "work" / "scores" / f"sub-{subject}_{alignment}_{model}_pred.npy"

    def score_boot(self, subject: int, alignment: str, model: str) -> Path:
        """Bootstrapped test r, float32 (n_boot, n_targets), on the shared resamples."""
        return self.workdir / "work" / "scores" / f"sub-{subject}_{alignment}_{model}_boot.npy"

    def resampling(self, subject: int, alignment: str) -> Path:
        return self.workdir / "work" / "resampling" / f"sub-{subject}_{alignment}.npz"

    # results
    @property
    def results(self) -> Path:
        return self.workdir / "results"

    @property
    def report(self) -> Path:
        """The report stage's folder: ``index.html``, ``sub-<s>.html``, ``figures/<name>.png``.

        Under ``results/``, never in the source tree (the ``reports`` package folder).
        """
        return self.workdir / "results" / "report"
