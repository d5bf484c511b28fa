-- model: analytics.kpi_top_categories_weekday
-- description: Categories ranked within each weekday (of the event itself, UTC, over every week in
--   stage). The weekday is computed, not read from dayofweek (engines number it differently):
--   weekday = days since Monday 2000-01-03 modulo 7, so 0 = Monday ... 6 = Sunday. Ranked by
--   purchase events, then views, then category code alphabetically (ranks 1, 2, 3, ... without
--   ties). Distinct events only; products without a category code are left out.
-- grain: weekday, category_code
-- tests: not_null(weekday, weekday_name, category_code, category_rank, views, carts, purchases, revenue)
-- tests: unique(weekday, category_code); unique(weekday, category_rank)
-- tests: accepted_values(weekday: 0, 1, 2, 3, 4, 5, 6)
-- tests: accepted_values(weekday_name: Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday)
-- column weekday: 0 = Monday to 6 = Sunday
-- column weekday_name: Monday to Sunday
-- column category_code: Dotted category path
-- column category_rank: Rank of the category within the weekday, 1 = most purchases
-- column views: view events
-- column carts: cart events
-- column purchases: purchase events
-- column revenue: Sum of the purchase prices

WITH dated AS (
    SELECT
        CAST((date_diff('day', DATE '2000-01-03', event_date) % 7 + 7) % 7 AS INTEGER) AS weekday,
        category_code,
        event_type,
        price
    FROM analytics.int_click_events
    WHERE category_code IS NOT NULL
),

counted AS (
    SELECT
        weekday,
        category_code,
        sum(CASE WHEN event_type = 'view' THEN 1 ELSE 0 END) AS views,
        sum(CASE WHEN event_type = 'cart' THEN 1 ELSE 0 END) AS carts,
        sum(CASE WHEN event_type = 'purchase' THEN 1 ELSE 0 END) AS purchases,
        sum(CASE WHEN event_type = 'purchase' THEN price ELSE 0 END) AS revenue
    FROM dated
    GROUP BY weekday, category_code
)

SELECT
    weekday,
    CASE weekday
        WHEN 0 THEN 'Monday'
        WHEN 1 THEN 'Tuesday'
        WHEN 2 THEN 'Wednesday'
        WHEN 3 THEN 'Thursday'
        WHEN 4 THEN 'Friday'
        WHEN 5 THEN 'Saturday'
        ELSE 'Sunday'
    END AS weekday_name,
    category_code,
    CAST(row_number() OVER (
        PARTITION BY weekday ORDER BY purchases DESC, views DESC, category_code ASC
    ) AS INTEGER) AS category_rank,
    CAST(views AS BIGINT) AS views,
    CAST(carts AS BIGINT) AS carts,
    CAST(purchases AS BIGINT) AS purchases,
    CAST(revenue AS DECIMAL(18, 2)) AS revenue
FROM counted
