-- model: analytics.fixture_customer_360
-- description: One row per customer per snapshot date: demographics and account totals.
--   Kept as history: each build replaces only the snapshot dates it computes.
-- grain: customer_id, snapshot_date
-- partition: snapshot_date
-- tests: not_null(customer_id, snapshot_date); unique(customer_id, snapshot_date); row_count_min(1)
-- column customer_id: The customer
-- column snapshot_date: The day this profile describes
-- column age_band: Age band (from dim_fixture_demographic)
-- column accounts: Number of accounts held
-- column balance: Total balance of those accounts

SELECT
    d.customer_id,
    s.as_of AS snapshot_date,
    d.age_band,
    count(a.account_id) AS accounts,
    coalesce(sum(a.balance), 0) AS balance
FROM analytics.dim_fixture_demographic AS d
CROSS JOIN (SELECT max(as_of) AS as_of FROM stage.fixture_as_of) AS s
LEFT JOIN stage.fixture_accounts AS a ON a.client_id = d.customer_id
GROUP BY d.customer_id, s.as_of, d.age_band
