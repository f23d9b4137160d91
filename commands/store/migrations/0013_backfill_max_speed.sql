-- `/zdm backfill start <env> --max-speed`: the run skips the latency-targeted throttle.
alter table zdm.backfill_runs add column max_speed boolean not null default false;
