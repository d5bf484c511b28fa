-- model: analytics.int_client_cards
-- description: One row per customer holding at least one card: the cards issued to the dispositions
--   (owner or user) of the customer's CRM clients, counted once per card number. Every issued card counts (the card
--   extract has no expiry or cancellation: a renewal is a new card).
-- grain: customer_id
-- tests: not_null(customer_id, cards, junior_cards, classic_cards, gold_cards); unique(customer_id)
-- column customer_id: The customer the cards were issued to
-- column cards: Cards issued to the customer
-- column junior_cards: Junior cards (holders under 18)
-- column classic_cards: Classic cards
-- column gold_cards: Gold cards
-- column first_card_issued_date: Day the customer's first card was issued
-- column last_card_issued_date: Day the customer's latest card was issued

WITH dispositions AS (
    SELECT DISTINCT
        d.disp_id,
        k.customer_id
    FROM stage.dispositions AS d
    INNER JOIN identity.record_customers AS k
        ON k.source = 'crm' AND k.record_key = CAST(d.client_id AS VARCHAR)
)

SELECT
    d.customer_id,
    CAST(count(DISTINCT c.card_id) AS BIGINT) AS cards,
    CAST(count(DISTINCT CASE WHEN c.type = 'junior' THEN c.card_id END) AS BIGINT) AS junior_cards,
    CAST(count(DISTINCT CASE WHEN c.type = 'classic' THEN c.card_id END) AS BIGINT) AS classic_cards,
    CAST(count(DISTINCT CASE WHEN c.type = 'gold' THEN c.card_id END) AS BIGINT) AS gold_cards,
    CAST(min(c.issued_datetime) AS DATE) AS first_card_issued_date,
    CAST(max(c.issued_datetime) AS DATE) AS last_card_issued_date
FROM stage.cards AS c
INNER JOIN dispositions AS d ON d.disp_id = c.disp_id
GROUP BY d.customer_id
