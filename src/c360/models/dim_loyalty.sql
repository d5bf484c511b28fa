-- model: analytics.dim_loyalty
-- description: One row per resolved customer (analytics.int_customers): how long and how actively the customer has
--   been with the company. Years of history count completed years from the CRM registration to the
--   snapshot date. Recency is the days from the latest activity (a movement on an owned account, a
--   retail order or a web visit) to the snapshot date, null for a customer never active. Frequency is
--   the movements on owned accounts in the last 90 days. Products are the accounts the customer may
--   operate plus the cards issued to them; acquisitions are account openings and card issues. The
--   first and last dispositions are ranked in opposite directions (see analytics.int_client_dispositions).
-- grain: customer_id
-- tests: not_null(customer_id, frequency_90d);
--   not_null(products, accounts, cards); unique(customer_id)
-- tests: row_count_equals(analytics.int_customers)
-- tests: accepted_values(first_disposition_role: owner, user)
-- tests: accepted_values(last_disposition_role: owner, user)
-- column customer_id: The resolved customer (analytics.int_customers)
-- column client_created_date: Day the customer's first CRM client was registered (null without one)
-- column tenure_days: Days from the CRM registration to the snapshot date (null without one)
-- column years_of_history: Completed years from the CRM registration to the snapshot date
-- column last_transaction_date: Day of the latest movement on an owned account
-- column last_order_date: Day of the latest retail order
-- column last_visit_date: Day of the latest web session
-- column last_activity_date: Latest of the last movement, order and visit days
-- column recency_days: Days from last_activity_date to the snapshot date (null if never active)
-- column frequency_90d: Movements on owned accounts in the last 90 days
-- column products: Accounts plus cards
-- column accounts: Accounts the customer may operate (owner or user)
-- column cards: Cards issued to the customer
-- column first_acquisition_date: Earliest account opening or card issue
-- column last_acquisition_date: Latest account opening or card issue
-- column days_since_last_acquisition: Days from last_acquisition_date to the snapshot date
-- column dispositions: Dispositions (one per account the customer may operate)
-- column first_disp_id: The customer's first disposition (earliest account opening, then disp_id)
-- column first_disposition_account_id: Account of the first disposition
-- column first_disposition_role: owner or user, in the first disposition
-- column first_disposition_date: Opening day of the first disposition's account
-- column last_disp_id: The customer's latest disposition (latest account opening, then disp_id)
-- column last_disposition_account_id: Account of the latest disposition
-- column last_disposition_role: owner or user, in the latest disposition
-- column last_disposition_date: Opening day of the latest disposition's account

WITH visits AS (
    SELECT
        customer_id,
        max(visit_date) AS last_visit_date
    FROM analytics.int_client_sessions
    GROUP BY customer_id
),

joined AS (
    SELECT
        c.customer_id,
        s.snapshot_date,
        c.client_created_date,
        f.last_transaction_date,
        o.last_order_date,
        v.last_visit_date,
        greatest(f.last_transaction_date, o.last_order_date, v.last_visit_date) AS last_activity_date,
        coalesce(f.transactions_90d, 0) AS frequency_90d,
        coalesce(f.accounts, 0) AS accounts,
        coalesce(k.cards, 0) AS cards,
        least(f.first_account_opened_date, k.first_card_issued_date) AS first_acquisition_date,
        greatest(f.last_account_opened_date, k.last_card_issued_date) AS last_acquisition_date,
        coalesce(d.dispositions, 0) AS dispositions,
        d.first_disp_id,
        d.first_disposition_account_id,
        d.first_disposition_role,
        d.first_disposition_date,
        d.last_disp_id,
        d.last_disposition_account_id,
        d.last_disposition_role,
        d.last_disposition_date
    FROM analytics.int_customers AS c
    CROSS JOIN analytics.int_snapshot AS s
    LEFT JOIN analytics.int_client_finance AS f ON f.customer_id = c.customer_id
    LEFT JOIN analytics.int_client_cards AS k ON k.customer_id = c.customer_id
    LEFT JOIN analytics.int_client_orders AS o ON o.customer_id = c.customer_id
    LEFT JOIN visits AS v ON v.customer_id = c.customer_id
    LEFT JOIN analytics.int_client_dispositions AS d ON d.customer_id = c.customer_id
)

SELECT
    customer_id,
    client_created_date,
    CAST(date_diff('day', client_created_date, snapshot_date) AS INTEGER) AS tenure_days,
    CAST(
        year(snapshot_date) - year(client_created_date)
        - CASE
            WHEN month(snapshot_date) * 100 + day(snapshot_date)
                < month(client_created_date) * 100 + day(client_created_date)
                THEN 1
            ELSE 0
        END
        AS INTEGER
    ) AS years_of_history,
    last_transaction_date,
    last_order_date,
    last_visit_date,
    last_activity_date,
    CAST(date_diff('day', last_activity_date, snapshot_date) AS INTEGER) AS recency_days,
    CAST(frequency_90d AS BIGINT) AS frequency_90d,
    CAST(accounts + cards AS BIGINT) AS products,
    CAST(accounts AS BIGINT) AS accounts,
    CAST(cards AS BIGINT) AS cards,
    first_acquisition_date,
    last_acquisition_date,
    CAST(date_diff('day', last_acquisition_date, snapshot_date) AS INTEGER) AS days_since_last_acquisition,
    CAST(dispositions AS BIGINT) AS dispositions,
    first_disp_id,
    first_disposition_account_id,
    first_disposition_role,
    first_disposition_date,
    last_disp_id,
    last_disposition_account_id,
    last_disposition_role,
    last_disposition_date
FROM joined
