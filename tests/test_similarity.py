"""mmsites.similarity: CKA and RSA against slow direct formulas, invariances, tensors, gradients."""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pytest
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mmsites.similarity import CKAAccumulator, layer_map, linear_cka, rdm, rsa
from mmsites.similarity.dissimilarity import _ranks

# ---------------------------------------------------------------------------------------------
# slow direct formulas (float64, explicit n × n matrices)
# ---------------------------------------------------------------------------------------------


def slow_hsic_biased(K, L):
    """tr(K H L H) / (n-1)^2 with the explicit centring matrix H."""
    n = len(K)
    H = np.eye(n) - np.ones((n, n)) / n
    return np.trace(K @ H @ L @ H) / (n - 1) ** 2


def slow_hsic_unbiased(K, L):
    """Song et al. (2012), eq. 5, on the raw (uncentred) kernels."""
    n = len(K)
    Kt, Lt = K - np.diag(np.diag(K)), L - np.diag(np.diag(L))
    one = np.ones(n)
    return (
        np.trace(Kt @ Lt)
        + (one @ Kt @ one) * (one @ Lt @ one) / ((n - 1) * (n - 2))
        - 2 / (n - 2) * one @ Kt @ Lt @ one
    ) / (n * (n - 3))


def ustatistic_hsic(K, L):
    """HSIC as the U-statistic over ordered 4-tuples of distinct indices (its definition)."""
    n = len(K)
    tuples = np.array(list(itertools.permutations(range(n), 4)))
    i, j, q, r = tuples.T
    return np.mean(K[i, j] * (L[i, j] + L[q, r] - 2 * L[i, q]))


def slow_cka(X, Y, debiased=False):
    K, L = X @ X.T, Y @ Y.T
    hsic = slow_hsic_unbiased if debiased else slow_hsic_biased
    return hsic(K, L) / np.sqrt(hsic(K, K) * hsic(L, L))


def slow_rdm(X, similarity):
    n = len(X)
    D = np.zeros((n, n))
    for a in range(n):
        for b in range(n):
            u, v = X[a], X[b]
            if similarity == "correlation":
                D[a, b] = 1 - np.corrcoef(u, v)[0, 1]
            else:
                D[a, b] = 1 - u @ v / (np.linalg.norm(u) * np.linalg.norm(v))
    return D


def slow_rsa(X, Y, similarity, compare):
    iu = np.triu_indices(len(X), k=1)
    a, b = slow_rdm(X, similarity)[iu], slow_rdm(Y, similarity)[iu]
    return (scipy.stats.pearsonr if compare == "pearson" else scipy.stats.spearmanr)(a, b)[0]


def guidance_rsa(X, Y):
    """The untrainable-networks RSA (DifferentiableRSA.rsa), transcribed to numpy."""

    def sim(R):
        Rn = R / np.linalg.norm(R, axis=1, keepdims=True)
        return Rn @ Rn.T

    a, b = sim(X).ravel(), sim(Y).ravel()
    a, b = a - a.mean(), b - b.mean()
    return (a @ b) / np.sqrt((a @ a) * (b @ b))


def guidance_layer_supervision(source_count, target_count):
    """The untrainable-networks layer_supervision index rule, transcribed."""
    step = (target_count - 1) / (source_count - 1) if source_count > 1 else 1
    return [min(round(i * step), target_count - 1) for i in range(source_count)]


def data(seed, n=40, p=7, q=5, offset=3.0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) + offset
    Y = X[:, :q] @ rng.standard_normal((q, q)) + rng.standard_normal((n, q)) - offset
    return X, Y


# ---------------------------------------------------------------------------------------------
# CKA: values
# ---------------------------------------------------------------------------------------------


def test_unbiased_hsic_formula_is_the_u_statistic():
    """The slow Song formula itself, against the 4-tuple definition (n = 7: 840 tuples)."""
    X, Y = data(0, n=7, p=3, q=2)
    K, L = X @ X.T, Y @ Y.T
    assert slow_hsic_unbiased(K, L) == pytest.approx(ustatistic_hsic(K, L), rel=1e-10)


@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize("method", ["auto", "features", "gram"])
@pytest.mark.parametrize("shape", [(40, 7, 5), (12, 30, 50), (4, 1, 1), (5, 2, 9)])
def test_cka_matches_slow_formula(debiased, method, shape):
    n, p, q = shape
    rng = np.random.default_rng(n + p + q)
    X = rng.standard_normal((n, p)) + 2.0
    Y = np.hstack([X, rng.standard_normal((n, q))])[:, -q:] + X[:, :1]
    got = linear_cka(X, Y, debiased=debiased, method=method)
    assert isinstance(got, float)
    assert got == pytest.approx(slow_cka(X, Y, debiased), rel=1e-10, abs=1e-12)


