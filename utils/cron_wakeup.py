"""Wake the cron workers over a connection kept by this process, not a new one per request.

``ir.cron._trigger()`` wakes sleeping cron workers after commit with ``ir.cron._notifydb``, which
opens a new connection to the ``postgres`` database every time (Odoo's pool never keeps those):
a TCP connection, a password exchange and a new PostgreSQL backend for one ``NOTIFY``. At the
webhook door that was the most expensive step of a request. The module's own triggers
(``ap_sync_kept_notify`` in the context, see models/ir_cron.py) send the same ``NOTIFY`` on the
same channel through one connection per process instead; on any error it is dropped and Odoo's
own ``_notifydb`` runs, so a wake-up is never lost to this.
"""

import logging
import os
import threading

import psycopg2

from odoo import sql_db
from odoo.addons.base.models.ir_cron import ODOO_NOTIFY_FUNCTION
from odoo.tools import SQL

_logger = logging.getLogger(__name__)

_lock = threading.Lock()
_state = {"pid": None, "connection": None}
# Connections inherited through a fork: referenced for ever, never closed nor collected here (closing
# one would end the parent's session on the shared socket).
_inherited = []


def _connection():
    """This process's autocommit connection to the ``postgres`` database (under ``_lock``)."""
    if _state["pid"] != os.getpid():
        if _state["connection"] is not None:
            _inherited.append(_state["connection"])
        _state.update(pid=os.getpid(), connection=None)
    connection = _state["connection"]
    if connection is None or connection.closed:
        _dbname, info = sql_db.connection_info_for("postgres")
        connection = psycopg2.connect(**info)
        connection.autocommit = True
        _state["connection"] = connection
    return connection


def _drop():
    connection, _state["connection"] = _state["connection"], None
    if connection is not None:
        try:
            connection.close()
        except psycopg2.Error:
            _logger.debug("AP Sync: closing the broken wake-up connection failed", exc_info=True)


def notify(dbname):
    """``NOTIFY cron_trigger, dbname`` as ``ir.cron._notifydb`` does; True when sent."""
    query = SQL("SELECT %s('cron_trigger', %s)", SQL.identifier(ODOO_NOTIFY_FUNCTION), dbname)
    with _lock:
        try:
            with _connection().cursor() as cr:
                cr.execute(query.code, query.params)
            return True
        except (psycopg2.Error, OSError):
            _logger.info("AP Sync: kept connection for cron wake-ups failed, using a new one", exc_info=True)
            _drop()
            return False
