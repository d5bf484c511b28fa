-- model: analytics.int_client_orders
-- description: One row per customer with retail orders: every order line of stage.retail_orders,
--   credited to the customer its contact resolved to (identity resolution links lines without a
--   client_id, and overrules a wrong one, by the contact's name, e-mail and phone).
-- grain: customer_id
-- tests: not_null(customer_id, orders, order_lines, revenue, profit); unique(customer_id)
-- column customer_id: The customer the order lines' contact resolved to
-- column orders: Distinct orders
-- column order_lines: Order lines
-- column revenue: Sum of the line sales (after discount)
-- column profit: Sum of the line profits
-- column quantity: Seats bought
-- column discounted_lines: Lines sold with a discount above zero
-- column first_order_date: Day of the first order
-- column last_order_date: Day of the latest order

SELECT
    k.customer_id,
    CAST(count(DISTINCT order_id) AS BIGINT) AS orders,
    CAST(count(*) AS BIGINT) AS order_lines,
    CAST(sum(sales) AS DECIMAL(18, 2)) AS revenue,
    CAST(sum(profit) AS DECIMAL(18, 2)) AS profit,
    CAST(sum(quantity) AS DOUBLE) AS quantity,
    CAST(sum(CASE WHEN discount > 0 THEN 1 ELSE 0 END) AS BIGINT) AS discounted_lines,
    min(order_date) AS first_order_date,
    max(order_date) AS last_order_date
FROM stage.retail_orders AS o
INNER JOIN identity.record_customers AS k
    ON k.source = 'retail_orders' AND k.record_key = CAST(o.row_id AS VARCHAR)
GROUP BY k.customer_id
