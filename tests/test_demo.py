"""Tests of the synthetic Brain Treebank generator (the package recordings/demo/).

Most tests read the session-wide small demo of ``conftest.py`` (90 s, 2 subjects, 4 shafts).
Oracles: the public Neuroprobe loader, PySceneDetect, the project's own Brain Treebank reader
and event builders, and direct computations on the raw h5 signals.
"""

from __future__ import annotations

import importlib
import json
import typing
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmsites.constants import ELECTRODE_KINDS, PLANTED_KINDS
from mmsites.recordings.braintreebank import (
    BrainTreebank,
    clean_label,
    estimate_sfreq,
    movie_to_sample,
    select_electrodes,
    shaft_and_contact,
)
from mmsites.recordings.demo import (
    HIGHGAMMA_BAND_HZ,
    HIGHGAMMA_UV,
    KERNEL_LATENCY_S,
    MAX_CONTACTS,
    MAX_SHAFTS,
    MIN_CONTACTS,
    MIN_DURATION_S,
    MIN_SHAFTS,
    MOVIE_ID,
    N_LATENT,
    RESPONSE_UV,
    SCENE_S,
    VARIANTS,
    band_noise,
    generate_demo,
    highgamma_envelope,
    kind_drive,
    pink_noise,
    response_kernel,
    tent_weights,
)

TRANSCRIPT_COLUMNS = [
    "text",
    "start",
    "end",
    "sentence",
    "is_onset",
    "is_offset",
    "idx_in_sentence",
    "pos",
    "bin_head",
    "gpt2_surprisal",
    "word_length",
    "rms",
    "pitch",
    "delta_rms",
    "delta_pitch",
    "mean_pixel_brightness",
    "max_mean_pixel_brightness",
    "max_global_magnitude",
    "max_global_angle",
    "max_vector_magnitude",
    "max_vector_angle",
    "face_num",
    "word_diff",
    "onset_diff",
    "speaker",
    "sentence_idx",
    "word_idx",
    "lemma",
    "head",
    "deprel",
]


def _labels(root: Path, subject: int) -> list[str]:
    return json.loads((root / "electrode_labels" / f"sub_{subject}" / "electrode_labels.json").read_text())


def _transcript(root: Path) -> pd.DataFrame:
    return pd.read_csv(root / "transcripts" / MOVIE_ID / "features.csv")


def _timings(root: Path, subject: int) -> pd.DataFrame:
    return pd.read_csv(root / "subject_timings" / f"sub_{subject}_trial000_timings.csv")


# --------------------------------------------------------------------------------------------
# Maths helpers
# --------------------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(n=st.integers(3, 16), data=st.data())
def test_tent_weights_are_a_laplacian_delta(n, data):
    """The Laplacian of a tent is 1 at its source and 0 at every other interior contact."""
    contacts = np.arange(1, n + 1)
    source = data.draw(st.integers(2, n - 1))
    w = tent_weights(contacts, source)
    lap = w[1:-1] - 0.5 * (w[:-2] + w[2:])
    expected = (contacts[1:-1] == source).astype(float)
    np.testing.assert_allclose(lap, expected, atol=1e-12)
    assert abs(w.mean()) < 1e-12


@settings(max_examples=20, deadline=None)
@given(sfreq=st.sampled_from([512.0, 1024.0, 2048.0]), latency=st.floats(0.05, 0.5), sd=st.floats(0.01, 0.15))
def test_response_kernel_peaks_at_latency(sfreq, latency, sd):
    kernel, first = response_kernel(sfreq, latency, sd)
    lags = (first + np.arange(kernel.size)) / sfreq
    assert abs(lags[np.argmax(kernel)] - latency) <= 0.5 / sfreq + 1e-12
    assert lags[0] <= latency - 5 * sd + 1e-9 and lags[-1] >= latency + 5 * sd - 1e-9
    # a sampled unit Gaussian: its sum is sqrt(2 pi) sd sfreq
    np.testing.assert_allclose(kernel.sum() / sfreq, np.sqrt(2 * np.pi) * sd, rtol=1e-3)


def test_pink_noise_has_a_one_over_f_spectrum():
    from scipy.signal import welch

    sfreq = 512.0
    x = pink_noise(2**17, sfreq, np.random.default_rng(3))
    assert abs(x.mean()) < 1e-9 and abs(x.std() - 1) < 1e-9
    f, p = welch(x, sfreq, nperseg=4096)
    band = (f >= 2) & (f <= 100)
    slope = np.polyfit(np.log(f[band]), np.log(p[band]), 1)[0]
    assert -1.15 < slope < -0.85, slope
    np.testing.assert_array_equal(x, pink_noise(2**17, sfreq, np.random.default_rng(3)))


def test_band_noise_is_band_limited_unit_noise_and_the_envelope_is_smooth_and_positive():
    sfreq = 1024.0
    x = band_noise(2**15, sfreq, np.random.default_rng(4))
    assert abs(x.std() - 1) < 1e-12 and abs(x.mean()) < 0.01
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / sfreq)
    outside = (freqs < HIGHGAMMA_BAND_HZ[0]) | (freqs > HIGHGAMMA_BAND_HZ[1])
    assert spectrum[outside].sum() < 1e-20 * spectrum.sum()  # 2**15 is its own FFT length
    np.testing.assert_array_equal(x, band_noise(2**15, sfreq, np.random.default_rng(4)))
    with pytest.raises(ValueError, match="band"):
        band_noise(100, 200.0, np.random.default_rng(0))  # 140 Hz above Nyquist
    # the envelope: 1 where the course is 0, floored, centred (no delay), smooth
    course = np.zeros(4096)
    course[2000:2100] = -3.0  # deep below -1: floored
    course[1000] = 5.0  # a spike: spread symmetrically
    env = highgamma_envelope(course, sfreq)
    assert env.shape == course.shape and env.min() >= 0.05 - 1e-12
    np.testing.assert_allclose(env[:900], 1.0, rtol=1e-12)
    np.testing.assert_allclose(env[3000:], 1.0, rtol=1e-12)
    assert np.argmax(env) == 1000
    np.testing.assert_allclose(env[1000 - 20 : 1000], env[1001 : 1000 + 21][::-1], rtol=1e-12)
    np.testing.assert_allclose(env[2040:2060], 0.05, rtol=1e-9)
    assert np.abs(np.diff(env)).max() < 0.05  # no jump of the 0.95 the floor makes


# --------------------------------------------------------------------------------------------
# Files and formats
# --------------------------------------------------------------------------------------------
def test_layout_h5_and_metadata(demo_root, demo_info):
    for subject in demo_info.subjects:
        labels = _labels(demo_root, subject)
        with h5py.File(demo_root / "all_subject_data" / f"sub_{subject}_trial000.h5", "r") as f:
            keys = list(f["data"].keys())
            extra = 1 if subject == 1 else 0  # sub_1 has one channel more than labels
            assert sorted(keys) == sorted(f"electrode_{i}" for i in range(len(labels) + extra))
            lengths = {f["data"][k].shape for k in keys}
            assert lengths == {(demo_info.n_samples[subject],)}
            assert {f["data"][k].dtype for k in keys} == {np.dtype("float32")}
            x = f["data"]["electrode_0"][:]
            assert 5 < x.std() < 200  # µV scale
            step = 0.2658
            assert np.allclose(x[:1000] / step, np.round(x[:1000] / step), atol=1e-2)
        meta = json.loads(
            (demo_root / "subject_metadata" / f"sub_{subject}_trial000_metadata.json").read_text()
        )
        assert meta == {"filename": MOVIE_ID, "title": "mmsites demo"}
        assert estimate_sfreq(_timings(demo_root, subject)) == demo_info.sfreq[subject]
    assert demo_info.sfreq == {1: 2048.0, 2: 1024.0}
    assert (demo_root / "movies" / f"{MOVIE_ID}.mp4").stat().st_size > 10_000


