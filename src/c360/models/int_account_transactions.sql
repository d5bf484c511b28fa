-- model: analytics.int_account_transactions
-- description: One row per account with movements: every transaction aggregate the dimensions need,
--   in a single pass over stage.transactions. Windows are relative to the snapshot date
--   (analytics.int_snapshot): the last 3 months are the days after cutoff_3m, the previous 3 months
--   the days after cutoff_6m up to cutoff_3m (together: the last 6 months), the last 90 days the days
--   after cutoff_90d. The latest balance is the balance after the movement with the highest trans_id
--   (a serial that grows with the movement time). Credits are type = 'credit', debits type = 'debit'
--   (the reference counted debits from the credit rows).
-- grain: account_id
-- tests: not_null(account_id, transactions, latest_balance); unique(account_id)
-- column account_id: The account
-- column transactions: Movements booked on the account, all time
-- column first_transaction_date: Day of the first movement
-- column last_transaction_date: Day of the latest movement
-- column latest_balance: Balance after the latest movement (the current balance)
-- column min_balance: Lowest balance after any movement
-- column negative_balance_days: Days on which a movement left the balance below zero
-- column transactions_90d: Movements in the last 90 days
-- column credits_3m: Credit movements (type credit) in the last 3 months
-- column credit_amount_3m: Amount credited in the last 3 months
-- column debits_3m: Debit movements (type debit) in the last 3 months
-- column debit_amount_3m: Amount debited in the last 3 months
-- column credits_prev_3m: Credit movements in the 3 months before the last 3
-- column credit_amount_prev_3m: Amount credited in the 3 months before the last 3
-- column debits_prev_3m: Debit movements in the 3 months before the last 3
-- column debit_amount_prev_3m: Amount debited in the 3 months before the last 3
-- column amount_squares_6m: Sum of the squared amounts of the last 6 months (for the standard
--   deviation of the amounts over several accounts)

WITH movements AS (
    SELECT
        t.account_id,
        t.trans_id,
        t.trans_datetime,
        t.type,
        t.amount,
        t.balance,
        CAST(t.trans_datetime AS DATE) AS trans_date,
        CASE
            WHEN CAST(t.trans_datetime AS DATE) > s.cutoff_3m THEN 1
            WHEN CAST(t.trans_datetime AS DATE) > s.cutoff_6m THEN 2
            ELSE 0
        END AS period,
        CASE WHEN CAST(t.trans_datetime AS DATE) > s.cutoff_90d THEN 1 ELSE 0 END AS in_90d
    FROM stage.transactions AS t
    CROSS JOIN analytics.int_snapshot AS s
)

SELECT
    account_id,
    CAST(count(*) AS BIGINT) AS transactions,
    min(trans_date) AS first_transaction_date,
    max(trans_date) AS last_transaction_date,
    CAST(arg_max(balance, trans_id) AS BIGINT) AS latest_balance,
    CAST(min(balance) AS BIGINT) AS min_balance,
    CAST(count(DISTINCT CASE WHEN balance < 0 THEN trans_date END) AS BIGINT) AS negative_balance_days,
    CAST(sum(in_90d) AS BIGINT) AS transactions_90d,
    CAST(sum(CASE WHEN period = 1 AND type = 'credit' THEN 1 ELSE 0 END) AS BIGINT) AS credits_3m,
    CAST(sum(CASE WHEN period = 1 AND type = 'credit' THEN amount ELSE 0 END) AS BIGINT) AS credit_amount_3m,
    CAST(sum(CASE WHEN period = 1 AND type = 'debit' THEN 1 ELSE 0 END) AS BIGINT) AS debits_3m,
    CAST(sum(CASE WHEN period = 1 AND type = 'debit' THEN amount ELSE 0 END) AS BIGINT) AS debit_amount_3m,
    CAST(sum(CASE WHEN period = 2 AND type = 'credit' THEN 1 ELSE 0 END) AS BIGINT) AS credits_prev_3m,
    CAST(sum(CASE WHEN period = 2 AND type = 'credit' THEN amount ELSE 0 END) AS BIGINT)
        AS credit_amount_prev_3m,
    CAST(sum(CASE WHEN period = 2 AND type = 'debit' THEN 1 ELSE 0 END) AS BIGINT) AS debits_prev_3m,
    CAST(sum(CASE WHEN period = 2 AND type = 'debit' THEN amount ELSE 0 END) AS BIGINT)
        AS debit_amount_prev_3m,
    CAST(sum(CASE WHEN period > 0 THEN amount * amount ELSE 0 END) AS BIGINT) AS amount_squares_6m
FROM movements
GROUP BY account_id
