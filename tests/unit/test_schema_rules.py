"""Schema stage rules without a database: the additive-first lint, squawk's report, approvals bound to a plan
hash, the release issue's section, argument parsing and the migration scaffold."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from commands.errors import StalePrompt, UsageError, UserError
from commands.schema.args import parse_schema_args
from commands.schema.history import list_migrations
from commands.schema.layout import find_rollback, layout_findings, move_rollbacks
from commands.schema.lint import additive_findings, squawk_findings
from commands.schema.model import Deploy, DeployStatus, approve, out_of_order, plan_hash
from commands.schema.release_record import upsert_entry
from commands.schema.scaffold import new_migration

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def migration(folder: Path, name: str, sql: str) -> Path:
    path = folder / name
    path.write_text(sql, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("statement", "what"),
    [
        ("drop table public.orders;", "drops a table"),
        ("DROP VIEW IF EXISTS public.legacy_tenants;", "drops a view"),
        ("drop materialized view public.mv;", "drops a materialized view"),
        ("alter table public.tenants drop column contact_email;", "drops a column"),
        ("alter table public.tenants drop contact_email;", "drops a column"),
        ("alter table public.orders alter column total_cents type bigint;", "changes a column type"),
        ("alter table public.orders alter total_cents set data type bigint;", "changes a column type"),
        ("truncate public.orders;", "empties a table"),
        ("drop schema legacy cascade;", "drops a schema"),
        # the regex lint's bypasses (issue 16), each reported "✅ additive only" before
        ("delete from public.tenants;", "deletes every row"),
        ("update public.tenants set tier = 'ga';", "updates every row"),
        ("alter schema legacy rename to archive;", "renames"),
        ("alter table public.tenants rename column slug to handle;", "renames"),
        ("alter table public.tenants rename to clients;", "renames"),
        ("alter table public.tenant_profiles set schema archive;", "set schema"),
        ("alter function public.run_tenant_backfill(integer, integer) set schema archive;", "set schema"),
        ("drop function sp_restore_legacy_tenant_views();", "drops a function"),
        ('alter table public.tenants drop "contact_email";', "drops a column"),
        ('alter table "public"."tenants" drop column "Contact Email";', "drops a column"),
        ("alter table public.tenants drop constraint tenants_pkey;", "drops a constraint"),
        ("drop index if exists orders_tenant_created_idx;", "drops an index"),
        ("alter table public.orders alter column total_cents drop not null;", "drops a not-null constraint"),
        ("alter table public.orders alter column created_at drop default;", "drops a column default"),
        ("drop trigger orders_audit on public.orders;", "drops a trigger"),
        ("drop policy tenant_read on public.tenants;", "drops a policy"),
        ("drop type public.tier;", "drops a type"),
        ("drop sequence public.orders_id_seq;", "drops a sequence"),
        ("revoke select on public.tenants from anon;", "revokes privileges"),
    ],
)
def test_destructive_statements_are_named_with_file_and_line(tmp_path: Path, statement: str, what: str) -> None:
    migration(tmp_path, "20260101000000_change.sql", f"-- header\ncreate table public.t (id int);\n\n{statement}\n")
    [found] = additive_findings(list_migrations(tmp_path)[0])
    assert (found.file, found.line, found.blocking, found.source) == ("20260101000000_change.sql", 4, True, "zdm")
    assert what in found.message and "follow-up" in found.message and "_rollback.sql" in found.message
    assert found.statement == statement.rstrip(";")


@pytest.mark.parametrize(
    "statement",
    [
        "do $$ begin execute 'alter table public.orders drop column total_eur'; end $$;",
        "DO LANGUAGE plpgsql $body$ begin perform 1; end $body$;",
        "execute drop_things;",
        "call public.cleanup_everything();",
    ],
)
def test_sql_the_parser_cannot_see_through_needs_review(tmp_path: Path, statement: str) -> None:
    migration(tmp_path, "20260101000000_dyn.sql", f"create table public.t (id int);\n{statement}\n")
    [found] = additive_findings(list_migrations(tmp_path)[0])
    assert (found.line, found.rule, found.review, found.blocking) == (2, "needs-review", True, False)
    assert found.message.startswith("needs review:") and "approvers acknowledge it" in found.message
    assert found.statement == statement.rstrip(";")


def test_the_line_is_where_the_destructive_words_are_and_comments_are_never_quoted(tmp_path: Path) -> None:
    migration(tmp_path, "20260101000000_x.sql", "alter table public.tenants\n  add column a text,\n  drop column b;\n")
    assert [f.line for f in additive_findings(list_migrations(tmp_path)[0])] == [3]
    forward, _ = new_migration(tmp_path / "m", "drop it", rollbacks=tmp_path / "r", now=NOW)
    with forward.open("a", encoding="utf-8") as out:  # `zdm schema new`'s comment header, then the statement
        out.write("alter table public.tenants -- the old column\n  drop column /* really */ contact_email;\n")
    [found] = additive_findings(list_migrations(tmp_path / "m")[0])
    assert found.statement == "alter table public.tenants drop column contact_email"
    assert found.line == forward.read_text().splitlines().index("  drop column /* really */ contact_email;") + 1


def test_a_file_the_parser_cannot_read_blocks_with_its_line(tmp_path: Path) -> None:
    migration(tmp_path, "20260101000000_bad.sql", "create table public.t (id int);\nalter tabel public.t add x int;\n")
    [found] = additive_findings(list_migrations(tmp_path)[0])
    assert (found.line, found.rule, found.blocking) == (2, "parse-error", True)
    assert "syntax error" in found.message


def test_the_lint_reads_the_statements_zdm_applies_even_where_its_splitter_and_the_parser_disagree(
    tmp_path: Path,
) -> None:
    # to Postgres this is one harmless select; zdm's splitter (no backslash escapes) would run a drop in between
    migration(tmp_path, "20260101000000_e.sql", "select E'\\'; drop table public.orders; --';\n")
    found = additive_findings(list_migrations(tmp_path)[0])
    assert [(f.rule, f.blocking) for f in found] == [("parse-error", True), ("additive-only", True)]
    assert found[1].statement == "drop table public.orders"


def test_additive_and_harmless_statements_pass(tmp_path: Path) -> None:
    migration(
        tmp_path,
        "20260101000000_ok.sql",
        """
