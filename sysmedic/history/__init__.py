"""History: the in-memory ring of recent samples (``recent``), the per-minute rows made from
them (``rollup``) and the ``get_history`` answers read from both (``query``)."""
