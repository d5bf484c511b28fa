-- model: analytics.int_client_dispositions
-- description: One row per customer holding at least one disposition: the first and the last one.
--   Dispositions carry no date, so they are ordered by the opening day of their account, then by
--   disp_id (a serial): the first is the earliest, the last is truly the latest (the reference
--   system wrote the first disposition into its last-disposition table; here the two are ranked in
--   opposite directions and a customer with one disposition has first = last).
-- grain: customer_id
-- tests: not_null(customer_id, dispositions, first_disp_id, last_disp_id); unique(customer_id)
-- tests: accepted_values(first_disposition_role: owner, user)
-- tests: accepted_values(last_disposition_role: owner, user)
-- column customer_id: The customer
-- column dispositions: Accounts the customer may operate (one disposition kept per account)
-- column first_disp_id: The customer's first disposition
-- column first_disposition_account_id: Account of the first disposition
-- column first_disposition_role: Role of the first disposition: owner or user
-- column first_disposition_date: Opening day of the account of the first disposition
-- column last_disp_id: The customer's latest disposition
-- column last_disposition_account_id: Account of the latest disposition
-- column last_disposition_role: Role of the latest disposition: owner or user
-- column last_disposition_date: Opening day of the account of the latest disposition

WITH ranked AS (
    SELECT
        customer_id,
        account_id,
        disp_id,
        role,
        opened_date,
        row_number() OVER (
            PARTITION BY customer_id ORDER BY opened_date ASC NULLS LAST, disp_id ASC
        ) AS from_first,
        row_number() OVER (
            PARTITION BY customer_id ORDER BY opened_date DESC NULLS LAST, disp_id DESC
        ) AS from_last
    FROM analytics.int_client_accounts
)

SELECT
    customer_id,
    CAST(count(*) AS BIGINT) AS dispositions,
    max(CASE WHEN from_first = 1 THEN disp_id END) AS first_disp_id,
    max(CASE WHEN from_first = 1 THEN account_id END) AS first_disposition_account_id,
    max(CASE WHEN from_first = 1 THEN role END) AS first_disposition_role,
    max(CASE WHEN from_first = 1 THEN opened_date END) AS first_disposition_date,
    max(CASE WHEN from_last = 1 THEN disp_id END) AS last_disp_id,
    max(CASE WHEN from_last = 1 THEN account_id END) AS last_disposition_account_id,
    max(CASE WHEN from_last = 1 THEN role END) AS last_disposition_role,
    max(CASE WHEN from_last = 1 THEN opened_date END) AS last_disposition_date
FROM ranked
GROUP BY customer_id
