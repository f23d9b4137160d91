-- zdm's Supabase platform prelude: what a Supabase project has before its first migration, so a clean bootstrap
-- on plain Postgres can apply migrations that use it. Idempotent (roles are cluster-wide: several bootstraps may
-- run it at once). Replace it with your own file: `[schema] prelude_file = "…"`.
do $$
declare
    name text;
begin
    foreach name in array array['anon', 'authenticated', 'service_role'] loop
        if not exists (select 1 from pg_roles where rolname = name) then
            begin
                execute format('create role %I nologin noinherit', name);
            exception when duplicate_object or unique_violation then
                null; -- created meanwhile by another bootstrap
            end;
        end if;
    end loop;
end
$$;
create schema if not exists auth;
create schema if not exists storage;
create schema if not exists extensions;
grant usage on schema auth, storage, extensions to anon, authenticated, service_role;

-- The JWT of the request, as PostgREST sets it (`request.jwt.claims`, or the older one-setting-per-claim form).
create or replace function auth.jwt() returns jsonb language sql stable as $$
    select coalesce(
        nullif(current_setting('request.jwt.claims', true), ''),
        nullif(current_setting('request.jwt.claim', true), ''),
        '{}'
    )::jsonb
$$;
create or replace function auth.uid() returns uuid language sql stable as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        auth.jwt() ->> 'sub'
    )::uuid
$$;
create or replace function auth.role() returns text language sql stable as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim.role', true), ''),
        auth.jwt() ->> 'role'
    )::text
$$;
grant execute on function auth.jwt(), auth.uid(), auth.role() to anon, authenticated, service_role;
