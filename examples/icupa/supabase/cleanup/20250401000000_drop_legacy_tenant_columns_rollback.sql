-- Pair of 20250401000000_drop_legacy_tenant_columns.sql: brings the column back, filled from tenant_profiles.
alter table public.tenants add column if not exists contact_email text;
update public.tenants t set contact_email = p.contact_email from public.tenant_profiles p where p.tenant_id = t.id;
