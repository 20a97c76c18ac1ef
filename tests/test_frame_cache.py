"""The frame cache ``work/frames/<movie>/``: streamed to a memory map, read back one batch at a time.

The events stage decodes the frames straight into ``frames.npy`` (a memory map) and writes the
folder atomically; the features stage maps it read-only. What is checked: the cache holds, bit
for bit, what the old in-memory decode returned; an interrupted write leaves nothing; a truncated
cache file is one error line naming it; and a model's features from the cache are identical to
its features from the frames in memory.
"""

import logging

import numpy as np
import pandas as pd
import pytest
from conftest import write_params
from test_video import write_movie

from mmsites.features.video import decode_frames, frame_times, probe_video
from mmsites.features.zoo import build_extractor
from mmsites.pipeline.cli import main
from mmsites.pipeline.io import write_parquet
from mmsites.pipeline.params import Params
from mmsites.pipeline.paths import Layout
from mmsites.pipeline.stages import events as events_stage
from mmsites.pipeline.stages import features as features_stage
from mmsites.timing import next_frame_time

MOVIE = "noise"
SIZE = 32
VIT = {
    "id": "vit-random",
    "family": "timm",
    "arch": "test_vit",
    "input": "image",
    "trained_on": "vision",
    "init": "random",
    "seed": 0,
}


@pytest.fixture(scope="module")
def movie(tmp_path_factory):
    """40 frames of noise (25 fps, 64 x 48): every pixel of a resized frame carries information."""
    images = np.random.default_rng(7).integers(0, 256, (40, 48, 64, 3), dtype=np.uint8)
    return write_movie(tmp_path_factory.mktemp("movie") / f"{MOVIE}.mp4", images)


def _layout(tmp_path, batch_size=4):
    params = Params.model_validate(
        {
            "data": {"format": "demo"},
            "events": {"alignments": ["language"], "frame_size": SIZE},
            "features": {"device": "cpu", "batch_size": batch_size},
            "models": [VIT],
        }
    )
    return params, Layout(tmp_path, params)


def _event_times(movie):
    ft = frame_times(movie)
    # Word onsets between frames, on frames, two on one frame: 13 events, 12 unique frames.
    return np.sort(np.r_[ft[[0, 2, 5, 9, 14, 20, 27, 33, 39]] - 0.005, ft[[3, 11, 30]], ft[11] - 0.01])


def test_cache_is_the_in_memory_decode_bit_for_bit(movie, tmp_path):
    _, layout = _layout(tmp_path)
    times = _event_times(movie)
    want, want_times = decode_frames(movie, times, size=SIZE, progress=False)  # the old path
    folder = events_stage.write_frame_cache(probe_video(movie), times, SIZE, layout, MOVIE)
    assert folder == layout.frames(MOVIE) == tmp_path / "work/frames/noise"
    assert sorted(p.name for p in folder.parent.iterdir()) == ["noise"]  # no temporary left
    assert sorted(p.name for p in folder.iterdir()) == ["frames.npy", "times.npy"]
    frames, cached_times = features_stage.read_frame_cache(layout, MOVIE)
    assert isinstance(frames, np.memmap) and frames.mode == "r" and not frames.flags.writeable
    assert frames.dtype == np.uint8 and frames.shape == want.shape == (12, SIZE, SIZE, 3)
    np.testing.assert_array_equal(frames, want)
    np.testing.assert_array_equal(cached_times, want_times)
    assert cached_times.dtype == np.float64


