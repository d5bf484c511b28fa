-- model: analytics.kpi_customers_by_segment
-- description: Customers per value tier and age band in the latest snapshot of
--   analytics.customer_360 (its highest snapshot_date), kept per snapshot date as history.
--   Combinations without customers have no row.
-- grain: snapshot_date, value_tier, age_band
-- partition: snapshot_date
-- tests: not_null(snapshot_date, value_tier, age_band, customers, customer_share)
-- tests: unique(snapshot_date, value_tier, age_band)
-- tests: accepted_values(value_tier: top, high, medium, low, none)
-- tests: accepted_values(age_band: under 18, 18-24, 25-34, 35-44, 45-54, 55-64, 65+, unknown)
-- column snapshot_date: The snapshot of customer_360 counted
-- column value_tier: top, high, medium, low or none (dim_value)
-- column age_band: under 18, 18-24, 25-34, 35-44, 45-54, 55-64 or 65+ (dim_demographic)
-- column customers: Customers in the tier and band
-- column customer_share: customers / all customers of the snapshot, 4 decimals

WITH latest AS (
    SELECT
        snapshot_date,
        value_tier,
        age_band,
        count(*) OVER (PARTITION BY snapshot_date) AS all_customers
    FROM analytics.customer_360
    WHERE snapshot_date = (SELECT max(snapshot_date) FROM analytics.customer_360)
)

SELECT
    snapshot_date,
    value_tier,
    age_band,
    count(*) AS customers,
    round(CAST(count(*) AS DOUBLE) / max(all_customers), 4) AS customer_share
FROM latest
GROUP BY snapshot_date, value_tier, age_band
