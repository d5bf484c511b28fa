-- model: analytics.int_client_products
-- description: One row per (customer, retail product) the customer bought, from every order line,
--   credited to the customer its contact resolved to (see analytics.int_client_orders).
-- grain: customer_id, product
-- tests: not_null(customer_id, product, orders, revenue); unique(customer_id, product)
-- column customer_id: The customer the order lines' contact resolved to
-- column product: Software product sold
-- column orders: Distinct orders with a line of the product
-- column order_lines: Lines of the product
-- column revenue: Sales of the product (after discount)

SELECT
    k.customer_id,
    product,
    CAST(count(DISTINCT order_id) AS BIGINT) AS orders,
    CAST(count(*) AS BIGINT) AS order_lines,
    CAST(sum(sales) AS DECIMAL(18, 2)) AS revenue
FROM stage.retail_orders AS o
INNER JOIN identity.record_customers AS k
    ON k.source = 'retail_orders' AND k.record_key = CAST(o.row_id AS VARCHAR)
GROUP BY k.customer_id, o.product
