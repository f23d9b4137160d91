-- Pair of supabase/migrations/20250301000000_tenant_profiles.sql, kept in supabase/rollbacks/ where the Supabase
-- CLI never pushes it. Never applied forward; zdm applies it on
-- `/zdm rollback tenant <slug> --schema 20250301000000` after a confirm button.
drop view if exists public.tenant_directory;
create view public.tenant_directory as
select t.id, t.slug, t.tier, t.display_name, t.contact_email
from public.tenants t;
-- sp_restore_legacy_tenant_views() stays: later rollbacks still call it.
drop function if exists public.run_tenant_backfill(integer, integer);
drop table if exists public.tenant_profiles;  -- its RLS policy goes with it
drop table if exists public.tenant_members;
