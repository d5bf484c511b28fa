-- model: analytics.int_client_finance
-- description: One row per customer holding at least one account: the accounts and the money on them.
--   Money (balances, movements, overdrafts) is counted on the accounts the customer owns: an owner's
--   money is theirs, while a user's right to operate someone else's account counts as a product
--   (accounts, accounts_as_user), not as their money, so an account's money is never counted
--   twice for one person. Home branch: the branch holding most of the customer's owned accounts,
--   the lowest branch_id on a tie.
-- grain: customer_id
-- tests: not_null(customer_id, accounts, accounts_owned, current_balance); unique(customer_id)
-- column customer_id: The customer
-- column accounts: Accounts the customer may operate (owner or user)
-- column accounts_owned: Accounts the customer owns
-- column accounts_as_user: Accounts of someone else the customer may operate
-- column first_account_opened_date: Opening day of the customer's first account (owner or user)
-- column last_account_opened_date: Opening day of the customer's latest account (owner or user)
-- column home_branch_id: Branch holding most of the owned accounts (lowest id on a tie)
-- column branches: Distinct branches holding the owned accounts
-- column current_balance: Sum of the latest balances of the owned accounts (0 without movements)
-- column negative_balance_accounts: Owned accounts whose latest balance is below zero
-- column min_balance: Lowest balance any owned account reached after a movement
-- column negative_balance_days: Account-days on which a movement left an owned account below zero
-- column transactions: Movements on the owned accounts, all time
-- column first_transaction_date: Day of the first movement on an owned account
-- column last_transaction_date: Day of the latest movement on an owned account
-- column transactions_90d: Movements on the owned accounts in the last 90 days
-- column credits_3m: Credit movements in the last 3 months
-- column credit_amount_3m: Amount credited in the last 3 months
-- column debits_3m: Debit movements in the last 3 months
-- column debit_amount_3m: Amount debited in the last 3 months
-- column credits_prev_3m: Credit movements in the 3 months before the last 3
-- column credit_amount_prev_3m: Amount credited in the 3 months before the last 3
-- column debits_prev_3m: Debit movements in the 3 months before the last 3
-- column debit_amount_prev_3m: Amount debited in the 3 months before the last 3
-- column amount_squares_6m: Sum of the squared movement amounts of the last 6 months

WITH branch_counts AS (
    SELECT
        customer_id,
        branch_id,
        count(*) AS owned_here
    FROM analytics.int_client_accounts
    WHERE role = 'owner' AND branch_id IS NOT NULL
    GROUP BY customer_id, branch_id
),

branches AS (
    SELECT
        customer_id,
        CAST(count(*) AS BIGINT) AS branches,
        min(CASE WHEN branch_rank = 1 THEN branch_id END) AS home_branch_id
    FROM (
        SELECT
            customer_id,
            branch_id,
            row_number() OVER (
                PARTITION BY customer_id ORDER BY owned_here DESC, branch_id ASC
            ) AS branch_rank
        FROM branch_counts
    ) AS ranked
    GROUP BY customer_id
),

accounts AS (
    SELECT
        ca.customer_id,
        CAST(count(*) AS BIGINT) AS accounts,
        CAST(sum(CASE WHEN ca.role = 'owner' THEN 1 ELSE 0 END) AS BIGINT) AS accounts_owned,
        CAST(sum(CASE WHEN ca.role = 'user' THEN 1 ELSE 0 END) AS BIGINT) AS accounts_as_user,
        min(ca.opened_date) AS first_account_opened_date,
        max(ca.opened_date) AS last_account_opened_date,
        CAST(coalesce(sum(t.latest_balance), 0) AS BIGINT) AS current_balance,
        CAST(sum(CASE WHEN t.latest_balance < 0 THEN 1 ELSE 0 END) AS BIGINT) AS negative_balance_accounts,
        min(t.min_balance) AS min_balance,
        CAST(coalesce(sum(t.negative_balance_days), 0) AS BIGINT) AS negative_balance_days,
        CAST(coalesce(sum(t.transactions), 0) AS BIGINT) AS transactions,
        min(t.first_transaction_date) AS first_transaction_date,
        max(t.last_transaction_date) AS last_transaction_date,
        CAST(coalesce(sum(t.transactions_90d), 0) AS BIGINT) AS transactions_90d,
        CAST(coalesce(sum(t.credits_3m), 0) AS BIGINT) AS credits_3m,
        CAST(coalesce(sum(t.credit_amount_3m), 0) AS BIGINT) AS credit_amount_3m,
        CAST(coalesce(sum(t.debits_3m), 0) AS BIGINT) AS debits_3m,
        CAST(coalesce(sum(t.debit_amount_3m), 0) AS BIGINT) AS debit_amount_3m,
        CAST(coalesce(sum(t.credits_prev_3m), 0) AS BIGINT) AS credits_prev_3m,
        CAST(coalesce(sum(t.credit_amount_prev_3m), 0) AS BIGINT) AS credit_amount_prev_3m,
        CAST(coalesce(sum(t.debits_prev_3m), 0) AS BIGINT) AS debits_prev_3m,
        CAST(coalesce(sum(t.debit_amount_prev_3m), 0) AS BIGINT) AS debit_amount_prev_3m,
        CAST(coalesce(sum(t.amount_squares_6m), 0) AS BIGINT) AS amount_squares_6m
    FROM analytics.int_client_accounts AS ca
    LEFT JOIN analytics.int_account_transactions AS t
        ON t.account_id = ca.account_id AND ca.role = 'owner'
    GROUP BY ca.customer_id
)

SELECT
    a.customer_id,
    a.accounts,
    a.accounts_owned,
    a.accounts_as_user,
    a.first_account_opened_date,
    a.last_account_opened_date,
    b.home_branch_id,
    CAST(coalesce(b.branches, 0) AS BIGINT) AS branches,
    a.current_balance,
    a.negative_balance_accounts,
    a.min_balance,
    a.negative_balance_days,
    a.transactions,
    a.first_transaction_date,
    a.last_transaction_date,
    a.transactions_90d,
    a.credits_3m,
    a.credit_amount_3m,
    a.debits_3m,
    a.debit_amount_3m,
    a.credits_prev_3m,
    a.credit_amount_prev_3m,
    a.debits_prev_3m,
    a.debit_amount_prev_3m,
    a.amount_squares_6m
FROM accounts AS a
LEFT JOIN branches AS b ON b.customer_id = a.customer_id
