-- model: analytics.kpi_brands_needing_marketing
-- description: Brands that draw attention but do not sell, against their category peers, over
--   every distinct event in stage. Per category code and brand: views, purchases and conversion
--   = purchases / views. The category's conversion is its purchases / its views over all its
--   brands. A brand needs marketing when (1) its category has at least 2 brands, (2) its views
--   are at least the median views of the brands of its category (many views), and (3) its
--   conversion is below half its category's conversion (low conversion). Events without a brand
--   or a category code are left out; every brand gets a row, flagged or not.
-- grain: category_code, brand
-- tests: not_null(category_code, brand, views, purchases, category_brands, category_median_views);
--   not_null(needs_marketing); unique(category_code, brand)
-- column category_code: Dotted category path
-- column brand: Brand
-- column views: view events of the brand in the category
-- column purchases: purchase events of the brand in the category
-- column conversion_rate: purchases / views, 4 decimals (null without views)
-- column category_conversion_rate: The category's purchases / views over all its brands, 4 decimals
-- column category_brands: Brands in the category
-- column category_median_views: Median views of the category's brands
-- column needs_marketing: views ≥ category_median_views, conversion below half the category's,
--   and at least 2 brands in the category

WITH brands AS (
    SELECT
        category_code,
        brand,
        sum(CASE WHEN event_type = 'view' THEN 1 ELSE 0 END) AS views,
        sum(CASE WHEN event_type = 'purchase' THEN 1 ELSE 0 END) AS purchases
    FROM analytics.int_click_events
    WHERE category_code IS NOT NULL AND brand IS NOT NULL
    GROUP BY category_code, brand
),

categories AS (
    SELECT
        category_code,
        count(*) AS category_brands,
        sum(views) AS category_views,
        sum(purchases) AS category_purchases,
        median(views) AS category_median_views
    FROM brands
    GROUP BY category_code
)

SELECT
    b.category_code,
    b.brand,
    CAST(b.views AS BIGINT) AS views,
    CAST(b.purchases AS BIGINT) AS purchases,
    round(CAST(b.purchases AS DOUBLE) / nullif(b.views, 0), 4) AS conversion_rate,
    round(CAST(c.category_purchases AS DOUBLE) / nullif(c.category_views, 0), 4) AS category_conversion_rate,
    CAST(c.category_brands AS BIGINT) AS category_brands,
    CAST(c.category_median_views AS DOUBLE) AS category_median_views,
    coalesce(
        c.category_brands >= 2
        AND b.views > 0
        AND b.views >= c.category_median_views
        AND CAST(b.purchases AS DOUBLE) * c.category_views < 0.5 * c.category_purchases * b.views,
        FALSE
    ) AS needs_marketing
FROM brands AS b
INNER JOIN categories AS c ON c.category_code = b.category_code
