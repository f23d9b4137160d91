-- Schema deploys: approvals bound to a plan hash, and what was applied.
create table zdm.schema_deploys (
    id          bigserial primary key,
    env         text not null,
    status      text not null check (status in ('awaiting', 'applying', 'applied', 'failed', 'void')),
    requested_at timestamptz not null,
    doc         jsonb not null
);
-- One deploy awaiting approval or applying per environment.
create unique index schema_deploys_one_active on zdm.schema_deploys (env) where status in ('awaiting', 'applying');
