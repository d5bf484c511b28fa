-- model: analytics.kpi_funnel_daily
-- description: The view → cart → purchase funnel per day, category and brand, counted in distinct
--   events and dated by the day their session started. A purchase without a cart event still
--   counts as a purchase, so cart_to_purchase_rate can exceed 1. Products without a category
--   code are under '(uncategorized)', without a brand under '(unknown)'.
-- grain: event_date, category_code, brand
-- incremental: event_date from stage.clickstream.event_time within 1 day
-- tests: not_null(event_date, category_code, brand, views, carts, purchases)
-- tests: unique(event_date, category_code, brand)
-- column event_date: Day the sessions of the events started
-- column category_code: Dotted category path, or '(uncategorized)'
-- column brand: Brand, or '(unknown)'
-- column views: view events
-- column carts: cart events
-- column purchases: purchase events
-- column view_to_cart_rate: carts / views, 4 decimals (null without views)
-- column cart_to_purchase_rate: purchases / carts, 4 decimals (null without carts)

WITH counted AS (
    SELECT
        s.session_date AS event_date,
        coalesce(e.category_code, '(uncategorized)') AS category_code,
        coalesce(e.brand, '(unknown)') AS brand,
        sum(CASE WHEN e.event_type = 'view' THEN 1 ELSE 0 END) AS views,
        sum(CASE WHEN e.event_type = 'cart' THEN 1 ELSE 0 END) AS carts,
        sum(CASE WHEN e.event_type = 'purchase' THEN 1 ELSE 0 END) AS purchases
    FROM analytics.int_click_events AS e
    INNER JOIN analytics.int_click_sessions AS s ON s.session_id = e.session_id
    GROUP BY s.session_date, coalesce(e.category_code, '(uncategorized)'), coalesce(e.brand, '(unknown)')
)

SELECT
    event_date,
    category_code,
    brand,
    CAST(views AS BIGINT) AS views,
    CAST(carts AS BIGINT) AS carts,
    CAST(purchases AS BIGINT) AS purchases,
    round(CAST(carts AS DOUBLE) / nullif(views, 0), 4) AS view_to_cart_rate,
    round(CAST(purchases AS DOUBLE) / nullif(carts, 0), 4) AS cart_to_purchase_rate
FROM counted
