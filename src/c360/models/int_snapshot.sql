-- model: analytics.int_snapshot
-- description: One row: the snapshot date every dimension is computed at, and the cut-off days of
--   its time windows. The snapshot date is the latest business date present in stage (the latest
--   transaction, retail order, web visit, clickstream event, account opening, card issue or client
--   registration), never the wall clock, so rebuilding over unchanged stage gives the same rows and
--   nothing in stage is dated after the snapshot. A window "last N" covers the days after its
--   cut-off up to and including snapshot_date.
-- grain: snapshot_date
-- tests: not_null(snapshot_date, cutoff_90d, cutoff_3m, cutoff_6m); unique(snapshot_date); row_count_min(1)
-- column snapshot_date: The day the profiles describe: the latest business date in stage
-- column cutoff_90d: snapshot_date minus 90 days; the last 90 days are the 90 days after it
-- column cutoff_3m: snapshot_date minus 3 calendar months (clamped to the month's end, e.g.
--   2024-05-31 gives 2024-02-29); the last 3 months are the days after it
-- column cutoff_6m: snapshot_date minus 6 calendar months; the previous 3 months are the days after
--   cutoff_6m up to and including cutoff_3m

-- cutoff_90d is date_add(d, -90), never d - INTERVAL 90 DAY: DuckDB compares intervals with a
-- 30-day month, so INTERVAL 90 DAY equals INTERVAL 3 MONTH and its common-subexpression
-- elimination computes both columns of one SELECT with whichever comes first.

WITH business_dates AS (
    SELECT CAST(max(trans_datetime) AS DATE) AS business_date FROM stage.transactions
    UNION ALL
    SELECT max(order_date) AS business_date FROM stage.retail_orders
    UNION ALL
    SELECT max(visit_date) AS business_date FROM stage.web_sessions
    UNION ALL
    SELECT CAST(max(event_time) AS DATE) AS business_date FROM stage.clickstream
    UNION ALL
    SELECT CAST(max(date_of_creation) AS DATE) AS business_date FROM stage.accounts
    UNION ALL
    SELECT CAST(max(issued_datetime) AS DATE) AS business_date FROM stage.cards
    UNION ALL
    SELECT CAST(max(client_created_date) AS DATE) AS business_date FROM stage.crm
),

snapshot AS (
    SELECT max(business_date) AS snapshot_date
    FROM business_dates
)

SELECT
    snapshot_date,
    date_add(snapshot_date, -90) AS cutoff_90d,
    CAST(snapshot_date - INTERVAL 3 MONTH AS DATE) AS cutoff_3m,
    CAST(snapshot_date - INTERVAL 6 MONTH AS DATE) AS cutoff_6m
FROM snapshot