def test_interrupted_write_leaves_the_old_cache(movie, tmp_path, monkeypatch):
    _, layout = _layout(tmp_path)
    times = _event_times(movie)
    events_stage.write_frame_cache(movie, times[:3], SIZE, layout, MOVIE)
    before = {p.name: p.read_bytes() for p in layout.frames(MOVIE).iterdir()}

    def dies_halfway(path, times_s, *, size, out, **kwargs):
        out[: len(out) // 2] = 7
        raise KeyboardInterrupt

    monkeypatch.setattr(events_stage, "decode_frames", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        events_stage.write_frame_cache(movie, times, SIZE, layout, MOVIE)
    assert sorted(p.name for p in layout.frames(MOVIE).parent.iterdir()) == ["noise"]
    assert {p.name: p.read_bytes() for p in layout.frames(MOVIE).iterdir()} == before


def test_truncated_or_mismatched_cache_is_a_clear_error(movie, tmp_path):
    _, layout = _layout(tmp_path)
    events_stage.write_frame_cache(movie, _event_times(movie), SIZE, layout, MOVIE)
    frames_file, times_file = layout.frames(MOVIE, "frames"), layout.frames(MOVIE, "times")
    data = frames_file.read_bytes()
    frames_file.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=f"frame cache {frames_file} cannot be read") as err:
        features_stage.read_frame_cache(layout, MOVIE)
    assert "\n" not in str(err.value) and "rerun the stage" in str(err.value)
    frames_file.write_bytes(data)
    np.save(times_file, np.zeros(3))
    with pytest.raises(ValueError, match=f"frame cache {times_file} holds float64 of shape \\(3,\\)"):
        features_stage.read_frame_cache(layout, MOVIE)
    times_file.unlink()
    with pytest.raises(FileNotFoundError, match=f"frame cache {times_file} is missing"):
        features_stage.read_frame_cache(layout, MOVIE)
    with pytest.raises(ValueError, match="part must be None, 'frames' or 'times'"):
        layout.frames(MOVIE, "frame_times")


def test_features_from_the_cache_equal_features_from_memory(movie, tmp_path):
    params, layout = _layout(tmp_path, batch_size=4)  # 12 unique frames: 3 batches
    times = _event_times(movie)
    events = pd.DataFrame(
        {
            "movie": MOVIE,
            "alignment": "language",
            "movie_time": times,
            "text": "a b",
            "word": "b",
            "frame_time": next_frame_time(times, frame_times(movie)),
        }
    )
    write_parquet(events, layout.events(MOVIE, "language"))
    events_stage.write_frame_cache(movie, events["frame_time"].to_numpy(), SIZE, layout, MOVIE)
    model = params.models[0]
    extractor = build_extractor(model)
    # Before: the whole frames array in memory, each event's row found by its frame time.
    frames, out_times = decode_frames(movie, events["frame_time"], size=SIZE, progress=False)
    index = np.searchsorted(out_times, events["frame_time"].to_numpy())
    before = extractor.extract(events, frames, index, batch_size=4, progress=False)
    after = features_stage.extract_movie(model, params, layout, extractor, MOVIE, "language")
    assert after.shape == (len(events), before.shape[1])
    np.testing.assert_array_equal(after, before)
    # The content key follows both files of the cache.
    inputs = features_stage.movie_inputs(model, layout, MOVIE, "language")
    assert inputs[1:] == [layout.frames(MOVIE, "frames"), layout.frames(MOVIE, "times")]


def test_truncated_cache_is_one_line_from_the_command(demo_root, tmp_path, caplog):
    argv = write_params(
        tmp_path,
        {
            "data": {
                "format": "braintreebank",
                "root": str(demo_root),
                "movies": str(demo_root / "movies"),
                "subjects": [1],
            },
            "events": {"alignments": ["language"], "frame_size": SIZE},
            "models": [VIT],
        },
    )
    assert main(["events", *argv]) == 0
    frames_file = tmp_path / "work/frames/mmsites-demo/frames.npy"
    assert np.load(frames_file, mmap_mode="r").shape[1:] == (SIZE, SIZE, 3)
    data = frames_file.read_bytes()
    frames_file.write_bytes(data[: len(data) // 2])
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert main(["features", *argv]) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "\n" not in errors[0], errors
    assert f"frame cache {frames_file} cannot be read" in errors[0]
