-- model: analytics.int_web_sessions
-- description: One row per web-analytics session (full_visitor_id, visit_id), with its hits counted
--   from stage.web_session_hits. The hits are aggregated per session on their own and then joined
--   one row to one row, so a session's totals (pageviews, time on site) are never repeated once per
--   hit (the reference summed session totals after unnesting the hits). A session sent twice keeps
--   its latest staged version; a hit sent twice counts once (distinct hit_number).
-- grain: full_visitor_id, visit_id
-- tests: not_null(full_visitor_id, visit_id, visit_date, hits, page_hits); unique(full_visitor_id, visit_id)
-- column full_visitor_id: GA visitor (browser cookie) id [pii]
-- column visit_id: Session id, unique per visitor
-- column visit_date: Day of the session
-- column pageviews: Page views in the session (GA totals.pageviews; 0 when missing)
-- column time_on_site: Seconds between the first and last hit (0 for a bounce)
-- column bounced: Whether the session was a single-page bounce
-- column device_category: desktop, mobile or tablet
-- column traffic_source: Where the session came from (google, (direct), a referring site...)
-- column channel_grouping: GA default channel grouping
-- column hits: Hits of the session in stage.web_session_hits (distinct hit numbers)
-- column page_hits: Hits of type PAGE

WITH sessions AS (
    SELECT
        full_visitor_id,
        visit_id,
        visit_date,
        pageviews,
        time_on_site,
        bounces,
        device_category,
        traffic_source,
        channel_grouping,
        row_number() OVER (
            PARTITION BY full_visitor_id, visit_id ORDER BY _c360_batch_id DESC, _c360_record DESC
        ) AS version_rank
    FROM stage.web_sessions
),

hits AS (
    SELECT
        full_visitor_id,
        visit_id,
        count(DISTINCT hit_number) AS hits,
        count(DISTINCT CASE WHEN type = 'PAGE' THEN hit_number END) AS page_hits
    FROM stage.web_session_hits
    GROUP BY full_visitor_id, visit_id
)

SELECT
    s.full_visitor_id,
    s.visit_id,
    s.visit_date,
    CAST(coalesce(s.pageviews, 0) AS BIGINT) AS pageviews,
    CAST(coalesce(s.time_on_site, 0) AS BIGINT) AS time_on_site,
    coalesce(s.bounces, 0) = 1 AS bounced,
    s.device_category,
    s.traffic_source,
    s.channel_grouping,
    CAST(coalesce(h.hits, 0) AS BIGINT) AS hits,
    CAST(coalesce(h.page_hits, 0) AS BIGINT) AS page_hits
FROM sessions AS s
LEFT JOIN hits AS h
    ON h.full_visitor_id = s.full_visitor_id AND h.visit_id = s.visit_id
WHERE s.version_rank = 1
