-- Lighthouse runs (runbook §5): each ingested report's category scores, where it was archived, and the drops
-- that opened (or found) an incident ticket.
create table zdm.lighthouse_runs (
    id           bigserial primary key,
    page         text not null,
    fetched_at   timestamptz not null,
    scores       jsonb not null,          -- category id → points 0–100 (null when Lighthouse could not score it)
    titles       jsonb not null,          -- category id → its title in the report
    version      text not null,
    archive_path text not null,           -- relative to app.root
    sha256       text not null,
    ingested_at  timestamptz not null,
    unique (page, fetched_at)
);
create index lighthouse_runs_page_time on zdm.lighthouse_runs (page, fetched_at desc);

create table zdm.lighthouse_drops (
    run_id      bigint not null references zdm.lighthouse_runs (id),
    category    text not null,
    baseline    numeric not null,
    score       numeric not null,
    ticket_url  text not null,
    opened      boolean not null,         -- false: an open ticket for this page and category already existed
    primary key (run_id, category)
);
