-- Runs once, when the compose Postgres volume is created, after state-roles.sql: the demo passwords of zdm's state
-- roles (compose.yaml's URLs use them). Anywhere but a local trial, set your own: \password zdm_owner, zdm_runtime.
alter role zdm_owner password 'zdm-owner-demo-only';
alter role zdm_runtime password 'zdm-runtime-demo-only';
