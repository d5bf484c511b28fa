-- model: analytics.kpi_cart_abandonment_daily
-- description: Abandoned carts per day (the day the session started). A cart is a session with at
--   least one cart event; it is abandoned when the session has no purchase event. Units left in
--   a cart: per product of the session, cart events − remove_from_cart events − purchase events,
--   floored at 0, valued at the product's highest cart price in the session (see
--   analytics.int_click_sessions). abandoned_value sums them over the abandoned carts only;
--   left_in_cart_value over every cart, including carts of sessions that bought something else.
--   Days without a cart have no row.
-- grain: event_date
-- incremental: event_date from stage.clickstream.event_time within 1 day
-- tests: not_null(event_date, carts, abandoned, abandonment_rate, abandoned_value, left_in_cart_value)
-- tests: unique(event_date)
-- column event_date: Day the sessions started
-- column carts: Sessions with at least one cart event
-- column abandoned: Of those, sessions without a purchase event
-- column abandonment_rate: abandoned / carts, 4 decimals
-- column abandoned_value: Value of the units left in the abandoned carts
-- column left_in_cart_value: Value of the units left in every cart, bought from or not

SELECT
    session_date AS event_date,
    count(*) AS carts,
    sum(CASE WHEN purchases = 0 THEN 1 ELSE 0 END) AS abandoned,
    round(CAST(sum(CASE WHEN purchases = 0 THEN 1 ELSE 0 END) AS DOUBLE) / count(*), 4) AS abandonment_rate,
    CAST(sum(CASE WHEN purchases = 0 THEN left_in_cart_value ELSE 0 END) AS DECIMAL(18, 2)) AS abandoned_value,
    CAST(sum(left_in_cart_value) AS DECIMAL(18, 2)) AS left_in_cart_value
FROM analytics.int_click_sessions
WHERE carts > 0
GROUP BY session_date
