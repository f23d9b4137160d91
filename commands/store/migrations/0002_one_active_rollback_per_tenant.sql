-- Two on-call people rolling back the same tenant at once would run every step twice: one active rollback per tenant.
create unique index rollbacks_one_active_per_tenant on zdm.rollbacks (tenant) where finished_at is null;
