-- model: analytics.dim_geographic
-- description: One row per resolved customer (analytics.int_customers): where the customer lives and banks. City
--   and country come from the latest CRM version. Region is derived from the country:
--   North America (United States, Canada); Latin America (Mexico, Central and South America);
--   Europe (the European countries, Russia included); Middle East & Africa (Turkey, Israel, the
--   Gulf states, Africa); Asia Pacific (East, South and South-East Asia, Australia, New Zealand);
--   Other for a country outside the list, Unknown when the CRM has no country. Home branch: the
--   branch holding most of the customer's owned accounts, the lowest branch_id on a tie (null
--   without owned accounts).
-- grain: customer_id
-- tests: not_null(customer_id, region, branches); unique(customer_id)
-- tests: row_count_equals(analytics.int_customers)
-- tests: accepted_values(region: North America, Latin America, Europe, Middle East & Africa,
--   Asia Pacific, Other, Unknown)
-- column customer_id: The resolved customer (analytics.int_customers)
-- column city: City of the customer's address [pii]
-- column country: Country of the customer's address [pii]
-- column region: World region of the country (mapping in the table description)
-- column home_branch_id: Branch holding most of the owned accounts (lowest id on a tie)
-- column branches: Distinct branches holding the customer's owned accounts

SELECT
    c.customer_id,
    c.city,
    c.country,
    CASE
        WHEN c.country IS NULL THEN 'Unknown'
        WHEN c.country IN ('United States', 'Canada') THEN 'North America'
        WHEN c.country IN (
            'Mexico', 'Brazil', 'Argentina', 'Chile', 'Colombia', 'Peru', 'Uruguay', 'Paraguay',
            'Bolivia', 'Ecuador', 'Venezuela', 'Costa Rica', 'Panama', 'Guatemala', 'Puerto Rico'
        ) THEN 'Latin America'
        WHEN c.country IN (
            'United Kingdom', 'Ireland', 'France', 'Germany', 'Spain', 'Portugal', 'Italy',
            'Netherlands', 'Belgium', 'Luxembourg', 'Switzerland', 'Austria', 'Sweden', 'Norway',
            'Finland', 'Denmark', 'Iceland', 'Poland', 'Czech Republic', 'Czechia', 'Slovakia',
            'Hungary', 'Romania', 'Bulgaria', 'Greece', 'Croatia', 'Slovenia', 'Serbia', 'Estonia',
            'Latvia', 'Lithuania', 'Ukraine', 'Russia'
        ) THEN 'Europe'
        WHEN c.country IN (
            'Turkey', 'Israel', 'Saudi Arabia', 'United Arab Emirates', 'Qatar', 'Kuwait', 'Bahrain',
            'Oman', 'Jordan', 'Lebanon', 'Egypt', 'Morocco', 'Tunisia', 'Algeria', 'Nigeria', 'Ghana',
            'Kenya', 'Ethiopia', 'South Africa'
        ) THEN 'Middle East & Africa'
        WHEN c.country IN (
            'Japan', 'China', 'Hong Kong', 'Taiwan', 'South Korea', 'India', 'Pakistan', 'Bangladesh',
            'Sri Lanka', 'Singapore', 'Malaysia', 'Indonesia', 'Thailand', 'Vietnam', 'Philippines',
            'Australia', 'New Zealand'
        ) THEN 'Asia Pacific'
        ELSE 'Other'
    END AS region,
    f.home_branch_id,
    CAST(coalesce(f.branches, 0) AS BIGINT) AS branches
FROM analytics.int_customers AS c
LEFT JOIN analytics.int_client_finance AS f ON f.customer_id = c.customer_id
