-- Exposure is zdm's own record: which tenants zdm turned a flag on or off for (flips and rollbacks), written under
-- the flag's advisory lock that rollbacks also take, so alerts, gates and cleanup can read it whatever the flag
-- backend can answer. And a stop request a pause or an abort leaves for a flip that is running.
create table zdm.flag_exposure (
    flag             text not null,
    tenant           text not null,
    enabled          boolean not null,
    first_enabled_at timestamptz,
    last_enabled_at  timestamptz,
    changed_at       timestamptz not null,
    changed_by       text not null,
    primary key (flag, tenant)
);

alter table zdm.rollouts add column stop_request text;
alter table zdm.rollouts add column stop_requested_at timestamptz;
