"""Settings from the environment: defaults, and a bad value named in its error."""

from __future__ import annotations

import pytest

from focusdig.settings import Settings

NUMERIC = {  # variable -> (a value, where it lands, its default)
    "FOCUSDIG_FETCH_TIMEOUT": ("2.5", lambda s: s.fetch_limits.read_timeout, 15.0),
    "FOCUSDIG_FETCH_MAX_BYTES": ("1000", lambda s: s.fetch_limits.max_bytes, 10 * 1024 * 1024),
    "FOCUSDIG_FETCH_DEADLINE": ("7", lambda s: s.fetch_limits.deadline, 30.0),
    "FOCUSDIG_FETCH_WORKERS": ("3", lambda s: s.fetch_workers, 8),
    "FOCUSDIG_RESCORE_DAYS": ("4", lambda s: s.rescore_days, 0),
    "FOCUSDIG_FETCH_RETRIES": ("5", lambda s: s.fetch_retries, 2),
    "FOCUSDIG_FETCH_BACKOFF": ("0.5", lambda s: s.fetch_backoff, 2.0),
    "FOCUSDIG_ENTITY_BACKFILL_DAYS": ("9", lambda s: s.entity_backfill_days, 30),
    "FOCUSDIG_ALERT_TIMEOUT": ("3", lambda s: s.alert_timeout, 10.0),
    "FOCUSDIG_ALERT_RETRIES": ("1", lambda s: s.alert_retries, 2),
    "FOCUSDIG_ALERT_BACKOFF": ("0.25", lambda s: s.alert_backoff, 1.0),
}


@pytest.mark.parametrize("variable", sorted(NUMERIC))
def test_numeric_settings_read_default_and_name_a_bad_value(variable):
    value, read, default = NUMERIC[variable]
    assert read(Settings.from_env({variable: value})) == float(value)
    assert read(Settings.from_env({variable: ""})) == default
    assert read(Settings.from_env({})) == default
    with pytest.raises(ValueError, match=f"^{variable} must be a (whole )?number, got 'ten'$"):
        Settings.from_env({variable: "ten"})


def test_a_whole_number_setting_refuses_a_fraction():
    with pytest.raises(ValueError, match="FOCUSDIG_FETCH_WORKERS must be a whole number"):
        Settings.from_env({"FOCUSDIG_FETCH_WORKERS": "2.5"})
