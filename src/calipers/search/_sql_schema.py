"""SqlStorage's schema and prepared statements (SQLAlchemy Core).

Tables: ``studies`` (one row per study, with the change-sequence counter and the next
trial number), ``trials`` (one row per trial, stamped with the sequence number of its
last change), ``trial_values`` (intermediate values) and ``trial_user_attrs``. The
statements are built once at import and bound per call.

Columns added after the first release are nullable and listed in ``_ADDED``:
:func:`create_schema` adds them to an older database when it is opened, and versions
that do not know them go on working with it (they name the columns they use).
"""

from __future__ import annotations

import sqlalchemy as sa

meta = sa.MetaData()
studies = sa.Table(
    "calipers_studies",
    meta,
    sa.Column("study_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("study_name", sa.String(512), nullable=False, unique=True),
    sa.Column("direction", sa.String(16), nullable=False),
    sa.Column("space", sa.Text, nullable=False),
    sa.Column("searcher", sa.Text, nullable=False),
    sa.Column("next_number", sa.Integer, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("created", sa.Double, nullable=False),
)
trials = sa.Table(
    "calipers_trials",
    meta,
    sa.Column("trial_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "study_id",
        sa.Integer,
        sa.ForeignKey("calipers_studies.study_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("params", sa.Text),
    sa.Column("value", sa.Double),
    sa.Column("start", sa.Double),
    sa.Column("complete", sa.Double),
    sa.Column("heartbeat", sa.Double),
    sa.Column("fail_reason", sa.Text),
    sa.Column("retries", sa.Integer, nullable=False, default=0),
    sa.Column("seq", sa.BigInteger, nullable=False),
    # the process running a RUNNING trial (calipers.search._owner.Owner.text), so that
    # a dead one on this machine is found at once; NULL for trials of older versions
    sa.Column("owner", sa.Text),
    sa.UniqueConstraint("study_id", "number", name="uq_calipers_trials_study_number"),
    # (study_id, state) indexes, partial where supported: they hold only the few
    # RUNNING (stale check) or WAITING (enqueued) trials, so finishing a trial does not
    # rewrite index pages that grow with the study.
    sa.Index(
        "ix_calipers_trials_study_running",
        "study_id",
        "state",
        "heartbeat",
        sqlite_where=sa.text("state = 'RUNNING'"),
        postgresql_where=sa.text("state = 'RUNNING'"),
    ),
    sa.Index(
        "ix_calipers_trials_study_waiting",
        "study_id",
        "state",
        "number",
        sqlite_where=sa.text("state = 'WAITING'"),
        postgresql_where=sa.text("state = 'WAITING'"),
    ),
    sa.Index("ix_calipers_trials_study_seq", "study_id", "seq"),
)
values_t = sa.Table(
    "calipers_trial_values",
    meta,
    sa.Column(
        "trial_id",
        sa.Integer,
        sa.ForeignKey("calipers_trials.trial_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("step", sa.Integer, primary_key=True),
    sa.Column("value", sa.Double),
)
attrs_t = sa.Table(
    "calipers_trial_user_attrs",
    meta,
    sa.Column(
        "trial_id",
        sa.Integer,
        sa.ForeignKey("calipers_trials.trial_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("key", sa.String(512), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

#: (table, column) pairs added after the first release, in the order they were added.
_ADDED = ((trials, "owner"),)


def create_schema(conn: sa.Connection) -> None:
    """Create the missing tables, and add to older tables the columns in ``_ADDED``."""
    meta.create_all(conn)
    inspector = sa.inspect(conn)
    for table, name in _ADDED:
        if name in {c["name"] for c in inspector.get_columns(table.name)}:
            continue
        quote = conn.dialect.identifier_preparer.quote
        kind = table.c[name].type.compile(dialect=conn.dialect)
        conn.execute(sa.text(f"ALTER TABLE {quote(table.name)} ADD COLUMN {quote(name)} {kind}"))


_B = sa.bindparam
# State tests written as literals (not bound parameters): the planner can then use
# the partial indexes, whose WHERE clause it must prove from the query's.
_IS_RUNNING = trials.c.state == sa.literal_column("'RUNNING'")
_IS_WAITING = trials.c.state == sa.literal_column("'WAITING'")
_BUMP = (
    studies.update().where(studies.c.study_id == _B("b_sid")).values(seq=studies.c.seq + 1)
)
_BUMP_NUMBER = _BUMP.values(next_number=studies.c.next_number + 1)
_BUMP_R = _BUMP.returning(studies.c.seq, studies.c.next_number)
_BUMP_NUMBER_R = _BUMP_NUMBER.returning(studies.c.seq, studies.c.next_number)
_SEQ = sa.select(studies.c.seq, studies.c.next_number).where(studies.c.study_id == _B("b_sid"))
_INSERT_TRIAL = trials.insert()
_SET_PARAMS = (
    trials.update()
    .where(trials.c.trial_id == _B("b_tid"))
    .values(params=_B("b_params"), seq=_B("b_seq"))
)
_FIRST_WAITING = (
    sa.select(trials.c.trial_id, trials.c.number, trials.c.params)
    .where(trials.c.study_id == _B("b_sid"), _IS_WAITING)
    .order_by(trials.c.number)
    .limit(1)
)
_CLAIM = (
    trials.update()
    .where(trials.c.trial_id == _B("b_tid"), trials.c.state == "WAITING")
    .values(
        state="RUNNING",
        start=_B("b_now"),
        heartbeat=_B("b_now"),
        owner=_B("b_owner"),
        seq=_B("b_seq"),
    )
)
#: The study's RUNNING trials (few: the partial index holds just them), to find stale ones.
_RUNNING = sa.select(trials.c.trial_id, trials.c.heartbeat, trials.c.owner).where(
    trials.c.study_id == _B("b_sid"), _IS_RUNNING
)
_FINISH = (
    trials.update()
    .where(trials.c.trial_id == _B("b_tid"), trials.c.state == "RUNNING")
    .values(
        state=_B("b_state"),
        value=_B("b_value"),
        fail_reason=_B("b_reason"),
        complete=_B("b_now"),
        seq=_B("b_seq"),
    )
)
_TOUCH_TRIAL = trials.update().where(trials.c.trial_id == _B("b_tid")).values(seq=_B("b_seq"))
_VALUE_KEY = (values_t.c.trial_id == _B("b_tid")) & (values_t.c.step == _B("b_step"))
_UPDATE_VALUE = values_t.update().where(_VALUE_KEY).values(value=_B("b_value"))
_INSERT_VALUE = values_t.insert().values(
    trial_id=_B("b_tid"), step=_B("b_step"), value=_B("b_value")
)
_ATTR_KEY = (attrs_t.c.trial_id == _B("b_tid")) & (attrs_t.c.key == _B("b_key"))
_UPDATE_ATTR = attrs_t.update().where(_ATTR_KEY).values(value=_B("b_value"))
_INSERT_ATTR = attrs_t.insert().values(
    trial_id=_B("b_tid"), key=_B("b_key"), value=_B("b_value")
)
_CHANGED = (trials.c.study_id == _B("b_sid")) & (trials.c.seq > _B("b_since"))
_CHANGED_IDS = sa.select(trials.c.trial_id).where(_CHANGED)
_CHANGED_TRIALS = sa.select(trials).where(_CHANGED).order_by(trials.c.seq)
_CHANGED_VALUES = sa.select(values_t).where(values_t.c.trial_id.in_(_CHANGED_IDS))
_CHANGED_ATTRS = sa.select(attrs_t).where(attrs_t.c.trial_id.in_(_CHANGED_IDS))
