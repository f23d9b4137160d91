-- Fencing: every cross-process lock is a lease row. A new holder bumps `epoch`; every state write of a holder runs
-- in a transaction that locks its lease row FOR SHARE and checks the epoch, so a worker that lost its lease fails
-- to write instead of writing late. A lease nobody renews expires (its holder died) and can be taken over.
create table zdm.leases (
    name       text primary key,
    epoch      bigint not null,
    holder     text,
    expires_at timestamptz not null
);

-- Schema rollback: the file is pinned by its hash at request time; the decision may be "turn the flag off for
-- every tenant, then apply".
alter table zdm.rollbacks add column schema_sha256 text;
alter table zdm.rollbacks add column schema_flag_off_all boolean not null default false;
