-- Backfill runs. Their checkpoints live in the target database (zdm_backfill.checkpoints), next to the rows they
-- describe, so each batch and its checkpoint commit together.
create table zdm.backfill_runs (
    id          bigserial primary key,
    job         text not null,
    env         text not null,
    status      text not null check (status in ('running', 'paused', 'cancelled', 'verified', 'failed')),
    started_by  text not null,
    created_at  timestamptz not null,
    runtime_s   double precision not null default 0,
    resumed_at  timestamptz,
    reason      text,
    batch_size  integer,
    total       bigint,
    base_done   bigint not null default 0,  -- progress when the current stretch (start, resume, window opening)
    base_failed bigint not null default 0,  -- began: the abort rules judge what happened since then
    stretch_since timestamptz,
    channel     text,
    message_ts  text
);
-- One active run per job and environment.
create unique index backfill_runs_one_active on zdm.backfill_runs (job, env) where status in ('running', 'paused');
