"""Tests of features.video (PyAV decoding) and features.scenes (scene cuts).

Every movie here is written by the test itself with PyAV: a few dozen tiny frames whose
content (one solid colour per frame, or per scene) and timestamps are known exactly.
"""

from fractions import Fraction

import av
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmsites.features import scenes, video
from mmsites.features.scenes import detect_scene_cuts, read_scene_file, validate_cut_times
from mmsites.features.video import decode_frames, frame_times, probe_video
from mmsites.timing import TIME_TOL_S, next_frame_time

W, H = 64, 48


def write_movie(path, images, *, fps=25, pts_ms=None, options=None):
    """Encode RGB images ``(n, H, W, 3)`` uint8 as H.264 mp4; ``pts_ms`` gives VFR timing."""
    images = np.asarray(images, dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = images.shape[1:3]
        stream.pix_fmt = "yuv420p"
        # crf 1 with B-frames: near-lossless, and decode order differs from display order.
        stream.options = options or {"crf": "1", "bf": "3"}
        if pts_ms is not None:
            stream.time_base = Fraction(1, 1000)
            stream.codec_context.time_base = Fraction(1, 1000)
        for i, image in enumerate(images):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            if pts_ms is not None:
                frame.pts, frame.time_base = int(pts_ms[i]), Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def solid_images(colours, h=H, w=W):
    colours = np.asarray(colours, dtype=np.uint8)
    return np.broadcast_to(colours[:, None, None, :], (len(colours), h, w, 3)).copy()


def distinct_colours(n, seed=0):
    """``n`` colours, each channel a multiple of 8 apart in at least one channel by >= 40."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        c = rng.integers(16, 240, 3)
        if all(np.abs(c - o).max() >= 40 for o in out):
            out.append(c)
    return np.array(out)


N_FRAMES = 30
COLOURS = distinct_colours(N_FRAMES)
VFR_PTS_MS = np.r_[0, np.cumsum(np.random.default_rng(3).integers(20, 80, N_FRAMES - 1))]


@pytest.fixture(scope="module")
def cfr_movie(tmp_path_factory):
    return write_movie(tmp_path_factory.mktemp("v") / "cfr.mp4", solid_images(COLOURS))


@pytest.fixture(scope="module")
def vfr_movie(tmp_path_factory):
    return write_movie(tmp_path_factory.mktemp("v") / "vfr.mp4", solid_images(COLOURS), pts_ms=VFR_PTS_MS)


def frame_means(frames):
    return frames.reshape(len(frames), -1, 3).mean(axis=1)


def naive_decode(path):
    """Every frame, in presentation order, at native size: the slow oracle."""
    with av.open(str(path)) as container:
        decoded = [(f.pts, f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    decoded.sort(key=lambda pf: pf[0])
    return np.stack([img for _, img in decoded])


# ----------------------------------------------------------------------------- probing


def test_probe_cfr(cfr_movie):
    info = probe_video(cfr_movie)
    assert (info.n_frames, info.width, info.height) == (N_FRAMES, W, H)
    assert info.fps == 25
    np.testing.assert_allclose(info.duration_s, N_FRAMES / 25)
    np.testing.assert_allclose(frame_times(info), np.arange(N_FRAMES) / 25, atol=1e-9)
    np.testing.assert_array_equal(frame_times(cfr_movie), frame_times(info))
    assert probe_video(info) is info  # a probed movie is accepted wherever a path is
    a, ta = decode_frames(info, [0.1], size=8, progress=False)
    b, tb = decode_frames(cfr_movie, [0.1], size=8, progress=False)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ta, tb)
    # The B-frames make the demuxed packet order differ from presentation order.
    with av.open(str(cfr_movie)) as c:
        packet_pts = [p.pts for p in c.demux(video=0) if p.size]
    assert packet_pts != sorted(packet_pts)


def test_frame_times_are_real_pts_not_fps(vfr_movie):
    times = frame_times(vfr_movie)
    assert times.dtype == np.float64 and times.shape == (N_FRAMES,)
    np.testing.assert_allclose(times, VFR_PTS_MS / 1000, atol=1e-9)


def test_probe_errors_name_the_file(tmp_path):
    missing = tmp_path / "nope.mp4"
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        probe_video(missing)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"this is not a movie" * 100)
    with pytest.raises(ValueError, match="garbage.mp4"):
        probe_video(garbage)
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        decode_frames(missing, [0.0])


# -------------------------------------------------------------------- the frame rule


def slow_next_frame_time(times, ft):
    out = []
    for t in times:
        later = [f for f in ft if f >= t - TIME_TOL_S]
        out.append(later[0] if later else np.nan)
    return np.array(out, dtype=np.float64)


@settings(max_examples=150, deadline=None)
@given(
    ft=st.lists(st.floats(0, 100, allow_subnormal=False), min_size=1, max_size=30, unique=True),
    offsets=st.lists(
        st.tuples(st.integers(0, 29), st.sampled_from([-1.0, -2e-6, -5e-7, 0.0, 5e-7, 2e-6])),
        max_size=20,
    ),
    free=st.lists(st.floats(-5, 110, allow_subnormal=False), max_size=20),
)
def test_next_frame_time_matches_slow_loop(ft, offsets, free):
    ft = np.sort(np.array(ft))
    # Times exactly at, just around (inside and outside the tie tolerance) and between frames.
    near = [ft[i % ft.size] + d for i, d in offsets]
    times = np.array(near + free, dtype=np.float64)
    expected = slow_next_frame_time(times, ft)
    got = next_frame_time(times, ft, after_last="nan")
    np.testing.assert_array_equal(got, expected)
    if np.isnan(expected).any():
        with pytest.raises(ValueError, match="after the last movie frame"):
            next_frame_time(times, ft)
    else:
        np.testing.assert_array_equal(next_frame_time(times, ft), expected)


def test_next_frame_time_ties_and_validation():
    ft = np.array([0.0, 0.04, 0.08])
    got = next_frame_time([0.04 + 5e-7, 0.04 + 2e-6, 0.0, -3.0], ft)
    np.testing.assert_array_equal(got, [0.04, 0.08, 0.0, 0.0])
    with pytest.raises(ValueError, match="NaN"):
        next_frame_time([np.nan], ft)
    with pytest.raises(ValueError, match="strictly increasing"):
        next_frame_time([0.0], [0.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="after_last"):
        next_frame_time([0.0], ft, after_last="drop")


# -------------------------------------------------------------------------- decoding


def test_decode_frames_pixels_follow_the_rule(vfr_movie):
    ft = VFR_PTS_MS / 1000
    # Between frames, exactly on frames, just after a frame (within tolerance), duplicates.
    times = np.array([ft[4] - 0.01, ft[3], ft[7] + 1e-7, ft[0], ft[12] + 0.001, ft[3]])
    frames, times_out = decode_frames(vfr_movie, times, size=None, progress=False)
    want = np.array([0, 3, 4, 7, 13])  # unique indices of the next frames, in time order
    np.testing.assert_allclose(times_out, ft[want], atol=1e-9)
    assert frames.dtype == np.uint8 and frames.shape == (5, H, W, 3)
    np.testing.assert_allclose(frame_means(frames), COLOURS[want], atol=4)
    # Mapping events back to rows of the output.
    rows = np.searchsorted(times_out, next_frame_time(times, frame_times(vfr_movie)))
    np.testing.assert_array_equal(want[rows], [4, 3, 7, 0, 13, 3])


def test_decode_frames_equals_naive_decoder_and_decodes_once(cfr_movie, monkeypatch):
    naive = naive_decode(cfr_movie)
    need = np.array([2, 5, 6, 17, 21])
    ft = frame_times(cfr_movie)

    decode_calls, yielded, converted = [], [], []
    real_open, real_to_rgb = video._open, video._to_rgb

    class CountingContainer:
        def __init__(self, container):
            self._c = container

        def __getattr__(self, name):
            return getattr(self._c, name)

        def decode(self, *args, **kwargs):
            decode_calls.append(1)
            for frame in self._c.decode(*args, **kwargs):
                yielded.append(frame.pts)
                yield frame

    monkeypatch.setattr(video, "_open", lambda p: CountingContainer(real_open(p)))
    monkeypatch.setattr(video, "_to_rgb", lambda f, s: converted.append(f.pts) or real_to_rgb(f, s))
    frames, times_out = decode_frames(cfr_movie, ft[need][::-1], size=None, progress=False)

    np.testing.assert_array_equal(frames, naive[need])
    np.testing.assert_allclose(times_out, ft[need])
    assert len(decode_calls) == 1  # one sequential pass
    assert len(yielded) == len(set(yielded))  # each frame decoded at most once
    assert len(yielded) == need[-1] + 1  # and the pass stops after the last needed frame
    assert len(converted) == need.size  # only needed frames are converted to RGB


def test_decode_frames_resize_and_centre_crop(tmp_path):
    # Left and right 8-pixel strips red, middle green: a centre crop to 48x48 drops them.
    img = np.zeros((2, H, W, 3), np.uint8)
    img[:, :, :, 1] = 200
    img[:, :, :8] = img[:, :, -8:] = (220, 20, 20)
    img[1, :, 8:-8] = (20, 20, 220)
    path = write_movie(tmp_path / "strips.mp4", img, options={"crf": "0"})
    frames, _ = decode_frames(path, [0.0, 0.04], size=H, progress=False)
    assert frames.shape == (2, H, H, 3)
    np.testing.assert_allclose(frame_means(frames), [(0, 200, 0), (20, 20, 220)], atol=4)
    small, _ = decode_frames(path, [0.0], size=12, progress=False)
    assert small.shape == (1, 12, 12, 3)
    np.testing.assert_allclose(frame_means(small), [(0, 200, 0)], atol=12)


def test_decode_frames_errors(cfr_movie):
    last = frame_times(cfr_movie)[-1]
    with pytest.raises(ValueError, match="after the last movie frame"):
        decode_frames(cfr_movie, [0.0, last + 0.01], progress=False)
    with pytest.raises(ValueError, match="NaN"):
        decode_frames(cfr_movie, [np.nan], progress=False)
    with pytest.raises(ValueError, match="size"):
        decode_frames(cfr_movie, [0.0], size=0, progress=False)
    frames, times_out = decode_frames(cfr_movie, [], size=8, progress=False)
    assert frames.shape == (0, 8, 8, 3) and times_out.shape == (0,)


def test_decode_frames_into_a_memory_map_is_bit_identical(tmp_path):
    # Textured frames and a resize, so that every pixel of the output carries information.
    images = np.random.default_rng(5).integers(0, 256, (24, H, W, 3), dtype=np.uint8)
    path = write_movie(tmp_path / "noise.mp4", images)
    ft = frame_times(path)
    times = np.r_[ft[[3, 3, 11, 0, 23]], ft[7] + 0.01]  # duplicates, any order, between frames
    want, want_times = decode_frames(path, times, size=32, progress=False)
    np.testing.assert_array_equal(video.decoded_frame_times(path, times), want_times)
    out = np.lib.format.open_memmap(tmp_path / "f.npy", mode="w+", dtype=np.uint8, shape=want.shape)
    got, got_times = decode_frames(probe_video(path), times, size=32, progress=False, out=out)
    assert got is out
    out.flush()
    del out, got
    np.testing.assert_array_equal(np.load(tmp_path / "f.npy", mmap_mode="r"), want)  # bit for bit
    np.testing.assert_array_equal(got_times, want_times)


def test_decode_frames_out_is_checked(cfr_movie):
    ft = frame_times(cfr_movie)
    with pytest.raises(ValueError, match=r"uint8 array of shape \(2, 8, 8, 3\); got dtype float"):
        decode_frames(cfr_movie, ft[:2], size=8, progress=False, out=np.zeros((2, 8, 8, 3)))
    with pytest.raises(ValueError, match=r"shape \(2, 8, 8, 3\); got dtype uint8 and shape \(3, 8, 8, 3\)"):
        decode_frames(cfr_movie, ft[:2], size=8, progress=False, out=np.zeros((3, 8, 8, 3), np.uint8))
    frozen = np.zeros((2, 8, 8, 3), np.uint8)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        decode_frames(cfr_movie, ft[:2], size=8, progress=False, out=frozen)


# ------------------------------------------------------------------------ scene cuts

PALETTE = [(10, 10, 10), (240, 240, 240), (10, 10, 120), (250, 220, 40), (0, 90, 0)]
SCENE_STARTS = [0, 20, 37, 60, 81]  # frame indices; the first is the movie start, not a cut


def scene_images(starts, n):
    scene = np.searchsorted(starts, np.arange(n), side="right") - 1
    images = solid_images([PALETTE[s % len(PALETTE)] for s in scene], h=64, w=96)
    # A static texture, so that scenes are not flat colour fields.
    texture = (np.random.default_rng(0).integers(0, 12, (64, 96, 1))).astype(np.uint8)
    return images + texture


@pytest.mark.parametrize("timing", ["cfr", "vfr"])
def test_detect_scene_cuts_finds_planted_cuts(tmp_path, timing):
    n = 100
    pts = np.r_[0, np.cumsum(np.random.default_rng(1).integers(20, 80, n - 1))]
    path = write_movie(
        tmp_path / f"{timing}.mp4",
        scene_images(SCENE_STARTS, n),
        pts_ms=pts if timing == "vfr" else None,
    )
    cuts = detect_scene_cuts(probe_video(path), progress=False, min_scene_len_s=0.2)
    expected = frame_times(path)[SCENE_STARTS[1:]]
    np.testing.assert_array_equal(cuts, expected)  # exactly the first frames of new scenes


def test_detect_scene_cuts_min_scene_len(tmp_path):
    # Cuts at frames 20 and 24 (0.16 s apart at 25 fps): a 0.5 s minimum keeps only one.
    path = write_movie(tmp_path / "close.mp4", scene_images([0, 20, 24, 60], 80))
    ft = frame_times(path)
    np.testing.assert_array_equal(
        detect_scene_cuts(path, min_scene_len_s=0.1, progress=False), ft[[20, 24, 60]]
    )
    assert detect_scene_cuts(path, min_scene_len_s=0.5, progress=False).size == 2
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        detect_scene_cuts(tmp_path / "missing.mp4")


def test_read_scene_file(tmp_path):
    ours = tmp_path / "movie.csv"
    pd.DataFrame({"time_s": [1.5, 3.25, 10.0], "note": ["a", "b", "c"]}).to_csv(ours, index=False)
    np.testing.assert_array_equal(read_scene_file(ours), [1.5, 3.25, 10.0])

    psd = tmp_path / "psd.csv"
    psd.write_text(
        "Timecode List:,00:00:01.500,00:00:03.250\n"
        "Scene Number,Start Frame,Start Timecode,Start Time (seconds),End Frame\n"
        "1,1,00:00:00.000,0.000,37\n2,38,00:00:01.500,1.500,81\n3,82,00:00:03.250,3.250,99\n"
    )
    np.testing.assert_array_equal(read_scene_file(psd), [1.5, 3.25])


@pytest.mark.parametrize(
    "values, message",
    [
        ([1.0, 0.5], "strictly increasing"),
        ([1.0, 1.0], "strictly increasing"),
        ([-1.0, 2.0], "negative"),
        ([1.0, np.nan], "NaN"),
        ([1.0, np.inf], "NaN or infinite"),
    ],
)
def test_read_scene_file_validation(tmp_path, values, message):
    path = tmp_path / "bad.csv"
    pd.DataFrame({"time_s": values}).to_csv(path, index=False)
    with pytest.raises(ValueError, match=message) as err:
        read_scene_file(path)
    assert "bad.csv" in str(err.value)


def test_read_scene_file_format_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.csv"):
        read_scene_file(tmp_path / "absent.csv")
    wrong = tmp_path / "wrong.csv"
    pd.DataFrame({"onset": [1.0]}).to_csv(wrong, index=False)
    with pytest.raises(ValueError, match="time_s"):
        read_scene_file(wrong)
    text = tmp_path / "text.csv"
    text.write_text("time_s\n1.0\nabc\n")
    with pytest.raises(ValueError, match="non-numeric"):
        read_scene_file(text)
    with pytest.raises(ValueError, match="1-D"):
        validate_cut_times(np.zeros((2, 2)))
    assert scenes.validate_cut_times([]).shape == (0,)
