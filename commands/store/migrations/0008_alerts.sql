-- Alert rules' state (one row per rule), their events (append-only history for `/zdm alerts`), and folded job
-- failures (one #release message per distinct failure, its counter updated).
create table zdm.alert_states (
    rule        text primary key,
    doc         jsonb not null,
    updated_at  timestamptz not null
);

create table zdm.alert_events (
    id      bigserial primary key,
    rule    text not null,
    kind    text not null,          -- pending, firing, resolved, no_data
    at      timestamptz not null,
    value   double precision,
    detail  jsonb not null default '{}'
);
create index alert_events_recent on zdm.alert_events (at desc);

create table zdm.job_failures (
    key          text primary key,   -- what + where + error
    channel      text,
    ts           text,
    count        integer not null default 0,
    first_at     timestamptz,
    last_at      timestamptz
);
