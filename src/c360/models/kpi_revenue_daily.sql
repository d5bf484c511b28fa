-- model: analytics.kpi_revenue_daily
-- description: Click-stream revenue per day (the day the session started): revenue is the sum of
--   the prices of the distinct purchase events, an order is a session with at least one purchase
--   event, and the average order value is revenue / orders. Days without a purchase have no row.
-- grain: event_date
-- incremental: event_date from stage.clickstream.event_time within 1 day
-- tests: not_null(event_date, revenue, orders, items, avg_order_value); unique(event_date)
-- column event_date: Day the purchasing sessions started
-- column revenue: Sum of the purchase prices
-- column orders: Sessions with at least one purchase
-- column items: Purchase events
-- column avg_order_value: revenue / orders, 2 decimals

SELECT
    session_date AS event_date,
    CAST(sum(purchase_value) AS DECIMAL(18, 2)) AS revenue,
    count(*) AS orders,
    CAST(sum(purchases) AS BIGINT) AS items,
    round(CAST(sum(purchase_value) AS DOUBLE) / count(*), 2) AS avg_order_value
FROM analytics.int_click_sessions
WHERE purchases > 0
GROUP BY session_date
