"""Clustering engine on small synthetic Chinese and English reports generated here."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pandas as pd
import pytest
from scipy.cluster.hierarchy import fcluster, linkage

from aggregation.clustering import (
    ClusteringParams,
    ReviewDecision,
    assign_report,
    assign_reports,
    cluster_reports,
)
from aggregation.clustering import columns as col
from aggregation.clustering.grouping import average_linkage_labels
from aggregation.clustering.statistics import cluster_statistics

THEME_SENTENCES = {
    "zh_collection": [
        "催收人员每天打十几个电话辱骂我",
        "他们威胁说要上门找我家人",
        "半夜还在不停地打电话恐吓",
        "催收员说不还钱就让我身败名裂",
        "这种暴力催收让我没法正常生活",
        "电话里骂得非常难听还发恐吓短信",
        "连我单位领导都接到了催收的电话",
        "每次接到陌生号码都担心是催收",
    ],
    "zh_fees": [
        "合同写的借款金额和实际到账金额不一样",
        "放款时直接扣了所谓的服务费和会员费",
        "砍头息加上担保费实际年化利率远超法定上限",
        "客服从来不解释这些费用是怎么计算的",
        "捆绑销售的保险费也没有事先告知",
        "算下来综合成本比宣传的高出好几倍",
        "提前还款还要再交一大笔违约金",
        "申请借款时页面上根本看不到这些收费",
    ],
    "en_deduction": [
        "they withdrew money from my checking account without my permission",
        "the automatic debit hit my bank account twice in one week",
        "I revoked the ACH authorization but the withdrawals continued",
        "my account was overdrawn because of these unauthorized debits",
        "the bank charged overdraft fees after the lender pulled the payment early",
        "nobody would stop the recurring withdrawals when I called",
        "the lender took an extra payment the day after my paycheck arrived",
        "my bank confirmed the debits were not authorized by me",
    ],
    "en_credit": [
        "the lender reported a late payment to the credit bureaus that never happened",
        "my credit score dropped after the wrong delinquency was reported",
        "I disputed the credit report entry but they verified it anyway",
        "the tradeline shows a charge off even though the loan was paid in full",
        "Equifax and Experian still list the incorrect balance",
        "they refuse to correct the inaccurate information on my credit file",
        "a mortgage lender denied me because of this false derogatory mark",
        "the credit bureau says the furnisher keeps reporting the error",
    ],
}
THEMES_BY_LENDER = {
    "lender-zh-a": ["zh_collection", "zh_fees"],
    "lender-zh-b": ["zh_collection", "zh_fees"],
    "lender-en": ["en_deduction", "en_credit"],
}
REGIONS = ["广东", "浙江", "江苏", "四川"]


def compose(theme: str, rng: np.random.Generator, chosen: np.ndarray | None = None) -> str:
    sentences = THEME_SENTENCES[theme]
    if chosen is None:
        chosen = rng.choice(len(sentences), size=4, replace=False)
    separator = "，" if theme.startswith("zh") else ". "
    amount = f"{int(rng.integers(1, 50)) * 1000}"
    body = separator.join(sentences[i] for i in chosen)
    return f"{body}{separator}[PHONE] {amount}"


def distinct_choices(rng: np.random.Generator, count: int) -> list[np.ndarray]:
    """Sentence choices sharing at most 2 of 4 sentences, so no two reports are near-copies."""
    choices: list[np.ndarray] = []
    while len(choices) < count:
        candidate = rng.choice(8, size=4, replace=False)
        if all(len(set(candidate) & set(other)) <= 2 for other in choices):
            choices.append(candidate)
    return choices


def make_reports(per_theme: int = 8, seed: int = 7, id_prefix: str = "r") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for lender, themes in THEMES_BY_LENDER.items():
        for theme in themes:
            for chosen in distinct_choices(rng, per_theme):
                number = len(rows)
                rows.append(
                    {
                        col.REPORT_ID: f"{id_prefix}{number:04d}",
                        col.LENDER: lender,
                        col.TEXT: compose(theme, rng, chosen),
                        col.SUBMITTED_AT: pd.Timestamp("2024-01-01", tz="UTC")
                        + pd.Timedelta(days=int(rng.integers(0, 300))),
                        col.CATEGORIES: ["abusive_collection"]
                        if "collection" in theme
                        else ["opaque_fees"],
                        col.REGION: REGIONS[number % len(REGIONS)],
                        col.PRINCIPAL: float(rng.integers(1, 20) * 1000),
                        col.APR_EFFECTIVE: float(rng.choice([0.18, 0.3, 0.5])),
                        "theme": theme,
                    }
                )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def reports() -> pd.DataFrame:
    return make_reports()


@pytest.fixture(scope="module")
def result(reports):
    return cluster_reports(reports)


def cluster_of(result, report_id: str) -> str | None:
    assignments = result.assignments.set_index(col.REPORT_ID)
    return assignments.loc[report_id, col.CLUSTER_ID]


def theme_clusters(result, reports: pd.DataFrame) -> pd.Series:
    """The cluster holding most of each (lender, theme)'s reports."""
    merged = reports.merge(result.assignments, on=col.REPORT_ID)
    return merged.groupby([col.LENDER, "theme"])[col.CLUSTER_ID].agg(lambda s: s.mode().iloc[0])


