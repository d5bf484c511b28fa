-- model: analytics.int_client_sessions
-- description: One row per (customer, web session): the sessions of every visitor (browser) any of
--   the customer's CRM clients logged in from, through the many-to-many login map
--   stage.web_visitors. The (customer, visitor) pairs are made distinct before the join and the
--   grain is (customer, session), so a customer with two browsers gets the sessions of both once
--   each, and a shared browser's session counts once for each of its customers, never twice for one
--   (the reference fanned rows out through the map).
-- grain: customer_id, full_visitor_id, visit_id
-- tests: not_null(customer_id, full_visitor_id, visit_id); unique(customer_id, full_visitor_id, visit_id)
-- column customer_id: The customer whose CRM client logged in from the session's visitor
-- column full_visitor_id: GA visitor (browser cookie) id [pii]
-- column visit_id: Session id, unique per visitor
-- column visit_date: Day of the session
-- column pageviews: Page views in the session
-- column time_on_site: Seconds on site in the session
-- column bounced: Whether the session was a single-page bounce
-- column device_category: desktop, mobile or tablet
-- column traffic_source: Where the session came from
-- column hits: Hits of the session
-- column page_hits: Hits of type PAGE

WITH logins AS (
    SELECT DISTINCT
        v.full_visitor_id,
        k.customer_id
    FROM stage.web_visitors AS v
    INNER JOIN identity.record_customers AS k
        ON k.source = 'crm' AND k.record_key = CAST(v.client_id AS VARCHAR)
)

SELECT
    l.customer_id,
    s.full_visitor_id,
    s.visit_id,
    s.visit_date,
    s.pageviews,
    s.time_on_site,
    s.bounced,
    s.device_category,
    s.traffic_source,
    s.hits,
    s.page_hits
FROM logins AS l
INNER JOIN analytics.int_web_sessions AS s ON s.full_visitor_id = l.full_visitor_id
