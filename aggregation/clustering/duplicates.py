"""Near-duplicate reports: MinHash signatures of character shingles, LSH banding, exact check.

Signatures use one-permutation hashing (one 64-bit hash per shingle, split into `bin_count` bins,
minimum per bin, empty bins filled from the next non-empty one) computed with numpy over a whole
chunk of reports at once. It estimates Jaccard similarity like classic k-permutation MinHash but
hashes each shingle once instead of k times; bench/README.md has its speed against datasketch's
MinHash on the same texts. Candidate pairs come from LSH bands keyed by lender (copies are only
looked for within one lender, since a duplicate joins its original's cluster) and are screened on
the estimated Jaccard similarity. The few that remain are checked on their exact shingle sets:
the estimate alone let pairs just under the threshold through, and a wrongly merged report is a
victim not counted. Each report is then a copy of the most similar earlier original it matches.

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
_BAND_KEY_CHUNK_ROWS = 65_536
ESTIMATE_MARGIN = 0.15
EXACT_CHECK_BATCH_ROWS = 2_000


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


def _shingle_hashes(
    shingle_texts: Sequence[str], settings: ShingleSettings
) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hash of every character shingle of every text, and the text index of each.

    All texts are hashed in one numpy pass over their concatenated code points; windows that
    straddle two texts are dropped afterwards.
    """
    text_count = len(shingle_texts)
    lengths = np.fromiter((len(text) for text in shingle_texts), dtype=np.int64, count=text_count)
    window_counts = np.maximum(lengths - settings.shingle_chars + 1, 0)
    window_total = int(lengths.sum()) - settings.shingle_chars + 1
    if window_counts.sum() == 0:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    codes = np.frombuffer("".join(shingle_texts).encode("utf-32-le"), dtype=np.uint32)
    rolling = codes[:window_total].astype(np.uint64)
    for offset in range(1, settings.shingle_chars):
        np.multiply(rolling, _POLY_BASE, out=rolling)
        np.add(rolling, codes[offset : offset + window_total], out=rolling)
    text_ends = np.cumsum(lengths)
    inside = np.ones(window_total, dtype=bool)
    # A window starting in the last shingle_chars - 1 characters of a text runs into the next.
    straddling = (text_ends[:, None] - np.arange(1, settings.shingle_chars)[None, :]).ravel()
    inside[straddling[(straddling >= 0) & (straddling < window_total)]] = False
    text_of_window = np.repeat(np.arange(text_count), window_counts)
    return _splitmix(rolling[inside]), text_of_window


def signatures(
    shingle_texts: Sequence[str], settings: ShingleSettings
) -> tuple[np.ndarray, np.ndarray]:
    """One-permutation MinHash signatures (uint32, rows × bins) and shingle counts per text."""
    text_count = len(shingle_texts)
    result = np.full((text_count, settings.bin_count), _EMPTY_BIN, dtype=np.uint32)
    hashed, text_of_window = _shingle_hashes(shingle_texts, settings)
    window_counts = np.bincount(text_of_window, minlength=text_count).astype(np.int64)
    if hashed.size == 0:
        return result, window_counts
    bin_bits = np.uint64(int(settings.bin_count).bit_length() - 1)
    slots = text_of_window * settings.bin_count
    slots += (hashed >> (np.uint64(64) - bin_bits)).astype(np.int64)
    values = (hashed & np.uint64(0xFFFFFFFE)).astype(np.uint32)
    np.minimum.at(result.reshape(-1), slots, values)
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
    grouped = signature_rows.reshape(row_count, settings.band_count, settings.rows_per_band)
    # All bands at once: placing one report calls this for a single row, where a loop over
    # bands spent milliseconds in per-call numpy overhead. Rows go in chunks so the mixing's
    # temporaries stay small at a million reports. uint64 products wrap modulo 2**64.
    band_salts = np.arange(1, settings.band_count + 1, dtype=np.uint64) * _BAND_MIX
    keys = np.empty((row_count, settings.band_count), dtype=np.uint64)
    for start in range(0, row_count, _BAND_KEY_CHUNK_ROWS):
        rows = slice(start, start + _BAND_KEY_CHUNK_ROWS)
        chunk_keys = lender_keys[rows].astype(np.uint64)[:, None] ^ band_salts[None, :]
        for column in range(settings.rows_per_band):
            chunk_keys = _splitmix(chunk_keys ^ grouped[rows, :, column].astype(np.uint64))
        keys[rows] = chunk_keys
    return keys