def test_groups_follow_grievances_within_each_lender(result, reports):
    merged = reports.merge(result.assignments, on=col.REPORT_ID)
    themes_per_cluster = merged.groupby(col.CLUSTER_ID)["theme"].nunique()
    assert (themes_per_cluster == 1).all()
    largest_share = merged.groupby([col.LENDER, "theme"])[col.CLUSTER_ID].agg(
        lambda s: s.value_counts().iloc[0] / len(s)
    )
    assert (largest_share >= 0.75).all()
    assert result.clusters[col.IS_SHOWN].sum() >= 6


def test_different_lenders_never_share_a_cluster(result, reports):
    merged = reports.merge(result.assignments, on=col.REPORT_ID)
    # lender-zh-a and lender-zh-b have the same grievances in the same words.
    assert (merged.groupby(col.CLUSTER_ID)[col.LENDER].nunique() == 1).all()
    lender_of_cluster = result.clusters.set_index(col.CLUSTER_ID)[col.LENDER]
    assert (lender_of_cluster.loc[merged[col.CLUSTER_ID]].to_numpy() == merged[col.LENDER]).all()


def test_any_row_order_gives_identical_output(reports, result):
    shuffled = reports.sample(frac=1.0, random_state=3)[list(reversed(reports.columns))]
    again = cluster_reports(shuffled)
    pd.testing.assert_frame_equal(again.assignments, result.assignments)
    pd.testing.assert_frame_equal(again.clusters, result.clusters)
    assert result.clusters[col.KEYWORDS].map(len).min() > 0


def test_keywords_and_representatives_describe_the_cluster(result, reports):
    clusters = result.clusters.set_index(col.CLUSTER_ID)
    collection = theme_clusters(result, reports).loc[("lender-zh-a", "zh_collection")]
    assert {"催收", "电话"} & set(clusters.loc[collection, col.KEYWORDS])
    credit = theme_clusters(result, reports).loc[("lender-en", "en_credit")]
    assert "credit" in clusters.loc[credit, col.KEYWORDS]
    representatives = clusters.loc[credit, col.REPRESENTATIVE_REPORT_IDS]
    assert 1 <= len(representatives) <= 3
    assert all(cluster_of(result, report_id) == credit for report_id in representatives)


def test_inputs_are_not_mutated(reports, result):
    reports_before = reports.copy(deep=True)
    previous = result.assignments.copy(deep=True)
    previous_before = previous.copy(deep=True)
    decisions = [ReviewDecision("d1", "exclude", report_ids=["r0000"])]
    cluster_reports(reports, previous=previous, decisions=decisions)
    pd.testing.assert_frame_equal(reports, reports_before)
    pd.testing.assert_frame_equal(previous, previous_before)