def test_cka_basic_values():
    X, Y = data(1)
    assert linear_cka(X, X) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(X, X, debiased=True) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(X, Y) == pytest.approx(linear_cka(Y, X), abs=1e-14)
    assert 0.0 <= linear_cka(X, Y) <= 1.0


def test_debiased_near_zero_for_independent_data_where_biased_is_not():
    """n = 20, 10 + 10 independent features: biased CKA is far from 0, debiased is not."""
    biased, debiased = [], []
    for seed in range(200):
        rng = np.random.default_rng(seed)
        X, Y = rng.standard_normal((20, 10)), rng.standard_normal((20, 10))
        biased.append(linear_cka(X, Y))
        debiased.append(linear_cka(X, Y, debiased=True))
    assert np.mean(biased) > 0.25  # about 0.34 ± 0.05 per draw
    assert abs(np.mean(debiased)) < 0.02  # -0.005, standard error 0.005
    assert min(debiased) < 0  # an estimate around 0, not a bounded score


def test_constant_representation_gives_zero_with_a_warning(caplog):
    X, _ = data(2)
    const = np.full((40, 3), 7.0)
    with caplog.at_level(logging.WARNING, logger="mmsites.similarity.cka"):
        assert linear_cka(X, const) == 0.0
        assert linear_cka(const, X, debiased=True) == 0.0
    assert "X is constant" in caplog.text and "Y is constant" in caplog.text
    Xt = torch.tensor(X, requires_grad=True)
    value = linear_cka(Xt, torch.tensor(const))
    value.backward()
    assert float(value.detach()) == 0.0 and torch.isfinite(Xt.grad).all()


# ---------------------------------------------------------------------------------------------
# CKA: invariances (property tests)
# ---------------------------------------------------------------------------------------------


def random_orthogonal(rng, p):
    Q, R = np.linalg.qr(rng.standard_normal((p, p)))
    return Q * np.sign(np.diag(R))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(6, 30),
    p=st.integers(1, 8),
    q=st.integers(1, 8),
    scale=st.floats(1e-3, 1e3),
    shift=st.floats(-100, 100),
    debiased=st.booleans(),
)
def test_cka_invariant_to_orthogonal_maps_isotropic_scaling_and_translation(
    seed, n, p, q, scale, shift, debiased
):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    Y = X[:, :1] @ rng.standard_normal((1, q)) + rng.standard_normal((n, q))
    Z = scale * X @ random_orthogonal(rng, p) + shift
    W = Y @ random_orthogonal(rng, q) / scale
    ref = linear_cka(X, Y, debiased=debiased)
    assert linear_cka(Z, Y, debiased=debiased) == pytest.approx(ref, abs=1e-9)
    assert linear_cka(Z, W, debiased=debiased) == pytest.approx(ref, abs=1e-9)


