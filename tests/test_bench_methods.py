"""Competing methods: each yields a finite embedding of the right shape on small data."""

from __future__ import annotations

import importlib.util
import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from cellspace.bench import chromvar as cv
from cellspace.bench.methods import (
    MISSING,
    MissingDependencyError,
    available_methods,
    get_method,
    list_methods,
    run_method,
)
from cellspace.bench.toydata import toy_atac
from cellspace.errors import ParameterError

HAS_TORCH = importlib.util.find_spec("torch") is not None
SMALL = {
    "cellspace": {"epochs": 3, "bucket": 20000, "dim": 16, "threads": 1},
    "cellspace_batch": {"epochs": 3, "bucket": 20000, "dim": 16, "threads": 1},
    "chromvar_kmer": {"n_background": 5},
    "chromvar_motif": {"n_background": 5},
    "scbasset": {"epochs": 2, "seq_len": 256, "width": 0.1, "n_tower": 2},
    "scbasset_batch": {"epochs": 2, "seq_len": 256, "width": 0.1, "n_tower": 2},
    "peakvi": {"max_epochs": 2},
    "peakvi_batch": {"max_epochs": 2},
    "simba": {"epochs": 2},
    "simba_batch": {"epochs": 2},
    "simba_sequence": {"epochs": 1, "k": 4},
}


@pytest.fixture(scope="module")
def toy():
    return toy_atac(n_cells=150, n_events=120, n_types=3, n_batches=2, seq_len=200, seed=0)


def test_registry_lists_every_competitor():
    names = set(list_methods())
    assert {"cellspace", "cellspace_batch", "lsi", "itlsi", "lsi_harmony", "itlsi_harmony",
            "chromvar_motif", "chromvar_kmer", "peakvi", "peakvi_batch", "scbasset",
            "scbasset_batch", "simba", "simba_batch", "simba_sequence"} <= names
    assert not MISSING
    with pytest.raises(ParameterError, match="unknown method 'nope'"):
        get_method("nope")


@pytest.mark.parametrize("name", [
    "lsi", "itlsi", "lsi_harmony", "itlsi_harmony", "chromvar_kmer", "chromvar_motif",
    "cellspace", "cellspace_batch", "scbasset", "scbasset_batch", "peakvi", "peakvi_batch",
    "simba", "simba_batch", "simba_sequence",
])
def test_method_gives_finite_embedding_of_right_shape(toy, name):
    m = get_method(name)
    if m.missing_dependencies():
        pytest.skip(f"{name} needs {', '.join(m.missing_dependencies())}: the [torch] extra")
    a = toy.copy()
    run = run_method(a, name, batch_key="batch", params=SMALL.get(name, {}), memory="rss")
    emb = a.obsm[f"X_{name}"]
    assert emb.shape[0] == a.n_obs and 2 <= emb.shape[1] <= 50
    assert np.isfinite(emb).all() and emb.std() > 0
    rec = a.uns["bench_runs"][name]
    assert rec["seconds"] == pytest.approx(run.seconds) and rec["seconds"] > 0
    assert rec["peak_memory_mib"] >= 0 and rec["metric"] == m.metric


@pytest.mark.skipif(HAS_TORCH, reason="torch is installed")
def test_torch_methods_without_torch_name_the_extra(toy):
    for name in ("scbasset", "peakvi_batch"):
        assert name not in available_methods()
        with pytest.raises(MissingDependencyError, match=r"cellspace\[torch\]"):
            run_method(toy.copy(), name, batch_key="batch", memory="rss")


HAS_PBG = HAS_TORCH and importlib.util.find_spec("torchbiggraph") is not None


def _knn_label_accuracy(emb: np.ndarray, labels: np.ndarray, k: int = 10) -> float:
    from sklearn.neighbors import NearestNeighbors

    idx = NearestNeighbors(n_neighbors=k + 1).fit(emb).kneighbors(emb, return_distance=False)[:, 1:]
    votes = labels[idx]
    major = np.array([np.bincount(v).argmax() for v in votes])
    return float(np.mean(major == labels))


