-- The legacy read path: apps read tenant details through this view.
create view public.tenant_directory as
select t.id, t.slug, t.tier, t.display_name, t.contact_email
from public.tenants t;