@pytest.mark.parametrize("debiased", [False, True])
def test_cka_not_invariant_to_general_invertible_maps(debiased):
    """Stretching a feature that Y does not see changes CKA (CCA would not change)."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((200, 2))
    Y = X[:, :1] + 0.1 * rng.standard_normal((200, 1))
    A = np.array([[1.0, 0.5], [0.0, 10.0]])  # invertible, not a scaled orthogonal map
    before, after = linear_cka(X, Y, debiased=debiased), linear_cka(X @ A, Y, debiased=debiased)
    assert before > 0.4 and after < 0.1


# ---------------------------------------------------------------------------------------------
# tensors, devices, gradients
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("debiased", [False, True])
def test_tensors_agree_with_numpy(debiased):
    X, Y = data(3)
    ref = linear_cka(X, Y, debiased=debiased)
    got = linear_cka(torch.from_numpy(X), torch.from_numpy(Y), debiased=debiased)
    assert torch.is_tensor(got) and got.ndim == 0 and got.dtype == torch.float64
    assert float(got) == pytest.approx(ref, abs=1e-12)
    got32 = linear_cka(torch.from_numpy(X).float(), Y.astype(np.float32), debiased=debiased)
    assert got32.dtype == torch.float32 and float(got32) == pytest.approx(ref, abs=1e-4)
    mixed = linear_cka(torch.from_numpy(X), Y, debiased=debiased)  # numpy joins the tensor
    assert torch.is_tensor(mixed) and float(mixed) == pytest.approx(ref, abs=1e-12)
    half = linear_cka(torch.from_numpy(X).half(), torch.from_numpy(Y).bfloat16())
    assert half.dtype == torch.float32
    for sim, cmp in itertools.product(["cosine", "correlation"], ["pearson", "spearman"]):
        r = rsa(torch.from_numpy(X), torch.from_numpy(Y), sim, cmp)
        assert float(r) == pytest.approx(rsa(X, Y, sim, cmp), abs=1e-12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_agrees_with_cpu():
    X, Y = data(4)
    for debiased in (False, True):
        got = linear_cka(torch.from_numpy(X).cuda(), torch.from_numpy(Y).cuda(), debiased=debiased)
        assert got.device.type == "cuda"
        assert float(got) == pytest.approx(linear_cka(X, Y, debiased=debiased), abs=1e-10)
    assert linear_cka(X, Y, device="cuda") == pytest.approx(linear_cka(X, Y), abs=1e-10)
    acc = CKAAccumulator(debiased=True, device="cuda").update(X[:20], Y[:20]).update(X[20:], Y[20:])
    assert acc.value() == pytest.approx(linear_cka(X, Y, debiased=True), abs=1e-10)
    assert float(rsa(torch.from_numpy(X).cuda(), torch.from_numpy(Y).cuda())) == pytest.approx(rsa(X, Y))


@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize("method", ["features", "gram"])
def test_cka_gradcheck(debiased, method):
    rng = np.random.default_rng(6)
    X = torch.tensor(rng.standard_normal((7, 3)), requires_grad=True)
    Y = torch.tensor(rng.standard_normal((7, 2)) + X.detach().numpy()[:, :2], requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: linear_cka(a, b, debiased=debiased, method=method), (X, Y))


@pytest.mark.parametrize("full_matrix", [False, True])
@pytest.mark.parametrize("similarity", ["cosine", "correlation"])
def test_rsa_pearson_gradcheck(full_matrix, similarity):
    rng = np.random.default_rng(7)
    X = torch.tensor(rng.standard_normal((6, 4)), requires_grad=True)
    Y = torch.tensor(rng.standard_normal((6, 3)), requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: rsa(a, b, similarity, full_matrix=full_matrix), (X, Y))


def test_cka_gradient_ascent_aligns_representations():
    """Used as a guidance loss, 1 - CKA goes down under gradient descent."""
    rng = np.random.default_rng(8)
    guide = torch.tensor(rng.standard_normal((32, 6)))
    X = torch.tensor(rng.standard_normal((32, 6)), requires_grad=True)
    start = float(linear_cka(X, guide).detach())
    for _ in range(50):
        loss = 1 - linear_cka(X, guide)
        (grad,) = torch.autograd.grad(loss, X)
        with torch.no_grad():
            X -= 2.0 * grad
    assert float(linear_cka(X, guide).detach()) > start + 0.3


# ---------------------------------------------------------------------------------------------
# the minibatch accumulator
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("debiased", [False, True])
def test_accumulator_equals_full_batch(debiased):
    X, Y = data(9, n=97, p=6, q=4, offset=50.0)  # a large offset: the centring must be stable
    acc = CKAAccumulator(debiased=debiased)
    bounds = [0, 1, 8, 21, 22, 60, 97]
    for a, b in zip(bounds[:-1], bounds[1:]):
        assert acc.update(X[a:b], Y[a:b]) is acc
    assert acc.n_samples == 97
    assert acc.value() == pytest.approx(linear_cka(X, Y, debiased=debiased), abs=1e-11)
    # the slow formula works on raw kernels (entries ~ 50² p): it loses digits, not we
    assert acc.value() == pytest.approx(slow_cka(X, Y, debiased), abs=1e-7)
    tacc = CKAAccumulator(debiased=debiased)
    for a, b in zip(bounds[:-1], bounds[1:]):
        tacc.update(torch.from_numpy(X[a:b]), torch.from_numpy(Y[a:b]))
    assert tacc.value() == pytest.approx(acc.value(), abs=1e-12)


def test_accumulator_float32_batches_float64_sums():
    X, Y = data(10, n=300, p=5, q=5)
    acc = CKAAccumulator(debiased=True, dtype=torch.float64)
    for s in range(0, 300, 64):
        acc.update(X[s : s + 64].astype(np.float32), Y[s : s + 64].astype(np.float32))
    ref = linear_cka(X.astype(np.float32).astype(np.float64), Y.astype(np.float32).astype(np.float64), True)
    assert acc.value() == pytest.approx(ref, abs=1e-12)


def test_mean_of_batch_ckas_is_a_different_quantity():
    """The guidance loss's per-minibatch CKA, averaged, is not the CKA of all examples."""
    rng = np.random.default_rng(11)
    X, Y = rng.standard_normal((256, 16)), rng.standard_normal((256, 16))
    batch_mean = np.mean([linear_cka(X[s : s + 16], Y[s : s + 16]) for s in range(0, 256, 16)])
    full = CKAAccumulator()
    for s in range(0, 256, 16):
        full.update(X[s : s + 16], Y[s : s + 16])
    assert full.value() == pytest.approx(linear_cka(X, Y), abs=1e-12)
    assert batch_mean > full.value() + 0.3


