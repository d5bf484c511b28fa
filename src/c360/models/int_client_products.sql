-- model: analytics.int_client_products
-- description: One row per (client, retail product) the client bought, from the order lines that
--   carry a client_id.
-- grain: customer_id, product
-- tests: not_null(customer_id, product, orders, revenue); unique(customer_id, product)
-- column customer_id: The client the sales team recorded on the lines
-- column product: Software product sold
-- column orders: Distinct orders with a line of the product
-- column order_lines: Lines of the product
-- column revenue: Sales of the product (after discount)

SELECT
    client_id AS customer_id,
    product,
    CAST(count(DISTINCT order_id) AS BIGINT) AS orders,
    CAST(count(*) AS BIGINT) AS order_lines,
    CAST(sum(sales) AS DECIMAL(18, 2)) AS revenue
FROM stage.retail_orders
WHERE client_id IS NOT NULL
GROUP BY client_id, product
