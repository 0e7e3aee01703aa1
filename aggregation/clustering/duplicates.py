"""Near-duplicate reports: MinHash signatures of character shingles, LSH banding, union-find.

Signatures use one-permutation hashing (one 64-bit hash per shingle, split into `bin_count` bins,
minimum per bin, empty bins filled from the next non-empty one) computed with numpy over a whole
chunk of reports at once. It estimates Jaccard similarity like classic k-permutation MinHash but
hashes each shingle once instead of k times; bench/README.md has its speed against datasketch's
MinHash on the same texts. Candidate pairs come from LSH bands keyed by lender (copies are only
looked for within one lender, since a duplicate joins its original's cluster), are verified on the
estimated Jaccard similarity, and linked with scipy's connected components.

Texts shorter than `min_shingles` shingles are never duplicates: two borrowers may well type the
same short sentence, and counting them once would undercount victims.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from aggregation.text import normalize_text

_EMPTY_BIN = np.uint32(0xFFFFFFFF)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
_POLY_BASE = np.uint64(0x100000001B3)
_BAND_MIX = np.uint64(0x9E3779B97F4A7C15)


@dataclass(frozen=True)
class ShingleSettings:
    shingle_chars: int
    bin_count: int
    rows_per_band: int
    min_shingles: int
    min_jaccard: float

    @property
    def band_count(self) -> int:
        return self.bin_count // self.rows_per_band


def _splitmix(values: np.ndarray) -> np.ndarray:
    values = values ^ (values >> np.uint64(30))
    values = values * _MIX_1
    values = values ^ (values >> np.uint64(27))
    values = values * _MIX_2
    return values ^ (values >> np.uint64(31))


def shingle_text(text: str) -> str:
    """Normalized text without spaces: re-wrapping or re-spacing a copy does not hide it."""
    return normalize_text(text).replace(" ", "")


def signatures(
    shingle_texts: Sequence[str], settings: ShingleSettings
) -> tuple[np.ndarray, np.ndarray]:
    """One-permutation MinHash signatures (uint32, rows × bins) and shingle counts per text."""
    text_count = len(shingle_texts)
    lengths = np.fromiter((len(text) for text in shingle_texts), dtype=np.int64, count=text_count)
    window_counts = np.maximum(lengths - settings.shingle_chars + 1, 0)
    result = np.full((text_count, settings.bin_count), _EMPTY_BIN, dtype=np.uint32)
    if window_counts.sum() == 0:
        return result, window_counts
    codes = np.frombuffer("".join(shingle_texts).encode("utf-32-le"), dtype=np.uint32)
    codes = codes.astype(np.uint64)
    window_total = codes.size - settings.shingle_chars + 1
    rolling = np.zeros(max(window_total, 0), dtype=np.uint64)
    for offset in range(settings.shingle_chars):
        rolling = rolling * _POLY_BASE + codes[offset : offset + window_total]
    text_starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    text_of_window = np.repeat(np.arange(text_count), window_counts)
    window_starts = np.concatenate(([0], np.cumsum(window_counts)[:-1]))
    position = np.arange(text_of_window.size) - window_starts[text_of_window]
    hashed = _splitmix(rolling[text_starts[text_of_window] + position])
    bin_bits = np.uint64(int(settings.bin_count).bit_length() - 1)
    bins = (hashed >> (np.uint64(64) - bin_bits)).astype(np.int64)
    values = (hashed & np.uint64(0xFFFFFFFE)).astype(np.uint32)
    flat = result.reshape(-1)
    np.minimum.at(flat, text_of_window * settings.bin_count + bins, values)
    _densify(result, window_counts > 0)
    return result, window_counts


def _densify(signature_rows: np.ndarray, has_shingles: np.ndarray) -> None:
    # Rotation densification: an empty bin borrows the next non-empty bin's value, salted with
    # the distance so that two texts agree on it only when they agree on the borrowed bin.
    rows = np.flatnonzero(has_shingles & (signature_rows == _EMPTY_BIN).any(axis=1))
    if rows.size == 0:
        return
    original = signature_rows[rows]
    filled = original.copy()
    bin_count = original.shape[1]
    for distance in range(1, bin_count):
        empty = filled == _EMPTY_BIN
        if not empty.any():
            break
        borrowed = np.roll(original, -distance, axis=1)
        usable = empty & (borrowed != _EMPTY_BIN)
        salt = np.uint64((distance * int(_BAND_MIX)) % 2**64)
        salted = (borrowed.astype(np.uint64) + salt) & np.uint64(0xFFFFFFFE)
        filled[usable] = salted[usable].astype(np.uint32)
    signature_rows[rows] = filled


def lender_hash(lender: str) -> int:
    """A stable 63-bit key of a lender, the same in every process and run."""
    digest = hashlib.blake2b(lender.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def band_keys(signature_rows: np.ndarray, lender_keys: np.ndarray, settings: ShingleSettings):
    """uint64 key per row and band, mixing the band's signature values with the lender."""
    row_count = signature_rows.shape[0]
    keys = np.empty((row_count, settings.band_count), dtype=np.uint64)
    grouped = signature_rows.reshape(row_count, settings.band_count, settings.rows_per_band)
    for band in range(settings.band_count):
        key = lender_keys.astype(np.uint64) ^ np.uint64(((band + 1) * int(_BAND_MIX)) % 2**64)
        for column in range(settings.rows_per_band):
            key = _splitmix(key ^ grouped[:, band, column].astype(np.uint64))
        keys[:, band] = key
    return keys


