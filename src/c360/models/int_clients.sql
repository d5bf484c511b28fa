-- model: analytics.int_clients
-- description: One row per CRM client: its latest version, and the customer it resolved to. The
--   CRM sends a changed client again with the same client_id and a later updated_at, so the version
--   kept is the one with the latest updated_at, then (same or missing updated_at) the one staged
--   last (latest batch, then highest record number in the batch). A person registered twice has two
--   clients and one customer_id.
-- grain: client_id
-- tests: not_null(customer_id, client_id, birth_date, client_created_date); unique(client_id)
-- tests: accepted_values(home_ownership: own, rent, unknown)
-- tests: accepted_values(marital_status: married, single, divorced)
-- column customer_id: The customer the client resolved to (identity.record_customers)
-- column client_id: CRM client identifier
-- column first_name: Given name in the latest CRM version [pii]
-- column last_name: Family name in the latest CRM version [pii]
-- column email: E-mail address in the latest CRM version (lower-case) [pii]
-- column phone: Phone number in E.164 in the latest CRM version [pii]
-- column address: Street address in the latest CRM version [pii]
-- column city: City of the address in the latest CRM version [pii]
-- column country: Country of the address in the latest CRM version [pii]
-- column birth_date: Date of birth [pii]
-- column home_ownership: own, rent or unknown
-- column occupation: Occupation, trimmed and lower-cased (null when the CRM has none)
-- column marital_status: married, single or divorced
-- column head_of_household: Whether the client heads their household
-- column client_created_date: Day the client was registered in the CRM
-- column updated_at: Last change of the kept version in the CRM (UTC; null in reference exports)
-- column crm_versions: How many versions of the client the CRM has sent

WITH ranked AS (
    SELECT
        crm.*,
        row_number() OVER (
            PARTITION BY crm.client_id
            ORDER BY crm.updated_at DESC NULLS LAST, crm._c360_batch_id DESC, crm._c360_record DESC
        ) AS version_rank,
        count(*) OVER (PARTITION BY crm.client_id) AS versions
    FROM stage.crm AS crm
)

SELECT
    k.customer_id,
    ranked.client_id,
    first_name,
    last_name,
    email,
    phone,
    address,
    city,
    country,
    birth_date,
    home_ownership,
    nullif(lower(trim(occupation)), '') AS occupation,
    marital_status,
    head_of_household_flag AS head_of_household,
    CAST(client_created_date AS DATE) AS client_created_date,
    updated_at,
    CAST(versions AS BIGINT) AS crm_versions
FROM ranked
INNER JOIN identity.record_customers AS k
    ON k.source = 'crm' AND k.record_key = CAST(ranked.client_id AS VARCHAR)
WHERE ranked.version_rank = 1
