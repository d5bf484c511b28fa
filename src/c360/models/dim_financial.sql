-- model: analytics.dim_financial
-- description: One row per resolved customer (analytics.int_customers): the customer's banking products and money
--   flows. Money is counted on the accounts the customer owns (see analytics.int_client_finance);
--   credits are movements of type credit and debits movements of type debit, counted separately
--   (the reference counted debits from the credit rows). Windows are calendar months back from the
--   snapshot date: the last 3 months are the days after snapshot_date - 3 months, the last 6 months
--   the days after snapshot_date - 6 months, the previous 3 months the days in the last 6 but not in
--   the last 3 (cut-offs in analytics.int_snapshot). Averages are per movement, rounded to cents,
--   null without movements. Trend compares the volume (credits + debits) of the last 3 months with
--   the previous 3: up when at least 10 % higher, down when at least 10 % lower, stable in between,
--   new when the previous 3 months had none, inactive when both had none.
-- grain: customer_id
-- tests: not_null(customer_id, accounts, accounts_owned, cards, current_balance, credits_3m, debits_3m);
--   not_null(credits_6m, debits_6m, volume_3m, volume_prev_3m, trend); unique(customer_id)
-- tests: row_count_equals(analytics.int_customers)
-- tests: accepted_values(trend: up, down, stable, new, inactive)
-- column customer_id: The resolved customer (analytics.int_customers)
-- column accounts: Accounts the customer may operate (owner or user)
-- column accounts_owned: Accounts the customer owns
-- column accounts_as_user: Accounts of someone else the customer may operate
-- column cards: Cards issued to the customer
-- column junior_cards: Junior cards
-- column classic_cards: Classic cards
-- column gold_cards: Gold cards
-- column current_balance: Sum of the latest balances of the owned accounts
-- column credits_3m: Credit movements in the last 3 months
-- column credit_amount_3m: Amount credited in the last 3 months
-- column avg_credit_3m: Average credit in the last 3 months
-- column debits_3m: Debit movements in the last 3 months
-- column debit_amount_3m: Amount debited in the last 3 months
-- column avg_debit_3m: Average debit in the last 3 months
-- column credits_6m: Credit movements in the last 6 months
-- column credit_amount_6m: Amount credited in the last 6 months
-- column avg_credit_6m: Average credit in the last 6 months
-- column debits_6m: Debit movements in the last 6 months
-- column debit_amount_6m: Amount debited in the last 6 months
-- column avg_debit_6m: Average debit in the last 6 months
-- column volume_3m: Amount moved (credited plus debited) in the last 3 months
-- column volume_prev_3m: Amount moved in the 3 months before the last 3
-- column trend_ratio: volume_3m / volume_prev_3m, 4 decimals (null when volume_prev_3m is 0)
-- column trend: up, down, stable, new or inactive (rule in the table description)

WITH flows AS (
    SELECT
        c.customer_id,
        coalesce(f.accounts, 0) AS accounts,
        coalesce(f.accounts_owned, 0) AS accounts_owned,
        coalesce(f.accounts_as_user, 0) AS accounts_as_user,
        coalesce(k.cards, 0) AS cards,
        coalesce(k.junior_cards, 0) AS junior_cards,
        coalesce(k.classic_cards, 0) AS classic_cards,
        coalesce(k.gold_cards, 0) AS gold_cards,
        coalesce(f.current_balance, 0) AS current_balance,
        coalesce(f.credits_3m, 0) AS credits_3m,
        coalesce(f.credit_amount_3m, 0) AS credit_amount_3m,
        coalesce(f.debits_3m, 0) AS debits_3m,
        coalesce(f.debit_amount_3m, 0) AS debit_amount_3m,
        coalesce(f.credits_3m + f.credits_prev_3m, 0) AS credits_6m,
        coalesce(f.credit_amount_3m + f.credit_amount_prev_3m, 0) AS credit_amount_6m,
        coalesce(f.debits_3m + f.debits_prev_3m, 0) AS debits_6m,
        coalesce(f.debit_amount_3m + f.debit_amount_prev_3m, 0) AS debit_amount_6m,
        coalesce(f.credit_amount_3m + f.debit_amount_3m, 0) AS volume_3m,
        coalesce(f.credit_amount_prev_3m + f.debit_amount_prev_3m, 0) AS volume_prev_3m
    FROM analytics.int_customers AS c
    LEFT JOIN analytics.int_client_finance AS f ON f.customer_id = c.customer_id
    LEFT JOIN analytics.int_client_cards AS k ON k.customer_id = c.customer_id
)

SELECT
    customer_id,
    CAST(accounts AS BIGINT) AS accounts,
    CAST(accounts_owned AS BIGINT) AS accounts_owned,
    CAST(accounts_as_user AS BIGINT) AS accounts_as_user,
    CAST(cards AS BIGINT) AS cards,
    CAST(junior_cards AS BIGINT) AS junior_cards,
    CAST(classic_cards AS BIGINT) AS classic_cards,
    CAST(gold_cards AS BIGINT) AS gold_cards,
    CAST(current_balance AS BIGINT) AS current_balance,
    CAST(credits_3m AS BIGINT) AS credits_3m,
    CAST(credit_amount_3m AS BIGINT) AS credit_amount_3m,
    CASE WHEN credits_3m > 0 THEN round(CAST(credit_amount_3m AS DOUBLE) / credits_3m, 2) END
        AS avg_credit_3m,
    CAST(debits_3m AS BIGINT) AS debits_3m,
    CAST(debit_amount_3m AS BIGINT) AS debit_amount_3m,
    CASE WHEN debits_3m > 0 THEN round(CAST(debit_amount_3m AS DOUBLE) / debits_3m, 2) END
        AS avg_debit_3m,
    CAST(credits_6m AS BIGINT) AS credits_6m,
    CAST(credit_amount_6m AS BIGINT) AS credit_amount_6m,
    CASE WHEN credits_6m > 0 THEN round(CAST(credit_amount_6m AS DOUBLE) / credits_6m, 2) END
        AS avg_credit_6m,
    CAST(debits_6m AS BIGINT) AS debits_6m,
    CAST(debit_amount_6m AS BIGINT) AS debit_amount_6m,
    CASE WHEN debits_6m > 0 THEN round(CAST(debit_amount_6m AS DOUBLE) / debits_6m, 2) END
        AS avg_debit_6m,
    CAST(volume_3m AS BIGINT) AS volume_3m,
    CAST(volume_prev_3m AS BIGINT) AS volume_prev_3m,
    CASE
        WHEN volume_prev_3m > 0 THEN round(CAST(volume_3m AS DOUBLE) / volume_prev_3m, 4)
    END AS trend_ratio,
    CASE
        WHEN volume_3m = 0 AND volume_prev_3m = 0 THEN 'inactive'
        WHEN volume_prev_3m = 0 THEN 'new'
        WHEN volume_3m * 10 >= volume_prev_3m * 11 THEN 'up'
        WHEN volume_3m * 10 <= volume_prev_3m * 9 THEN 'down'
        ELSE 'stable'
    END AS trend
FROM flows
