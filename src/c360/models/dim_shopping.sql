-- model: analytics.dim_shopping
-- description: One row per resolved customer (analytics.int_customers): retail purchases, from the order lines
--   whose contact resolved to the customer (analytics.int_client_orders). RFM scores are
--   1 to 5 among the customers with orders, null for the others: score = 1 + floor(5 × percent rank),
--   capped at 5, where percent rank = (rank − 1) / (customers with orders − 1) and equal values share
--   the lower rank; recency ranks the oldest last order first (a recent buyer scores 5), frequency
--   ranks by distinct orders, monetary by revenue (the biggest scores 5). Favourite product: the
--   product on most orders, then most revenue, then alphabetically first. Discount affinity: share of
--   the order lines sold with a discount above zero.
-- grain: customer_id
-- tests: not_null(customer_id, orders, order_lines, revenue, profit, products_bought); unique(customer_id)
-- tests: row_count_equals(analytics.int_customers)
-- tests: accepted_values(recency_score: 1, 2, 3, 4, 5)
-- tests: accepted_values(frequency_score: 1, 2, 3, 4, 5)
-- tests: accepted_values(monetary_score: 1, 2, 3, 4, 5)
-- column customer_id: The resolved customer (analytics.int_customers)
-- column orders: Distinct retail orders
-- column order_lines: Retail order lines
-- column revenue: Sales after discount, summed over the lines
-- column profit: Profit, summed over the lines
-- column avg_order_value: revenue / orders, 2 decimals (null without orders)
-- column products_bought: Distinct products bought
-- column first_order_date: Day of the first order
-- column last_order_date: Day of the latest order
-- column days_since_last_order: Days from last_order_date to the snapshot date
-- column recency_score: RFM recency, 1 (oldest last order) to 5 (most recent); null without orders
-- column frequency_score: RFM frequency, 1 to 5 (most orders); null without orders
-- column monetary_score: RFM monetary, 1 to 5 (most revenue); null without orders
-- column rfm_cell: The three scores as text, recency first (e.g. '545'); null without orders
-- column favourite_product: Product on most orders (then most revenue, then alphabetical)
-- column discount_affinity: Share of the order lines with a discount, 4 decimals

WITH buyers AS (
    SELECT
        o.customer_id,
        o.orders,
        o.order_lines,
        o.revenue,
        o.profit,
        o.discounted_lines,
        o.first_order_date,
        o.last_order_date,
        date_diff('day', o.last_order_date, s.snapshot_date) AS days_since_last_order,
        count(*) OVER () AS buyers
    FROM analytics.int_client_orders AS o
    INNER JOIN analytics.int_customers AS c ON c.customer_id = o.customer_id
    CROSS JOIN analytics.int_snapshot AS s
),

scored AS (
    SELECT
        customer_id,
        orders,
        order_lines,
        revenue,
        profit,
        discounted_lines,
        first_order_date,
        last_order_date,
        days_since_last_order,
        CAST(least(5, 1 + floor(
            5 * (rank() OVER (ORDER BY days_since_last_order DESC) - 1) / greatest(buyers - 1, 1)
        )) AS INTEGER) AS recency_score,
        CAST(least(5, 1 + floor(
            5 * (rank() OVER (ORDER BY orders ASC) - 1) / greatest(buyers - 1, 1)
        )) AS INTEGER) AS frequency_score,
        CAST(least(5, 1 + floor(
            5 * (rank() OVER (ORDER BY revenue ASC) - 1) / greatest(buyers - 1, 1)
        )) AS INTEGER) AS monetary_score
    FROM buyers
),

products AS (
    SELECT
        customer_id,
        count(*) AS products_bought,
        max(CASE WHEN product_rank = 1 THEN product END) AS favourite_product
    FROM (
        SELECT
            customer_id,
            product,
            row_number() OVER (
                PARTITION BY customer_id ORDER BY orders DESC, revenue DESC, product ASC
            ) AS product_rank
        FROM analytics.int_client_products
    ) AS ranked
    GROUP BY customer_id
)

SELECT
    c.customer_id,
    CAST(coalesce(b.orders, 0) AS BIGINT) AS orders,
    CAST(coalesce(b.order_lines, 0) AS BIGINT) AS order_lines,
    CAST(coalesce(b.revenue, 0) AS DECIMAL(18, 2)) AS revenue,
    CAST(coalesce(b.profit, 0) AS DECIMAL(18, 2)) AS profit,
    round(CAST(b.revenue AS DOUBLE) / b.orders, 2) AS avg_order_value,
    CAST(coalesce(p.products_bought, 0) AS BIGINT) AS products_bought,
    b.first_order_date,
    b.last_order_date,
    CAST(b.days_since_last_order AS INTEGER) AS days_since_last_order,
    b.recency_score,
    b.frequency_score,
    b.monetary_score,
    CAST(b.recency_score AS VARCHAR)
    || CAST(b.frequency_score AS VARCHAR)
    || CAST(b.monetary_score AS VARCHAR) AS rfm_cell,
    p.favourite_product,
    round(CAST(b.discounted_lines AS DOUBLE) / b.order_lines, 4) AS discount_affinity
FROM analytics.int_customers AS c
LEFT JOIN scored AS b ON b.customer_id = c.customer_id
LEFT JOIN products AS p ON p.customer_id = c.customer_id
