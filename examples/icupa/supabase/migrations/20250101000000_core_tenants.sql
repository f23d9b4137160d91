-- ICUPA core: tenants and their orders.
create table public.tenants (
    id              bigserial primary key,
    slug            text not null unique check (slug ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name            text not null,
    tier            text not null check (tier in ('internal', 'pilot', 'ga')),
    display_name    text not null,
    contact_email   text,
    orders_per_week integer not null default 0,
    created_at      timestamptz not null default now()
);

create table public.orders (
    id          bigserial primary key,
    tenant_id   bigint not null references public.tenants (id),
    created_at  timestamptz not null default now(),
    total_cents integer not null check (total_cents >= 0)
);
create index orders_tenant_created_idx on public.orders (tenant_id, created_at);
