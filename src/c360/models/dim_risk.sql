-- model: analytics.dim_risk
-- description: One row per resolved customer (analytics.int_customers): overdraft and volatility signals on the
--   accounts the customer owns. An account is overdrawn when its latest balance is below zero; a
--   negative-balance day is a day on which a movement left an owned account below zero (counted per
--   account). Volatility is the sample standard deviation of the movement amounts (unsigned) of the
--   last 6 months over all owned accounts, rounded to cents, null with fewer than 2 movements. Risk
--   level: high when an owned account is overdrawn now, medium when one was overdrawn in the past,
--   low otherwise, none without owned accounts.
-- grain: customer_id
-- tests: not_null(customer_id, has_negative_balance, negative_balance_accounts, negative_balance_days);
--   not_null(movements_6m, risk_level); unique(customer_id)
-- tests: row_count_equals(analytics.int_customers)
-- tests: accepted_values(risk_level: high, medium, low, none)
-- column customer_id: The resolved customer (analytics.int_customers)
-- column has_negative_balance: Whether an owned account's latest balance is below zero
-- column negative_balance_accounts: Owned accounts whose latest balance is below zero
-- column negative_balance_days: Account-days on which a movement left an owned account below zero
-- column min_balance: Lowest balance an owned account reached after a movement (null without movements)
-- column movements_6m: Movements on the owned accounts in the last 6 months
-- column amount_stddev_6m: Sample standard deviation of the movement amounts of the last 6 months
-- column risk_level: high, medium, low or none (rule in the table description)

WITH signals AS (
    SELECT
        c.customer_id,
        coalesce(f.accounts_owned, 0) AS accounts_owned,
        coalesce(f.negative_balance_accounts, 0) AS negative_balance_accounts,
        coalesce(f.negative_balance_days, 0) AS negative_balance_days,
        f.min_balance,
        coalesce(f.credits_3m + f.debits_3m + f.credits_prev_3m + f.debits_prev_3m, 0) AS movements_6m,
        coalesce(
            f.credit_amount_3m + f.debit_amount_3m + f.credit_amount_prev_3m + f.debit_amount_prev_3m, 0
        ) AS amount_6m,
        coalesce(f.amount_squares_6m, 0) AS amount_squares_6m
    FROM analytics.int_customers AS c
    LEFT JOIN analytics.int_client_finance AS f ON f.customer_id = c.customer_id
)

SELECT
    customer_id,
    negative_balance_accounts > 0 AS has_negative_balance,
    CAST(negative_balance_accounts AS BIGINT) AS negative_balance_accounts,
    CAST(negative_balance_days AS BIGINT) AS negative_balance_days,
    CAST(min_balance AS BIGINT) AS min_balance,
    CAST(movements_6m AS BIGINT) AS movements_6m,
    CASE
        WHEN movements_6m >= 2 THEN round(
            sqrt(
                greatest(
                    CAST(amount_squares_6m AS DOUBLE) - CAST(amount_6m AS DOUBLE) * amount_6m / movements_6m,
                    0.0
                )
                / (movements_6m - 1)
            ),
            2
        )
    END AS amount_stddev_6m,
    CASE
        WHEN accounts_owned = 0 THEN 'none'
        WHEN negative_balance_accounts > 0 THEN 'high'
        WHEN negative_balance_days > 0 THEN 'medium'
        ELSE 'low'
    END AS risk_level
FROM signals
