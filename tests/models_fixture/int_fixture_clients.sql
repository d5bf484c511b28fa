-- model: analytics.int_fixture_clients
-- description: One row per CRM client, renamed to the customer vocabulary.
-- grain: customer_id
-- tests: not_null(customer_id); unique(customer_id)
-- column customer_id: The customer (client_id until identity resolution lands)
-- column birth_date: Date of birth as the CRM has it [pii]
-- column gender: Gender as the CRM has it

SELECT
    c.client_id AS customer_id,
    c.birth_date,
    c.gender
FROM stage.fixture_clients AS c
