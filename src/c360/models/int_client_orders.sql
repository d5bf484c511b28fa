-- model: analytics.int_client_orders
-- description: One row per client with retail orders: the order lines of stage.retail_orders that
--   carry a client_id (lines without one are left out until identity resolution links them).
-- grain: customer_id
-- tests: not_null(customer_id, orders, order_lines, revenue, profit); unique(customer_id)
-- column customer_id: The client the sales team recorded on the lines
-- column orders: Distinct orders
-- column order_lines: Order lines
-- column revenue: Sum of the line sales (after discount)
-- column profit: Sum of the line profits
-- column quantity: Seats bought
-- column discounted_lines: Lines sold with a discount above zero
-- column first_order_date: Day of the first order
-- column last_order_date: Day of the latest order

SELECT
    client_id AS customer_id,
    CAST(count(DISTINCT order_id) AS BIGINT) AS orders,
    CAST(count(*) AS BIGINT) AS order_lines,
    CAST(sum(sales) AS DECIMAL(18, 2)) AS revenue,
    CAST(sum(profit) AS DECIMAL(18, 2)) AS profit,
    CAST(sum(quantity) AS DOUBLE) AS quantity,
    CAST(sum(CASE WHEN discount > 0 THEN 1 ELSE 0 END) AS BIGINT) AS discounted_lines,
    min(order_date) AS first_order_date,
    max(order_date) AS last_order_date
FROM stage.retail_orders
WHERE client_id IS NOT NULL
GROUP BY client_id
