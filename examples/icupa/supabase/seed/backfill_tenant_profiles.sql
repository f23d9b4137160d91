-- Backfill for release tenant-profiles (runbook §3): copies display name and contact email into tenant_profiles.
-- zdm runs it as the keyset job `tenant_profiles` from zdm.toml; this file is the reviewed script of the PR.
select run_tenant_backfill(batch_size => 500, sleep_ms => 200);