def estimated_jaccard(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Share of equal bins between paired signature rows."""
    return (first == second).mean(axis=1)


def candidate_pairs(keys: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Pairs of rows sharing a band bucket: each linked to its predecessor and the bucket head.

    Linking to two members instead of all of them keeps the pair count linear in bucket size;
    with many bands a true copy almost always shares some bucket whose head or predecessor is it.
    """
    rows = np.flatnonzero(eligible)
    pairs: list[np.ndarray] = []
    for band in range(keys.shape[1]):
        band_keys_of_rows = keys[rows, band]
        order = np.argsort(band_keys_of_rows, kind="stable")
        sorted_keys = band_keys_of_rows[order]
        sorted_rows = rows[order]
        same = sorted_keys[1:] == sorted_keys[:-1]
        if not same.any():
            continue
        positions = np.arange(sorted_keys.size)
        run_start = np.where(np.concatenate(([True], ~same)), positions, 0)
        run_head = np.maximum.accumulate(run_start)
        member = np.flatnonzero(np.concatenate(([False], same)))
        pairs.append(np.stack([sorted_rows[member - 1], sorted_rows[member]], axis=1))
        heads = run_head[member]
        away_from_head = heads != member - 1
        pairs.append(
            np.stack([sorted_rows[heads[away_from_head]], sorted_rows[member[away_from_head]]], 1)
        )
    if not pairs:
        return np.zeros((0, 2), dtype=np.int64)
    stacked = np.sort(np.concatenate(pairs), axis=1)
    return np.unique(stacked, axis=0)


def duplicate_groups(
    signature_rows: np.ndarray,
    shingle_counts: np.ndarray,
    lender_keys: np.ndarray,
    settings: ShingleSettings,
) -> np.ndarray:
    """Component label per row; rows in one component of size > 1 are copies of each other."""
    row_count = signature_rows.shape[0]
    eligible = shingle_counts >= settings.min_shingles
    keys = band_keys(signature_rows, lender_keys, settings)
    pairs = candidate_pairs(keys, eligible)
    if pairs.size:
        same_lender = lender_keys[pairs[:, 0]] == lender_keys[pairs[:, 1]]
        pairs = pairs[same_lender]
    verified_parts = []
    for start in range(0, pairs.shape[0], 200_000):
        chunk = pairs[start : start + 200_000]
        similar = (
            estimated_jaccard(signature_rows[chunk[:, 0]], signature_rows[chunk[:, 1]])
            >= settings.min_jaccard
        )
        verified_parts.append(chunk[similar])
    verified = np.concatenate(verified_parts) if verified_parts else np.zeros((0, 2), np.int64)
    graph = sparse.coo_matrix(
        (np.ones(verified.shape[0], dtype=np.int8), (verified[:, 0], verified[:, 1])),
        shape=(row_count, row_count),
    )
    _, labels = connected_components(graph, directed=False)
    return labels


def originals_of(groups: np.ndarray, order_keys: np.ndarray) -> np.ndarray:
    """For each row, the row of its group's original: the group's smallest `order_keys` rank.

    `order_keys` is each row's rank by (submitted_at, report_id).
    """
    first_rank = np.full(int(groups.max()) + 1 if groups.size else 0, np.iinfo(np.int64).max)
    np.minimum.at(first_rank, groups, order_keys)
    row_of_rank = np.empty(order_keys.size, dtype=np.int64)
    row_of_rank[order_keys] = np.arange(order_keys.size)
    return row_of_rank[first_rank[groups]]
