-- model: analytics.customer_360
-- description: One row per customer per snapshot date: the denormalized customer 360 view, every
--   dimension joined on customer_id (each dimension is unique on customer_id and has every resolved
--   customer of analytics.int_customers, with or without a CRM client, so the join neither drops nor
--   repeats a customer). Kept as history: a build replaces
--   only the snapshot date it computes (the latest business date in stage, analytics.int_snapshot).
--   Rules behind each column are in the description of its dimension table.
-- grain: customer_id, snapshot_date
-- partition: snapshot_date
-- tests: not_null(customer_id, snapshot_date, age_band, region, trend, risk_level, value_tier);
--   unique(customer_id, snapshot_date)
-- tests: row_count_equals(analytics.int_customers)
-- tests: accepted_values(trend: up, down, stable, new, inactive)
-- tests: accepted_values(risk_level: high, medium, low, none)
-- tests: accepted_values(value_tier: top, high, medium, low, none)
-- column customer_id: The resolved customer, stable across runs (identity.record_customers)
-- column snapshot_date: The day this profile describes (latest business date in stage)
-- column client_id: The customer's primary CRM client (null for a person the bank does not know)
-- column crm_clients: CRM clients resolved to the customer (2 for a double registration)
-- column source_records: Source records resolved to the customer (see identity.record_customers)
-- column sources: Source systems that know the customer
-- column first_name: Given name (golden record: identity.golden tells its source) [pii]
-- column last_name: Family name (golden record) [pii]
-- column email: E-mail address, lower-case (golden record) [pii]
-- column phone: Phone number in E.164 (golden record) [pii]
-- column address: Street address (golden record) [pii]
-- column birth_date: Date of birth (golden record) [pii]
-- column age: Age in completed years at the snapshot date (dim_demographic)
-- column age_band: under 18, 18-24, 25-34, 35-44, 45-54, 55-64, 65+ or unknown (dim_demographic)
-- column life_stage: minor, student, young single, young couple, mid-life, pre-retirement,
--   retired or unknown (dim_demographic)
-- column marital_status: married, single or divorced (dim_demographic)
-- column occupation: Occupation, lower-case (dim_demographic)
-- column home_ownership: own, rent or unknown (dim_demographic)
-- column head_of_household: Whether the customer heads their household (dim_demographic)
-- column city: City of the address (dim_geographic) [pii]
-- column country: Country of the address (dim_geographic) [pii]
-- column region: World region of the country (dim_geographic)
-- column home_branch_id: Branch holding most of the owned accounts (dim_geographic)
-- column branches: Branches holding the owned accounts (dim_geographic)
-- column client_created_date: Day of the CRM registration (dim_loyalty)
-- column tenure_days: Days from the CRM registration to the snapshot date (dim_loyalty)
-- column years_of_history: Completed years since the CRM registration (dim_loyalty)
-- column last_transaction_date: Day of the latest movement on an owned account (dim_loyalty)
-- column last_activity_date: Latest movement, order or visit day (dim_loyalty)
-- column recency_days: Days since last_activity_date (dim_loyalty)
-- column frequency_90d: Movements on owned accounts in the last 90 days (dim_loyalty)
-- column products: Accounts plus cards (dim_loyalty)
-- column first_acquisition_date: Earliest account opening or card issue (dim_loyalty)
-- column last_acquisition_date: Latest account opening or card issue (dim_loyalty)
-- column days_since_last_acquisition: Days since last_acquisition_date (dim_loyalty)
-- column dispositions: Accounts the customer may operate, one disposition each (dim_loyalty)
-- column first_disp_id: First disposition (dim_loyalty)
-- column first_disposition_account_id: Account of the first disposition (dim_loyalty)
-- column first_disposition_role: owner or user, in the first disposition (dim_loyalty)
-- column first_disposition_date: Opening day of the first disposition's account (dim_loyalty)
-- column last_disp_id: Latest disposition (dim_loyalty)
-- column last_disposition_account_id: Account of the latest disposition (dim_loyalty)
-- column last_disposition_role: owner or user, in the latest disposition (dim_loyalty)
-- column last_disposition_date: Opening day of the latest disposition's account (dim_loyalty)
-- column accounts: Accounts the customer may operate (dim_financial)
-- column accounts_owned: Accounts the customer owns (dim_financial)
-- column accounts_as_user: Accounts of someone else the customer may operate (dim_financial)
-- column cards: Cards issued to the customer (dim_financial)
-- column junior_cards: Junior cards (dim_financial)
-- column classic_cards: Classic cards (dim_financial)
-- column gold_cards: Gold cards (dim_financial)
-- column current_balance: Sum of the latest balances of the owned accounts (dim_financial)
-- column credits_3m: Credit movements, last 3 months (dim_financial)
-- column credit_amount_3m: Amount credited, last 3 months (dim_financial)
-- column avg_credit_3m: Average credit, last 3 months (dim_financial)
-- column debits_3m: Debit movements, last 3 months (dim_financial)
-- column debit_amount_3m: Amount debited, last 3 months (dim_financial)
-- column avg_debit_3m: Average debit, last 3 months (dim_financial)
-- column credits_6m: Credit movements, last 6 months (dim_financial)
-- column credit_amount_6m: Amount credited, last 6 months (dim_financial)
-- column avg_credit_6m: Average credit, last 6 months (dim_financial)
-- column debits_6m: Debit movements, last 6 months (dim_financial)
-- column debit_amount_6m: Amount debited, last 6 months (dim_financial)
-- column avg_debit_6m: Average debit, last 6 months (dim_financial)
-- column volume_3m: Amount moved, last 3 months (dim_financial)
-- column volume_prev_3m: Amount moved, the 3 months before (dim_financial)
-- column trend_ratio: volume_3m / volume_prev_3m (dim_financial)
-- column trend: up, down, stable, new or inactive (dim_financial)
-- column sessions: Web sessions (dim_digital)
-- column visitors: Browsers the customer logged in from, with sessions (dim_digital)
-- column pageviews: Page views over the sessions (dim_digital)
-- column hits: Hits over the sessions (dim_digital)
-- column time_on_site_seconds: Seconds on site over the sessions (dim_digital)
-- column avg_time_on_site_seconds: Seconds on site per session (dim_digital)
-- column bounce_rate: Share of sessions that bounced (dim_digital)
-- column mobile_share: Share of sessions on mobile (dim_digital)
-- column desktop_share: Share of sessions on desktop (dim_digital)
-- column tablet_share: Share of sessions on tablet (dim_digital)
-- column top_traffic_source: Traffic source of most sessions (dim_digital)
-- column top_page_path: Page path with most page hits (dim_digital)
-- column first_visit_date: Day of the first session (dim_digital)
-- column last_visit_date: Day of the latest session (dim_digital)
-- column days_since_last_visit: Days since last_visit_date (dim_digital)
-- column orders: Distinct retail orders (dim_shopping)
-- column order_lines: Retail order lines (dim_shopping)
-- column revenue: Retail sales after discount (dim_shopping)
-- column profit: Retail profit (dim_shopping)
-- column avg_order_value: revenue / orders (dim_shopping)
-- column products_bought: Distinct retail products bought (dim_shopping)
-- column first_order_date: Day of the first order (dim_shopping)
-- column last_order_date: Day of the latest order (dim_shopping)
-- column days_since_last_order: Days since last_order_date (dim_shopping)
-- column recency_score: RFM recency 1-5 (dim_shopping)
-- column frequency_score: RFM frequency 1-5 (dim_shopping)
-- column monetary_score: RFM monetary 1-5 (dim_shopping)
-- column rfm_cell: The three RFM scores as text, e.g. '545' (dim_shopping)
-- column favourite_product: Product on most orders (dim_shopping)
-- column discount_affinity: Share of order lines with a discount (dim_shopping)
-- column lifetime_value: Retail revenue plus deposits (dim_value)
-- column deposits: Positive part of the current balance (dim_value)
-- column value_tier: top, high, medium, low or none (dim_value)
-- column product_holding: Products per family, e.g. 'accounts:2,cards:3,retail_products:1' (dim_value)
-- column product_families: Product families held, 0 to 3 (dim_value)
-- column has_negative_balance: Whether an owned account is overdrawn now (dim_risk)
-- column negative_balance_accounts: Owned accounts overdrawn now (dim_risk)
-- column negative_balance_days: Account-days a movement left an owned account below zero (dim_risk)
-- column min_balance: Lowest balance an owned account reached (dim_risk)
-- column movements_6m: Movements on owned accounts, last 6 months (dim_risk)
-- column amount_stddev_6m: Standard deviation of the movement amounts, last 6 months (dim_risk)
-- column risk_level: high, medium, low or none (dim_risk)

