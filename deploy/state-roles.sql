-- zdm's state database roles: the audit log is tamper-proof against the role the bot runs as.
--
-- Run once as a superuser in zdm's state database (again after upgrading zdm is harmless):
--   psql "postgresql://postgres@host/zdm_state" -f deploy/state-roles.sql
-- then give both roles a password (\password zdm_owner, \password zdm_runtime) and start zdm with
--   ZDM_STATE_OWNER_DATABASE_URL=postgresql://zdm_owner:…@host/zdm_state    the migrator, at start-up only
--   ZDM_STATE_DATABASE_URL=postgresql://zdm_runtime:…@host/zdm_state        everything else the bot does
--
-- zdm_owner owns schema zdm, its tables, sequences, functions and the audit log's triggers. At every start zdm,
-- connected as zdm_owner, applies its migrations and grants zdm_runtime what the bot needs
-- (commands/store/grants.py): SELECT/INSERT/UPDATE/DELETE on its working tables, only INSERT and SELECT on
-- zdm.audit_log, SELECT on zdm.schema_version, and the same through default privileges for tables later migrations
-- create. zdm_runtime owns nothing, so it cannot disable the audit log's triggers, alter, truncate or drop it.
-- With only ZDM_STATE_DATABASE_URL set, zdm serve warns at start-up that the audit log is not tamper-proof.

do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'zdm_owner') then
        create role zdm_owner login;
    end if;
    if not exists (select 1 from pg_roles where rolname = 'zdm_runtime') then
        create role zdm_runtime login;
    end if;
end
$$;
alter role zdm_owner nosuperuser nocreaterole nobypassrls;
alter role zdm_runtime nosuperuser nocreatedb nocreaterole nobypassrls;

create schema if not exists zdm authorization zdm_owner;
alter schema zdm owner to zdm_owner;
revoke all on schema zdm from public;

-- An installation that ran zdm as a single role: hand everything in schema zdm to zdm_owner.
do $$
declare
    item record;
begin
    for item in
        select format('alter table %I.%I owner to zdm_owner', n.nspname, c.relname) as ddl
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'zdm' and c.relkind in ('r', 'p', 'v', 'm')
            and c.relowner <> 'zdm_owner'::regrole
        union all
        select format('alter sequence %I.%I owner to zdm_owner', n.nspname, c.relname)
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'zdm' and c.relkind = 'S' and c.relowner <> 'zdm_owner'::regrole
            and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype in ('a', 'i'))
        union all
        select format('alter function %s owner to zdm_owner', p.oid::regprocedure)
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = 'zdm' and p.proowner <> 'zdm_owner'::regrole
    loop
        execute item.ddl;
    end loop;
end
$$;