def with_copy(reports: pd.DataFrame, source_id: str, copy_id: str, days_later: int) -> pd.DataFrame:
    source = reports.set_index(col.REPORT_ID).loc[source_id]
    edited = dict(source)
    edited[col.REPORT_ID] = copy_id
    edited[col.TEXT] = source[col.TEXT].replace("，", ",", 1) + " 请尽快处理"
    edited[col.SUBMITTED_AT] = source[col.SUBMITTED_AT] + pd.Timedelta(days=days_later)
    return pd.concat([reports, pd.DataFrame([edited])], ignore_index=True)


def test_near_duplicates_join_the_original_without_counting(reports, result):
    # The copy's id sorts first, but the original is the earlier submission.
    with_dup = with_copy(reports, "r0003", "a-copy", days_later=2)
    run = cluster_reports(with_dup)
    assignments = run.assignments.set_index(col.REPORT_ID)
    assert assignments.loc["a-copy", col.DUPLICATE_OF] == "r0003"
    assert assignments.loc["r0003", col.DUPLICATE_OF] is None
    cluster_id = assignments.loc["r0003", col.CLUSTER_ID]
    assert assignments.loc["a-copy", col.CLUSTER_ID] == cluster_id
    cluster = run.clusters.set_index(col.CLUSTER_ID).loc[cluster_id]
    members = assignments[assignments[col.CLUSTER_ID] == cluster_id]
    assert cluster[col.SIZE] == len(members) - 1
    assert cluster[col.DUPLICATE_COUNT] == 1
    assert assignments[col.DUPLICATE_OF].notna().sum() == 1


def test_short_identical_texts_are_not_duplicates():
    frame = pd.DataFrame(
        {
            col.REPORT_ID: ["a", "b"],
            col.LENDER: ["x", "x"],
            col.TEXT: ["催收爆通讯录", "催收爆通讯录"],
        }
    )
    assert cluster_reports(frame).assignments[col.DUPLICATE_OF].isna().all()


def test_cluster_ids_survive_new_reports(reports, result):
    first = theme_clusters(result, reports)
    grown = pd.concat([reports, make_reports(per_theme=2, seed=99, id_prefix="n")])
    second_run = cluster_reports(grown, previous=result.assignments)
    second = theme_clusters(second_run, grown)
    assert (first == second).all()
    kept = second_run.clusters.set_index(col.CLUSTER_ID).loc[second.to_numpy()]
    assert not kept[col.IS_NEW].any()


def test_ids_are_derived_from_founding_members_without_previous(reports, result):
    assert result.clusters[col.CLUSTER_ID].str.match(r"^c-[0-9a-f]{12}$").all()
    assert result.clusters[col.IS_NEW].all()


def rerun_with(reports, decisions):
    """Run, then run again on more reports with the first run as previous; both see decisions."""
    first = cluster_reports(reports, decisions=decisions)
    grown = pd.concat([reports, make_reports(per_theme=1, seed=5, id_prefix="n")])
    second = cluster_reports(grown, previous=first.assignments, decisions=decisions)
    return first, second


def test_merge_is_reapplied_after_a_rerun(reports, result):
    themes = theme_clusters(result, reports)
    target = themes.loc[("lender-zh-a", "zh_collection")]
    absorbed = themes.loc[("lender-zh-a", "zh_fees")]
    decision = ReviewDecision("d-merge", "merge", cluster_ids=(target, absorbed))
    for run in rerun_with(reports, [decision]):
        clusters = run.clusters.set_index(col.CLUSTER_ID)
        assert absorbed not in clusters.index
        assert clusters.loc[target, col.MERGED_CLUSTER_IDS] == [absorbed]
        members = reports.merge(run.assignments, on=col.REPORT_ID)
        lender_a = members[members[col.LENDER] == "lender-zh-a"]
        assert (lender_a[col.CLUSTER_ID] == target).mean() >= 0.75
        assert run.skipped_decisions.empty


