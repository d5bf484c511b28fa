-- model: analytics.dim_value
-- description: One row per resolved customer (analytics.int_customers): what the customer is worth to the company
--   and what they hold. Lifetime value to date = retail revenue to date (after discount) + the
--   positive part of the current balance of the owned accounts (deposits held; an overdraft counts 0).
--   Value tier among the customers with a lifetime value above zero, by percent rank (rank − 1) /
--   (such customers − 1), equal values sharing the lower rank: top from 0.95, high from 0.80, medium
--   from 0.50, low below; none for a lifetime value of zero. Product holding lists the count of each
--   product family: 'accounts:<n>,cards:<n>,retail_products:<n>'.
-- grain: customer_id
-- tests: not_null(customer_id, lifetime_value, retail_revenue, deposits, value_tier, product_holding);
--   not_null(product_families); unique(customer_id)
-- tests: row_count_equals(analytics.int_customers)
-- tests: accepted_values(value_tier: top, high, medium, low, none)
-- column customer_id: The resolved customer (analytics.int_customers)
-- column lifetime_value: retail_revenue + deposits
-- column retail_revenue: Retail sales to the customer to date, after discount
-- column deposits: Current balance of the owned accounts when positive, else 0
-- column value_tier: top, high, medium, low or none (rule in the table description)
-- column product_holding: Products held per family, e.g. 'accounts:2,cards:3,retail_products:1'
-- column product_families: Product families held (accounts, cards, retail products): 0 to 3

WITH parts AS (
    SELECT
        c.customer_id,
        CAST(coalesce(o.revenue, 0) AS DECIMAL(18, 2)) AS retail_revenue,
        CAST(greatest(coalesce(f.current_balance, 0), 0) AS BIGINT) AS deposits,
        coalesce(f.accounts, 0) AS accounts,
        coalesce(k.cards, 0) AS cards,
        coalesce(p.retail_products, 0) AS retail_products
    FROM analytics.int_customers AS c
    LEFT JOIN analytics.int_client_finance AS f ON f.customer_id = c.customer_id
    LEFT JOIN analytics.int_client_cards AS k ON k.customer_id = c.customer_id
    LEFT JOIN analytics.int_client_orders AS o ON o.customer_id = c.customer_id
    LEFT JOIN (
        SELECT customer_id, count(*) AS retail_products
        FROM analytics.int_client_products
        GROUP BY customer_id
    ) AS p ON p.customer_id = c.customer_id
),

valued AS (
    SELECT
        *,
        CAST(retail_revenue + deposits AS DECIMAL(18, 2)) AS lifetime_value
    FROM parts
),

ranked AS (
    SELECT
        customer_id,
        lifetime_value,
        rank() OVER (ORDER BY lifetime_value ASC) - 1 AS rank_below,
        count(*) OVER () - 1 AS others
    FROM valued
    WHERE lifetime_value > 0
)

SELECT
    v.customer_id,
    v.lifetime_value,
    v.retail_revenue,
    v.deposits,
    CASE
        WHEN r.customer_id IS NULL THEN 'none'
        WHEN 100 * r.rank_below >= 95 * r.others AND r.others > 0 THEN 'top'
        WHEN 100 * r.rank_below >= 80 * r.others AND r.others > 0 THEN 'high'
        WHEN 100 * r.rank_below >= 50 * r.others AND r.others > 0 THEN 'medium'
        ELSE 'low'
    END AS value_tier,
    'accounts:' || CAST(v.accounts AS VARCHAR)
    || ',cards:' || CAST(v.cards AS VARCHAR)
    || ',retail_products:' || CAST(v.retail_products AS VARCHAR) AS product_holding,
    CAST(
        CASE WHEN v.accounts > 0 THEN 1 ELSE 0 END
        + CASE WHEN v.cards > 0 THEN 1 ELSE 0 END
        + CASE WHEN v.retail_products > 0 THEN 1 ELSE 0 END
        AS INTEGER
    ) AS product_families
FROM valued AS v
LEFT JOIN ranked AS r ON r.customer_id = v.customer_id
