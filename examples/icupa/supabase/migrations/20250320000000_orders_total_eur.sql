-- Additive: orders get a euro total, filled by the `order_totals` backfill (zdm.toml), not by this migration.
alter table public.orders add column if not exists total_eur numeric(12, 2);
