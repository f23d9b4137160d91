-- Destructive follow-up of release tenant-profiles (runbook §2.2, §7): only after 7 stable days
-- (`/zdm cleanup plan tenant-profiles`). Pair: 20250401000000_drop_legacy_tenant_columns_rollback.sql.
alter table public.tenants drop column contact_email;
