-- model: analytics.dim_demographic
-- description: One row per resolved customer (analytics.int_customers): who the customer is. Age is in completed
--   years at the snapshot date (not the CRM's export-time age). Life stage, first rule that applies:
--   under 18 → minor; occupation retired or aged 65+ → retired; occupation student → student;
--   under 35 and married → young couple; under 35 otherwise → young single; under 50 → mid-life;
--   otherwise (50-64) → pre-retirement. A customer no source gave a birth date (a retail contact or
--   a store user without a bank relationship) has no age and band and stage unknown; the CRM-only
--   attributes are null for a customer without a CRM client.
-- grain: customer_id
-- tests: not_null(customer_id, age_band, life_stage); unique(customer_id)
-- tests: row_count_equals(analytics.int_customers)
-- tests: accepted_values(age_band: under 18, 18-24, 25-34, 35-44, 45-54, 55-64, 65+, unknown)
-- tests: accepted_values(life_stage: minor, student, young single, young couple, mid-life,
--   pre-retirement, retired, unknown)
-- tests: accepted_values(marital_status: married, single, divorced)
-- tests: accepted_values(home_ownership: own, rent, unknown)
-- column customer_id: The resolved customer (analytics.int_customers)
-- column age: Age in completed years at the snapshot date (null without a birth date)
-- column age_band: under 18, 18-24, 25-34, 35-44, 45-54, 55-64, 65+ or unknown
-- column life_stage: minor, student, young single, young couple, mid-life, pre-retirement or
--   retired, or unknown (rule in the table description)
-- column marital_status: married, single or divorced
-- column occupation: Occupation, lower-case (null when unknown)
-- column home_ownership: own, rent or unknown
-- column head_of_household: Whether the customer heads their household

WITH aged AS (
    SELECT
        c.customer_id,
        year(s.snapshot_date) - year(c.birth_date)
        - CASE
            WHEN month(s.snapshot_date) * 100 + day(s.snapshot_date)
                < month(c.birth_date) * 100 + day(c.birth_date)
                THEN 1
            ELSE 0
        END AS age,
        c.marital_status,
        c.occupation,
        c.home_ownership,
        c.head_of_household
    FROM analytics.int_customers AS c
    CROSS JOIN analytics.int_snapshot AS s
)

SELECT
    customer_id,
    CAST(age AS INTEGER) AS age,
    CASE
        WHEN age IS NULL THEN 'unknown'
        WHEN age < 18 THEN 'under 18'
        WHEN age < 25 THEN '18-24'
        WHEN age < 35 THEN '25-34'
        WHEN age < 45 THEN '35-44'
        WHEN age < 55 THEN '45-54'
        WHEN age < 65 THEN '55-64'
        ELSE '65+'
    END AS age_band,
    CASE
        WHEN age IS NULL THEN 'unknown'
        WHEN age < 18 THEN 'minor'
        WHEN occupation = 'retired' OR age >= 65 THEN 'retired'
        WHEN occupation = 'student' THEN 'student'
        WHEN age < 35 AND marital_status = 'married' THEN 'young couple'
        WHEN age < 35 THEN 'young single'
        WHEN age < 50 THEN 'mid-life'
        ELSE 'pre-retirement'
    END AS life_stage,
    marital_status,
    occupation,
    home_ownership,
    head_of_household
FROM aged
