-- Additive: the new tenant_profiles table, its audit trail, the runbook's backfill and restore functions.
create table public.tenant_profiles (
    tenant_id     bigint primary key references public.tenants (id),
    display_name  text not null,
    contact_email text,
    locale        text not null default 'en',
    migrated_at   timestamptz not null default now()
);

create table if not exists public.tenant_migration_audit (
    id         bigserial primary key,
    tenant_id  bigint,
    event      text not null,
    detail     jsonb not null default '{}'::jsonb,
    created_at timestamptz not null default now()
);

-- Row-level security (the checklist's RLS review): a signed-in user (Supabase Auth) reads the profiles of the
-- tenants they belong to. zdm, the backfill and the app's server run as the table owner, which RLS does not limit.
create table public.tenant_members (
    tenant_id bigint not null references public.tenants (id),
    user_id   uuid not null,
    primary key (tenant_id, user_id)
);
alter table public.tenant_profiles enable row level security;
create policy tenant_profiles_member_read on public.tenant_profiles
    for select to authenticated
    using (exists (
        select 1 from public.tenant_members m
        where m.tenant_id = tenant_profiles.tenant_id and m.user_id = auth.uid()
    ));

-- Runbook §3: the one-shot chunked backfill (500 rows, 200 ms sleep between chunks).
create or replace function public.run_tenant_backfill(batch_size integer default 500, sleep_ms integer default 200)
returns bigint language plpgsql as $$
declare
    done  bigint := 0;
    moved bigint;
begin
    loop
        with batch as (
            select t.id, t.display_name, t.contact_email
            from public.tenants t
            where not exists (select 1 from public.tenant_profiles p where p.tenant_id = t.id)
            order by t.id
            limit batch_size
        ), inserted as (
            insert into public.tenant_profiles (tenant_id, display_name, contact_email)
            select id, display_name, contact_email from batch
            on conflict (tenant_id) do nothing
            returning tenant_id
        )
        select count(*) into moved from inserted;
        exit when moved = 0;
        done := done + moved;
        insert into public.tenant_migration_audit (event, detail)
        values ('backfill_batch', jsonb_build_object('rows', moved, 'total', done));
        perform pg_sleep(sleep_ms / 1000.0);
    end loop;
    return done;
end;
$$;

-- Runbook §6: put the legacy read path back, whatever the new release changed.
create or replace function public.sp_restore_legacy_tenant_views()
returns text language plpgsql as $$
begin
    drop view if exists public.tenant_directory;
    create view public.tenant_directory as
    select t.id, t.slug, t.tier, t.display_name, t.contact_email
    from public.tenants t;
    insert into public.tenant_migration_audit (event) values ('legacy_views_restored');
    return 'legacy tenant views restored';
end;
$$;
