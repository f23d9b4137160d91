-- zdm's own state: audit trail, Slack request ledger, rollback records.
create table zdm.audit_log (
    id             bigserial primary key,
    at             timestamptz not null,
    actor          text not null,
    action         text not null,
    subject        text not null,
    outcome        text not null,
    detail         jsonb not null default '{}'::jsonb,
    correlation_id text
);
create index audit_log_subject_idx on zdm.audit_log (subject, at);

create function zdm.refuse_audit_change() returns trigger language plpgsql as $$
begin
    raise exception 'zdm.audit_log is append-only: % is not allowed', tg_op
        using errcode = 'insufficient_privilege';
end;
$$;
create trigger audit_log_append_only
    before update or delete on zdm.audit_log
    for each row execute function zdm.refuse_audit_change();
create trigger audit_log_no_truncate
    before truncate on zdm.audit_log
    for each statement execute function zdm.refuse_audit_change();

-- One row per Slack request we acted on; a retry (X-Slack-Retry-Num) finds its row and is ignored.
create table zdm.slack_requests (
    request_key text primary key,
    kind        text not null,
    received_at timestamptz not null,
    retries     integer not null default 0
);
create index slack_requests_received_idx on zdm.slack_requests (received_at);

create table zdm.rollbacks (
    id              bigserial primary key,
    tenant          text not null,
    flag            text not null,
    requested_by    text not null,
    reason          text not null,
    schema_version  text,
    schema_file     text,
    schema_decision text check (schema_decision in ('apply', 'skip')),
    decided_by      text,
    steps           jsonb not null,
    channel         text,
    message_ts      text,
    correlation_id  text,
    created_at      timestamptz not null,
    finished_at     timestamptz
);
create index rollbacks_tenant_idx on zdm.rollbacks (tenant, created_at);
create index rollbacks_unfinished_idx on zdm.rollbacks (id) where finished_at is null;
