-- model: analytics.int_client_accounts
-- description: One row per (customer, account) the customer may operate, through the dispositions of
--   the customer's CRM clients: role owner or user. Should a customer hold several dispositions on
--   one account (two registrations of one person, say), the owner one is kept, then the lowest
--   disp_id. The account's attributes come from the account origination
--   extract (null when the account is not there, e.g. its line was quarantined).
-- grain: customer_id, account_id
-- tests: not_null(customer_id, account_id, disp_id, role); unique(customer_id, account_id)
-- tests: accepted_values(role: owner, user)
-- column customer_id: The customer holding the right (through the disposition's CRM client)
-- column account_id: The account
-- column disp_id: The disposition giving the right; cards are issued to a disposition
-- column role: owner (the account holder, whose money it is) or user (allowed to operate it)
-- column branch_id: Branch that opened and holds the account
-- column statement_frequency: monthly, weekly or after_transaction
-- column opened_date: Day the account was opened

WITH ranked AS (
    SELECT
        k.customer_id,
        d.account_id,
        d.disp_id,
        d.type AS role,
        row_number() OVER (
            PARTITION BY k.customer_id, d.account_id
            ORDER BY CASE WHEN d.type = 'owner' THEN 0 ELSE 1 END, d.disp_id
        ) AS right_rank
    FROM stage.dispositions AS d
    INNER JOIN identity.record_customers AS k
        ON k.source = 'crm' AND k.record_key = CAST(d.client_id AS VARCHAR)
),

accounts AS (
    SELECT
        account_id,
        branch_id,
        frequency,
        date_of_creation,
        row_number() OVER (
            PARTITION BY account_id ORDER BY _c360_batch_id DESC, _c360_record DESC
        ) AS version_rank
    FROM stage.accounts
)

SELECT
    r.customer_id,
    r.account_id,
    r.disp_id,
    r.role,
    a.branch_id,
    a.frequency AS statement_frequency,
    CAST(a.date_of_creation AS DATE) AS opened_date
FROM ranked AS r
LEFT JOIN accounts AS a
    ON a.account_id = r.account_id AND a.version_rank = 1
WHERE r.right_rank = 1
