-- model: analytics.dim_fixture_demographic
-- description: One row per customer: age and age band on 2024-06-30.
-- grain: customer_id
-- tests: unique(customer_id); row_count_equals(analytics.int_fixture_clients)
-- tests: accepted_values(age_band: 18-24, 25-34, 35-44, 45+)
-- column customer_id: The customer
-- column age: Whole years between birth and 2024-06-30
-- column age_band: Age band, for segmenting

WITH aged AS (
    SELECT customer_id, date_diff('year', birth_date, DATE '2024-06-30') AS age
    FROM analytics.int_fixture_clients
)
SELECT
    customer_id,
    age,
    CASE
        WHEN age < 18 THEN 'under 18'
        WHEN age < 25 THEN '18-24'
        WHEN age < 35 THEN '25-34'
        WHEN age < 45 THEN '35-44'
        ELSE '45+'
    END AS age_band
FROM aged
