-- model: analytics.int_client_page_views
-- description: One row per (customer, page path): how many page hits the customer's sessions made on
--   that path. Page hits are counted per session first (distinct hit numbers of type PAGE) and
--   then joined to the distinct (customer, session) pairs of analytics.int_client_sessions, so no
--   hit is counted twice for a customer.
-- grain: customer_id, page_path
-- tests: not_null(customer_id, page_path, page_views); unique(customer_id, page_path)
-- column customer_id: The customer
-- column page_path: Path of the page viewed, without host
-- column page_views: Page hits of the customer's sessions on that path
-- column sessions: Sessions of the customer that viewed that path

WITH session_pages AS (
    SELECT
        full_visitor_id,
        visit_id,
        page_path,
        count(DISTINCT hit_number) AS page_views
    FROM stage.web_session_hits
    WHERE type = 'PAGE' AND page_path IS NOT NULL
    GROUP BY full_visitor_id, visit_id, page_path
)

SELECT
    cs.customer_id,
    sp.page_path,
    CAST(sum(sp.page_views) AS BIGINT) AS page_views,
    CAST(count(*) AS BIGINT) AS sessions
FROM analytics.int_client_sessions AS cs
INNER JOIN session_pages AS sp
    ON sp.full_visitor_id = cs.full_visitor_id AND sp.visit_id = cs.visit_id
GROUP BY cs.customer_id, sp.page_path