def test_label_quirks(demo_root, demo_info):
    corrupted = json.loads((demo_root / "corrupted_elec.json").read_text())
    assert sorted(corrupted) == [f"sub_{s}" for s in demo_info.subjects]
    all_raw = []
    for subject in demo_info.subjects:
        raw = _labels(demo_root, subject)
        all_raw += raw
        cleaned = [clean_label(x) for x in raw]
        assert len(set(cleaned)) == len(cleaned)
        assert {"DC4", "DC10"} <= set(raw)
        assert ("TRIG4" in raw) == (subject == 1)
        assert "F1*0Fa5" in raw and shaft_and_contact("F1*0Fa5") == ("F10Fa", 5)
        bad = corrupted[f"sub_{subject}"]
        assert {"DC4", "DC10"} <= set(bad) and set(bad) <= set(raw)  # raw labels, as stored
        neural_bad = [b for b in bad if not b.upper().startswith(("DC", "TRIG"))]
        assert len(neural_bad) == 1
        shaft, contact = shaft_and_contact(neural_bad[0])
        positions = {shaft_and_contact(c) for c in cleaned if not c.upper().startswith(("DC", "TRIG"))}
        assert (shaft, contact - 1) in positions and (shaft, contact + 1) in positions  # interior
        # the corrupted contact really is broken: saturating junk, far above the others
        index = cleaned.index(clean_label(neural_bad[0]))
        with h5py.File(demo_root / "all_subject_data" / f"sub_{subject}_trial000.h5", "r") as f:
            assert f["data"][f"electrode_{index}"][:4096].std() > 20 * f["data"]["electrode_0"][:4096].std()
    assert any("*" in x for x in all_raw) and any("#" in x for x in all_raw)


def test_localization_quirks(demo_root, demo_info):
    coords = pd.read_csv(demo_root / "localization" / "elec_coords_full.csv")
    assert list(coords.columns) == ["ID", "X", "Y", "Z", "Hemisphere", "Subject", "Electrode", "Region"]
    for subject in demo_info.subjects:
        depth = pd.read_csv(demo_root / "localization" / f"sub_{subject}" / "depth-wm.csv")
        assert {"Electrode", "L", "P", "I", "Hemisphere", "DesikanKilliany", "Destrieux"} <= set(
            depth.columns
        )
        neural = [
            clean_label(x)
            for x in _labels(demo_root, subject)
            if not clean_label(x).upper().startswith(("DC", "TRIG"))
        ]
        located = [clean_label(x) for x in depth["Electrode"]]
        assert len(set(neural) - set(located)) == 1 and set(located) <= set(neural)
        in_order = [x for x in neural if x in located]
        assert located != in_order  # rows shuffled
        for axis in "LPI":
            assert depth[axis].dtype.kind == "i" and depth[axis].between(50, 200).all()
        mine = coords[coords["Subject"] == f"sub_{subject}"]
        assert set(mine["Electrode"].map(clean_label)) == set(located)
        assert mine["ID"].str.startswith(f"sub_{subject}-").all()


def test_timings_have_one_pause_and_start_before_the_movie(demo_root, demo_info):
    for subject in demo_info.subjects:
        t = _timings(demo_root, subject)
        assert list(t.columns) == [
            "type",
            "movie_time",
            "start_time",
            "end_time",
            "trig_type",
            "index",
            "diff",
        ]
        assert t["type"].iloc[0] == "beginning" and t["type"].iloc[-1] == "end"
        sfreq = demo_info.sfreq[subject]
        d_mt, d_idx = np.diff(t["movie_time"]), np.diff(t["index"])
        assert (d_mt >= 0).all() and (d_idx > 0).all()
        paused = d_idx > d_mt * sfreq + 2 * sfreq
        assert paused.sum() == 1
        assert d_mt[paused][0] == 0 and d_idx[paused][0] >= 3 * sfreq
        spacing = d_mt[~paused]
        assert spacing.max() <= 0.5 and spacing.min() > 0.01
        assert t["index"].iloc[0] > 0 and t["movie_time"].iloc[0] == 0  # recording starts first
        pause_time, pause_s = demo_info.pauses[subject]
        assert t["movie_time"].to_numpy()[1:][paused][0] == pause_time
        assert abs(d_idx[paused][0] / sfreq - pause_s) < 1e-9
        assert t["index"].iloc[-1] < demo_info.n_samples[subject]


def test_transcript_quirks_and_sentences(demo_root, demo_info):
    df = _transcript(demo_root)
    assert df.columns[0] == "Unnamed: 0"
    assert (df["Unnamed: 0"] == np.arange(len(df))).all()
    assert set(TRANSCRIPT_COLUMNS) <= set(df.columns)
    no_time = df["start"].isna()
    assert 0 < no_time.sum() < 0.1 * len(df) and (df["end"].isna() == no_time).all()
    assert not df.loc[no_time, "is_onset"].any()  # particles never start a sentence
    assert np.isnan(df["word_diff"].iloc[0]) and df["onset_diff"].isna().sum() > no_time.sum()
    numeric = df.select_dtypes("number").to_numpy()
    assert np.isinf(numeric).sum() == 1
    finite = df.loc[~no_time, "start"]
    assert finite.duplicated().sum() == 1
    assert (np.diff(finite.to_numpy()) >= 0).all()
    for subject in demo_info.subjects:
        last_trigger = _timings(demo_root, subject)["movie_time"].iloc[-1]
        assert (finite > last_trigger).sum() >= 3
    # sentences: 3-15 tokens, flags and positions consistent, text = tokens joined
    sentence_id = np.cumsum(df["is_onset"].to_numpy()) - 1
    assert df["is_onset"].iloc[0] == 1
    for sid, group in df.groupby(sentence_id):
        n = len(group)
        assert 3 <= group["start"].notna().sum() <= 15
        assert group["idx_in_sentence"].tolist() == list(range(n))
        assert group["is_offset"].tolist() == [0] * (n - 1) + [1]
        assert (group["sentence"] == " ".join(group["text"])).all()
        assert (group["sentence_idx"] == sid).all()
    assert set(df["pos"]) <= {"NOUN", "VERB", "ADJ", "ADV", "DET", "PRON", "ADP", "PART"}


# --------------------------------------------------------------------------------------------
# Movie and truth features
# --------------------------------------------------------------------------------------------
def test_scene_cuts_are_detected_exactly_by_pyscenedetect(demo_root, demo_info):
    from scenedetect import ContentDetector, detect

    # PySceneDetect's default shortest scene is 15 frames; the demo's scenes are shorter.
    shortest = int(round(SCENE_S[0] * demo_info.fps))
    scenes = detect(
        str(demo_root / "movies" / f"{MOVIE_ID}.mp4"), ContentDetector(min_scene_len=shortest), backend="pyav"
    )
    found = np.array([start.frame_num for start, _ in scenes[1:]])
    planted = np.round(demo_info.cut_times * demo_info.fps).astype(int)
    np.testing.assert_array_equal(found, planted)
    assert scenes[-1][1].frame_num == round(demo_info.duration_s * demo_info.fps)
    table = pd.read_csv(demo_root / "scenes" / f"{MOVIE_ID}.csv")
    np.testing.assert_array_equal(table["time_s"].to_numpy(), demo_info.cut_times)
    # the project's detector, with the pipeline's defaults (0.5 s minimum scene), agrees
    from mmsites.features.scenes import detect_scene_cuts

    np.testing.assert_allclose(  # frame times from timestamps: equal up to float rounding
        detect_scene_cuts(demo_root / "movies" / f"{MOVIE_ID}.mp4", progress=False),
        demo_info.cut_times,
        rtol=0,
        atol=1e-9,
    )
    gaps = np.diff(np.r_[0.0, demo_info.cut_times])
    assert gaps.min() >= SCENE_S[0] - 1e-9 and gaps.max() <= SCENE_S[1] + 1e-9


