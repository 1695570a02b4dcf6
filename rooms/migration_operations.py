"""Migration operations that change the log's indexes without locking a live table on PostgreSQL.

A plain ``CREATE INDEX`` on a table of millions of rows blocks every write to it (the recorder's, so every worker's
join and leave) for as long as the build takes; a plain ``DROP INDEX`` waits for every running query on the table
and blocks all others while it waits. On PostgreSQL these operations build and drop ``CONCURRENTLY`` instead
(their migration must say ``atomic = False``); on other databases they are the ordinary operations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import ProjectState


def _is_postgresql(schema_editor: BaseDatabaseSchemaEditor) -> bool:
    return schema_editor.connection.vendor == "postgresql"


def _drop_invalid_index(schema_editor: BaseDatabaseSchemaEditor, name: str) -> None:
    """An interrupted concurrent build leaves an invalid index of that name behind: drop it so the build can run."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_index JOIN pg_class ON pg_class.oid = pg_index.indexrelid "
            "WHERE pg_class.relname = %s AND NOT pg_index.indisvalid",
            [name],
        )
        if cursor.fetchone():
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(name)}")


def _change_index(
    operation: migrations.AddIndex | migrations.RemoveIndex,
    schema_editor: BaseDatabaseSchemaEditor,
    state: ProjectState,
    app_label: str,
    index: Any,
    create: bool,
) -> None:
    """Build (``create``) or drop an index concurrently on PostgreSQL, on the model as it is in ``state``."""
    model = state.apps.get_model(app_label, operation.model_name)
    if not operation.allow_migrate_model(schema_editor.connection.alias, model):
        return
    if create:
        _drop_invalid_index(schema_editor, index.name)
        schema_editor.add_index(model, index, concurrently=True)  # type: ignore[call-arg]
    else:
        schema_editor.remove_index(model, index, concurrently=True)  # type: ignore[call-arg]


class AddIndexConcurrently(migrations.AddIndex):
    """``AddIndex`` that lets writes go on while PostgreSQL builds the index."""

    def database_forwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: ProjectState
    ) -> None:
        if _is_postgresql(schema_editor):
            _change_index(self, schema_editor, to_state, app_label, self.index, create=True)
        else:
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: ProjectState
    ) -> None:
        if _is_postgresql(schema_editor):
            _change_index(self, schema_editor, from_state, app_label, self.index, create=False)
        else:
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class RemoveIndexConcurrently(migrations.RemoveIndex):
    """``RemoveIndex`` that does not block the table's queries on PostgreSQL."""

    def database_forwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: ProjectState
    ) -> None:
        if _is_postgresql(schema_editor):
            index = from_state.models[app_label, self.model_name_lower].get_index_by_name(self.name)
            _change_index(self, schema_editor, from_state, app_label, index, create=False)
        else:
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: ProjectState
    ) -> None:
        if _is_postgresql(schema_editor):
            index = to_state.models[app_label, self.model_name_lower].get_index_by_name(self.name)
            _change_index(self, schema_editor, to_state, app_label, index, create=True)
        else:
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class DropFieldIndexConcurrently(migrations.AlterField):
    """``AlterField`` to ``db_index=False`` (a composite index now serves the column): on PostgreSQL, drops the
    column's own indexes (the plain one and Django's ``_like`` one) concurrently; elsewhere an ordinary AlterField."""

    def database_forwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: ProjectState
    ) -> None:
        if not _is_postgresql(schema_editor):
            super().database_forwards(app_label, schema_editor, from_state, to_state)
            return
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        column = model._meta.get_field(self.name).column
        table = model._meta.db_table
        with schema_editor.connection.cursor() as cursor:
            # Typed per django-stubs release (dicts of Any, or of a TypedDict): read as plain mappings.
            constraints: Mapping[str, Mapping[str, Any]] = schema_editor.connection.introspection.get_constraints(
                cursor, table
            )
        for name, constraint in sorted(constraints.items()):
            if (
                constraint["index"]
                and not constraint["unique"]
                and not constraint["primary_key"]
                and constraint["columns"] == [column]
            ):
                schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(name)}")