def test_split_is_reapplied_after_a_rerun(reports, result):
    credit = theme_clusters(result, reports).loc[("lender-en", "en_credit")]
    moved = sorted(result.assignments.query(f"{col.CLUSTER_ID} == @credit")[col.REPORT_ID])[:3]
    decision = ReviewDecision("d-split", "split", report_ids=moved)
    split_ids = set()
    for run in rerun_with(reports, [decision]):
        new_ids = {cluster_of(run, report_id) for report_id in moved}
        assert len(new_ids) == 1
        split_ids |= new_ids
        assert credit in set(run.clusters[col.CLUSTER_ID])
    assert len(split_ids) == 1 and next(iter(split_ids)).startswith("s-")


def test_exclude_is_reapplied_after_a_rerun(reports):
    decision = ReviewDecision("d-exclude", "exclude", report_ids=["r0005"])
    for run in rerun_with(reports, [decision]):
        row = run.assignments.set_index(col.REPORT_ID).loc["r0005"]
        assert row[col.EXCLUDED] and row[col.CLUSTER_ID] is None
        counted = run.clusters[col.SIZE].sum() + run.clusters[col.DUPLICATE_COUNT].sum()
        assert counted == (~run.assignments[col.EXCLUDED]).sum()


def test_rename_is_reapplied_after_a_rerun(reports, result):
    fees = theme_clusters(result, reports).loc[("lender-zh-b", "zh_fees")]
    decision = ReviewDecision("d-rename", "rename", cluster_ids=[fees], label="砍头息")
    for run in rerun_with(reports, [decision]):
        labels = run.clusters.set_index(col.CLUSTER_ID)[col.LABEL]
        assert labels.loc[fees] == "砍头息"
        assert labels.drop(fees).isna().all()


def test_mark_and_unmark_duplicate_are_reapplied(reports, result):
    marked = ReviewDecision("d-mark", "mark_duplicate", report_ids=["r0001"], duplicate_of="r0002")
    for run in rerun_with(reports, [marked]):
        row = run.assignments.set_index(col.REPORT_ID).loc["r0001"]
        assert row[col.DUPLICATE_OF] == "r0002"
        assert row[col.CLUSTER_ID] == cluster_of(run, "r0002")
    with_dup = with_copy(reports, "r0003", "r9999", days_later=1)
    unmarked = ReviewDecision("d-unmark", "unmark_duplicate", report_ids=["r9999"])
    for run in rerun_with(with_dup, [unmarked]):
        assignments = run.assignments.set_index(col.REPORT_ID)
        assert assignments.loc["r9999", col.DUPLICATE_OF] is None
        cluster_id = assignments.loc["r9999", col.CLUSTER_ID]
        assert cluster_id == assignments.loc["r0003", col.CLUSTER_ID]
        members = (assignments[col.CLUSTER_ID] == cluster_id).sum()
        assert run.clusters.set_index(col.CLUSTER_ID).loc[cluster_id, col.SIZE] == members


def test_decisions_on_missing_clusters_are_skipped_and_reported(reports, result):
    decisions = [
        ReviewDecision("gone-merge", "merge", cluster_ids=("c-000000000000", "c-111111111111")),
        ReviewDecision("gone-rename", "rename", cluster_ids=("c-000000000000",), label="x"),
        ReviewDecision("gone-split", "split", report_ids=("no-such-report",)),
    ]
    run = cluster_reports(reports, decisions=decisions)
    skipped = run.skipped_decisions
    assert list(skipped[col.DECISION_ID]) == ["gone-merge", "gone-rename", "gone-split"]
    assert skipped[col.SKIP_REASON].str.len().min() > 0
    pd.testing.assert_frame_equal(run.assignments, result.assignments)