@pytest.mark.skipif(not HAS_PBG, reason="the pbg engine needs torch + torchbiggraph: the [torch] extra")
def test_simba_pbg_engine_trains_the_same_graph_as_the_numpy_engine(toy):
    labels = toy.obs["cell_type"].astype("category").cat.codes.to_numpy()
    pbg = run_method(toy.copy(), "simba", params={"engine": "pbg", "workers": 1}, memory="rss").embedding
    ref = run_method(toy.copy(), "simba", params={"epochs": 10}, memory="rss").embedding
    assert pbg.shape == ref.shape == (toy.n_obs, 50) and np.isfinite(pbg).all()
    # both engines separate the cell types far above chance (1/3)
    assert _knn_label_accuracy(pbg, labels) >= 0.8
    assert _knn_label_accuracy(ref, labels) >= 0.8


def test_simba_engine_is_checked(toy):
    with pytest.raises(ParameterError, match="engine must be one of numpy, pbg"):
        run_method(toy.copy(), "simba", params={"engine": "gpu"}, memory="rss")


@pytest.mark.skipif(HAS_PBG, reason="torch and torchbiggraph are installed")
def test_simba_pbg_engine_without_torchbiggraph_names_the_extra(toy):
    with pytest.raises(MissingDependencyError, match=r"engine 'pbg'.*cellspace\[torch\]"):
        run_method(toy.copy(), "simba_batch", batch_key="batch", params={"engine": "pbg"}, memory="rss")


def test_memory_modes_report_a_peak_and_child_mode_gives_the_same_embedding(toy):
    a = toy.copy()
    child = run_method(a, "lsi", memory="child")
    local = run_method(a, "lsi", memory="tracemalloc")
    assert child.peak_memory > 0 and local.peak_memory > 0
    assert np.allclose(child.embedding, local.embedding)
    assert a.uns["bench_runs"]["lsi"]["memory_mode"] == "tracemalloc"


def test_batch_method_without_batch_column_is_a_parameter_error(toy):
    with pytest.raises(ParameterError, match="batch column"):
        run_method(toy.copy(), "lsi_harmony", memory="rss")


@pytest.mark.parametrize(
    ("method", "params", "words"),
    [
        ("lsi", {"bogus": 3}, "has no parameter(s) bogus"),
        ("lsi", {"n_components": "abc"}, "n_components: expected int, got 'abc'"),
        ("itlsi", {"resolution": True}, "resolution: expected float"),
        ("cellspace", {"bogus": 1}, "unknown CellSpace parameter(s) bogus"),
        ("cellspace", {"dim": "abc"}, "CellSpace parameter dim"),
    ],
)
def test_unknown_or_ill_typed_method_parameters_are_refused_before_work(toy, method, params, words):
    with pytest.raises(ParameterError) as err:
        run_method(toy.copy(), method, params=params, memory="rss")
    assert words in str(err.value)


def test_lsi_separates_cell_types_and_drops_depth_component():
    from cellspace.bench.methods.lsi import lsi

    rng = np.random.default_rng(0)
    depth = rng.uniform(0.05, 0.6, 200)
    X = sp.csr_matrix((rng.random((200, 300)) < depth[:, None]).astype(np.float32))
    Z = lsi(X, 10)
    logd = np.log10(np.asarray(X.sum(1)).ravel())
    cors = [abs(np.corrcoef(Z[:, j], logd)[0, 1]) for j in range(Z.shape[1])]
    assert max(cors) <= 0.75 and Z.shape[1] < 10


