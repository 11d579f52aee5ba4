"""Run runstream's infrastructure locally, for development and tests."""