def test_incremental_assignment_finds_the_cluster(reports, result):
    rng = np.random.default_rng(1234)
    fees = theme_clusters(result, reports).loc[("lender-zh-b", "zh_fees")]
    new_report = {col.LENDER: "lender-zh-b", col.TEXT: compose("zh_fees", rng)}
    cluster_id, duplicate_of, similarity = assign_report(result.index, new_report)
    assert (cluster_id, duplicate_of) == (fees, None)
    assert similarity >= ClusteringParams().min_similarity


def test_incremental_assignment_leaves_unrelated_text_unassigned(result):
    unrelated = {
        col.LENDER: "lender-en",
        col.TEXT: "We hiked up the mountain trail and watched the sunset over the lake.",
    }
    cluster_id, duplicate_of, _ = assign_report(result.index, unrelated)
    assert cluster_id is None and duplicate_of is None
    unknown_lender = {col.LENDER: "lender-new", col.TEXT: "催收人员每天打电话辱骂我"}
    assert assign_report(result.index, unknown_lender) == (None, None, 0.0)


def test_incremental_assignment_spots_copies_and_survives_pickling(reports, result):
    source = reports.set_index(col.REPORT_ID).loc["r0010"]
    copy_of_source = {col.LENDER: source[col.LENDER], col.TEXT: source[col.TEXT] + " 谢谢"}
    expected = (cluster_of(result, "r0010"), "r0010")
    assert assign_report(result.index, copy_of_source)[:2] == expected
    restored = pickle.loads(pickle.dumps(result.index))
    assert assign_report(restored, copy_of_source) == assign_report(result.index, copy_of_source)


def test_assigning_a_batch_gives_each_report_its_own_answer(reports, result):
    rng = np.random.default_rng(99)
    source = reports.set_index(col.REPORT_ID).loc["r0010"]
    batch = [
        {col.LENDER: "lender-zh-b", col.TEXT: compose("zh_fees", rng)},
        {col.LENDER: source[col.LENDER], col.TEXT: source[col.TEXT] + " 谢谢"},
        {col.LENDER: "lender-en", col.TEXT: "We hiked up the mountain trail at sunset."},
        {col.LENDER: "lender-new", col.TEXT: "催收人员每天打电话辱骂我"},
        {col.LENDER: "lender-zh-b", col.TEXT: ""},
    ]
    answers = assign_reports(result.index, batch)
    assert answers == [assign_report(result.index, report) for report in batch]
    assert answers[1][1] == "r0010"
    assert assign_reports(result.index, []) == []


def test_large_blocks_use_micro_groups_and_stay_pure(reports):
    params = ClusteringParams(direct_linkage_max_reports=10, partition_size=8, micro_group_size=2)
    run = cluster_reports(reports, params=params)
    merged = reports.merge(run.assignments, on=col.REPORT_ID)
    assert (merged.groupby(col.CLUSTER_ID)["theme"].nunique() == 1).all()
    assert run.clusters[col.SIZE].max() >= 4


def test_average_linkage_cut_matches_scipy():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(6, 16))
    points = centers[rng.integers(0, 6, 120)] + rng.normal(scale=0.6, size=(120, 16))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    ours = average_linkage_labels(points, np.ones(len(points)), min_similarity=0.5)
    theirs = fcluster(linkage(points, method="average", metric="cosine"), 0.5, "distance")
    pairs_ours = ours[:, None] == ours[None, :]
    pairs_theirs = theirs[:, None] == theirs[None, :]
    assert np.array_equal(pairs_ours, pairs_theirs)
    assert 3 <= ours.max() + 1 <= 30


def test_weighted_groups_stop_where_their_members_would():
    rng = np.random.default_rng(1)
    points = rng.normal(size=(60, 8)) + np.repeat(rng.normal(size=(3, 8)) * 2, 20, axis=0)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    pair_of_point = np.arange(60) // 2
    means = np.stack([points[pair_of_point == pair].mean(axis=0) for pair in range(30)])
    labels = average_linkage_labels(means, np.full(30, 2.0), min_similarity=0.3)[pair_of_point]
    cluster_means = np.stack(
        [points[labels == label].mean(axis=0) for label in range(labels.max() + 1)]
    )
    between = cluster_means @ cluster_means.T
    np.fill_diagonal(between, -np.inf)
    # Average-linkage stops only when every two groups' members are on average below the cut.
    assert between.max() < 0.3
    assert 2 <= labels.max() + 1 < 30


