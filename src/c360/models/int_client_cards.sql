-- model: analytics.int_client_cards
-- description: One row per client holding at least one card: the cards issued to the client's
--   dispositions (owner or user), counted once per card number. Every issued card counts (the card
--   extract has no expiry or cancellation: a renewal is a new card).
-- grain: customer_id
-- tests: not_null(customer_id, cards, junior_cards, classic_cards, gold_cards); unique(customer_id)
-- column customer_id: The client the cards were issued to (client_id until identity resolution lands)
-- column cards: Cards issued to the client
-- column junior_cards: Junior cards (holders under 18)
-- column classic_cards: Classic cards
-- column gold_cards: Gold cards
-- column first_card_issued_date: Day the client's first card was issued
-- column last_card_issued_date: Day the client's latest card was issued

WITH dispositions AS (
    SELECT DISTINCT
        disp_id,
        client_id
    FROM stage.dispositions
)

SELECT
    d.client_id AS customer_id,
    CAST(count(DISTINCT c.card_id) AS BIGINT) AS cards,
    CAST(count(DISTINCT CASE WHEN c.type = 'junior' THEN c.card_id END) AS BIGINT) AS junior_cards,
    CAST(count(DISTINCT CASE WHEN c.type = 'classic' THEN c.card_id END) AS BIGINT) AS classic_cards,
    CAST(count(DISTINCT CASE WHEN c.type = 'gold' THEN c.card_id END) AS BIGINT) AS gold_cards,
    CAST(min(c.issued_datetime) AS DATE) AS first_card_issued_date,
    CAST(max(c.issued_datetime) AS DATE) AS last_card_issued_date
FROM stage.cards AS c
INNER JOIN dispositions AS d ON d.disp_id = c.disp_id
GROUP BY d.client_id
