"""Alerts: sentiment shifts and volume spikes per source and watched entity, delivered once.

- ``detect``: the tests as pure functions over a window and its baseline days.
- ``store``: the subjects' recent items, alerts stored once (unique key) with their outbox rows.
- ``deliver``: signed webhook posts from the outbox, retried, never twice once acknowledged.
- ``run``: one check and delivery pass (after every pipeline run, ``focusdig alerts check``).
"""