def estimated_jaccard(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Share of equal bins between paired signature rows."""
    return (first == second).mean(axis=1)


def candidate_pairs(keys: np.ndarray, eligible: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Pairs of rows sharing a band bucket: each linked to its predecessor and the bucket head.

    Buckets are ordered by `rank` (submission order), so the head is the bucket's earliest report
    and every later member is paired with it: an original is compared with each of its copies.
    Linking to two members instead of all of them keeps the pair count linear in bucket size.
    """
    rows = np.flatnonzero(eligible)
    pairs: list[np.ndarray] = []
    for band in range(keys.shape[1]):
        band_keys_of_rows = keys[rows, band]
        order = np.lexsort((rank[rows], band_keys_of_rows))
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


def likely_copy_pairs(
    signature_rows: np.ndarray,
    shingle_counts: np.ndarray,
    lender_keys: np.ndarray,
    rank: np.ndarray,
    settings: ShingleSettings,
) -> np.ndarray:
    """Candidate pairs of one lender whose estimated Jaccard comes near `min_jaccard`.

    The estimate from `bin_count` bins has a standard error of about 0.04 near 0.7, so pairs
    within `ESTIMATE_MARGIN` below the threshold are kept for the exact check rather than lost.
    """
    eligible = shingle_counts >= settings.min_shingles
    pairs = candidate_pairs(band_keys(signature_rows, lender_keys, settings), eligible, rank)
    pairs = pairs[lender_keys[pairs[:, 0]] == lender_keys[pairs[:, 1]]]
    kept_parts = []
    for start in range(0, pairs.shape[0], 200_000):
        chunk = pairs[start : start + 200_000]
        estimate = estimated_jaccard(signature_rows[chunk[:, 0]], signature_rows[chunk[:, 1]])
        kept_parts.append(chunk[estimate >= settings.min_jaccard - ESTIMATE_MARGIN])
    return np.concatenate(kept_parts) if kept_parts else np.zeros((0, 2), dtype=np.int64)


def exact_jaccard(
    pairs: np.ndarray, texts: Sequence[str], max_chars: int, settings: ShingleSettings
) -> np.ndarray:
    """Exact Jaccard similarity of the shingle sets of each pair's two texts (`texts` by row).

    Pairs only join rows of one connected component, so rows are shingled a few components at a
    time and their sets dropped once those components' pairs are scored: memory follows the
    largest batch, not every row in a pair. Sets are kept as 32-bit hashes; two texts of a
    thousand shingles share a false one about once in 4,000 pairs, moving one count by 1.
    """
    similarity = np.zeros(pairs.shape[0], dtype=np.float64)
    if pairs.shape[0] == 0:
        return similarity
    rows, local = np.unique(pairs, return_inverse=True)
    local = local.reshape(pairs.shape)
    graph = sparse.coo_matrix(
        (np.ones(local.shape[0], dtype=np.int8), (local[:, 0], local[:, 1])),
        shape=(rows.size, rows.size),
    )
    _, component = connected_components(graph, directed=False)
    rows_by_component = np.argsort(component, kind="stable")
    pairs_by_component = np.argsort(component[local[:, 0]], kind="stable")
    component_of_pair = component[local[pairs_by_component, 0]]
    component_sizes = np.bincount(component)
    component_row_starts = np.concatenate(([0], np.cumsum(component_sizes)))
    batch_start = 0
    while batch_start < component_sizes.size:
        # Whole components, at least one, until the batch holds EXACT_CHECK_BATCH_ROWS rows.
        batch_end = batch_start + 1
        batch_rows = int(component_sizes[batch_start])
        while (
            batch_end < component_sizes.size
            and batch_rows + component_sizes[batch_end] <= EXACT_CHECK_BATCH_ROWS
        ):
            batch_rows += int(component_sizes[batch_end])
            batch_end += 1
        batch = rows_by_component[
            component_row_starts[batch_start] : component_row_starts[batch_end]
        ].tolist()
        hashes, text_of_hash = _shingle_hashes(
            [shingle_text(texts[rows[position]][:max_chars]) for position in batch], settings
        )
        short_hashes = hashes.astype(np.uint32)
        bounds = np.searchsorted(text_of_hash, np.arange(len(batch) + 1))
        distinct = {
            position: np.unique(short_hashes[bounds[index] : bounds[index + 1]])
            for index, position in enumerate(batch)
        }
        pair_range = slice(
            np.searchsorted(component_of_pair, batch_start, side="left"),
            np.searchsorted(component_of_pair, batch_end - 1, side="right"),
        )
        for pair in pairs_by_component[pair_range].tolist():
            first_set, second_set = distinct[local[pair, 0]], distinct[local[pair, 1]]
            if first_set.size == 0 or second_set.size == 0:
                continue
            found = np.searchsorted(second_set, first_set)
            shared = np.count_nonzero(
                second_set[np.minimum(found, second_set.size - 1)] == first_set
            )
            similarity[pair] = shared / (first_set.size + second_set.size - shared)
        batch_start = batch_end
    return similarity


def originals_by_rank(pairs: np.ndarray, similarity: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Row of each row's original: itself, or the most similar earlier original it matches.

    `pairs` are verified copy pairs and `rank` each row's submission order. Rows are settled in
    that order, so a report is a copy only of a report that is itself an original and that it
    resembles directly; an edited copy of a copy that drifted too far counts as a new story.
    Ties go to the earlier original.
    """
    original = list(range(rank.size))
    if pairs.size == 0:
        return np.asarray(original, dtype=np.int64)
    swap = rank[pairs[:, 0]] > rank[pairs[:, 1]]
    earlier = np.where(swap, pairs[:, 1], pairs[:, 0])
    later = np.where(swap, pairs[:, 0], pairs[:, 1])
    order = np.lexsort((rank[earlier], -similarity, rank[later]))
    is_copy = [False] * rank.size
    for later_row, earlier_row in zip(later[order].tolist(), earlier[order].tolist(), strict=True):
        if not is_copy[later_row] and not is_copy[earlier_row]:
            original[later_row] = earlier_row
            is_copy[later_row] = True
    return np.asarray(original, dtype=np.int64)
