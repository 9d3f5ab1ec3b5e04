"""Canonical k-mer indexing, names and tokenisation."""

import itertools

import numpy as np
import pytest

from cellspace import kmers
from cellspace.errors import ParameterError

COMP = str.maketrans("ACGT", "TGCA")


def revcomp(s: str) -> str:
    return s.translate(COMP)[::-1]


@pytest.mark.parametrize(("k", "expected"), [(2, 10), (3, 32), (7, 8192), (8, 32896)])
def test_canonical_row_counts_match_the_reference_formula(k, expected):
    assert kmers.n_kmer_rows(k) == expected
    table = kmers.kmer_row_table(k)
    assert len(np.unique(table)) == expected
    assert table.max() == expected - 1


@pytest.mark.parametrize("k", [3, 4, 7, 8])
def test_a_kmer_and_its_reverse_complement_share_one_row(k):
    rng = np.random.default_rng(k)
    table = kmers.kmer_row_table(k)
    for code in rng.integers(0, 4**k, 500):
        s = kmers.decode(int(code), k)
        assert table[kmers.encode(s)] == table[kmers.encode(revcomp(s))]
    # distinct pairs get distinct rows
    rows = {}
    for code in range(min(4**k, 4096)):
        s = kmers.decode(code, k)
        key = min(s, revcomp(s))
        rows.setdefault(key, set()).add(int(table[code]))
    assert all(len(v) == 1 for v in rows.values())
    assert len({next(iter(v)) for v in rows.values()}) == len(rows)


def test_row_names_follow_the_reference_enumeration_order():
    # Reference: enumerate k-mers in A<C<T<G order, keep the first member of each pair.
    k = 4
    order = "ACTG"
    expected = []
    seen = set()
    for tup in itertools.product(order, repeat=k):
        s = "".join(tup)
        if s in seen:
            continue
        expected.append(s)
        seen.add(s)
        seen.add(revcomp(s))
    names = list(kmers.kmer_names(k))
    assert names == expected
    table = kmers.kmer_row_table(k)
    for row, name in enumerate(names):
        assert table[kmers.encode(name)] == row


def test_tokenisation_skips_windows_with_n_and_is_strand_symmetric():
    seq = "ACGTACGGTTANCAGGATTACA"
    rows = kmers.kmer_rows_of(seq, 4)
    valid = [seq[i : i + 4] for i in range(len(seq) - 3) if "N" not in seq[i : i + 4]]
    table = kmers.kmer_row_table(4)
    assert list(rows) == [table[kmers.encode(w)] for w in valid]
    assert sorted(kmers.kmer_rows_of(revcomp(seq.replace("N", "A")), 4)) == sorted(
        kmers.kmer_rows_of(seq.replace("N", "A"), 4)
    )
    assert len(kmers.kmer_rows_of("acgtNNNN", 4)) == 1  # lower case is accepted
    assert len(kmers.kmer_rows_of("NNNNNNNN", 4)) == 0


@pytest.mark.parametrize("k", [1, 16, 0, -3])
def test_k_outside_2_to_15_is_rejected(k):
    with pytest.raises(ParameterError, match="2..15"):
        kmers.check_k(k)
