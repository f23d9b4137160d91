-- The new read path (behind tenant.enableNewProfile): prefer tenant_profiles, fall back to legacy columns.
-- Additive: `create or replace` keeps the legacy columns (same names, types, order) and appends `source`.
create or replace view public.tenant_directory as
select t.id, t.slug, t.tier,
       coalesce(p.display_name, t.display_name) as display_name,
       coalesce(p.contact_email, t.contact_email) as contact_email,
       case when p.tenant_id is null then 'legacy' else 'profile' end as source
from public.tenants t
left join public.tenant_profiles p on p.tenant_id = t.id;