def test_select_features_cli_writes_the_subset(tmp_path, toy):
    import anndata as ad

    from cellspace.cli import main

    src = tmp_path / "in.h5ad"
    toy.write_h5ad(src)
    out = tmp_path / "out.h5ad"
    assert main(["select-features", "--h5ad", str(src), "--out", str(out), "--n-features", "25",
                 "--n-components", "10"]) == 0
    sub = ad.read_h5ad(out)
    assert sub.shape == (toy.n_obs, 25) and set(sub.var_names) <= set(toy.var_names)
    assert "sequence" in sub.var and sub.uns["select_features"]["n_features"] == 25
    assert not list(tmp_path.glob(".*tmp*"))
    assert main(["select-features", "--h5ad", str(tmp_path / "nope.h5ad"), "--out", str(out),
                 "--n-features", "5"]) == 1


def _brute_best(seq: str, im: np.ndarray) -> int:
    code = {"A": 0, "C": 1, "G": 2, "T": 3}
    c = np.array([code[b] for b in seq])
    w = im.shape[0]
    best = -10**9
    for t in range(len(c) - w + 1):
        win = c[t:t + w]
        best = max(best, im[np.arange(w), win].sum(), im[np.arange(w)[::-1], 3 - win].sum())
    return best


def test_motif_matches_equal_brute_force_scan_on_both_strands():
    rng = np.random.default_rng(1)
    seqs = ["".join(rng.choice(list("ACGT"), 60)) for _ in range(30)]
    seqs[0] = seqs[0][:20] + "TTGACGTCAA" + seqs[0][30:]
    motifs = [rng.integers(0, 20, (6, 4)).astype(float) for _ in range(4)]
    motifs.append(np.eye(4)[[0, 1, 2, 3, 3, 1]] * 20)  # a sharp 6-mer
    A = cv.motif_matches(seqs, motifs, pvalue=1e-2).toarray()
    codes = np.concatenate([[ord(b) for b in s] for s in seqs])
    bg_counts = np.array([(codes == ord(b)).sum() for b in "ACGT"]) + 1.0
    bg = bg_counts / bg_counts.sum()
    bg = (bg + bg[::-1]) / 2
    for j, m in enumerate(motifs):
        im = np.round(cv.log_odds(m, bg) * 100).astype(np.int64)
        thr = cv.score_threshold(im, bg, 1e-2)
        expect = [_brute_best(s, im) >= thr for s in seqs]
        assert A[:, j].astype(bool).tolist() == expect


def test_score_threshold_tail_probability_by_enumeration():
    rng = np.random.default_rng(2)
    im = rng.integers(-50, 50, (4, 4))
    bg = np.array([0.3, 0.2, 0.2, 0.3])
    thr = cv.score_threshold(im, bg, 0.05)
    scores, probs = [], []
    for w in itertools.product(range(4), repeat=4):
        scores.append(sum(im[i, b] for i, b in enumerate(w)))
        probs.append(np.prod(bg[list(w)]))
    scores, probs = np.array(scores), np.array(probs)
    assert probs[scores >= thr].sum() <= 0.05
    assert probs[scores >= thr - 1].sum() > 0.05 or thr == scores.min()


def test_background_events_match_gc_and_accessibility():
    rng = np.random.default_rng(3)
    n = 400
    gc = rng.uniform(0.3, 0.7, n)
    counts = sp.csr_matrix(rng.poisson(np.linspace(0.05, 2, n)[None, :] * np.ones((50, 1))) + 0.0)
    counts = counts + sp.csr_matrix(np.eye(50, n))  # no empty event
    bg = cv.background_events(sp.csr_matrix(counts), gc, n_iterations=20, seed=0)
    assert bg.shape == (n, 20) and bg.min() >= 0 and bg.max() < n
    acc = np.log10(np.asarray(counts.sum(0)).ravel())
    assert np.corrcoef(gc, gc[bg].mean(1))[0, 1] > 0.8
    assert np.corrcoef(acc, acc[bg].mean(1))[0, 1] > 0.8