def test_accumulator_errors():
    X, Y = data(12)
    acc = CKAAccumulator(debiased=True)
    with pytest.raises(ValueError, match="CKAAccumulator has 0 samples"):
        acc.value()
    acc.update(X[:3], Y[:3])
    with pytest.raises(ValueError, match="needs at least 4"):
        acc.value()
    with pytest.raises(ValueError, match="Y has 4 columns but the first batch had 5"):
        acc.update(X[3:6], Y[3:6, :4])
    with pytest.raises(ValueError, match="same number of rows"):
        acc.update(X[3:6], Y[3:7])


# ---------------------------------------------------------------------------------------------
# validation at the boundary
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("X", "Y", "kwargs", "match"),
    [
        (np.ones(5), np.ones((5, 2)), {}, "X must be 2-D"),
        (np.ones((5, 2)), np.ones((5, 2, 1)), {}, "Y must be 2-D"),
        (np.ones((5, 2)), np.ones((6, 2)), {}, "same number of rows.*X has 5, Y has 6"),
        (np.ones((5, 0)), np.ones((5, 2)), {}, "X needs at least 1 feature"),
        (np.array([[1.0, np.nan], [0, 1], [1, 1]]), np.ones((3, 2)), {}, r"X has a non-finite.*\(0, 1\)"),
        (np.ones((3, 2)), np.array([[1.0, 2], [np.inf, 1], [1, 1]]), {}, "Y has a non-finite"),
        (np.ones((1, 2)), np.ones((1, 2)), {}, "1 samples.*CKA needs at least 2"),
        (np.ones((3, 2)), np.ones((3, 2)), {"debiased": True}, "debiased CKA.*needs at least 4"),
        (np.ones((3, 2)), np.ones((3, 2)), {"method": "svd"}, "method must be one of"),
    ],
)
def test_cka_validation(X, Y, kwargs, match):
    with pytest.raises(ValueError, match=match):
        linear_cka(X, Y, **kwargs)


def test_overflow_is_an_error_not_a_wrong_value():
    big = 1e25 * np.random.default_rng(0).standard_normal((6, 3))
    for method in ("features", "gram"):
        with pytest.raises(ValueError, match="overflows? torch.float32"):
            linear_cka(big.astype(np.float32), (1 + np.eye(6, 2)).astype(np.float32), method=method)
        assert linear_cka(big, big[:, :2], method=method) > 0.5  # float64 is fine
    with pytest.raises(ValueError, match="Y has a non-finite"):
        rsa(np.ones((4, 2)), np.array([[1.0, 2], [1, np.nan], [0, 1], [2, 2]]))


def test_cka_refuses_complex_and_mixed_devices():
    with pytest.raises(TypeError, match="X is complex"):
        linear_cka(np.ones((4, 2), dtype=complex), np.ones((4, 2)))
    assert linear_cka(np.arange(12).reshape(6, 2) % 5, np.arange(6)[:, None]) > 0  # integers: float64
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match="move them to one device"):
            linear_cka(torch.ones(4, 2), torch.ones(4, 2, device="cuda"))


# ---------------------------------------------------------------------------------------------
# RSA
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("similarity", ["cosine", "correlation"])
@pytest.mark.parametrize("compare", ["pearson", "spearman"])
def test_rsa_matches_slow_formula(similarity, compare):
    X, Y = data(13, n=25, p=6, q=4)
    got = rsa(X, Y, similarity, compare)
    assert isinstance(got, float)
    assert got == pytest.approx(slow_rsa(X, Y, similarity, compare), abs=1e-12)


@pytest.mark.parametrize("similarity", ["cosine", "correlation"])
def test_rdm_matches_slow_formula(similarity):
    X, _ = data(14, n=15, p=5)
    D = rdm(X, similarity)
    assert D.shape == (15, 15)
    assert np.allclose(D, slow_rdm(X, similarity), atol=1e-12)
    assert np.all(np.diag(D) == 0) and np.allclose(D, D.T)


