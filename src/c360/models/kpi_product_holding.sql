-- model: analytics.kpi_product_holding
-- description: How many products customers hold, in the latest snapshot of analytics.customer_360:
--   one row per product count (products = accounts plus cards, as in dim_loyalty), with the
--   customers holding exactly that many. Counts nobody holds have no row.
-- grain: snapshot_date, products
-- partition: snapshot_date
-- tests: not_null(snapshot_date, products, customers, customer_share); unique(snapshot_date, products)
-- column snapshot_date: The snapshot of customer_360 counted
-- column products: Products held (accounts plus cards)
-- column customers: Customers holding exactly that many products
-- column customer_share: customers / all customers of the snapshot, 4 decimals

WITH latest AS (
    SELECT
        snapshot_date,
        products,
        count(*) OVER (PARTITION BY snapshot_date) AS all_customers
    FROM analytics.customer_360
    WHERE snapshot_date = (SELECT max(snapshot_date) FROM analytics.customer_360)
)

SELECT
    snapshot_date,
    CAST(products AS BIGINT) AS products,
    count(*) AS customers,
    round(CAST(count(*) AS DOUBLE) / max(all_customers), 4) AS customer_share
FROM latest
GROUP BY snapshot_date, products
