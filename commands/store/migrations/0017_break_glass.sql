-- Break-glass requests: a gate skipped once a second person confirmed it (the record is a jsonb document; the
-- status column lets a confirmation claim the row exactly once).
create table zdm.break_glass (
    id           bigserial primary key,
    action       text not null,
    status       text not null check (status in ('awaiting', 'confirmed', 'done', 'failed', 'cancelled')),
    requested_at timestamptz not null,
    doc          jsonb not null
);