def test_statistics_on_a_hand_made_frame():
    members = pd.DataFrame(
        {
            col.SUBMITTED_AT: ["2024-03-05T10:00:00Z", "2024-01-20T00:00:00Z", None, "2024-02-01"],
            col.CATEGORIES: [["opaque_fees", "bundled_fees"], ["opaque_fees"], [], None],
            col.REGION: ["广东", "广东", None, "浙江"],
            col.PRINCIPAL: [10000.0, 3000.0, None, 5000.0],
            col.APR_EFFECTIVE: [0.20, 0.30, 0.50, None],
        }
    )
    ids = pd.Series(["c-1", "c-1", "c-1", "c-1"])
    row = cluster_statistics(members, ids).set_index(col.CLUSTER_ID).loc["c-1"]
    assert (row[col.FIRST_MONTH], row[col.LAST_MONTH]) == ("2024-01", "2024-03")
    assert row[col.CATEGORY_SHARES] == {"bundled_fees": 0.25, "opaque_fees": 0.5}
    assert row[col.REGION_COUNTS] == {"广东": 2, "浙江": 1}
    assert row[col.MEDIAN_PRINCIPAL] == 5000.0
    assert row[col.SHARE_APR_ABOVE_24PCT] == pytest.approx(2 / 3)
    assert row[col.SHARE_APR_ABOVE_36PCT] == pytest.approx(1 / 3)


def test_engine_statistics_count_each_story_once(reports):
    with_dup = with_copy(reports, "r0003", "r9998", days_later=40)
    run = cluster_reports(with_dup)
    cluster_id = cluster_of(run, "r0003")
    members = reports[
        reports[col.REPORT_ID].isin(
            run.assignments.query(f"{col.CLUSTER_ID} == @cluster_id")[col.REPORT_ID]
        )
    ]
    row = run.clusters.set_index(col.CLUSTER_ID).loc[cluster_id]
    assert row[col.MEDIAN_PRINCIPAL] == members[col.PRINCIPAL].median()
    assert sum(row[col.REGION_COUNTS].values()) == len(members)
    assert row[col.LAST_MONTH] == members[col.SUBMITTED_AT].max().strftime("%Y-%m")


def test_lender_names_are_masked_from_similarity():
    texts = ["好借钱 好借钱 好借钱 催收电话辱骂", "好借钱 好借钱 好借钱 费用不透明砍头息"]
    frame = pd.DataFrame({col.REPORT_ID: ["a", "b"], col.LENDER: ["hjq", "hjq"], col.TEXT: texts})
    params = ClusteringParams(min_similarity=0.2)
    masked = cluster_reports(frame, params=params, lender_names={"hjq": ["好借钱"]})
    unmasked = cluster_reports(frame, params=params)
    assert masked.assignments[col.CLUSTER_ID].nunique() == 2
    assert unmasked.assignments[col.CLUSTER_ID].nunique() == 1


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="lack required columns"):
        cluster_reports(pd.DataFrame({col.REPORT_ID: ["a"], col.TEXT: ["x"]}))
    repeated = pd.DataFrame({col.REPORT_ID: ["a", "a"], col.LENDER: ["x", "x"], col.TEXT: ["", ""]})
    with pytest.raises(ValueError, match="repeats"):
        cluster_reports(repeated)
    with pytest.raises(ValueError, match="power of two"):
        ClusteringParams(minhash_bins=100)
    with pytest.raises(ValueError, match="unknown kind"):
        ReviewDecision("d", "delete", report_ids=("a",))
    assert copy.deepcopy(ClusteringParams()).to_dict()["min_similarity"] == 0.3
