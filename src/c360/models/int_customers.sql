-- model: analytics.int_customers
-- description: One row per resolved customer (identity.golden): every person c360 knows, with or
--   without a CRM client, so retail contacts and store users who never opened a bank account are
--   customers too (the reference system lost them by joining on client_id). Names, contact details,
--   birth date and address are the golden record's surviving values; the CRM-only attributes
--   (occupation, marital status, home ownership, head of household) come from the customer's
--   primary CRM client, and client_created_date is the earliest registration of any of its clients.
--   This is the base population of every dimension and of customer_360.
-- grain: customer_id
-- tests: not_null(customer_id, crm_clients, source_records, sources); unique(customer_id)
-- column customer_id: The resolved customer (stable across runs; see identity.id_changes)
-- column client_id: The primary CRM client of the customer (null when the person has none)
-- column first_name: Given name (golden record) [pii]
-- column last_name: Family name (golden record) [pii]
-- column email: E-mail address (golden record) [pii]
-- column phone: Phone number in E.164 (golden record) [pii]
-- column address: Street address (golden record) [pii]
-- column city: City (golden record) [pii]
-- column country: Country (golden record) [pii]
-- column birth_date: Date of birth (golden record; null when no source gave one) [pii]
-- column home_ownership: own, rent or unknown (primary CRM client; null without one)
-- column occupation: Occupation, lower-case (primary CRM client)
-- column marital_status: married, single or divorced (primary CRM client)
-- column head_of_household: Whether the customer heads their household (primary CRM client)
-- column client_created_date: Day the customer's first CRM client was registered (null without one)
-- column updated_at: Last change of the primary CRM client (UTC)
-- column crm_clients: How many CRM clients resolved to the customer (2 for a double registration)
-- column crm_versions: How many CRM versions of those clients were received
-- column source_records: How many source records (CRM clients, orders, store users, web logins,
--   dispositions) resolved to the customer
-- column sources: How many different source systems know the customer

WITH clients AS (
    SELECT
        customer_id,
        min(client_created_date) AS client_created_date,
        count(*) AS crm_clients,
        sum(crm_versions) AS crm_versions
    FROM analytics.int_clients
    GROUP BY customer_id
),

records AS (
    SELECT
        customer_id,
        count(*) AS source_records,
        count(DISTINCT source) AS sources
    FROM identity.record_customers
    GROUP BY customer_id
)

SELECT
    g.customer_id,
    g.client_id,
    g.first_name,
    g.last_name,
    g.email,
    g.phone,
    g.address,
    g.city,
    g.country,
    CAST(g.birth_date AS DATE) AS birth_date,
    p.home_ownership,
    p.occupation,
    p.marital_status,
    p.head_of_household,
    c.client_created_date,
    p.updated_at,
    CAST(coalesce(c.crm_clients, 0) AS BIGINT) AS crm_clients,
    CAST(coalesce(c.crm_versions, 0) AS BIGINT) AS crm_versions,
    CAST(coalesce(r.source_records, 0) AS BIGINT) AS source_records,
    CAST(coalesce(r.sources, 0) AS BIGINT) AS sources
FROM identity.golden AS g
LEFT JOIN analytics.int_clients AS p ON p.client_id = g.client_id
LEFT JOIN clients AS c ON c.customer_id = g.customer_id
LEFT JOIN records AS r ON r.customer_id = g.customer_id
