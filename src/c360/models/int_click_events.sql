-- model: analytics.int_click_events
-- description: One row per distinct clickstream event of stage.clickstream. The clickstream has no
--   event id, so an event is identified by the contract's key: session, event_time, event_type and
--   product_id. Rows sharing it (re-sends, same-second repeats) are one event, copies says how many
--   were received, and should their other columns differ the lowest user_id and the highest value
--   of each other column are kept. A user_session that is null or blank is missing; such events are
--   sessionized per user_id by inactivity: sorted by time, an event more than 30 minutes (1,800
--   seconds) after the previous missing-session event of the same user starts a new session, a gap
--   of exactly 30 minutes does not; their session_id is 'gap:<user_id>:<start>', start being the
--   session's first event in seconds since 1970-01-01 UTC. The request's ip and user agent (network
--   PII, for bot detection) are not carried into analytics.
-- grain: session_id, event_time, event_type, product_id
-- incremental: event_date from stage.clickstream.event_time within 1 day
-- order: none
-- tests: not_null(session_id, user_id, event_time, event_type, product_id, event_date, price, copies)
-- tests: unique(session_id, event_time, event_type, product_id)
-- tests: accepted_values(event_type: view, cart, remove_from_cart, purchase)
-- column session_id: user_session when present, else 'gap:<user_id>:<start epoch seconds>' from
--   the 30-minute inactivity rule
-- column user_id: Store account that produced the event
-- column event_time: When the event happened, UTC
-- column event_type: view, cart, remove_from_cart or purchase
-- column product_id: Product the event concerns
-- column event_date: Day of event_time (the event's own day; sessions are dated by their start)
-- column category_id: Product category identifier
-- column category_code: Dotted category path; null for uncategorized products
-- column brand: Brand of the product; null when unknown
-- column price: Unit price of the product at the time of the event
-- column copies: Rows received for this event (1 when it was not repeated)

WITH keyed AS (
    SELECT
        CASE WHEN trim(user_session) = '' THEN NULL ELSE user_session END AS user_session,
        user_id,
        event_time,
        event_type,
        product_id,
        category_id,
        category_code,
        brand,
        price
    FROM stage.clickstream
),

distinct_events AS (
    SELECT
        user_session,
        min(user_id) AS user_id,
        event_time,
        event_type,
        product_id,
        max(category_id) AS category_id,
        max(category_code) AS category_code,
        max(brand) AS brand,
        max(price) AS price,
        count(*) AS copies
    FROM keyed
    -- a missing session is no key: those events are told apart by user until sessionized
    GROUP BY
        user_session,
        CASE WHEN user_session IS NULL THEN user_id END,
        event_time,
        event_type,
        product_id
),

unsessioned AS (
    SELECT DISTINCT
        user_id,
        event_time
    FROM distinct_events
    WHERE user_session IS NULL
),

gap_starts AS (
    SELECT
        user_id,
        event_time,
        CASE
            WHEN lag(event_time) OVER (PARTITION BY user_id ORDER BY event_time) IS NULL THEN 1
            WHEN date_diff(
                'second', lag(event_time) OVER (PARTITION BY user_id ORDER BY event_time), event_time
            ) > 1800 THEN 1
            ELSE 0
        END AS starts_session
    FROM unsessioned
),

gap_numbers AS (
    SELECT
        user_id,
        event_time,
        sum(starts_session) OVER (
            PARTITION BY user_id ORDER BY event_time ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS session_number
    FROM gap_starts
),

gap_sessions AS (
    SELECT
        user_id,
        event_time,
        min(event_time) OVER (PARTITION BY user_id, session_number) AS session_start
    FROM gap_numbers
)

SELECT
    coalesce(
        e.user_session,
        'gap:' || CAST(e.user_id AS VARCHAR) || ':'
        || CAST(date_diff('second', TIMESTAMP '1970-01-01 00:00:00', g.session_start) AS VARCHAR)
    ) AS session_id,
    e.user_id,
    e.event_time,
    e.event_type,
    e.product_id,
    CAST(e.event_time AS DATE) AS event_date,
    e.category_id,
    e.category_code,
    e.brand,
    e.price,
    CAST(e.copies AS BIGINT) AS copies
FROM distinct_events AS e
LEFT JOIN gap_sessions AS g
    ON e.user_session IS NULL AND g.user_id = e.user_id AND g.event_time = e.event_time