def test_guidance_variant_is_pearson_of_full_cosine_matrices():
    X, Y = data(15, n=20, p=6, q=3)
    got = rsa(X, Y, "cosine", "pearson", full_matrix=True)
    assert got == pytest.approx(guidance_rsa(X, Y), abs=1e-12)
    assert got != pytest.approx(rsa(X, Y), abs=1e-3)  # not the upper-triangle RSA
    t = rsa(torch.from_numpy(X), torch.from_numpy(Y), full_matrix=True)
    assert float(t) == pytest.approx(got, abs=1e-12)


def test_spearman_handles_ties_like_scipy():
    v = torch.tensor([3.0, 1.0, 3.0, 2.0, 1.0, 3.0, 0.5])
    assert np.allclose(_ranks(v).numpy(), scipy.stats.rankdata(v.numpy()))
    rng = np.random.default_rng(16)
    X = np.repeat(rng.standard_normal((5, 4)), 2, axis=0)  # duplicated rows: tied dissimilarities
    Y = rng.standard_normal((10, 3))
    iu = np.triu_indices(10, k=1)
    a, b = rdm(X)[iu], rdm(Y)[iu]
    assert len(np.unique(a)) < len(a)  # the ties are there
    assert rsa(X, Y, compare="spearman") == pytest.approx(scipy.stats.spearmanr(a, b)[0], abs=1e-12)
    assert not rsa(
        torch.from_numpy(X).requires_grad_(), torch.from_numpy(Y), compare="spearman"
    ).requires_grad


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(4, 20), p=st.integers(2, 6), scale=st.floats(1e-3, 1e3))
def test_cosine_rsa_invariant_to_orthogonal_maps_and_scaling(seed, n, p, scale):
    rng = np.random.default_rng(seed)
    X, Y = rng.standard_normal((n, p)), rng.standard_normal((n, p))
    Z = scale * X @ random_orthogonal(rng, p)
    for compare in ("pearson", "spearman"):
        assert rsa(Z, Y, compare=compare) == pytest.approx(rsa(X, Y, compare=compare), abs=1e-9)
    assert rsa(X, Z) == pytest.approx(1.0, abs=1e-9)
    assert rsa(X, Y) == pytest.approx(rsa(Y, X), abs=1e-12)


def test_rsa_directionless_rows_and_constant_rdms(caplog):
    rng = np.random.default_rng(17)
    X = rng.standard_normal((6, 3))
    X[2] = 0.0
    with caplog.at_level(logging.WARNING, logger="mmsites.similarity.dissimilarity"):
        D = rdm(X)
        assert np.all(D[2] == 1.0) and np.all(D[:, 2] == 1.0)
        assert rsa(np.ones((5, 3)), rng.standard_normal((5, 3)), "correlation") == 0.0
    assert "row(s) of X are zero" in caplog.text and "constant" in caplog.text


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"similarity": "euclidean"}, "similarity must be one of"),
        ({"compare": "kendall"}, "compare must be one of"),
    ],
)
def test_rsa_validation(kwargs, match):
    X, Y = data(18, n=6)
    with pytest.raises(ValueError, match=match):
        rsa(X, Y, **kwargs)
    with pytest.raises(ValueError, match="needs at least 3"):
        rsa(X[:2], Y[:2])
    assert rsa(X[:2], Y[:2], full_matrix=True) == pytest.approx(guidance_rsa(X[:2], Y[:2]))
    with pytest.raises(ValueError, match="Y needs at least 2 feature"):
        rsa(X, Y[:, :1], "correlation")
    with pytest.raises(ValueError, match="X must be 2-D"):
        rdm(np.ones(4))


# ---------------------------------------------------------------------------------------------
# layer mapping
# ---------------------------------------------------------------------------------------------


def test_layer_map_matches_the_guidance_code():
    for g, t in itertools.product(range(1, 41), range(1, 41)):
        got = layer_map(g, t)
        assert got == guidance_layer_supervision(g, t)
        assert len(got) == g and got[0] == 0 and all(0 <= k <= t - 1 for k in got)
        assert got == sorted(got)
        if g > 1:
            assert got[-1] == t - 1
    assert layer_map(1, 7) == [0]
    assert layer_map(3, 5) == [0, 2, 4]
    assert layer_map(5, 4) == [0, 1, 2, 2, 3]  # 1.5 and 2.25 -> 2 (half to even)


@pytest.mark.parametrize("bad", [0, -1, 2.0, True, "3"])
def test_layer_map_validation(bad):
    with pytest.raises(ValueError, match="n_guide must be an integer >= 1"):
        layer_map(bad, 3)
    with pytest.raises(ValueError, match="n_target must be an integer >= 1"):
        layer_map(3, bad)
