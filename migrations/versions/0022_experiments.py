"""Experiments: metrics declared once per tenant, experiments with weighted variants, each exposed
actor's first variant and metric values, and the per-variant, per-exposure-day aggregates the
results read (analytics.experiments).

Revision ID: 0022_experiments
Revises: 0021_erasure
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

from migrations.rls import tenant_table

revision = "0022_experiments"
down_revision = "0021_erasure"
branch_labels = None
depends_on = None

TABLES = ("experiment_metrics", "experiments", "experiment_actors", "experiment_actor_values",
          "experiment_variant_days")


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE experiment_metrics (
            tenant_id bigint NOT NULL,
            key text NOT NULL,
            description text,
            kind text NOT NULL CHECK (kind IN ('CONVERSION', 'COUNT', 'SUM')),
            matcher jsonb NOT NULL,
            property text,
            window_hours integer,
            higher_is_better boolean NOT NULL DEFAULT true,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, key)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE experiments (
            tenant_id bigint NOT NULL,
            key text NOT NULL,
            description text,
            salt text NOT NULL,
            variants jsonb NOT NULL,
            primary_metric text NOT NULL,
            secondary_metrics text[] NOT NULL DEFAULT '{}',
            guardrail_metrics text[] NOT NULL DEFAULT '{}',
            segment text,
            status text NOT NULL CHECK (status IN ('DRAFT', 'RUNNING', 'STOPPED')),
            sequential boolean NOT NULL DEFAULT false,
            min_actors integer NOT NULL DEFAULT 100,
            min_conversions integer NOT NULL DEFAULT 10,
            planned_start timestamptz,
            planned_stop timestamptz,
            started_at timestamptz,
            stopped_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, key)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE experiment_actors (
            tenant_id bigint NOT NULL,
            experiment text NOT NULL,
            actor text NOT NULL,
            variant text NOT NULL,
            exposed_at timestamptz NOT NULL,
            day date NOT NULL,
            bot boolean NOT NULL,
            multiple boolean NOT NULL DEFAULT false,
            PRIMARY KEY (tenant_id, experiment, actor)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE experiment_actor_values (
            tenant_id bigint NOT NULL,
            experiment text NOT NULL,
            metric text NOT NULL,
            actor text NOT NULL,
            value double precision NOT NULL,
            PRIMARY KEY (tenant_id, experiment, metric, actor)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE experiment_variant_days (
            tenant_id bigint NOT NULL,
            experiment text NOT NULL,
            variant text NOT NULL,
            metric text NOT NULL,
            day date NOT NULL,
            bot boolean NOT NULL,
            actors bigint NOT NULL DEFAULT 0,
            multiple bigint NOT NULL DEFAULT 0,
            conversions bigint NOT NULL DEFAULT 0,
            total double precision NOT NULL DEFAULT 0,
            total_sq double precision NOT NULL DEFAULT 0,
            PRIMARY KEY (tenant_id, experiment, metric, variant, day, bot)
        )
        """
    )
    for table in TABLES:
        tenant_table(table)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.execute(f"DROP TABLE {table}")