SELECT
    c.customer_id,
    s.snapshot_date,
    c.client_id,
    c.crm_clients,
    c.source_records,
    c.sources,
    c.first_name,
    c.last_name,
    c.email,
    c.phone,
    c.address,
    c.birth_date,
    dem.age,
    dem.age_band,
    dem.life_stage,
    dem.marital_status,
    dem.occupation,
    dem.home_ownership,
    dem.head_of_household,
    geo.city,
    geo.country,
    geo.region,
    geo.home_branch_id,
    geo.branches,
    loy.client_created_date,
    loy.tenure_days,
    loy.years_of_history,
    loy.last_transaction_date,
    loy.last_activity_date,
    loy.recency_days,
    loy.frequency_90d,
    loy.products,
    loy.first_acquisition_date,
    loy.last_acquisition_date,
    loy.days_since_last_acquisition,
    loy.dispositions,
    loy.first_disp_id,
    loy.first_disposition_account_id,
    loy.first_disposition_role,
    loy.first_disposition_date,
    loy.last_disp_id,
    loy.last_disposition_account_id,
    loy.last_disposition_role,
    loy.last_disposition_date,
    fin.accounts,
    fin.accounts_owned,
    fin.accounts_as_user,
    fin.cards,
    fin.junior_cards,
    fin.classic_cards,
    fin.gold_cards,
    fin.current_balance,
    fin.credits_3m,
    fin.credit_amount_3m,
    fin.avg_credit_3m,
    fin.debits_3m,
    fin.debit_amount_3m,
    fin.avg_debit_3m,
    fin.credits_6m,
    fin.credit_amount_6m,
    fin.avg_credit_6m,
    fin.debits_6m,
    fin.debit_amount_6m,
    fin.avg_debit_6m,
    fin.volume_3m,
    fin.volume_prev_3m,
    fin.trend_ratio,
    fin.trend,
    dig.sessions,
    dig.visitors,
    dig.pageviews,
    dig.hits,
    dig.time_on_site_seconds,
    dig.avg_time_on_site_seconds,
    dig.bounce_rate,
    dig.mobile_share,
    dig.desktop_share,
    dig.tablet_share,
    dig.top_traffic_source,
    dig.top_page_path,
    dig.first_visit_date,
    dig.last_visit_date,
    dig.days_since_last_visit,
    shp.orders,
    shp.order_lines,
    shp.revenue,
    shp.profit,
    shp.avg_order_value,
    shp.products_bought,
    shp.first_order_date,
    shp.last_order_date,
    shp.days_since_last_order,
    shp.recency_score,
    shp.frequency_score,
    shp.monetary_score,
    shp.rfm_cell,
    shp.favourite_product,
    shp.discount_affinity,
    val.lifetime_value,
    val.deposits,
    val.value_tier,
    val.product_holding,
    val.product_families,
    rsk.has_negative_balance,
    rsk.negative_balance_accounts,
    rsk.negative_balance_days,
    rsk.min_balance,
    rsk.movements_6m,
    rsk.amount_stddev_6m,
    rsk.risk_level
FROM analytics.int_customers AS c
CROSS JOIN analytics.int_snapshot AS s
LEFT JOIN analytics.dim_demographic AS dem ON dem.customer_id = c.customer_id
LEFT JOIN analytics.dim_geographic AS geo ON geo.customer_id = c.customer_id
LEFT JOIN analytics.dim_loyalty AS loy ON loy.customer_id = c.customer_id
LEFT JOIN analytics.dim_financial AS fin ON fin.customer_id = c.customer_id
LEFT JOIN analytics.dim_digital AS dig ON dig.customer_id = c.customer_id
LEFT JOIN analytics.dim_shopping AS shp ON shp.customer_id = c.customer_id
LEFT JOIN analytics.dim_value AS val ON val.customer_id = c.customer_id
LEFT JOIN analytics.dim_risk AS rsk ON rsk.customer_id = c.customer_id