def test_truth_features_match_the_event_builders(demo_root, demo_info):
    """Every event of the project's event builders has a truth row within 1 ms, and back."""
    from mmsites.features.events import language_events, vision_events

    transcript = BrainTreebank(demo_root).transcript(MOVIE_ID)
    raw = _transcript(demo_root)
    frame_times = np.arange(round(demo_info.duration_s * demo_info.fps)) / demo_info.fps
    events = {
        "language": language_events(raw, frame_times, MOVIE_ID),
        "vision": vision_events(demo_info.cut_times, raw, frame_times, MOVIE_ID),
    }
    latents = {}
    for kind, prefixes in {"vision": "v", "language": "w", "multimodal": "v w vw"}.items():
        for alignment, ev in events.items():
            table = pd.read_parquet(demo_root / "truth_features" / kind / f"{MOVIE_ID}_{alignment}.parquet")
            cols = ["movie_time"] + [f"{p}{i}" for p in prefixes.split() for i in range(N_LATENT)]
            assert list(table.columns) == cols
            assert len(table) == len(ev) == demo_info.n_events[alignment]
            np.testing.assert_allclose(table["movie_time"], ev["movie_time"], atol=1e-3)
            latents[kind, alignment] = table
    assert len(events["language"]) == transcript["start"].nunique()
    for alignment in events:
        mm = latents["multimodal", alignment]
        v, w = latents["vision", alignment], latents["language", alignment]
        for i in range(N_LATENT):
            np.testing.assert_array_equal(mm[f"v{i}"], v[f"v{i}"])
            np.testing.assert_array_equal(mm[f"w{i}"], w[f"w{i}"])
            np.testing.assert_array_equal(mm[f"vw{i}"], v[f"v{i}"] * w[f"w{i}"])
    # a word sees the scene of the first frame at or after its onset
    v_lang = latents["vision", "language"]
    v_cut = latents["vision", "vision"]
    frame = events["language"]["frame_time"].to_numpy()
    scene = np.searchsorted(demo_info.cut_times, frame + 1e-9, side="right")  # 0 = first scene
    after = scene > 0
    np.testing.assert_array_equal(
        v_lang.loc[after, "v0"].to_numpy(), v_cut["v0"].to_numpy()[scene[after] - 1]
    )
    # the same word type always carries the same latent
    words = events["language"]["word"].to_numpy()
    w0 = latents["language", "language"]["w0"].to_numpy()
    for word in np.unique(words)[:20]:
        assert np.unique(w0[words == word]).size == 1
    # scene events of the same sentence share its latent; sentences differ
    texts = events["vision"]["text"].to_numpy()
    wv = latents["language", "vision"]["w0"].to_numpy()
    for text in np.unique(texts):
        assert np.unique(wv[texts == text]).size == 1
    assert np.unique(wv).size >= 0.5 * np.unique(texts).size


def test_truth_csv_matches_the_laplacian_selection(demo_root, demo_info):
    truth = pd.read_csv(demo_root / "truth.csv")
    assert list(truth.columns) == ["subject", "electrode", "kind"]
    planted_kinds = ("none", "vision", "language", "multimodal", "highgamma")  # "linear": a variant only
    assert set(truth["kind"]) == set(planted_kinds) and set(planted_kinds) <= set(ELECTRODE_KINDS)
    corrupted = json.loads((demo_root / "corrupted_elec.json").read_text())
    for subject in demo_info.subjects:
        mine = truth[truth["subject"] == subject]
        selected, _ = select_electrodes(_labels(demo_root, subject), corrupted[f"sub_{subject}"])
        assert mine["electrode"].tolist() == selected
        assert dict(zip(mine["electrode"], mine["kind"])) == demo_info.kinds[subject]
        counts = mine["kind"].value_counts()
        assert all(counts.get(k, 0) >= 2 for k in planted_kinds[1:])
        responsive = {shaft_and_contact(e) for e in mine.loc[mine["kind"] != "none", "electrode"]}
        for shaft, contact in responsive:
            assert (shaft, contact + 1) not in responsive
        assert set(demo_info.weights[subject]) == {
            e for e, k in demo_info.kinds[subject].items() if k != "none"
        }


# --------------------------------------------------------------------------------------------
# Loaders and planted signals
# --------------------------------------------------------------------------------------------
def test_neuroprobe_subject_loader_reads_the_demo(demo_root, demo_info, tmp_path, monkeypatch):
    """The public Neuroprobe loader (reads h5 files from the root) opens the demo."""
    view = tmp_path / "view"  # Neuroprobe expects ROOT/sub_N_trialXXX.h5: a view with links
    view.mkdir()
    for entry in demo_root.iterdir():
        (view / entry.name).symlink_to(entry)
    for h5 in (demo_root / "all_subject_data").iterdir():
        (view / h5.name).symlink_to(h5)
    monkeypatch.setenv("ROOT_DIR_BRAINTREEBANK", str(view))
    import neuroprobe.config

    importlib.reload(neuroprobe.config)
    import neuroprobe.braintreebank_subject as nbs

    monkeypatch.setattr(nbs, "ROOT_DIR", str(view))
    corrupted = json.loads((demo_root / "corrupted_elec.json").read_text())
    for subject in demo_info.subjects:
        sub = nbs.BrainTreebankSubject(subject, cache=False)
        raw = _labels(demo_root, subject)
        clean, _ = select_electrodes(raw, corrupted[f"sub_{subject}"], rereference=None)
        assert sub.electrode_labels == clean
        laplacian, _ = sub._get_all_laplacian_electrodes()
        assert laplacian == list(demo_info.kinds[subject])
        sub.load_neural_data(0)
        data = sub.get_all_electrode_data(0).numpy()
        assert data.shape == (len(clean), demo_info.n_samples[subject])
        with h5py.File(demo_info.paths[f"h5_{subject}"], "r") as f:
            index = [clean_label(x) for x in raw].index(clean[3])
            np.testing.assert_array_equal(data[3], f["data"][f"electrode_{index}"][:])
        xyz = sub.get_electrode_coordinates().numpy()
        assert np.isfinite(xyz).all(axis=1).sum() == len(clean) - 1  # one has no localization
        for h5 in sub.h5_files.values():
            h5.close()


def _expected_laplacian(kind, weights, samples, features, sfreq, n):
    """Planted Laplacian response of one electrode, built directly event by event: (n,) µV."""
    kernel, first = response_kernel(sfreq)
    out = np.zeros(n + kernel.size + abs(first))
    for alignment, at in samples.items():
        amplitude = kind_drive(features[alignment], kind) @ weights
        for s, a in zip(at, amplitude):
            if np.isfinite(s):
                lo = int(s) + first
                out[lo : lo + kernel.size] += a * kernel
    return out[:n]


def _moving_average(x, n):
    """Mean of ``x`` over ``n`` samples centred on each sample (the ends padded by zeros)."""
    return np.convolve(x, np.ones(n) / n, mode="same")


