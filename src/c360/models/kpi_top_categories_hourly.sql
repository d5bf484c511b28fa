-- model: analytics.kpi_top_categories_hourly
-- description: Categories ranked within each hour of the day (0-23, UTC, of the event itself,
--   over every day in stage), to time promotions. Ranked by purchase events, then views, then
--   category code alphabetically, so each hour has ranks 1, 2, 3, ... without ties. Distinct events
--   only; products without a category code are left out.
-- grain: event_hour, category_code
-- tests: not_null(event_hour, category_code, category_rank, views, carts, purchases, revenue)
-- tests: unique(event_hour, category_code); unique(event_hour, category_rank)
-- tests: accepted_values(event_hour: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
--   18, 19, 20, 21, 22, 23)
-- column event_hour: Hour of the day of the events, 0 to 23, UTC
-- column category_code: Dotted category path
-- column category_rank: Rank of the category within the hour, 1 = most purchases
-- column views: view events
-- column carts: cart events
-- column purchases: purchase events
-- column revenue: Sum of the purchase prices

WITH counted AS (
    SELECT
        CAST(hour(event_time) AS INTEGER) AS event_hour,
        category_code,
        sum(CASE WHEN event_type = 'view' THEN 1 ELSE 0 END) AS views,
        sum(CASE WHEN event_type = 'cart' THEN 1 ELSE 0 END) AS carts,
        sum(CASE WHEN event_type = 'purchase' THEN 1 ELSE 0 END) AS purchases,
        sum(CASE WHEN event_type = 'purchase' THEN price ELSE 0 END) AS revenue
    FROM analytics.int_click_events
    WHERE category_code IS NOT NULL
    GROUP BY CAST(hour(event_time) AS INTEGER), category_code
)

SELECT
    event_hour,
    category_code,
    CAST(row_number() OVER (
        PARTITION BY event_hour ORDER BY purchases DESC, views DESC, category_code ASC
    ) AS INTEGER) AS category_rank,
    CAST(views AS BIGINT) AS views,
    CAST(carts AS BIGINT) AS carts,
    CAST(purchases AS BIGINT) AS purchases,
    CAST(revenue AS DECIMAL(18, 2)) AS revenue
FROM counted
