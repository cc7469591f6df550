"""Aggregation tasks: debounced re-aggregation of dirty team × cycles, finalisation, sweep."""
