"""Column names of the clustering engine's input and output frames, spelled only here."""

# Input: one row per report.
REPORT_ID = "report_id"
LENDER = "lender"
TEXT = "text"
CATEGORIES = "categories"
SUBMITTED_AT = "submitted_at"
REGION = "region"
APR_EFFECTIVE = "apr_effective"
PRINCIPAL = "principal"
# Optional: one float vector per report from a sentence-embedding model, for every report or none.
EMBEDDING = "embedding"

REQUIRED_INPUT_COLUMNS = (REPORT_ID, LENDER, TEXT)
STATISTICS_SOURCE_COLUMNS = (SUBMITTED_AT, CATEGORIES, REGION, PRINCIPAL, APR_EFFECTIVE)

# Output `assignments`: one row per input report.
CLUSTER_ID = "cluster_id"
# The automatic grouping's id before organizer decisions; ids are matched run to run on it, so
# decisions that name a cluster keep finding it after a merge moved its reports elsewhere.
BASE_CLUSTER_ID = "base_cluster_id"
DUPLICATE_OF = "duplicate_of"
EXCLUDED = "excluded"
CENTROID_SIMILARITY = "centroid_similarity"

ASSIGNMENT_COLUMNS = (
    REPORT_ID,
    CLUSTER_ID,
    BASE_CLUSTER_ID,
    DUPLICATE_OF,
    EXCLUDED,
    CENTROID_SIMILARITY,
)

# Output `clusters`: one row per cluster.
SIZE = "size"
DUPLICATE_COUNT = "duplicate_count"
IS_SHOWN = "is_shown"
LABEL = "label"
KEYWORDS = "keywords"
REPRESENTATIVE_REPORT_IDS = "representative_report_ids"
IS_NEW = "is_new"
MERGED_CLUSTER_IDS = "merged_cluster_ids"
FIRST_MONTH = "first_month"
LAST_MONTH = "last_month"
CATEGORY_SHARES = "category_shares"
REGION_COUNTS = "region_counts"
MEDIAN_PRINCIPAL = "median_principal"
SHARE_APR_ABOVE_24PCT = "share_apr_above_24pct"
SHARE_APR_ABOVE_36PCT = "share_apr_above_36pct"

STATISTICS_COLUMNS = (
    FIRST_MONTH,
    LAST_MONTH,
    CATEGORY_SHARES,
    REGION_COUNTS,
    MEDIAN_PRINCIPAL,
    SHARE_APR_ABOVE_24PCT,
    SHARE_APR_ABOVE_36PCT,
)

CLUSTER_COLUMNS = (
    CLUSTER_ID,
    LENDER,
    SIZE,
    DUPLICATE_COUNT,
    IS_SHOWN,
    LABEL,
    KEYWORDS,
    REPRESENTATIVE_REPORT_IDS,
    IS_NEW,
    MERGED_CLUSTER_IDS,
    *STATISTICS_COLUMNS,
)

# Output `skipped_decisions`: decisions that could not be re-applied.
DECISION_ID = "decision_id"
DECISION_KIND = "kind"
SKIP_REASON = "reason"

SKIPPED_DECISION_COLUMNS = (DECISION_ID, DECISION_KIND, SKIP_REASON)
