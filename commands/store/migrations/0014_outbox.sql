-- Durable first, delivered second: what zdm writes outside its own database (rollback-log entries, release notes)
-- is stored here when it happens and delivered by the outbox job (local folder, or commits + one pull request).
-- Every entry carries a globally unique marker, so a second state database (or a fresh `.zdm`) writing the same
-- repository never mistakes its entry for an older one.
alter table zdm.rollbacks add column uid uuid not null default gen_random_uuid();
create unique index rollbacks_uid_idx on zdm.rollbacks (uid);
update zdm.rollouts set doc = doc || jsonb_build_object('uid', gen_random_uuid()::text) where not (doc ? 'uid');

create table zdm.outbox (
    id              uuid primary key default gen_random_uuid(),
    marker          text not null unique,      -- written into the file; "already delivered" means this is there
    path            text not null,             -- file in the repository, relative to its root
    title           text not null,             -- one line for `/zdm log` and the commit message
    body            text not null,
    block           text,                      -- null: append once; else the marked block it replaces
    heading         text,                      -- where a new block goes
    subject         text,                      -- e.g. rollback:12, told when the entry is delivered
    created_at      timestamptz not null,
    attempts        integer not null default 0,
    next_attempt_at timestamptz not null,
    delivered_at    timestamptz,
    delivered_to    text,
    last_error      text
);
create index outbox_due_idx on zdm.outbox (next_attempt_at) where delivered_at is null;
create index outbox_created_idx on zdm.outbox (created_at);
