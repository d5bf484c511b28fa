-- model: analytics.dim_digital
-- description: One row per resolved customer (analytics.int_customers): the customer's web behaviour, from the
--   distinct (customer, session) pairs of analytics.int_client_sessions (the sessions of every
--   browser the customer logged in from, each once). Pageviews and time on site are the sessions'
--   GA totals summed over sessions; hits are counted per session from the hits table, never after
--   joining sessions to hits. Rates and shares are per session, 4 decimals, null without sessions.
--   Top traffic source: the source of most sessions; top page path: the path with most page hits;
--   ties go to the alphabetically first.
-- grain: customer_id
-- tests: not_null(customer_id, sessions, visitors, pageviews, hits, time_on_site_seconds);
--   unique(customer_id)
-- tests: row_count_equals(analytics.int_customers)
-- column customer_id: The resolved customer (analytics.int_customers)
-- column sessions: Web sessions of the customer's browsers
-- column visitors: Browsers (GA visitors) the customer logged in from and that have sessions
-- column pageviews: Page views, summed over the sessions
-- column hits: Hits, summed over the sessions
-- column time_on_site_seconds: Seconds on site, summed over the sessions
-- column avg_time_on_site_seconds: Seconds on site per session, 2 decimals
-- column bounce_rate: Share of sessions that bounced
-- column mobile_share: Share of sessions on a mobile device
-- column desktop_share: Share of sessions on a desktop
-- column tablet_share: Share of sessions on a tablet
-- column top_traffic_source: Traffic source of most sessions (alphabetically first on a tie)
-- column top_page_path: Page path with most page hits (alphabetically first on a tie)
-- column first_visit_date: Day of the first session
-- column last_visit_date: Day of the latest session
-- column days_since_last_visit: Days from last_visit_date to the snapshot date

WITH per_customer AS (
    SELECT
        customer_id,
        count(*) AS sessions,
        count(DISTINCT full_visitor_id) AS visitors,
        sum(pageviews) AS pageviews,
        sum(hits) AS hits,
        sum(time_on_site) AS time_on_site,
        sum(CASE WHEN bounced THEN 1 ELSE 0 END) AS bounces,
        sum(CASE WHEN device_category = 'mobile' THEN 1 ELSE 0 END) AS mobile,
        sum(CASE WHEN device_category = 'desktop' THEN 1 ELSE 0 END) AS desktop,
        sum(CASE WHEN device_category = 'tablet' THEN 1 ELSE 0 END) AS tablet,
        min(visit_date) AS first_visit_date,
        max(visit_date) AS last_visit_date
    FROM analytics.int_client_sessions
    GROUP BY customer_id
),

sources AS (
    SELECT
        customer_id,
        traffic_source,
        row_number() OVER (PARTITION BY customer_id ORDER BY count(*) DESC, traffic_source ASC) AS source_rank
    FROM analytics.int_client_sessions
    WHERE traffic_source IS NOT NULL
    GROUP BY customer_id, traffic_source
),

pages AS (
    SELECT
        customer_id,
        page_path,
        row_number() OVER (PARTITION BY customer_id ORDER BY page_views DESC, page_path ASC) AS page_rank
    FROM analytics.int_client_page_views
)

SELECT
    c.customer_id,
    CAST(coalesce(p.sessions, 0) AS BIGINT) AS sessions,
    CAST(coalesce(p.visitors, 0) AS BIGINT) AS visitors,
    CAST(coalesce(p.pageviews, 0) AS BIGINT) AS pageviews,
    CAST(coalesce(p.hits, 0) AS BIGINT) AS hits,
    CAST(coalesce(p.time_on_site, 0) AS BIGINT) AS time_on_site_seconds,
    round(CAST(p.time_on_site AS DOUBLE) / p.sessions, 2) AS avg_time_on_site_seconds,
    round(CAST(p.bounces AS DOUBLE) / p.sessions, 4) AS bounce_rate,
    round(CAST(p.mobile AS DOUBLE) / p.sessions, 4) AS mobile_share,
    round(CAST(p.desktop AS DOUBLE) / p.sessions, 4) AS desktop_share,
    round(CAST(p.tablet AS DOUBLE) / p.sessions, 4) AS tablet_share,
    src.traffic_source AS top_traffic_source,
    pg.page_path AS top_page_path,
    p.first_visit_date,
    p.last_visit_date,
    CAST(date_diff('day', p.last_visit_date, s.snapshot_date) AS INTEGER) AS days_since_last_visit
FROM analytics.int_customers AS c
CROSS JOIN analytics.int_snapshot AS s
LEFT JOIN per_customer AS p ON p.customer_id = c.customer_id
LEFT JOIN sources AS src ON src.customer_id = c.customer_id AND src.source_rank = 1
LEFT JOIN pages AS pg ON pg.customer_id = c.customer_id AND pg.page_rank = 1
