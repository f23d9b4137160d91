-- Runs once, when the compose Postgres volume is created: the demo app's database next to zdm's state database
-- (POSTGRES_DB). `zdm install-demo` then applies the demo app's migrations and seed into it.
create database icupa;
