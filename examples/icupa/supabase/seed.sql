-- Deterministic demo data: demo_icupa, five pilot tenants, 300 GA tenants (about one in five above 500
-- orders/week), a week of orders and an hour of request metrics. The flag is already on for two early pilots
-- (pilot_a, pilot_b); the rollout enables everyone else. Safe to run twice.
insert into public.tenants (slug, name, tier, display_name, contact_email, orders_per_week)
values ('demo_icupa', 'ICUPA Demo', 'internal', 'ICUPA Demo', 'demo@icupa.example', 40)
on conflict (slug) do nothing;

insert into public.tenants (slug, name, tier, display_name, contact_email, orders_per_week)
select 'pilot_' || chr(96 + i), 'Pilot ' || upper(chr(96 + i)), 'pilot', 'Pilot ' || upper(chr(96 + i)),
       'ops@pilot-' || chr(96 + i) || '.example', 120 + i * 37
from generate_series(1, 5) as i
on conflict (slug) do nothing;

insert into public.tenants (slug, name, tier, display_name, contact_email, orders_per_week)
select format('ga_%s', lpad(i::text, 3, '0')), format('GA Tenant %s', i), 'ga', format('GA Tenant %s', i),
       format('owner@ga-%s.example', i),
       case when i % 5 = 0 then 500 + (i * 37) % 700 else (i * 7919) % 480 end
from generate_series(1, 300) as i
on conflict (slug) do nothing;

insert into public.orders (tenant_id, created_at, total_cents)
select t.id,
       now() - make_interval(secs => (n * 604800.0 / greatest(t.orders_per_week, 1))),
       500 + (t.id * 131 + n * 17) % 9000
from public.tenants t
cross join lateral generate_series(1, t.orders_per_week) as n
where not exists (select 1 from public.orders o where o.tenant_id = t.id);

insert into public.feature_flags (tenant_slug, flag, enabled, updated_by)
values ('pilot_a', 'tenant.enableNewProfile', true, 'seed'),
       ('pilot_b', 'tenant.enableNewProfile', true, 'seed')
on conflict do nothing;

insert into public.request_metrics (tenant_slug, at, route, status, latency_ms, guardrail_breach)
select t.slug, now() - make_interval(secs => n * 18), '/orders',
       case when n % 250 = 0 then 500 else 200 end,
       60 + (t.id * 13 + n * 29) % 220,
       false
from public.tenants t
cross join generate_series(1, 200) as n
where t.tier in ('internal', 'pilot')
  and not exists (select 1 from public.request_metrics m where m.tenant_slug = t.slug);