def _check_highgamma_carrier(lap, course, sfreq, label):
    """A noiseless highgamma electrode's Laplacian is ``HIGHGAMMA_UV * sqrt(envelope)`` times a
    unit-variance high-gamma noise, for the envelope of the planted course that the test built
    from the events, to the sample; 200-ms means of it hold about 1 % of it."""
    from scipy.signal import welch

    envelope = highgamma_envelope(course, sfreq)
    assert np.abs(course).max() > 0.3 and envelope.min() >= 0.05 - 1e-12
    # exact: divided by sqrt(envelope) its sd is HIGHGAMMA_UV (the envelope one sample off: ~2e-6)
    np.testing.assert_allclose(np.std(lap / np.sqrt(envelope)), HIGHGAMMA_UV, rtol=1e-7, err_msg=label)
    assert abs(np.std(lap / np.sqrt(np.roll(envelope, 1))) / HIGHGAMMA_UV - 1) > 1e-6
    f, p = welch(lap, sfreq, nperseg=int(sfreq))
    in_band = (f >= HIGHGAMMA_BAND_HZ[0] - 5) & (f <= HIGHGAMMA_BAND_HZ[1] + 5)
    assert p[in_band].sum() > 0.995 * p.sum(), label
    # its power over 200 ms follows the envelope's
    n = int(0.2 * sfreq)
    power, expected = _moving_average(lap**2, n)[n:-n], _moving_average(envelope, n)[n:-n]
    assert np.corrcoef(power, expected)[0, 1] > 0.4, label
    # and a 200-ms mean, what the voltage responses average, holds little of it (sinc < 2 %)
    means = _moving_average(lap, n)[n:-n]
    assert np.sqrt(np.mean(means**2)) < 0.015 * np.sqrt(np.mean(lap**2)), label


def test_responses_are_planted_exactly_at_the_reader_samples(tmp_path, monkeypatch):
    """Direct oracle on a noiseless demo: the reader's ``movie_to_sample`` gives the samples
    of the physical clock (start offset + time + pause), and the Laplacian of the raw h5
    signals equals the planted responses placed there, to the sample; it is zero at every
    'none' electrode (neighbours of responsive ones included); at a highgamma electrode it is
    a high-gamma carrier whose power follows the response course placed there."""
    import mmsites.recordings.demo.signals as signals  # where the channels are synthesised

    monkeypatch.setattr(signals, "NOISE_UV", 0.0)
    monkeypatch.setattr(signals, "LINE_NOISE_UV", {})
    monkeypatch.setattr(signals, "STATE_UV", 0.0)
    monkeypatch.setattr(signals, "ADC_STEP_UV", 1e-5)
    info = generate_demo(tmp_path / "quiet", seed=1, **SMALL)
    ds = BrainTreebank(info.root)
    features = {
        al: pd.read_parquet(info.root / "truth_features" / "multimodal" / f"{MOVIE_ID}_{al}.parquet")
        for al in ("language", "vision")
    }
    for subject in info.subjects:
        timings = ds.timings(subject, 0)
        sfreq = estimate_sfreq(timings)
        # the physical clock, independent of any trigger search: sample of movie time 0, plus
        # time, plus the pause for events after it; nothing after the last trigger
        pause_time, pause_s = info.pauses[subject]
        samples = {}
        for al, f in features.items():
            t = f["movie_time"].to_numpy()
            clock = (
                timings["index"].iloc[0] + np.round(t * sfreq) + np.round(pause_s * sfreq) * (t > pause_time)
            )
            samples[al] = np.where(t <= timings["movie_time"].iloc[-1], clock, np.nan)
            np.testing.assert_array_equal(movie_to_sample(t, timings, sfreq), samples[al])
        assert np.isnan(samples["language"]).sum() >= 3  # words after the last trigger
        labels = ds.labels(subject)
        _, neighbours = select_electrodes(ds.raw_labels(subject), ds.corrupted(subject))
        with h5py.File(ds.h5_path(subject, 0), "r") as f:

            def channel(label, f=f, labels=labels):
                return f["data"][f"electrode_{labels.index(label)}"][:].astype(np.float64)

            for label, kind in info.kinds[subject].items():
                lo, hi = neighbours[label]
                lap = channel(label) - 0.5 * (channel(lo) + channel(hi))
                if kind == "none":
                    assert np.abs(lap).max() < 1e-2, label
                    continue
                if kind == "highgamma":  # a carrier whose power follows the planted course
                    course = _expected_laplacian(
                        kind, info.weights[subject][label], samples, features, sfreq, info.n_samples[subject]
                    )
                    _check_highgamma_carrier(lap, course, sfreq, label)
                    continue
                expected = _expected_laplacian(
                    kind, info.weights[subject][label], samples, features, sfreq, info.n_samples[subject]
                )
                assert np.abs(expected).max() > 20
                np.testing.assert_allclose(lap, expected, atol=1e-2, err_msg=label)
                one_sample_off = np.abs(np.roll(expected, 1) - expected).max()
                assert one_sample_off > 0.05  # so the tolerance above catches a one-sample shift


def test_binned_responses_peak_at_the_planted_latency(demo_root, demo_info):
    """Through the project's reader and response binning: for responsive electrodes the
    correlation of the binned Laplacian response with the planted drive peaks at the kernel
    latency; for 'none' electrodes it is absent, and for 'highgamma' ones too (their response
    is in high-gamma power, which the voltage means average away)."""
    from mmsites.recordings.responses import event_responses

    ds = BrainTreebank(demo_root)
    for subject in demo_info.subjects:
        timings = ds.timings(subject, 0)
        electrodes, neighbours = select_electrodes(ds.raw_labels(subject), ds.corrupted(subject))
        drives = {}
        with ds.open_recording(subject, 0) as rec:
            for alignment in ("language", "vision"):
                feats = pd.read_parquet(
                    demo_root / "truth_features" / "multimodal" / f"{MOVIE_ID}_{alignment}.parquet"
                )
                rs = event_responses(
                    rec,
                    electrodes,
                    neighbours,
                    movie_to_sample(feats["movie_time"], timings, rec.sfreq),
                    progress=False,
                )
                feats = feats[rs.kept]
                peak_bin = int(np.argmin(np.abs(rs.bin_times - KERNEL_LATENCY_S)))
                z = (rs.responses - rs.responses.mean(0)) / rs.responses.std(0)
                for label, a in demo_info.weights[subject].items():
                    d = kind_drive(feats, demo_info.kinds[subject][label]) @ a
                    drives[label] = (d - d.mean()) / d.std()
                for e, label in enumerate(rs.electrodes):
                    kind = demo_info.kinds[subject][label]
                    # none, and highgamma (whose response is in power): |r| under 4 null sds
                    if kind in ("none", "highgamma"):
                        r = np.array([drives[o] @ z[:, e, peak_bin] / len(feats) for o in drives])
                        assert np.abs(r).max() < 4 / np.sqrt(len(feats)), (subject, alignment, label, r)
                        continue
                    r = drives[label] @ z[:, e, :] / len(feats)
                    # ~176 word events, but only ~38 cuts (null sd 0.16) whose sentence latent
                    # competes with the responses to the surrounding words
                    floor = 0.5 if alignment == "language" else 0.35
                    assert r[peak_bin] > floor, (subject, alignment, label, r[peak_bin])
                    # within two bins (50 ms) of the planted latency
                    assert abs(rs.bin_times[int(np.argmax(r))] - KERNEL_LATENCY_S) <= 0.05 + 1e-6


