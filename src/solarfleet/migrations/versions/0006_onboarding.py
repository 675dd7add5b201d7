"""onboarding: sessions of the Connect UI, per-inverter gateway need, framing origins, German instructions

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24

The German instructions live here, like the catalogue itself in 0002, so that this migration keeps
meaning what it meant when it ran.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INSTRUCTIONS_DE = {
    "Fronius Solar API": (
        "Fronius-Wechselrichter beantworten die Solar API (JSON über HTTP, Version 1) im Heimnetz. Öffnen Sie "
        "in der Weboberfläche des Wechselrichters Kommunikation → Solar API und schalten Sie sie ein; geben Sie "
        "solarfleet dann die lokale IP-Adresse des Wechselrichters. solarfleet liest ihn direkt, wo es diese Adresse "
        "erreicht; sonst leitet ein Gateway im Haus die Messwerte weiter."
    ),
    "SunSpec Modbus TCP": (
        "Der Wechselrichter spricht SunSpec über Modbus TCP (Port 502) im Heimnetz. Schalten Sie Modbus TCP mit "
        "der SunSpec-Registerbelegung im Installateurmenü ein (SMA: Geräteparameter → Modbus-Server; Kostal: "
        "Einstellungen → Modbus/SunSpec (TCP)), erlauben Sie Schreibzugriff für die Batteriesteuerung und geben "
        "Sie solarfleet die lokale IP-Adresse und die Unit-ID. Wo solarfleet die Adresse nicht selbst erreicht, "
        "leitet ein Gateway im Haus den Verkehr weiter."
    ),
    "SolarEdge Monitoring API": (
        "Melden Sie sich bei der SolarEdge-Monitoring-Plattform an, öffnen Sie Admin → Standortzugriff → "
        "API-Zugriff, akzeptieren Sie die Bedingungen und erzeugen Sie einen API-Schlüssel. Geben Sie solarfleet "
        "den API-Schlüssel und die Standort-ID, die auf derselben Seite steht."
    ),
    "Huawei FusionSolar Northbound API": (
        "Bitten Sie Ihren Installateur (den Administrator des FusionSolar-Unternehmenskontos), unter System → "
        "Unternehmensverwaltung → Northbound-Verwaltung ein Northbound-API-Konto für Ihre Anlage anzulegen, und "
        "geben Sie solarfleet diesen Benutzernamen und den Systemcode."
    ),
    "GoodWe SEMS Portal": (
        "Registrieren Sie Ihre Anlage in der SEMS-Portal-App mit der Seriennummer des Wechselrichters und geben "
        "Sie solarfleet die E-Mail-Adresse und das Passwort Ihres SEMS-Portal-Kontos."
    ),
    "Enphase Enlighten API": (
        "Melden Sie sich mit Ihrem Enphase-Enlighten-Konto an, wenn solarfleet Sie zu Enphase weiterleitet, und "
        "erlauben Sie den Zugriff auf die Erzeugungs-, Verbrauchs- und Batteriedaten Ihrer Anlage."
    ),
    "Sungrow iSolarCloud": (
        "Stellen Sie sicher, dass Ihre Anlage in der iSolarCloud-App erscheint, melden Sie sich dann mit Ihrem "
        "iSolarCloud-Konto an, wenn solarfleet Sie zu Sungrow weiterleitet, und erlauben Sie den Zugriff auf die Anlage."
    ),
    "solarfleet simulator": (
        "Ein simulierter Haushalt mit PV-Anlage, Batterie und Verbrauch, für Vorführungen und Tests. "
        "Nichts einzurichten."
    ),
}

# The English texts of 0002 said a gateway always relays local devices; onboarding now reads them directly
# where it can, and marks them as needing a gateway only where it cannot.
LOCAL_INSTRUCTIONS = {
    "Fronius Solar API": (
        "A gateway in the home relays the readings.",
        "solarfleet reads it directly where it can reach that address; where not, a gateway in the home relays "
        "the readings.",
    ),
    "SunSpec Modbus TCP": (
        "A gateway in the home relays the traffic.",
        "Where solarfleet cannot reach the address itself, a gateway in the home relays the traffic.",
    ),
}

cloud_services = sa.table(
    "cloud_services",
    sa.column("name", sa.String()),
    sa.column("instructions", sa.Text()),
    sa.column("instructions_translations", sa.JSON()),
)


def _replace_in_instructions(name: str, old: str, new: str) -> None:
    op.execute(
        cloud_services.update()
        .where(cloud_services.c.name == name)
        .values(instructions=sa.func.replace(cloud_services.c.instructions, old, new))
    )


def upgrade() -> None:
    op.create_table(
        "onboarding_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("inverter_id", sa.Uuid(), nullable=True),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("price_zone", sa.String(length=10), nullable=False),
        sa.Column("is_smart_optimization_active_default", sa.Boolean(), nullable=False),
        sa.Column("building_id", sa.Uuid(), nullable=True),
        sa.Column("device_type", sa.String(length=4), nullable=True),
        sa.Column("success_url", sa.Text(), nullable=True),
        sa.Column("cancel_url", sa.Text(), nullable=True),
        sa.Column("external_metadata", sa.JSON(), nullable=True),
        sa.Column("embedded", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("device_model_id", sa.Uuid(), nullable=True),
        sa.Column("pending_settings_ciphertext", sa.Text(), nullable=True),
        sa.Column("check_error", sa.String(length=40), nullable=True),
        sa.Column("check_detail", sa.Text(), nullable=True),
        sa.Column("check_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["building_id"],
            ["buildings.id"],
            name=op.f("fk_onboarding_sessions_building_id_buildings"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["device_model_id"], ["device_models.id"], name=op.f("fk_onboarding_sessions_device_model_id_device_models")
        ),
        sa.ForeignKeyConstraint(
            ["inverter_id"],
            ["inverters.id"],
            name=op.f("fk_onboarding_sessions_inverter_id_inverters"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_onboarding_sessions_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_onboarding_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_onboarding_sessions")),
    )
    with op.batch_alter_table("onboarding_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_onboarding_sessions_organisation_id"), ["organisation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_onboarding_sessions_user_id"), ["user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_onboarding_sessions_inverter_id"), ["inverter_id"], unique=False)
    with op.batch_alter_table("inverters", schema=None) as batch_op:
        batch_op.add_column(sa.Column("needs_gateway", sa.Boolean(), nullable=True))
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("connect_frame_origins", sa.JSON(), nullable=True))
    with op.batch_alter_table("cloud_services", schema=None) as batch_op:
        batch_op.add_column(sa.Column("instructions_translations", sa.JSON(), nullable=True))
    for name, text in INSTRUCTIONS_DE.items():
        op.execute(
            cloud_services.update().where(cloud_services.c.name == name).values(instructions_translations={"de": text})
        )
    for name, (old, new) in LOCAL_INSTRUCTIONS.items():
        _replace_in_instructions(name, old, new)


def downgrade() -> None:
    for name, (old, new) in LOCAL_INSTRUCTIONS.items():
        _replace_in_instructions(name, new, old)
    with op.batch_alter_table("cloud_services", schema=None) as batch_op:
        batch_op.drop_column("instructions_translations")
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.drop_column("connect_frame_origins")
    with op.batch_alter_table("inverters", schema=None) as batch_op:
        batch_op.drop_column("needs_gateway")
    op.drop_table("onboarding_sessions")
