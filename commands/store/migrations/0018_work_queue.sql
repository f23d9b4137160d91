-- One queue per target database: schema deploys, backfills and schema rollbacks run one at a time (issue 19).
-- One row per queued item, shared by every replica; the partial unique index allows one running item per database.
create table zdm.work_queue (
    id           bigserial primary key,
    database     text not null,
    env          text not null,
    kind         text not null check (kind in ('schema rollback', 'schema deploy', 'backfill')),
    requester    text not null,
    requested_at timestamptz not null,
    args         text not null default '',
    status       text not null check (status in ('queued', 'running', 'done', 'cancelled')),
    ref          bigint,
    started_at   timestamptz,
    finished_at  timestamptz,
    reason       text,
    channel      text,
    message_ts   text
);
create unique index work_queue_one_running on zdm.work_queue (database) where status = 'running';
create index work_queue_active on zdm.work_queue (database, id) where status in ('queued', 'running');
