-- model: analytics.kpi_unique_visitors_daily
-- description: Unique visitors per day. A session counts on the day it started (a session past
--   midnight stays on its first day, with all its events); unique_users counts the distinct
--   user_ids of the sessions started that day; events are distinct events (duplicates once).
-- grain: event_date
-- incremental: event_date from stage.clickstream.event_time within 1 day
-- tests: not_null(event_date, unique_users, sessions, events); unique(event_date)
-- column event_date: Day the sessions started
-- column unique_users: Distinct users with a session started that day
-- column sessions: Sessions started that day
-- column events: Distinct events of those sessions
-- column events_per_session: events / sessions, 2 decimals

SELECT
    session_date AS event_date,
    count(DISTINCT user_id) AS unique_users,
    count(*) AS sessions,
    CAST(sum(events) AS BIGINT) AS events,
    round(CAST(sum(events) AS DOUBLE) / count(*), 2) AS events_per_session
FROM analytics.int_click_sessions
GROUP BY session_date
