-- model: analytics.int_click_sessions
-- description: One row per click session (session_id of analytics.int_click_events: the
--   user_session, or for events without one the 30-minute inactivity rule per user_id). A session
--   belongs to the day it started (session_date), even when it runs past midnight. Items left in
--   the cart: per product of the session, units left = cart events − remove_from_cart events −
--   purchase events, floored at 0 (each removal or purchase cancels one carted unit of the product,
--   counted per session, not in time order; a purchase without a cart leaves nothing); their value is units left × the product's highest cart price in
--   the session. Events are the distinct events (duplicates counted once).
-- grain: session_id
-- incremental: session_date from stage.clickstream.event_time within 1 day
-- order: none
-- tests: not_null(session_id, user_id, session_date, session_start, session_end, events); unique(session_id)
-- tests: not_null(views, carts, removals, purchases, purchase_value, left_in_cart_units, left_in_cart_value)
-- column session_id: The session: user_session, or 'gap:<user_id>:<start epoch seconds>'
-- column user_id: Store account of the session (the lowest, should a session carry several)
-- column session_date: Day the session started (its first event), the day every daily KPI
--   counts it on
-- column session_start: Time of the session's first event
-- column session_end: Time of the session's last event
-- column events: Distinct events in the session
-- column views: view events
-- column carts: cart events (add to cart)
-- column removals: remove_from_cart events
-- column purchases: purchase events (with or without a cart event before them)
-- column purchase_value: Sum of the prices of the purchase events
-- column left_in_cart_units: Units put in the cart and neither removed nor purchased
-- column left_in_cart_value: Value of those units, at the product's highest cart price in the session

WITH sessions AS (
    SELECT
        session_id,
        min(user_id) AS user_id,
        min(event_time) AS session_start,
        max(event_time) AS session_end,
        count(*) AS events,
        sum(CASE WHEN event_type = 'view' THEN 1 ELSE 0 END) AS views,
        sum(CASE WHEN event_type = 'cart' THEN 1 ELSE 0 END) AS carts,
        sum(CASE WHEN event_type = 'remove_from_cart' THEN 1 ELSE 0 END) AS removals,
        sum(CASE WHEN event_type = 'purchase' THEN 1 ELSE 0 END) AS purchases,
        sum(CASE WHEN event_type = 'purchase' THEN price ELSE 0 END) AS purchase_value
    FROM analytics.int_click_events
    GROUP BY session_id
),

-- only carted products can be left in a cart: the per-product pass reads the cart events and
-- the removals and purchases that may cancel them, not the views
items AS (
    SELECT
        session_id,
        product_id,
        sum(CASE WHEN event_type = 'cart' THEN 1 ELSE 0 END)
        - sum(CASE WHEN event_type = 'remove_from_cart' THEN 1 ELSE 0 END)
        - sum(CASE WHEN event_type = 'purchase' THEN 1 ELSE 0 END) AS net_units,
        max(CASE WHEN event_type = 'cart' THEN price END) AS cart_price
    FROM analytics.int_click_events
    WHERE event_type IN ('cart', 'remove_from_cart', 'purchase')
    GROUP BY session_id, product_id
),

left_in_cart AS (
    SELECT
        session_id,
        sum(net_units) AS left_units,
        sum(net_units * cart_price) AS left_value
    FROM items
    WHERE net_units > 0
    GROUP BY session_id
)

SELECT
    s.session_id,
    s.user_id,
    CAST(s.session_start AS DATE) AS session_date,
    s.session_start,
    s.session_end,
    CAST(s.events AS BIGINT) AS events,
    CAST(s.views AS BIGINT) AS views,
    CAST(s.carts AS BIGINT) AS carts,
    CAST(s.removals AS BIGINT) AS removals,
    CAST(s.purchases AS BIGINT) AS purchases,
    CAST(s.purchase_value AS DECIMAL(18, 2)) AS purchase_value,
    CAST(coalesce(l.left_units, 0) AS BIGINT) AS left_in_cart_units,
    CAST(coalesce(l.left_value, 0) AS DECIMAL(18, 2)) AS left_in_cart_value
FROM sessions AS s
LEFT JOIN left_in_cart AS l ON l.session_id = s.session_id