def test_deviation_zscores_are_high_for_the_annotation_open_in_a_cell_group():
    rng = np.random.default_rng(4)
    n_cells, n_ev = 60, 200
    # every event has the same mean accessibility (0.45), events 0..19 open mostly in the
    # first 30 cells, so the background events of 0..19 are ordinary events
    X = (rng.random((n_cells, n_ev)) < 0.45).astype(float)
    X[:30, :20] = rng.random((30, 20)) < 0.8
    X[30:, :20] = rng.random((30, 20)) < 0.1
    A = np.zeros((n_ev, 2))
    A[:20, 0] = 1
    A[100:150, 1] = 1
    bg = cv.background_events(sp.csr_matrix(X), rng.uniform(0.4, 0.6, n_ev), 20, seed=0)
    Z = cv.deviation_zscores(sp.csr_matrix(X), sp.csr_matrix(A), bg)
    assert Z[:30, 0].mean() > 1 and Z[30:, 0].mean() < -1
    assert abs(Z[:, 1].mean()) < 1
    # the fused numba kernel and the block-wise sparse products agree
    Zs = cv.deviation_zscores(sp.csr_matrix(X), sp.csr_matrix(A), bg, engine="scipy", threads=2)
    assert np.allclose(Z, Zs, atol=1e-5)


def test_filter_features_drops_low_sd_and_correlated_features():
    rng = np.random.default_rng(5)
    a = rng.normal(0, 3, 100)
    Z = np.column_stack([a, a * 1.01 + rng.normal(0, 0.01, 100), rng.normal(0, 3, 100),
                         rng.normal(0, 0.5, 100)])
    keep = cv.filter_features(Z, min_sd=1.5, max_cor=0.9, min_keep=1)
    assert sorted(keep.tolist()) in ([0, 2], [1, 2])


def test_pbg_softmax_gradients_match_finite_differences():
    from cellspace.bench.methods.simba import _side_grads

    rng = np.random.default_rng(6)
    A, B, U = rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 5, 3))
    loss, dA, dB, dU = _side_grads(A, B, U)
    eps = 1e-6
    for which, grad in ((0, dA), (1, dB), (2, dU)):
        for pos in ((0, 1, 2), (1, 3, 0)):
            args = [A.copy(), B.copy(), U.copy()]
            args[which][pos] += eps
            assert (_side_grads(*args)[0] - loss) / eps == pytest.approx(grad[pos], rel=1e-4, abs=1e-6)


def test_pbg_training_separates_two_communities():
    from cellspace.bench.methods.simba import Relation, pbg_train

    rng = np.random.default_rng(7)
    cells = np.repeat([0, 1], 50)
    lhs, rhs = [], []
    for c in range(100):  # cells of group g link to peaks of group g
        peaks = rng.choice(40, 12, replace=False) + 40 * cells[c]
        lhs += [c] * 12
        rhs += peaks.tolist()
    emb = pbg_train({"cell": 100, "peak": 80}, [Relation("cell", "peak", np.array(lhs),
                                                         np.array(rhs))], epochs=5, seed=0)
    E = emb["cell"] / np.linalg.norm(emb["cell"], axis=1, keepdims=True)
    S = E @ E.T
    same = S[cells[:, None] == cells[None, :]].mean()
    other = S[cells[:, None] != cells[None, :]].mean()
    assert same > other + 0.5


def test_mnn_edges_link_identical_cells_across_batches():
    from cellspace.bench.methods.simba import _mnn_edges

    rng = np.random.default_rng(8)
    base = (rng.random((40, 200)) < 0.2).astype(np.float32)
    base[np.arange(40), rng.integers(0, 200, 40)] = 1
    X = sp.csr_matrix(np.vstack([base, base]))
    batches = np.repeat(["a", "b"], 40)
    src, dst = _mnn_edges(X, batches, n_components=10, k=3)
    assert src.size > 0 and (batches[src] == "a").all() and (batches[dst] == "b").all()
    twins = set(zip(src.tolist(), (dst - 40).tolist(), strict=True))
    assert np.mean([(i, i) in twins for i in range(40)]) > 0.7  # most cells meet their twin