-- drop table in a comment; truncate too
/* delete from public.tenants; */
alter table public.orders add column if not exists total_eur numeric(12, 2);
alter table public.orders alter column status set default 'new';
create index if not exists orders_total_idx on public.orders (total_eur);
create or replace function f() returns void language plpgsql as $$ begin drop table x; end $$;
insert into public.notes (text) values ('please drop table users; rename later');
create or replace view public.v as select 1 as renamed;
delete from public.sessions where expires_at < now();
update public.tenants set tier = 'ga' where slug = 'acme';
alter table public.tenant_profiles enable row level security;
create policy member_read on public.tenant_profiles for select to authenticated using (auth.uid() is not null);
grant select on public.tenant_profiles to authenticated;
""",
    )
    assert additive_findings(list_migrations(tmp_path)[0]) == []


def test_squawk_report_lines_are_one_based_and_blocking_rules_block() -> None:
    report = json.dumps(
        [
            {
                "file": "/m/1_a.sql",
                "line": 0,
                "rule_name": "adding-required-field",
                "message": "Required.",
                "help": "Do X.",
            },
            {"file": "/m/1_a.sql", "line": 4, "rule_name": "prefer-bigint-over-int", "message": "Use bigint."},
        ]
    )
    found = squawk_findings(report, names={"/m/1_a.sql": "1_a.sql"}, blocking=("adding-required-field",))
    assert [(f.where, f.rule, f.blocking) for f in found] == [
        ("1_a.sql:1", "adding-required-field", True),
        ("1_a.sql:5", "prefer-bigint-over-int", False),
    ]
    assert found[0].message == "Required. Do X."
    with pytest.raises(ValueError, match="not its JSON report"):
        squawk_findings("error: oops", names={}, blocking=())


def deploy(**changes: object) -> Deploy:
    base = Deploy(id=7, env="preview", plan_hash="abc", files=("1_a.sql",), requester="U0REQ", requested_at=NOW)
    return Deploy(**{**base.__dict__, **changes})


def test_approval_needs_a_dba_and_a_platform_lead_who_are_two_other_people() -> None:
    d = deploy()
    with pytest.raises(UserError, match="You requested schema deploy #7"):
        approve(d, user="U0REQ", roles={"dba", "platform_lead"}, current_hash="abc", now=NOW)
    with pytest.raises(UserError, match="needs approval from `dba` or `platform_lead`, and you are not"):
        approve(d, user="U0GUEST", roles=set(), current_hash="abc", now=NOW)
    d = approve(d, user="U0BOTH", roles={"dba", "platform_lead"}, current_hash="abc", now=NOW)
    assert [(a.role, a.user) for a in d.approvals] == [("dba", "U0BOTH")] and not d.approved
    with pytest.raises(UserError, match="already approved"):
        approve(d, user="U0BOTH", roles={"dba", "platform_lead"}, current_hash="abc", now=NOW)
    with pytest.raises(UserError, match="needs approval from `platform_lead`"):
        approve(d, user="U0DBA2", roles={"dba"}, current_hash="abc", now=NOW)
    d = approve(d, user="U0LEAD", roles={"platform_lead"}, current_hash="abc", now=NOW)
    assert d.approved and [a.role for a in d.approvals] == ["dba", "platform_lead"]


def test_a_changed_file_or_a_finished_deploy_makes_the_button_stale() -> None:
    with pytest.raises(StalePrompt, match="migration files changed"):
        approve(deploy(), user="U0DBA", roles={"dba"}, current_hash="def", now=NOW)
    with pytest.raises(StalePrompt, match="is void: cancelled"):
        approve(
            deploy(status=DeployStatus.VOID, error="cancelled"),
            user="U0DBA",
            roles={"dba"},
            current_hash="abc",
            now=NOW,
        )


def test_plan_hash_changes_with_any_byte_of_any_file_and_the_order_rule(tmp_path: Path) -> None:
    a = migration(tmp_path, "20260101000000_a.sql", "create table a (id int);")
    migration(tmp_path, "20260102000000_b.sql", "create table b (id int);")
    migration(tmp_path, "20260102000000_b_rollback.sql", "drop table b;")
    files = list_migrations(tmp_path)
    assert [m.file_name for m in files] == ["20260101000000_a.sql", "20260102000000_b.sql"]
    before = plan_hash("preview", files)
    assert plan_hash("staging", files) != before
    a.write_text("create table a (id bigint);")
    assert plan_hash("preview", list_migrations(tmp_path)) != before
    assert [m.version for m in out_of_order(files, {"20260101500000"})] == ["20260101000000"]
    assert out_of_order(files, set()) == ()


def test_the_db_changes_section_gets_one_line_per_deploy_and_keeps_other_text() -> None:
    body = "## Summary\nShip profiles.\n\n## DB Changes\n\n- none yet\n\n## Rollout\nTBD by people\n"
    once = upsert_entry(body, section="DB Changes", marker="d-1", entry="`preview`: `1`")
    expected = "## DB Changes\n\n- `preview`: `1` <!-- zdm:d-1 -->\n\n## Rollout\nTBD by people\n"
    assert once == "## Summary\nShip profiles.\n\n" + expected
    assert upsert_entry(once, section="DB Changes", marker="d-1", entry="`preview`: `1`") == once
    twice = upsert_entry(once, section="DB Changes", marker="d-2", entry="`staging`: `1`")
    assert twice.count("<!-- zdm:") == 2 and twice.index("d-1") < twice.index("d-2") < twice.index("## Rollout")
    changed = upsert_entry(twice, section="DB Changes", marker="d-1", entry="`preview`: `1`, `2`")
    assert changed.count("d-1") == 1 and "`preview`: `1`, `2`" in changed
    fresh = upsert_entry("Body by a person.", section="DB Changes", marker="d-1", entry="x")
    assert fresh == "Body by a person.\n\n## DB Changes\n\n- x <!-- zdm:d-1 -->\n"
    assert upsert_entry("", section="DB Changes", marker="m", entry="x") == "## DB Changes\n\n- x <!-- zdm:m -->\n"


def test_arguments_parse_and_mistakes_say_how() -> None:
    assert parse_schema_args("deploy preview --include-all --release #12") == parse_schema_args(
        "deploy --release 12 preview --include-all"
    )
    request = parse_schema_args("deploy preview --release 12")
    assert (request.action, request.env, request.release, request.include_all) == ("deploy", "preview", 12, False)
    assert parse_schema_args("status #4").deploy_id == 4
    for bad in ("", "destroy preview", "plan preview staging"):
        with pytest.raises(UsageError, match="/zdm schema plan <env>"):
            parse_schema_args(bad)
    with pytest.raises(UsageError, match=r"`--release` needs the release issue number, e\.g\. `--release 42`"):
        parse_schema_args("deploy preview --release")
    with pytest.raises(UsageError, match="`--release` does not apply to `/zdm schema status`"):
        parse_schema_args("status --release 4")


def test_schema_new_creates_a_timestamped_pair_and_never_overwrites(tmp_path: Path) -> None:
    rollbacks = tmp_path / "rollbacks"
    forward, rollback = new_migration(tmp_path / "migrations", "Add orders.total EUR!", rollbacks=rollbacks, now=NOW)
    assert forward == tmp_path / "migrations" / "20261125090000_add_orders_total_eur.sql"
    assert rollback == rollbacks / "20261125090000_add_orders_total_eur_rollback.sql"
    assert "Additive first" in forward.read_text() and forward.name in rollback.read_text()
    with pytest.raises(UsageError, match="already exists"):
        new_migration(tmp_path / "migrations", "another", rollbacks=rollbacks, now=NOW)
    forward.unlink()  # the version is still taken by the pair
    with pytest.raises(UsageError, match="already exists"):
        new_migration(tmp_path / "migrations", "another", rollbacks=rollbacks, now=NOW)
    with pytest.raises(UsageError, match="summary"):
        new_migration(tmp_path / "migrations", "!!!", rollbacks=rollbacks, now=NOW)


def test_files_the_supabase_cli_would_push_but_zdm_would_not_are_blocking_and_move_rollbacks_moves_pairs(
    tmp_path: Path,
) -> None:
    migrations, rollbacks = tmp_path / "migrations", tmp_path / "rollbacks"
    migrations.mkdir()
    migration(migrations, "20260101000000_a.sql", "create table a (id int);")
    migration(migrations, "20260101000000_a_rollback.sql", "drop table a;")
    migration(migrations, "20260102000000_.sql", "select 1;")  # the CLI's pattern allows an empty name, zdm's not
    migration(migrations, "notes.sql", "select 1;")  # neither pushes this one
    found = layout_findings(migrations, rollbacks_dir=Path("supabase/rollbacks"))
    assert [(f.file, f.rule, f.blocking) for f in found] == [
        ("20260101000000_a_rollback.sql", "cli-would-apply", True),
        ("20260102000000_.sql", "cli-would-apply", True),
    ]
    assert "apply this rollback forward as migration 20260101000000" in found[0].message
    assert "`zdm schema move-rollbacks`" in found[0].message and "rename it" in found[1].message

    rollbacks.mkdir()
    migration(rollbacks, "20260101000000_a_rollback.sql", "drop table a;")  # the same bytes: not a conflict
    assert [target.name for _, target in move_rollbacks(migrations, rollbacks)] == ["20260101000000_a_rollback.sql"]
    assert not (migrations / "20260101000000_a_rollback.sql").exists()
    assert find_rollback("20260101000000", rollbacks=rollbacks, migrations=migrations) == (
        rollbacks / "20260101000000_a_rollback.sql"
    )
    assert find_rollback("20260102000000", rollbacks=rollbacks, migrations=migrations) is None