# --------------------------------------------------------------------------------------------
# Determinism and arguments
# --------------------------------------------------------------------------------------------
SMALL = dict(duration_s=30.0, subjects=(3, 9), n_shafts=3, contacts_per_shaft=8, progress=False)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path):
    a = generate_demo(tmp_path / "a", seed=5, **SMALL)
    generate_demo(tmp_path / "b", seed=5, **SMALL)
    files_a, files_b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert files_a.keys() == files_b.keys()
    assert "all_subject_data/sub_9_trial000.h5" in files_a
    different = [name for name in files_a if files_a[name] != files_b[name]]
    assert different == []
    assert a.sfreq == {3: 2048.0, 9: 1024.0}
    generate_demo(tmp_path / "c", seed=6, **SMALL)
    files_c = _files(tmp_path / "c")
    for name in (
        "all_subject_data/sub_3_trial000.h5",
        f"transcripts/{MOVIE_ID}/features.csv",
        "subject_timings/sub_9_trial000_timings.csv",
        "truth.csv",
    ):
        assert files_a[name] != files_c[name], name


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(duration_s=10), "duration_s"),
        (dict(duration_s=MIN_DURATION_S - 0.5), "duration_s"),
        (dict(n_shafts=MIN_SHAFTS - 1), "n_shafts"),
        (dict(n_shafts=MAX_SHAFTS + 1), "n_shafts"),
        (dict(contacts_per_shaft=4), "contacts_per_shaft"),
        (dict(contacts_per_shaft=MIN_CONTACTS - 1), "contacts_per_shaft"),
        (dict(contacts_per_shaft=MAX_CONTACTS + 1), "contacts_per_shaft"),
        (dict(frame_size=(127, 96)), "frame_size"),
        (dict(frame_size=(30, 96)), "frame_size"),
        (dict(subjects=(1, 1)), "subjects"),
        (dict(subjects=()), "subjects"),
        (dict(subjects=(0, 2)), "subjects"),
        (dict(fps=0), "fps"),
        (dict(variant="nonlinear"), "variant"),
    ],
)
def test_bad_arguments_are_reported(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate_demo(tmp_path / "x", **{**SMALL, **kwargs})
    assert not (tmp_path / "x").exists()


def test_every_montage_within_the_bounds_plants_two_electrodes_of_each_kind():
    """The bounds are exact for the montage: every (n_shafts, contacts_per_shaft) within them
    leaves 2 non-adjacent Laplacian electrodes per planted kind (highgamma included), and the
    smallest montage just
    below MIN_CONTACTS does not (the generator's own check says so)."""
    from mmsites.recordings.demo.montage import assign_kinds, subject_montage

    for n_shafts in range(MIN_SHAFTS, MAX_SHAFTS + 1):
        for contacts in range(MIN_CONTACTS, MAX_CONTACTS + 1):
            for pos in (0, 1):  # the first subject has one trigger channel more
                montage = subject_montage(pos, n_shafts, contacts)
                kinds = assign_kinds(np.random.default_rng(0), montage.eligible)
                counts = pd.Series(list(kinds.values())).value_counts()
                assert all(counts.get(k, 0) >= 2 for k in PLANTED_KINDS), (n_shafts, contacts)
                responsive = {shaft_and_contact(e) for e, k in kinds.items() if k != "none"}
                assert not any((shaft, c + 1) in responsive for shaft, c in responsive)
    with pytest.raises(ValueError, match="non-adjacent"):
        subject_montage(0, MIN_SHAFTS, MIN_CONTACTS - 1)


def test_smallest_demo_params_generate_a_demo_and_one_below_is_refused(tmp_path):
    """DemoParams takes its bounds from the generator: its smallest accepted values generate
    a valid demo, and one step below any of them is refused by the params and the generator."""
    from pydantic import ValidationError

    from mmsites.pipeline.params import DemoParams

    smallest = dict(
        duration_s=MIN_DURATION_S, subjects=[1], n_shafts=MIN_SHAFTS, contacts_per_shaft=MIN_CONTACTS
    )
    params = DemoParams(**smallest)
    info = generate_demo(
        tmp_path / "smallest",
        seed=params.seed,
        duration_s=params.duration_s,
        subjects=tuple(params.subjects),
        n_shafts=params.n_shafts,
        contacts_per_shaft=params.contacts_per_shaft,
        variant=params.variant,
        progress=False,
    )
    ds = BrainTreebank(info.root)
    truth = pd.read_csv(info.root / "truth.csv")
    selected, _ = select_electrodes(ds.raw_labels(1), ds.corrupted(1))
    assert truth["electrode"].tolist() == selected
    counts = truth["kind"].value_counts()
    assert all(counts.get(k, 0) >= 2 for k in PLANTED_KINDS)
    assert info.n_events["language"] > 10 and info.n_events["vision"] > 10
    assert estimate_sfreq(ds.timings(1, 0)) == info.sfreq[1]
    below = dict(
        duration_s=MIN_DURATION_S - 1,
        subjects=[1, 1],
        n_shafts=MIN_SHAFTS - 1,
        contacts_per_shaft=MIN_CONTACTS - 1,
    )
    for name, value in below.items():
        with pytest.raises(ValidationError, match=name):
            DemoParams(**{**smallest, name: value})
        with pytest.raises(ValueError, match=name):
            generate_demo(tmp_path / name, **{**smallest, name: value, "progress": False})
        assert not (tmp_path / name).exists()
    for name, value in dict(n_shafts=MAX_SHAFTS + 1, contacts_per_shaft=MAX_CONTACTS + 1).items():
        with pytest.raises(ValidationError, match=name):
            DemoParams(**{**smallest, name: value})


# --------------------------------------------------------------------------------------------
# Null variants: no_multimodal and linear
# --------------------------------------------------------------------------------------------
VARIANT_KWARGS = dict(
    seed=2, duration_s=60.0, subjects=(1,), n_shafts=4, contacts_per_shaft=8, progress=False
)
#: Worst Laplacian difference from ADC rounding alone: each channel is rounded to half a step.
_ROUNDING_UV = 2 * 0.2658 + 1e-3


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    """The same small demo (1 subject, 60 s) in every variant: variant -> DemoInfo."""
    base = tmp_path_factory.mktemp("variants")
    return {v: generate_demo(base / v, variant=v, **VARIANT_KWARGS) for v in VARIANTS}


def _laplacians(info, subject):
    """Cleaned label -> Laplacian signal (float64) of every selected electrode, and the raw
    h5 datasets by cleaned label."""
    ds = BrainTreebank(info.root)
    labels = ds.labels(subject)
    _, neighbours = select_electrodes(ds.raw_labels(subject), ds.corrupted(subject))
    with h5py.File(ds.h5_path(subject, 0), "r") as f:
        raw = {key: f["data"][key][:] for key in f["data"]}
    chan = {lab: raw[f"electrode_{i}"].astype(np.float64) for i, lab in enumerate(labels)}
    lap = {lab: chan[lab] - 0.5 * (chan[lo] + chan[hi]) for lab, (lo, hi) in neighbours.items()}
    return lap, raw


def _event_samples(info, subject):
    ds = BrainTreebank(info.root)
    timings = ds.timings(subject, 0)
    sfreq = estimate_sfreq(timings)
    features = {
        al: pd.read_parquet(info.root / "truth_features" / "multimodal" / f"{MOVIE_ID}_{al}.parquet")
        for al in ("language", "vision")
    }
    samples = {al: movie_to_sample(f["movie_time"].to_numpy(), timings, sfreq) for al, f in features.items()}
    return samples, features, sfreq


def test_variants_change_only_the_would_be_multimodal_electrodes(variants):
    planted = variants["planted"]
    files = {v: _files(info.root) for v, info in variants.items()}
    varying = {"truth.csv"} | {n for n in files["planted"] if n.startswith("all_subject_data/")}
    for v, info in variants.items():
        assert info.variant == v
        assert files[v].keys() == files["planted"].keys()
        same = [n for n in files[v] if n not in varying and files[v][n] != files["planted"][n]]
        assert same == [], v  # movie, transcript, truth features, timings, localization
    for subject in planted.subjects:
        was_mm = set(planted.electrodes_of_kind(subject, "multimodal"))
        assert len(was_mm) >= 2
        for v, kind in {"no_multimodal": "none", "linear": "linear"}.items():
            kinds = variants[v].kinds[subject]
            assert list(kinds) == list(planted.kinds[subject])
            assert {lab: k for lab, k in kinds.items() if lab not in was_mm} == {
                lab: k for lab, k in planted.kinds[subject].items() if lab not in was_mm
            }
            assert {kinds[lab] for lab in was_mm} == {kind}
            assert "multimodal" not in kinds.values()
            truth = pd.read_csv(variants[v].root / "truth.csv")
            assert dict(zip(truth["electrode"], truth["kind"])) == kinds
            # unimodal weights unchanged; responsive electrodes are exactly those with weights
            for lab in planted.weights[subject]:
                if lab not in was_mm:
                    np.testing.assert_array_equal(
                        variants[v].weights[subject][lab], planted.weights[subject][lab]
                    )
            assert set(variants[v].weights[subject]) == {e for e, k in kinds.items() if k != "none"}
        assert set(variants["no_multimodal"].weights[subject]) == set(planted.weights[subject]) - was_mm


def test_variants_write_identical_unimodal_and_none_responses(variants):
    """Electrodes that are none/vision/language/highgamma in both variants carry the same signal: raw h5
    datasets byte-identical off the would-be multimodal electrodes' shafts (and for the DC and
    trigger channels), Laplacians equal up to ADC rounding everywhere (a shaft's tent cancels)."""
    planted = variants["planted"]
    for subject in planted.subjects:
        lap_p, raw_p = _laplacians(planted, subject)
        labels = BrainTreebank(planted.root).labels(subject)
        was_mm = planted.electrodes_of_kind(subject, "multimodal")
        mm_shafts = {shaft_and_contact(lab)[0] for lab in was_mm}
        off_shaft = [
            f"electrode_{i}"
            for i, lab in enumerate(labels)
            if lab.upper().startswith(("DC", "TRIG")) or shaft_and_contact(lab)[0] not in mm_shafts
        ]
        assert len(off_shaft) > 5 and len(off_shaft) < len(raw_p)  # both kinds of shaft occur
        for v in ("no_multimodal", "linear"):
            lap_v, raw_v = _laplacians(variants[v], subject)
            assert raw_v.keys() == raw_p.keys()
            for key in off_shaft:
                np.testing.assert_array_equal(raw_v[key], raw_p[key], err_msg=f"{v} {key}")
            shared = [
                lab
                for lab, k in planted.kinds[subject].items()
                if k in ("none", "vision", "language", "highgamma") and variants[v].kinds[subject][lab] == k
            ]
            assert len(shared) == len(planted.kinds[subject]) - len(was_mm)
            for lab in shared:
                np.testing.assert_allclose(
                    lap_v[lab], lap_p[lab], rtol=0, atol=_ROUNDING_UV, err_msg=f"{v} {lab}"
                )
            for lab in was_mm:  # the signal that did change is big
                assert np.abs(lap_v[lab] - lap_p[lab]).max() > 20


def test_no_multimodal_variant_silences_the_multimodal_electrodes(variants):
    """The would-be multimodal electrodes carry only noise: the Laplacian of the planted demo
    minus that of the null one is exactly the planted multimodal response (noise cancels)."""
    planted, null = variants["planted"], variants["no_multimodal"]
    for subject in planted.subjects:
        lap_p, _ = _laplacians(planted, subject)
        lap_n, _ = _laplacians(null, subject)
        samples, features, sfreq = _event_samples(planted, subject)
        for lab in planted.electrodes_of_kind(subject, "multimodal"):
            assert null.kinds[subject][lab] == "none" and lab not in null.weights[subject]
            expected = _expected_laplacian(
                "multimodal",
                planted.weights[subject][lab],
                samples,
                features,
                sfreq,
                planted.n_samples[subject],
            )
            assert np.abs(expected).max() > 20
            np.testing.assert_allclose(
                lap_p[lab] - lap_n[lab], expected, rtol=0, atol=_ROUNDING_UV, err_msg=lab
            )
            assert abs(np.corrcoef(lap_n[lab], expected)[0, 1]) < 0.05  # nothing left in the null


def test_linear_variant_plants_a_linear_mix_of_v_and_w(variants):
    planted, linear, null = variants["planted"], variants["linear"], variants["no_multimodal"]
    for subject in planted.subjects:
        lap_l, _ = _laplacians(linear, subject)
        lap_n, _ = _laplacians(null, subject)
        samples, features, sfreq = _event_samples(linear, subject)
        electrodes = linear.electrodes_of_kind(subject, "linear")
        assert electrodes == planted.electrodes_of_kind(subject, "multimodal") and len(electrodes) >= 2
        for lab in electrodes:
            a = linear.weights[subject][lab]
            assert a.shape == (2 * N_LATENT,)
            a1, a2 = a[:N_LATENT], a[N_LATENT:]
            # |a1| = |a2| = |a_multimodal| / sqrt(2): the drive variance of a multimodal electrode
            a_mm = planted.weights[subject][lab]
            np.testing.assert_allclose(np.linalg.norm(a1), np.linalg.norm(a2), rtol=1e-12)
            np.testing.assert_allclose(np.linalg.norm(a), np.linalg.norm(a_mm), rtol=1e-12)
            np.testing.assert_allclose(a1, a_mm / np.sqrt(2), rtol=1e-12)
            assert 0.8 * RESPONSE_UV <= np.linalg.norm(a) <= 1.2 * RESPONSE_UV
            expected = _expected_laplacian("linear", a, samples, features, sfreq, linear.n_samples[subject])
            assert np.abs(expected).max() > 20
            # exactly the linear response on top of the same noise
            np.testing.assert_allclose(
                lap_l[lab] - lap_n[lab], expected, rtol=0, atol=_ROUNDING_UV, err_msg=lab
            )
            # and visibly in the noisy signal: correlated with the linear drive, far less with the
            # v*w response the planted demo puts there (same event times: only chance overlap)
            r_linear = np.corrcoef(lap_l[lab], expected)[0, 1]
            product = _expected_laplacian(
                "multimodal", a_mm, samples, features, sfreq, linear.n_samples[subject]
            )
            r_product = np.corrcoef(lap_l[lab], product)[0, 1]
            assert r_linear > 0.3 and abs(r_product) < r_linear / 2, (lab, r_linear, r_product)
            # both halves matter: each alone explains part of the response
            for half, weights in (("v", np.r_[a1, 0 * a2]), ("w", np.r_[0 * a1, a2])):
                part = _expected_laplacian(
                    "linear", weights, samples, features, sfreq, linear.n_samples[subject]
                )
                assert np.corrcoef(lap_l[lab] - lap_n[lab], part)[0, 1] > 0.3, (lab, half)


def test_kind_drive_of_linear_is_v_then_w(demo_root):
    feats = pd.read_parquet(demo_root / "truth_features" / "multimodal" / f"{MOVIE_ID}_language.parquet")
    drive = kind_drive(feats, "linear")
    assert drive.shape == (len(feats), 2 * N_LATENT)
    np.testing.assert_array_equal(
        drive, np.hstack([kind_drive(feats, "vision"), kind_drive(feats, "language")])
    )
    with pytest.raises(ValueError, match="kind"):
        kind_drive(feats, "none")


def test_demo_params_variant(tmp_path):
    from mmsites.pipeline.params import DemoParams, load_params

    assert DemoParams().variant == "planted"
    assert DemoParams(variant="linear").variant == "linear"
    # the params offer exactly the generator's variants
    assert set(typing.get_args(DemoParams.model_fields["variant"].annotation)) == set(VARIANTS)
    path = tmp_path / "params.yaml"
    path.write_text("demo:\n  variant: no_multimodal\n")
    assert load_params(path).demo.variant == "no_multimodal"
    path.write_text("demo:\n  variant: nonlinear\n")
    with pytest.raises(ValueError, match=r"demo\.variant"):
        load_params(path)


def test_demo_data_stage_forwards_the_variant(tmp_path, monkeypatch):
    import mmsites.pipeline.stages.demo_data as stage
    from mmsites.pipeline.params import Params

    seen = {}

    def fake(root, **kwargs):
        seen.update(kwargs)
        Path(root).mkdir(parents=True)
        return type("Info", (), {"movie_id": MOVIE_ID, "variant": kwargs["variant"]})()

    monkeypatch.setattr(stage, "generate_demo", fake)
    params = Params.model_validate(
        {"data": {"format": "demo", "root": "data/demo"}, "demo": {"variant": "linear", "seed": 3}}
    )
    stage.run(params, tmp_path)
    assert seen["variant"] == "linear" and seen["seed"] == 3
    assert (tmp_path / "data" / "demo").is_dir()


def test_demo_recovery_reports_linear_false_positives():
    from mmsites.stats.sites import demo_recovery

    truth = pd.DataFrame(
        {
            "subject": 1,
            "electrode": ["A", "B", "C", "D", "E"],
            "kind": ["linear", "linear", "vision", "none", "multimodal"],
        }
    )
    sites = pd.DataFrame(
        {
            "subject": 1,
            "electrode": ["A", "B", "C", "D", "E"],
            "multimodal_strict": [True, False, False, False, True],
        }
    )
    rec = demo_recovery(sites, truth)
    assert rec["false_positive_rate"] == {"none": 0.0, "vision": 0.0, "language": 0.0, "linear": 0.5}
    assert rec["precision"] == 0.5 and rec["recall"] == 1.0 and rec["n_true"] == 1
    no_linear = demo_recovery(sites, truth.assign(kind=["none", "none", "vision", "none", "multimodal"]))
    assert set(no_linear["false_positive_rate"]) == {"none", "vision", "language"}


# --------------------------------------------------------------------------------------------
# High gamma: multimodal in band power, invisible in voltage, and nothing else changed
# --------------------------------------------------------------------------------------------
def _peak_window_means(signal, samples, sfreq, delay=0):
    """Mean of ``signal`` in the 200-ms window centred on the kernel's peak after each event
    (moved ``delay`` samples later), NaN where the window leaves the signal: (n_events,)."""
    half = int(round(0.1 * sfreq))
    centre = samples + int(round(KERNEL_LATENCY_S * sfreq)) + delay
    cumsum = np.r_[0.0, np.cumsum(signal)]
    out = np.full(samples.shape, np.nan)
    ok = np.isfinite(centre) & (centre - half >= 0) & (centre + half <= signal.size)
    lo = centre[ok].astype(np.int64) - half
    out[ok] = (cumsum[lo + 2 * half] - cumsum[lo]) / (2 * half)
    return out


def _responses_vs_drive(info, subject):
    """Per responsive electrode of the multimodal kinds: r of its drive with its voltage window
    means and with its high-gamma band power window means (Laplacian reference, the
    band-power path's 70-150 Hz causal band-pass, windows moved by its group delay), over
    the events of both alignments: label -> (kind, r_voltage, r_band_power, n_events)."""
    from mmsites.recordings.spectral import HIGH_GAMMA, band_delay_s, band_power

    lap, _ = _laplacians(info, subject)
    samples, features, sfreq = _event_samples(info, subject)
    delay = int(round(band_delay_s(HIGH_GAMMA, sfreq) * sfreq))
    out = {}
    for label, kind in info.kinds[subject].items():
        if kind not in ("multimodal", "highgamma"):
            continue
        power = band_power(lap[label], sfreq)[0].astype(np.float64)
        drive, voltage, band = [], [], []
        for al, feats in features.items():
            drive.append(kind_drive(feats, kind) @ info.weights[subject][label])
            voltage.append(_peak_window_means(lap[label], samples[al], sfreq))
            band.append(_peak_window_means(power, samples[al], sfreq, delay))
        drive, voltage, band = (np.concatenate(x) for x in (drive, voltage, band))
        ok = np.isfinite(voltage) & np.isfinite(band)
        r_voltage = np.corrcoef(drive[ok], voltage[ok])[0, 1]
        r_band = np.corrcoef(drive[ok], band[ok])[0, 1]
        out[label] = (kind, r_voltage, r_band, int(ok.sum()))
    return out


def test_highgamma_electrodes_are_multimodal_in_band_power_not_in_voltage(demo_info):
    """At the default SNR (the shared 90-s demo, ~250 events per subject): the band power of a
    highgamma electrode follows its multimodal drive (r > 0.6; 0.78-0.80 seen), its voltage does
    not (|r| under 3 null sds, 3 / sqrt(n) = 0.19; 0.13 at most seen, the null sd of these
    window means is 0.07); a multimodal electrode is the mirror image (voltage r > 0.6, 0.83-0.87
    seen; band power |r| under 3 null sds)."""
    seen = set()
    for subject in demo_info.subjects:
        assert len(demo_info.electrodes_of_kind(subject, "highgamma")) >= 2
        for label, (kind, r_voltage, r_band, n) in _responses_vs_drive(demo_info, subject).items():
            seen.add(kind)
            assert n > 150, (subject, label, n)
            floor = 3 / np.sqrt(n)
            if kind == "highgamma":
                assert r_band > 0.6 and abs(r_voltage) < floor, (subject, label, r_band, r_voltage)
            else:
                assert r_voltage > 0.6 and abs(r_band) < floor, (subject, label, r_voltage, r_band)
    assert seen == {"multimodal", "highgamma"}


def test_highgamma_electrodes_leave_every_other_electrode_as_it_was(tmp_path, monkeypatch):
    """The demo with its highgamma electrodes against the same demo with that kind switched off
    (they stay "none", as before the kind existed): every file but truth.csv and the h5 files is
    byte-identical; in the h5 files every channel off the highgamma electrodes' shafts is, and on
    those shafts every other Laplacian electrode equals its old self up to ADC rounding (the
    carrier's tent cancels); the weights of the other electrodes are the same. Fails if the
    highgamma draws came from any stream another draw uses."""
    import mmsites.recordings.demo.generator as generator

    on = generate_demo(tmp_path / "on", seed=5, **SMALL)
    assign_kinds = generator.assign_kinds

    def without_highgamma(rng, eligible):
        return {lab: "none" if k == "highgamma" else k for lab, k in assign_kinds(rng, eligible).items()}

    monkeypatch.setattr(generator, "assign_kinds", without_highgamma)
    off = generate_demo(tmp_path / "off", seed=5, **SMALL)
    files_on, files_off = _files(on.root), _files(off.root)
    assert files_on.keys() == files_off.keys()
    differ = sorted(name for name in files_on if files_on[name] != files_off[name])
    assert differ == ["all_subject_data/sub_3_trial000.h5", "all_subject_data/sub_9_trial000.h5", "truth.csv"]
    for subject in on.subjects:
        highgamma = on.electrodes_of_kind(subject, "highgamma")
        assert len(highgamma) >= 2 and off.electrodes_of_kind(subject, "highgamma") == []
        assert {lab: "none" if k == "highgamma" else k for lab, k in on.kinds[subject].items()} == off.kinds[
            subject
        ]
        assert set(on.weights[subject]) == set(off.weights[subject]) | set(highgamma)
        for lab, a in off.weights[subject].items():
            np.testing.assert_array_equal(on.weights[subject][lab], a)
        # raw channels: byte-identical off the highgamma shafts (trigger and extra channels included)
        lap_on, raw_on = _laplacians(on, subject)
        lap_off, raw_off = _laplacians(off, subject)
        labels = BrainTreebank(on.root).labels(subject)
        shafts = {shaft_and_contact(lab)[0] for lab in highgamma}
        on_shaft = {
            f"electrode_{i}"
            for i, lab in enumerate(labels)
            if not lab.upper().startswith(("DC", "TRIG")) and shaft_and_contact(lab)[0] in shafts
        }
        assert raw_on.keys() == raw_off.keys() and 0 < len(on_shaft) < len(raw_on)
        for key in raw_on:
            if key not in on_shaft:
                assert raw_on[key].tobytes() == raw_off[key].tobytes(), (subject, key)
        # Laplacians: the others as they were (ADC rounding), the highgamma ones changed by a
        # carrier that 200-ms means average away: a few % of the noise left in such means
        n = int(0.2 * on.sfreq[subject])
        for lab in lap_on:
            if lab in highgamma:
                carrier = lap_on[lab] - lap_off[lab]
                assert np.abs(carrier).max() > 20, (subject, lab)
                left, noise = (
                    np.sqrt(np.mean(_moving_average(x, n)[n:-n] ** 2)) for x in (carrier, lap_off[lab])
                )
                assert left < 0.02 * np.sqrt(np.mean(carrier**2)) and left < 0.05 * noise, (lab, left, noise)
            else:
                np.testing.assert_allclose(lap_on[lab], lap_off[lab], rtol=0, atol=_ROUNDING_UV, err_msg=lab)


#: The shared demo (conftest.DEMO_KWARGS) as the code before the highgamma kind wrote it
#: (commit 1a4a2ba): each subject's voltage kinds, and raw samples 10000-10003 (µV) of channels
#: off the highgamma electrodes' shafts (a neural one, the corrupted one, a trigger channel,
#: sub_1's unlabelled extra channel, index 35): each from its own child of the signal seed.
_BEFORE_HIGHGAMMA = {
    1: (
        {
            "vision": ["LT2aA5", "LT2aA7"],
            "language": ["T1aIb6", "F10Fa6"],
            "multimodal": ["F10Fa2", "LT2aA3"],
        },
        {
            "F10Fa3": [16.2138, -16.7454, -20.2008, -25.7826],
            "RF1aCaOF6": [-15.4164, 0.5316, -6.6450, 8.5056],
            "DC10": [0.2658, -0.5316, -0.5316, -0.7974],
            35: [3.1896, 1.0632, 0.0, -2.6580],
        },
    ),
    2: (
        {
            "vision": ["F10Fa2", "RF1aCaOF7"],
            "language": ["T1aIb4", "LT2aA3"],
            "multimodal": ["LT2aA5", "RF1aCaOF5"],
        },
        {
            "F10Fa6": [54.2232, 72.5634, 75.2214, 65.3868],
            "RF1aCaOF3": [3821.1409, 3973.7100, -2832.8965, 2449.0813],
            "DC10": [-0.2658, -1.0632, -1.0632, 1.5948],
        },
    ),
}


def test_the_shared_demo_is_the_one_written_before_the_highgamma_kind(tmp_path, monkeypatch):
    """Against values stored from the code before the highgamma kind: every voltage kind is where
    it was, the highgamma electrodes were "none" ones, and channels off their shafts carry the
    same samples (within one ADC step, room for another platform's last-bit rounding). The shared
    slow state came later and adds to every neural channel from a stream of its own: without it
    (``STATE_UV = 0``) the samples are the stored ones."""
    from conftest import DEMO_KWARGS

    import mmsites.recordings.demo.signals as signals
    from mmsites.recordings.demo import generate_demo

    monkeypatch.setattr(signals, "STATE_UV", 0.0)
    demo_info = generate_demo(tmp_path / "braintreebank", **DEMO_KWARGS)
    step = 0.2658
    for subject, (kinds, samples) in _BEFORE_HIGHGAMMA.items():
        now = demo_info.kinds[subject]
        assert {k: demo_info.electrodes_of_kind(subject, k) for k in kinds} == kinds
        before = {lab: next((k for k, labs in kinds.items() if lab in labs), "none") for lab in now}
        assert {lab: "none" if k == "highgamma" else k for lab, k in now.items()} == before
        labels = BrainTreebank(demo_info.root).labels(subject)
        shafts = {shaft_and_contact(lab)[0] for lab in demo_info.electrodes_of_kind(subject, "highgamma")}
        with h5py.File(demo_info.paths[f"h5_{subject}"], "r") as f:
            for channel, expected in samples.items():
                if isinstance(channel, str) and not channel.startswith("DC"):
                    assert shaft_and_contact(channel)[0] not in shafts, channel
                index = channel if isinstance(channel, int) else labels.index(channel)
                got = f["data"][f"electrode_{index}"][10000:10004]
                np.testing.assert_allclose(got, expected, rtol=0, atol=step, err_msg=f"{subject} {channel}")


def test_shared_state_modulates_every_channel_alike(tmp_path, monkeypatch):
    """The slow shared state: each channel's 8-55 Hz rhythm is its own noise (independent
    carriers), but their power follows one envelope, which survives the Laplacian; the state is
    an Ornstein-Uhlenbeck process with the stated time constant."""
    import scipy.signal

    import mmsites.recordings.demo.signals as signals

    rng = np.random.default_rng(0)
    sfreq, n = 512.0, 512 * 400
    amp = signals.shared_state_amplitude(rng, n, sfreq)
    assert amp.shape == (n,) and (amp > 0).all()
    z = (2 * np.log(amp / signals.STATE_UV) + signals.STATE_DEPTH**2 / 2) / signals.STATE_DEPTH
    assert abs(z.mean()) < 0.3 and abs(z.std() - 1) < 0.2  # unit variance
    lag = int(signals.STATE_TAU_S * sfreq)
    assert abs(np.corrcoef(z[:-lag], z[lag:])[0, 1] - np.exp(-1)) < 0.15  # time constant

    monkeypatch.setattr(signals, "NOISE_UV", 0.0)
    monkeypatch.setattr(signals, "LINE_NOISE_UV", {})
    info = generate_demo(tmp_path / "state", seed=2, **SMALL)
    ds = BrainTreebank(info.root)
    subject = info.subjects[0]
    labels = ds.labels(subject)
    _, neighbours = select_electrodes(ds.raw_labels(subject), ds.corrupted(subject))
    # one quiet electrode per shaft: Laplacians of one shaft share raw channels
    quiet = list(
        {shaft_and_contact(lab)[0]: lab for lab, k in info.kinds[subject].items() if k == "none"}.values()
    )
    sfreq = info.sfreq[subject]
    win = int(sfreq)  # 1 s power
    with h5py.File(ds.h5_path(subject, 0), "r") as f:

        def channel(label):
            return f["data"][f"electrode_{labels.index(label)}"][:].astype(np.float64)

        laps = np.array(
            [channel(e) - 0.5 * (channel(neighbours[e][0]) + channel(neighbours[e][1])) for e in quiet]
        )
    power = scipy.signal.fftconvolve(laps**2, np.ones((1, win)) / win, mode="valid", axes=1)[:, ::win]
    raw_r = np.corrcoef(laps[:, ::7])[np.triu_indices(len(quiet), 1)]
    power_r = np.corrcoef(np.log(power))[np.triu_indices(len(quiet), 1)]
    assert np.abs(raw_r).max() < 0.2  # their own carriers
    assert power_r.min() > 0.6  # one envelope
