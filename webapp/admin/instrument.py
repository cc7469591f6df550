"""Instrument health for admins: Cronbach's alpha per theme and quarter, and the item bank."""

from __future__ import annotations

from itertools import groupby

from flask import current_app, render_template
from sqlalchemy import select

from pulse.instrument import THEME_LABELS
from pulse.organisation.service import threshold
from pulse.reporting.instrument_health import ALPHA_FLOOR, ALPHA_TARGET, theme_reliability
from pulse.surveys.models import Item
from webapp.admin.views import blueprint
from webapp.auth.access import admin_required
from webapp.extensions import db


@blueprint.route("/instrument")
@admin_required
def instrument() -> str:
    k = threshold(db.session, default=current_app.config["PULSE"].threshold)
    items = db.session.scalars(select(Item).order_by(Item.theme, Item.code, Item.version))
    bank = [(code, list(versions)) for code, versions in groupby(items, key=lambda i: i.code)]
    return render_template(
        "admin/instrument.html",
        reliability=theme_reliability(db.session, min_responses=max(k, 10)),
        bank=bank,
        labels=THEME_LABELS,
        target=ALPHA_TARGET,
        floor=ALPHA_FLOOR,
    )
