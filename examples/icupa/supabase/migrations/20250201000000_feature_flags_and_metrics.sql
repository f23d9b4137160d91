-- Per-tenant feature flags (zdm's default flag backend) and per-request metrics (zdm's default KPI source).
create table public.feature_flags (
    tenant_slug text not null references public.tenants (slug),
    flag        text not null,
    enabled     boolean not null default false,
    updated_at  timestamptz not null default now(),
    updated_by  text,
    primary key (tenant_slug, flag)
);

create table public.request_metrics (
    id               bigserial primary key,
    tenant_slug      text not null,
    at               timestamptz not null default now(),
    route            text not null default '/',
    status           integer not null,
    latency_ms       integer not null,
    guardrail_breach boolean not null default false
);
create index request_metrics_tenant_at_idx on public.request_metrics (tenant_slug, at);
