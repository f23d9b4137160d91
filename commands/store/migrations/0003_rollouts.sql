-- Flag rollouts: one row per rollout; the plan, steps and history live in `doc` (written only under the
-- rollout's advisory lock), the columns the scheduler filters on are kept beside it.
create table zdm.rollouts (
    id          bigserial primary key,
    flag        text not null,
    status      text not null check (status in ('running', 'paused', 'done', 'aborted', 'denied')),
    started_at  timestamptz not null,
    wake_at     timestamptz,
    doc         jsonb not null
);
-- One active rollout per flag: two people starting the same rollout get one, and a clear refusal.
create unique index rollouts_one_active_per_flag on zdm.rollouts (flag) where status in ('running', 'paused');
create index rollouts_wake_idx on zdm.rollouts (wake_at) where status = 'running';

-- `/zdm rollout include <slug>`: a tenant rolled back after its latest include is held out of later steps.
create table zdm.rollout_includes (
    id          bigserial primary key,
    flag        text not null,
    tenant      text not null,
    included_by text not null,
    included_at timestamptz not null
);
create index rollout_includes_idx on zdm.rollout_includes (flag, tenant, included_at);
create index rollbacks_flag_tenant_idx on zdm.rollbacks (flag, tenant, created_at);
