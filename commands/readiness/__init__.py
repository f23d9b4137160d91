"""Rollback readiness: before an approval, check that the way back works (files, restore function, flags, smoke)."""
