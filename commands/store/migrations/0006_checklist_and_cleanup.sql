-- Runbook §1 and §7. Checklist ticks: one row per tick or untick (who and when); the latest row per item is its
-- state, earlier rows are its history.
create table zdm.checklist_ticks (
    id       bigserial primary key,
    release  text not null,
    item     text not null,
    ticked   boolean not null,
    actor    text not null,
    at       timestamptz not null
);
create index checklist_ticks_item_idx on zdm.checklist_ticks (release, item, id);

-- Destructive cleanup requests: approvals bound to the hash of the cleanup migration and its rollback pair.
create table zdm.cleanups (
    id           bigserial primary key,
    release      text not null,
    status       text not null check (status in ('awaiting', 'approved', 'void')),
    requested_at timestamptz not null,
    doc          jsonb not null
);
create unique index cleanups_one_awaiting on zdm.cleanups (release) where status = 'awaiting';
