-- model: analytics.kpi_digital_adoption
-- description: Digital adoption in the latest snapshot of analytics.customer_360: the share of
--   customers with at least one web session (sessions > 0, dim_digital).
-- grain: snapshot_date
-- partition: snapshot_date
-- tests: not_null(snapshot_date, customers, digital_customers, digital_adoption_rate); unique(snapshot_date)
-- column snapshot_date: The snapshot of customer_360 counted
-- column customers: Customers in the snapshot
-- column digital_customers: Customers with at least one web session
-- column digital_adoption_rate: digital_customers / customers, 4 decimals

SELECT
    snapshot_date,
    count(*) AS customers,
    sum(CASE WHEN sessions > 0 THEN 1 ELSE 0 END) AS digital_customers,
    round(CAST(sum(CASE WHEN sessions > 0 THEN 1 ELSE 0 END) AS DOUBLE) / count(*), 4) AS digital_adoption_rate
FROM analytics.customer_360
WHERE snapshot_date = (SELECT max(snapshot_date) FROM analytics.customer_360)
GROUP BY snapshot_date
